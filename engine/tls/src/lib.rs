//! TLS for Weir's edge, with rustls and its `ring` provider (no OpenSSL):
//! - [`ServerTls`]: a listener's certificate, key and optional client CA (mTLS), re-read when
//!   the files change — new connections get the new certificate, established ones keep theirs,
//!   and files that do not load leave the old certificate in force (logged and counted);
//! - [`client_config`]: what an exporter trusts (a CA file, or the system roots) and the client
//!   certificate it presents.
//!
//! Errors name the config field and the file, and say what is wrong with it, so the caller can
//! point at `file:line` of the setting.

mod files;
#[cfg(any(test, feature = "test-pki"))]
pub mod pki;
mod server;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use weir_config::{ClientTlsConfig, ServerTlsConfig, TlsVersion};

pub use files::CertInfo;
pub use server::{ServerFiles, ServerTls, peer_identity};

/// ALPN of a gRPC listener or client: HTTP/2 only.
pub const ALPN_H2: &[&[u8]] = &[b"h2"];
/// ALPN of an HTTP listener or client: HTTP/2 preferred, HTTP/1.1 accepted.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// A TLS file that could not be used: which setting, which file, what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TlsError {
    /// The config field that names the file (`cert_file`, `key_file`, `client_ca_file`,
    /// `ca_file`), or `""` when the problem is not one file's.
    pub field: &'static str,
    /// The file, as resolved.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl TlsError {
    pub(crate) fn new(
        field: &'static str,
        path: &std::path::Path,
        problem: impl Into<String>,
    ) -> Self {
        TlsError {
            field,
            path: path.display().to_string(),
            problem: problem.into(),
        }
    }
}

/// The one crypto provider every config is built with.
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Makes `ring` the process's default provider, for libraries that build rustls configs
/// themselves (e.g. `wasmtime-wasi-http`). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The protocol versions from `min` up.
pub(crate) fn versions(min: TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static FROM_1_2: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static FROM_1_3: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        TlsVersion::V1_2 => &FROM_1_2,
        TlsVersion::V1_3 => &FROM_1_3,
    }
}

/// The listener files of `cfg`, with paths resolved by `resolve` (relative to the config file).
pub fn server_files(
    cfg: &ServerTlsConfig,
    resolve: &dyn Fn(&str) -> PathBuf,
    alpn: &[&[u8]],
) -> ServerFiles {
    ServerFiles {
        cert: resolve(cfg.cert_file.get_ref()),
        key: resolve(cfg.key_file.get_ref()),
        client_ca: cfg.client_ca_file.as_ref().map(|c| resolve(c.get_ref())),
        min_version: cfg.min_version,
        alpn: alpn.iter().map(|a| a.to_vec()).collect(),
        reload_interval: cfg.reload_interval.0,
    }
}

/// The system's root certificates (the platform store; webpki's Mozilla roots where it has
/// none), loaded once.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// A client config for an exporter: trust `ca_file` (or the system roots), present the client
/// certificate if one is set, speak `alpn`. `None` settings mean the defaults (system roots, no
/// client certificate). `insecure_skip_verify` is logged by the caller.
pub fn client_config(
    cfg: Option<&ClientTlsConfig>,
    resolve: &dyn Fn(&str) -> PathBuf,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let default = ClientTlsConfig::default();
    let cfg = cfg.unwrap_or(&default);
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(cfg.min_version))
        .map_err(|e| TlsError::new("", std::path::Path::new(""), e.to_string()))?;
    let builder = if cfg.insecure() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::AcceptAny(provider())))
    } else {
        let roots = match &cfg.ca_file {
            Some(ca) => Arc::new(files::roots("ca_file", &resolve(ca.get_ref()))?),
            None => system_roots(),
        };
        match &cfg.server_name {
            Some(name) => {
                let verifier = verify::ForName::new(roots, name.get_ref())?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            None => builder.with_root_certificates(roots),
        }
    };
    let mut config = match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => {
            let cert_path = resolve(cert.get_ref());
            let chain = files::certs("cert_file", &cert_path)?;
            let key = files::key("key_file", &resolve(key.get_ref()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::new("key_file", &cert_path, files::key_problem(&e)))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Warnings about an exporter's TLS files that load but will not work: a client certificate
/// (`cert_file`) or a trusted CA (`ca_file`) past its expiry. For the log and `weir validate`;
/// files that do not load are [`client_config`]'s errors.
pub fn client_warnings(
    cfg: &ClientTlsConfig,
    resolve: &dyn Fn(&str) -> PathBuf,
    exporter: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut look = |field: &'static str, path: Option<&str>, what: &str| {
        let Some(path) = path.map(resolve) else {
            return;
        };
        let Ok(chain) = files::certs(field, &path) else {
            return;
        };
        for info in chain.iter().filter_map(|c| CertInfo::of(c)) {
            if info.expired() {
                out.push(format!(
                    "{}: {what} {:?} of exporter {exporter} expired on {}; {}",
                    path.display(),
                    info.subject,
                    info.not_after_text(),
                    if field == "cert_file" {
                        "the backend will refuse it"
                    } else {
                        "servers it signed will not be trusted"
                    }
                ));
            }
        }
    };
    look(
        "cert_file",
        cfg.cert_file.as_ref().map(|p| p.get_ref().as_str()),
        "the client certificate",
    );
    look(
        "ca_file",
        cfg.ca_file.as_ref().map(|p| p.get_ref().as_str()),
        "the CA certificate",
    );
    out
}

#[cfg(test)]
mod tests;
