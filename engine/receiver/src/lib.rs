//! OTLP receivers. Each `[receivers.<name>]` binds a gRPC and/or an HTTP listener; both decode a
//! request once, drop invalid items with an exact partial-success count, and hand the rest to
//! the pipelines that listen ([`weir_core::Consumer`]). The answer follows the OTLP spec:
//! success (possibly partial), 400 / INVALID_ARGUMENT for malformed input, and a retryable
//! refusal (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After) when Weir is full.

mod decode;
mod grpc;
mod http;
mod intake;
mod service;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_auth::Authenticator;
use weir_config::ReceiverConfig;
use weir_core::telemetry::Telemetry;
use weir_core::{Consumer, Signal};
use weir_tls::ServerTls;

use crate::intake::Intake;

/// Why a receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("receiver {receiver}: cannot listen on {protocol} {address}: {error}")]
    Bind {
        /// Receiver name.
        receiver: String,
        /// `grpc` or `http`.
        protocol: &'static str,
        /// The configured address.
        address: SocketAddr,
        /// The OS error; shown in the message, so not also a `source` (chains would print it twice).
        error: std::io::Error,
    },
}

/// A receiver's TLS and credential check, built from its `tls` and `auth` by [`Security::build`].
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// TLS of the gRPC listener (ALPN h2).
    pub grpc_tls: Option<ServerTls>,
    /// TLS of the HTTP listener (ALPN h2 and http/1.1).
    pub http_tls: Option<ServerTls>,
    /// The credential check of both listeners.
    pub auth: Option<Authenticator>,
}

/// A receiver's `tls` or `auth` file that could not be used: the dotted key of the setting,
/// its position in the config, and what is wrong.
#[derive(Debug, Clone)]
pub struct SecurityError {
    /// e.g. `receivers.otlp.tls.key_file`.
    pub key: String,
    /// The setting's span in the config text.
    pub span: std::ops::Range<usize>,
    /// What is wrong, naming the file.
    pub message: String,
}

impl Security {
    /// Loads the files of receiver `name`'s `tls` and `auth` (paths resolved with `resolve`).
    pub fn build(
        name: &str,
        config: &ReceiverConfig,
        resolve: &dyn Fn(&str) -> std::path::PathBuf,
        telemetry: &Telemetry,
    ) -> Result<Security, SecurityError> {
        let key = format!("receivers.{name}");
        let mut security = Security::default();
        if let Some(t) = &config.tls {
            let cfg = t.get_ref();
            let load = |proto: &str, alpn: &[&[u8]]| {
                let listener = format!("receiver/{name}/{proto}");
                weir_tls::ServerTls::load(
                    weir_tls::server_files(cfg, resolve, alpn),
                    &listener,
                    telemetry.tls(&listener),
                )
                .map_err(|e| {
                    let span = match e.field {
                        "key_file" => cfg.key_file.span(),
                        "client_ca_file" => {
                            cfg.client_ca_file.as_ref().map_or(t.span(), |c| c.span())
                        }
                        _ => cfg.cert_file.span(),
                    };
                    SecurityError {
                        key: format!(
                            "{key}.tls.{}",
                            if e.field.is_empty() {
                                "cert_file"
                            } else {
                                e.field
                            }
                        ),
                        span,
                        message: e.to_string(),
                    }
                })
            };
            if config.grpc.is_some() {
                security.grpc_tls = Some(load("grpc", weir_tls::ALPN_H2)?);
            }
            if config.http.is_some() {
                security.http_tls = Some(load("http", weir_tls::ALPN_HTTP)?);
            }
        }
        if let Some(a) = &config.auth {
            let listener = format!("receiver/{name}");
            let auth =
                Authenticator::load(a.get_ref(), resolve, &listener, telemetry.auth(&listener))
                    .map_err(|e| {
                        let cfg = a.get_ref();
                        let (field, span) = match (&cfg.bearer_tokens_file, &cfg.basic) {
                            (Some(f), _) => ("bearer_tokens_file", f.span()),
                            (None, Some(b)) => {
                                ("basic.htpasswd_file", b.get_ref().htpasswd_file.span())
                            }
                            (None, None) => ("", a.span()),
                        };
                        SecurityError {
                            key: format!("{key}.auth.{field}"),
                            span,
                            message: e.to_string(),
                        }
                    })?;
            security.auth = Some(auth);
        }
        Ok(security)
    }

    /// Starts checking the files for changes every `reload_interval`, for as long as the
    /// receiver holds them. Needs a Tokio runtime.
    pub fn watch(&self) {
        for tls in self.grpc_tls.iter().chain(&self.http_tls) {
            tls.watch();
        }
        if let Some(a) = &self.auth {
            a.watch();
        }
    }

    /// Warnings about what was loaded (an expired certificate), for the log and `weir validate`.
    pub fn warnings(&self) -> Vec<String> {
        // The two listeners serve the same files: one warning is enough.
        self.grpc_tls
            .as_ref()
            .or(self.http_tls.as_ref())
            .map(ServerTls::warnings)
            .unwrap_or_default()
    }

    /// Re-reads changed certificate and credential files now (a config reload does this for
    /// receivers it keeps). Failures are logged inside and keep the old files in force.
    pub fn reload_files(&self) {
        for tls in self.grpc_tls.iter().chain(&self.http_tls) {
            let _ = tls.reload();
        }
        if let Some(a) = &self.auth {
            let _ = a.reload();
        }
    }
}

/// The pipelines a receiver feeds, by signal; `None` where no pipeline of that signal lists it
/// (requests for it get UNIMPLEMENTED / 404, as in the Collector).
pub type SignalConsumers = [Option<Arc<dyn Consumer>>; 3];

/// A receiver whose listeners are bound; [`BoundReceiver::serve`] starts answering.
pub struct BoundReceiver {
    name: String,
    config: ReceiverConfig,
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
    intakes: [Option<Intake>; 3],
    intakes_http: [Option<Intake>; 3],
    security: Security,
    telemetry: Telemetry,
}

/// Duplicates of a receiver's listening sockets, by the address configured for them, so that a
/// receiver restarted by a config reload with the same address takes over the socket instead of
/// binding again: no moment without a listener, and no "address in use" from the old one.
#[derive(Debug, Default)]
pub struct Listeners {
    grpc: Option<(SocketAddr, std::net::TcpListener)>,
    http: Option<(SocketAddr, std::net::TcpListener)>,
}

impl Listeners {
    /// A socket for `configured` if the old receiver listened there.
    fn take(
        slot: &Option<(SocketAddr, std::net::TcpListener)>,
        configured: SocketAddr,
    ) -> Option<TcpListener> {
        let (at, l) = slot.as_ref()?;
        if *at != configured {
            return None;
        }
        let dup = l.try_clone().ok()?;
        TcpListener::from_std(dup).ok()
    }
}

/// A duplicate of a listening socket (same open file), or `None` where that is not possible.
fn duplicate(l: &TcpListener) -> Option<std::net::TcpListener> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let fd = l.as_fd().try_clone_to_owned().ok()?;
        Some(std::net::TcpListener::from(fd))
    }
    #[cfg(not(unix))]
    {
        let _ = l;
        None
    }
}

/// Where a receiver actually listens (port 0 resolved).
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundAddrs {
    /// The gRPC listener.
    pub grpc: Option<SocketAddr>,
    /// The HTTP listener.
    pub http: Option<SocketAddr>,
}

/// One intake per signal that has a consumer, counted as `receiver`'s `transport`.
fn intakes(
    receiver: &str,
    consumers: &SignalConsumers,
    telemetry: &Telemetry,
    transport: &str,
    tenant_attribute: Option<&str>,
) -> [Option<Intake>; 3] {
    Signal::ALL.map(|signal| {
        consumers[signal.index()].as_ref().map(|c| Intake {
            consumer: c.clone(),
            metrics: telemetry.receiver(receiver, transport, signal),
            tenant_attribute: tenant_attribute.map(Arc::from),
        })
    })
}

/// The receiver's request handling without sockets: the very routers [`BoundReceiver::serve`]
/// runs, for driving with in-process requests (the fuzz targets in `fuzz/` do).
pub mod in_process {
    use weir_config::{GrpcServerConfig, HttpServerConfig};
    use weir_core::telemetry::Telemetry;

    use crate::{SignalConsumers, intakes};

    /// The OTLP/HTTP routes (`POST /v1/<signal>`) over `consumers`.
    pub fn http_router(
        config: &HttpServerConfig,
        consumers: &SignalConsumers,
        telemetry: &Telemetry,
    ) -> axum::Router {
        crate::http::router(
            config,
            intakes("in-process", consumers, telemetry, "http", None),
        )
    }

    /// The OTLP/gRPC collector services over `consumers`, as an axum router (HTTP/2 requests
    /// with gRPC framing).
    pub fn grpc_router(
        config: &GrpcServerConfig,
        consumers: &SignalConsumers,
        telemetry: &Telemetry,
    ) -> axum::Router {
        crate::grpc::routes(
            config,
            intakes("in-process", consumers, telemetry, "grpc", None),
        )
        .into_axum_router()
    }
}

impl BoundReceiver {
    /// Binds the listeners of `config`, so that errors such as "address in use" surface before
    /// Weir reports ready. An address that `reuse` (the sockets of the receiver this one
    /// replaces) already listens on is taken over instead of bound. `security` is the TLS and
    /// credential check built from the config's `tls` and `auth` ([`Security::build`]).
    pub async fn bind(
        name: &str,
        config: &ReceiverConfig,
        consumers: SignalConsumers,
        security: Security,
        telemetry: &Telemetry,
        reuse: Option<&Listeners>,
    ) -> Result<BoundReceiver, ReceiverError> {
        let none = Listeners::default();
        let reuse = reuse.unwrap_or(&none);
        let bind = |protocol: &'static str, address: SocketAddr| async move {
            let slot = if protocol == "grpc" {
                &reuse.grpc
            } else {
                &reuse.http
            };
            if let Some(l) = Listeners::take(slot, address) {
                return Ok(l);
            }
            let backlog = if protocol == "grpc" {
                config.grpc.as_ref().map(|g| g.connections.backlog)
            } else {
                config.http.as_ref().map(|h| h.connections.backlog)
            };
            weir_listen::bind(address, backlog.unwrap_or(1024)).map_err(|error| {
                ReceiverError::Bind {
                    receiver: name.to_string(),
                    protocol,
                    address,
                    error,
                }
            })
        };
        let grpc = match &config.grpc {
            Some(g) => Some(bind("grpc", g.endpoint.0).await?),
            None => None,
        };
        let http = match &config.http {
            Some(h) => Some(bind("http", h.endpoint.0).await?),
            None => None,
        };
        let tenant = config
            .tenant_attribute
            .as_ref()
            .map(|t| t.get_ref().as_str());
        Ok(BoundReceiver {
            name: name.to_string(),
            config: config.clone(),
            grpc,
            http,
            intakes: intakes(name, &consumers, telemetry, "grpc", tenant),
            intakes_http: intakes(name, &consumers, telemetry, "http", tenant),
            security,
            telemetry: telemetry.clone(),
        })
    }

    /// The receiver's TLS and credential check (clones share the loaded files).
    pub fn security(&self) -> Security {
        self.security.clone()
    }

    /// Duplicates of the listening sockets (see [`Listeners`]).
    pub fn listeners(&self) -> Listeners {
        let dup = |l: &Option<TcpListener>, configured: Option<SocketAddr>| {
            Some((configured?, duplicate(l.as_ref()?)?))
        };
        Listeners {
            grpc: dup(&self.grpc, self.config.grpc.as_ref().map(|g| g.endpoint.0)),
            http: dup(&self.http, self.config.http.as_ref().map(|h| h.endpoint.0)),
        }
    }

    /// The bound addresses.
    pub fn addrs(&self) -> BoundAddrs {
        BoundAddrs {
            grpc: self.grpc.as_ref().and_then(|l| l.local_addr().ok()),
            http: self.http.as_ref().and_then(|l| l.local_addr().ok()),
        }
    }

    /// Starts serving. The tasks end after `shutdown` fires and in-flight requests are answered.
    pub fn serve(self, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let (Some(listener), Some(cfg)) = (self.grpc, &self.config.grpc) {
            tasks.push(tokio::spawn(grpc::serve(
                self.name.clone(),
                listener,
                cfg.clone(),
                self.intakes,
                (self.security.grpc_tls.clone(), self.security.auth.clone()),
                self.telemetry.clone(),
                shutdown.clone(),
            )));
        }
        if let (Some(listener), Some(cfg)) = (self.http, &self.config.http) {
            tasks.push(tokio::spawn(http::serve(
                self.name.clone(),
                listener,
                cfg.clone(),
                self.intakes_http,
                (self.security.http_tls.clone(), self.security.auth.clone()),
                self.telemetry.clone(),
                shutdown,
            )));
        }
        tasks
    }
}
