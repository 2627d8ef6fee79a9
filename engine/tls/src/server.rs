//! A listener's TLS: the server config built from its files, swapped when the files change.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use weir_config::TlsVersion;
use weir_core::telemetry::TlsMetrics;

use crate::files::{self, CertInfo};
use crate::{TlsError, provider, versions};

/// The files and settings of a listener's TLS, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFiles {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// Client CA certificates, PEM: clients must present a certificate they sign.
    pub client_ca: Option<PathBuf>,
    /// Oldest TLS version.
    pub min_version: TlsVersion,
    /// ALPN protocols offered, most preferred first.
    pub alpn: Vec<Vec<u8>>,
    /// How often the files are checked for changes (zero: never).
    pub reload_interval: Duration,
}

/// What was loaded from the files.
struct Loaded {
    config: Arc<ServerConfig>,
    /// A hash of the three files' bytes, to notice a change.
    fingerprint: u64,
    info: Option<CertInfo>,
}

struct Inner {
    files: ServerFiles,
    listener: String,
    metrics: TlsMetrics,
    current: RwLock<Loaded>,
    /// Held by a reload from reading the files to swapping the config, so that two reloads
    /// (the watch task and a config reload) cannot install an older read over a newer one.
    reloading: Mutex<()>,
}

/// A listener's TLS config, which [`ServerTls::reload`] (and the watch task) replace when the
/// files change and load. Clones share it.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("listener", &self.inner.listener)
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

/// The three files' bytes (the CA's empty when there is none).
fn read_all(files: &ServerFiles) -> Result<[Vec<u8>; 3], TlsError> {
    Ok([
        files::read("cert_file", &files.cert)?,
        files::read("key_file", &files.key)?,
        match &files.client_ca {
            Some(ca) => files::read("client_ca_file", ca)?,
            None => Vec::new(),
        },
    ])
}

fn fingerprint(bytes: &[Vec<u8>; 3]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// A server config from the files' bytes.
fn build(files: &ServerFiles, bytes: &[Vec<u8>; 3]) -> Result<Loaded, TlsError> {
    let [cert, key, ca] = bytes;
    let chain = files::certs_of("cert_file", &files.cert, cert)?;
    let key = files::key_of("key_file", &files.key, key)?;
    let info = chain.first().and_then(|c| CertInfo::of(c));
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(files.min_version))
        .map_err(|e| TlsError::new("", &files.cert, e.to_string()))?;
    let builder = match &files.client_ca {
        Some(path) => {
            let roots = files::roots_of("client_ca_file", path, ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| {
                    TlsError::new(
                        "client_ca_file",
                        path,
                        format!("cannot verify clients with it: {e}"),
                    )
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::new("key_file", &files.key, files::key_problem(&e)))?;
    config.alpn_protocols = files.alpn.clone();
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint: fingerprint(bytes),
        info,
    })
}

impl ServerTls {
    /// Loads the files for `listener` (its name in logs and metrics).
    pub fn load(
        files: ServerFiles,
        listener: &str,
        metrics: TlsMetrics,
    ) -> Result<ServerTls, TlsError> {
        let loaded = build(&files, &read_all(&files)?)?;
        if let Some(info) = &loaded.info {
            metrics.expiry.set(info.not_after_unix());
        }
        Ok(ServerTls {
            inner: Arc::new(Inner {
                files,
                listener: listener.to_string(),
                metrics,
                current: RwLock::new(loaded),
                reloading: Mutex::new(()),
            }),
        })
    }

    /// The config new connections are accepted with.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.read(|l| l.config.clone())
    }

    /// The served certificate's subject and expiry.
    pub fn info(&self) -> Option<CertInfo> {
        self.read(|l| l.info.clone())
    }

    /// Warnings about the served certificate (it has expired), for the log and `weir validate`.
    pub fn warnings(&self) -> Vec<String> {
        match self.info() {
            Some(info) if info.expired() => vec![format!(
                "{}: the certificate of {} expired on {}; clients will refuse it",
                self.inner.files.cert.display(),
                self.inner.listener,
                info.not_after_text()
            )],
            _ => Vec::new(),
        }
    }

    /// The files.
    pub fn files(&self) -> &ServerFiles {
        &self.inner.files
    }

    fn read<T>(&self, f: impl FnOnce(&Loaded) -> T) -> T {
        f(&self
            .inner
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Re-reads the files; if they changed and load, new connections get them (`Ok(true)`).
    /// If they changed but do not load, the old certificate stays in force and the error is
    /// logged, counted and returned. Unchanged files: `Ok(false)`.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let inner = &self.inner;
        let _one = inner
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempt = read_all(&inner.files).and_then(|bytes| {
            if fingerprint(&bytes) == self.read(|l| l.fingerprint) {
                return Ok(None);
            }
            build(&inner.files, &bytes).map(Some)
        });
        match attempt {
            Ok(None) => Ok(false),
            Ok(Some(loaded)) => {
                if let Some(info) = &loaded.info {
                    inner.metrics.expiry.set(info.not_after_unix());
                    tracing::info!(listener = %inner.listener, subject = %info.subject,
                        not_after = %info.not_after_text(), "TLS certificate reloaded; new connections get it");
                }
                *inner
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
                inner.metrics.reloaded.inc();
                for w in self.warnings() {
                    tracing::warn!(listener = %inner.listener, "{w}");
                }
                Ok(true)
            }
            Err(e) => {
                inner.metrics.reload_failed.inc();
                tracing::error!(listener = %inner.listener, field = e.field, error = %e,
                    "TLS files changed but do not load; the previous certificate stays in force");
                Err(e)
            }
        }
    }

    /// Checks the files every `reload_interval` (if not zero) until every clone of this
    /// `ServerTls` is dropped. Needs a Tokio runtime.
    pub fn watch(&self) {
        let every = self.inner.files.reload_interval;
        if every.is_zero() {
            return;
        }
        weir_core::poll::while_alive(every, Arc::downgrade(&self.inner), |inner| {
            // A failure is logged and counted inside; the watch goes on.
            let _ = ServerTls { inner }.reload();
        });
    }
}

/// The identity of an mTLS client: its certificate's common name (or whole subject).
pub fn peer_identity(conn: &rustls::ServerConnection) -> Option<String> {
    let cert = conn.peer_certificates()?.first()?;
    CertInfo::of(cert).map(|i| i.subject)
}
