//! An exporter plugin (`exporter` world): it sends one batch at a time through `wasi:http`,
//! which the host restricts to the exporter's allowed hosts, and says how it went. Queueing,
//! retries with backoff and counted drops stay with the host's exporter machinery
//! (`weir-export`); a trap or a deadline counts as retryable and the next attempt gets a fresh
//! instance.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::Resource;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};
use weir_columns::Session;
use weir_core::Batch;

use crate::CallError;
use crate::bindings::exporter::{ExportError, Exporter, ExporterPre};
use crate::contract::World;
use crate::engine::{WasmEngine, deadline_ticks};
use crate::host::PluginState;
use crate::plugin::{PluginSettings, prepare, start_instance};
use crate::{Error, Result};

/// The hosts (`host:port`) an exporter's HTTP requests may go to; every other request is
/// refused with `HTTP-request-denied` and counted. Empty: none. Host names compare without
/// case and a trailing dot; an entry without a port allows the scheme's default port (80 or
/// 443); URLs with credentials (`user@host`) are refused.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Arc<BTreeSet<(String, Option<u16>)>>,
    /// The plugin's name, for the log line of a refusal.
    plugin: Arc<str>,
    /// Requests refused so far.
    denied: Arc<AtomicU64>,
    /// The budget of one `send-batch` call.
    timeout: Option<Duration>,
    /// When the current `send-batch` call's budget runs out: every request is bounded by it.
    deadline: Option<std::time::Instant>,
    /// The exporter's TLS client config for `https://` requests, and the name certificates are
    /// checked against when not the URL's host.
    tls: Option<(Arc<tokio_rustls::rustls::ClientConfig>, Option<String>)>,
    /// The status of the last response of the current `send-batch` call (0: none yet), fresh
    /// for each call: a plugin's rejection can then be told apart as the backend refusing the
    /// exporter's configuration (401, 404, 415 …) rather than the data.
    last_status: Arc<AtomicU16>,
}

/// `host[:port]` as (lower-case host without a trailing dot, port); `None` if it is not one or
/// carries credentials.
fn parse_authority(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.contains('@') {
        return None;
    }
    let a: http::uri::Authority = authority.parse().ok()?;
    let host = a.host().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some((host, a.port_u16()))
}

impl AllowList {
    /// Allows `hosts` (`host:port`; the port may be left out for 80 and 443). Entries that are
    /// not a host or `host:port` allow nothing (config validation reports them).
    pub fn new(plugin: &str, hosts: impl IntoIterator<Item = String>) -> AllowList {
        AllowList {
            hosts: Arc::new(
                hosts
                    .into_iter()
                    .filter_map(|h| parse_authority(&h))
                    .collect(),
            ),
            plugin: plugin.into(),
            denied: Arc::default(),
            timeout: None,
            deadline: None,
            tls: None,
            last_status: Arc::default(),
        }
    }

    /// Sends `https://` requests with `config` (the exporter's `tls` settings, or the system
    /// roots) instead of the runtime's built-in roots.
    pub fn with_tls(
        mut self,
        config: Arc<tokio_rustls::rustls::ClientConfig>,
        server_name: Option<String>,
    ) -> AllowList {
        self.tls = Some((config, server_name));
        self
    }

    /// Whether a request to `authority` (with the URL's `scheme`) may go out.
    fn allows(&self, scheme: Option<&str>, authority: &str) -> bool {
        let Some((host, port)) = parse_authority(authority) else {
            return false;
        };
        let default_port = if scheme == Some("https") { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        self.hosts.contains(&(host.clone(), Some(port)))
            || (port == default_port && self.hosts.contains(&(host, None)))
    }

    /// Requests refused so far.
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

type Responded = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = std::result::Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for AllowList {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = std::result::Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = Responded> + Send> {
        drop(fut);
        let uri = request.uri();
        let authority = uri.authority().map_or("", |a| a.as_str()).to_string();
        if !self.allows(uri.scheme_str(), &authority) {
            self.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = %self.plugin, host = %authority,
                "exporter plugin tried a host that is not in its allowed_hosts; refused");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // Every wait is bounded by what is left of the call's budget, whatever the plugin asked.
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
            .or(self.timeout)
            .unwrap_or(Duration::from_secs(30));
        if left.is_zero() {
            return Box::new(async { Err(wasmtime_wasi_http::Error::ConnectionTimeout) });
        }
        let asked = options.unwrap_or_default();
        let clamp = |d: Option<Duration>| Some(d.map_or(left, |d| d.min(left)));
        let options = Some(RequestOptions {
            connect_timeout: clamp(asked.connect_timeout),
            first_byte_timeout: clamp(asked.first_byte_timeout),
            between_bytes_timeout: clamp(asked.between_bytes_timeout),
        });
        if request.uri().scheme_str() == Some("https")
            && let Some((config, server_name)) = self.tls.clone()
        {
            let waits = crate::outgoing::Waits {
                connect: clamp(asked.connect_timeout).unwrap_or(left),
                first_byte: clamp(asked.first_byte_timeout).unwrap_or(left),
                between_bytes: clamp(asked.between_bytes_timeout).unwrap_or(left),
            };
            let last_status = self.last_status.clone();
            return Box::new(async move {
                let sent = crate::outgoing::send_tls(request, waits, config, server_name);
                let responded = tokio::time::timeout(left, sent)
                    .await
                    .map_err(|_| wasmtime_wasi_http::Error::ConnectionTimeout)?;
                if let Ok((res, _)) = &responded {
                    last_status.store(res.status().as_u16(), Ordering::Relaxed);
                }
                responded
            });
        }
        let last_status = self.last_status.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = wasmtime_wasi_http::default_send_request(request, options);
            let (res, io) = tokio::time::timeout(left, sent)
                .await
                .map_err(|_| wasmtime_wasi_http::Error::ConnectionTimeout)??;
            last_status.store(res.status().as_u16(), Ordering::Relaxed);
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// What one `send` came to, in the terms of the host's retry machinery.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The backend took the batch; `rejected` of its items were refused for good.
    Sent {
        /// Items refused (partial success).
        rejected: u64,
        /// The backend's explanation.
        message: String,
    },
    /// Try again (the plugin said so, or it trapped or ran past its deadline).
    Retryable {
        /// What happened.
        message: String,
        /// The delay the plugin asked for.
        retry_after: Option<Duration>,
    },
    /// Do not retry: drop and count — unless `status` says the backend refused the exporter's
    /// configuration rather than the data.
    Rejected {
        /// Why.
        message: String,
        /// The HTTP status of the last response the plugin got during the call, if any.
        status: Option<u16>,
    },
}

/// A live exporter instance.
struct Instance {
    store: Store<PluginState>,
    exports: Exporter,
}

/// A compiled, checked exporter plugin with a pool of initialised instances (one per sender
/// task that is sending at the moment).
pub struct ExporterPlugin {
    name: Arc<str>,
    pre: ExporterPre<PluginState>,
    engine: WasmEngine,
    settings: PluginSettings,
    config_json: String,
    allow: AllowList,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for ExporterPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterPlugin")
            .field("name", &self.name)
            .field("allowed_hosts", &self.allow.hosts)
            .finish_non_exhaustive()
    }
}

impl ExporterPlugin {
    /// Checks and compiles the exporter component `bytes` (from `origin`) for exporter `name`
    /// and runs its `init(config_json)` once, so a bad config stops Weir from starting. Its
    /// HTTP requests may go to `allow` only; `settings.timeout` bounds one whole `send`
    /// (network included) and each request's connect and first-byte waits.
    pub fn from_bytes(
        engine: &WasmEngine,
        name: &str,
        origin: &str,
        bytes: &[u8],
        config_json: String,
        settings: PluginSettings,
        mut allow: AllowList,
    ) -> Result<ExporterPlugin> {
        let pre = prepare(
            engine,
            (name, origin, bytes),
            &settings,
            World::Exporter,
            ExporterPre::new,
        )?;
        allow.plugin = name.into();
        allow.timeout = Some(settings.timeout);
        let plugin = ExporterPlugin {
            name: name.into(),
            pre,
            engine: engine.clone(),
            settings,
            config_json,
            allow,
            idle: Mutex::new(Vec::new()),
        };
        let first = plugin.instantiate().map_err(|e| Error::Init {
            plugin: name.to_string(),
            message: e.to_string(),
        })?;
        plugin.put_back(first);
        Ok(plugin)
    }

    /// The exporter's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// HTTP requests refused so far because their host is not allowed.
    pub fn denied(&self) -> u64 {
        self.allow.denied()
    }

    /// A fresh instance with `init` already run.
    fn instantiate(&self) -> std::result::Result<Instance, CallError> {
        let (store, exports) = start_instance(
            (&self.engine, &self.name, &self.settings, &self.config_json),
            |state| state.allow = self.allow.clone(),
            |store| self.pre.instantiate(store),
            |exports, store, config| exports.call_init(store, config),
        )?;
        Ok(Instance { store, exports })
    }

    fn put_back(&self, instance: Instance) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(instance);
        }
    }

    /// Sends one batch (blocking: it runs the plugin, which waits on the network). The batch
    /// is lent read-only; a plugin that writes to it has failed.
    pub fn send(&self, batch: Batch) -> SendOutcome {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let instance = match pooled.map_or_else(|| self.instantiate(), Ok) {
            Ok(i) => i,
            Err(e) => {
                return SendOutcome::Retryable {
                    message: format!("plugin {}: {e}", self.name),
                    retry_after: None,
                };
            }
        };
        let Instance { mut store, exports } = instance;
        let timeout = self.settings.timeout;
        store.data_mut().session = Some(Session::new(batch));
        store.data_mut().counts.clear();
        // The network waits are bounded by the budget (see `AllowList::send_request`); the
        // epoch deadline, which also runs during them, only stops a plugin that spins, so that
        // a slow but successful send is not taken for a failure (and sent again).
        store.data_mut().allow.deadline = Some(std::time::Instant::now() + timeout);
        let last_status = Arc::new(AtomicU16::new(0));
        store.data_mut().allow.last_status = last_status.clone();
        store.set_epoch_deadline(deadline_ticks(
            timeout.saturating_mul(2) + Duration::from_secs(1),
        ));
        let result = exports.call_send_batch(&mut store, Resource::new_borrow(0));
        let wrote = store
            .data_mut()
            .session
            .take()
            .is_some_and(|s| s.has_writes());
        if wrote {
            // The writes are discarded with the session; what was sent stands.
            tracing::warn!(plugin = %self.name, "an exporter sees the batch read-only; its changes were ignored");
        }
        let outcome = match result {
            Ok(Ok(sent)) => Ok(SendOutcome::Sent {
                rejected: sent.rejected,
                message: sent.message,
            }),
            Ok(Err(ExportError::Retryable(r))) => Ok(SendOutcome::Retryable {
                message: r.message,
                retry_after: r.retry_after_ms.map(Duration::from_millis),
            }),
            Ok(Err(ExportError::Rejected(message))) => Ok(SendOutcome::Rejected {
                message,
                status: Some(last_status.load(Ordering::Relaxed)).filter(|s| *s != 0),
            }),
            Err(e) => Err(CallError::classify("send", &mut store, &e, timeout)),
        };
        match outcome {
            Ok(o) => {
                self.put_back(Instance { store, exports });
                o
            }
            // A trap poisons the instance: it is dropped, and the batch is retried on a new one.
            Err(e) => {
                if !e.poisons() {
                    self.put_back(Instance { store, exports });
                }
                SendOutcome::Retryable {
                    message: format!("plugin {}: {e}", self.name),
                    retry_after: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AllowList;

    #[test]
    fn the_allow_list_matches_host_and_port_with_default_ports() {
        let a = AllowList::new(
            "x",
            ["127.0.0.1:9090".to_string(), "example.com".to_string()],
        );
        assert!(a.allows(Some("http"), "127.0.0.1:9090"));
        assert!(a.allows(Some("https"), "EXAMPLE.com."));
        assert!(!a.allows(Some("http"), "user@127.0.0.1:9090"));
        let v6 = AllowList::new("x", ["[::1]:4318".to_string(), "[::2]".to_string()]);
        assert!(v6.allows(Some("http"), "[::1]:4318"));
        assert!(v6.allows(Some("http"), "[::2]"));
        assert!(v6.allows(Some("http"), "[::2]:80"));
        assert!(!v6.allows(Some("http"), "[::1]"));
        assert!(!a.allows(Some("http"), "127.0.0.1:9091"));
        assert!(!a.allows(Some("http"), "localhost:9090"));
        assert!(a.allows(Some("https"), "example.com"));
        assert!(a.allows(Some("https"), "example.com:443"));
        assert!(a.allows(Some("http"), "example.com:80"));
        assert!(!a.allows(Some("http"), "example.com:8080"));
        assert!(!a.allows(Some("http"), "evil.example.com"));
    }
}
