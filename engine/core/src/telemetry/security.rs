//! Metrics of the secure edge: TLS handshakes that failed, certificate reloads, certificate
//! expiry, and refused credentials, per listener.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Labels;

/// The security metric families, shared by every clone of [`super::Telemetry`].
#[derive(Clone, Default)]
pub(super) struct Security {
    handshake_failures: Family<Labels, Counter>,
    reloads: Family<Labels, Counter>,
    expiry: Family<Labels, Gauge>,
    auth_failures: Family<Labels, Counter>,
    auth_reloads: Family<Labels, Counter>,
}

impl Security {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes a listener failed (wrong CA, no client certificate under mTLS, plaintext to a TLS port, timeouts)",
            self.handshake_failures.clone(),
        );
        registry.register(
            "tls_certificate_reloads",
            "Certificate files re-read after they changed: result=\"ok\" (new connections get them) or \"failed\" (the old certificate stays in force)",
            self.reloads.clone(),
        );
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the certificate a listener serves expires (Unix time)",
            self.expiry.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused for missing or wrong credentials (401 / UNAUTHENTICATED), by reason",
            self.auth_failures.clone(),
        );
        registry.register(
            "auth_credentials_reloads",
            "Credential files (tokens, htpasswd) re-read after they changed: result=\"ok\" (the next request uses them) or \"failed\" (the old credentials stay in force)",
            self.auth_reloads.clone(),
        );
    }
}

/// The TLS metrics of one listener.
#[derive(Clone, Debug)]
pub struct TlsMetrics {
    /// Failed handshakes.
    pub handshake_failures: Counter,
    /// Certificate files reloaded.
    pub reloaded: Counter,
    /// Certificate files that changed but did not load.
    pub reload_failed: Counter,
    /// The served certificate's expiry, Unix seconds.
    pub expiry: Gauge,
}

/// The credential checks of one listener.
#[derive(Clone, Debug)]
pub struct AuthMetrics {
    /// No credentials sent.
    pub missing: Counter,
    /// Credentials sent but not valid.
    pub invalid: Counter,
    /// Credential files reloaded.
    pub reloaded: Counter,
    /// Credential files that changed but did not load.
    pub reload_failed: Counter,
}

impl super::Telemetry {
    /// The TLS metrics of `listener` (`receiver/<name>/grpc`, `admin`).
    pub fn tls(&self, listener: &str) -> TlsMetrics {
        let s = &self.security;
        let labels = vec![("listener", listener.to_string())];
        let result = |r: &str| {
            let mut l = labels.clone();
            l.push(("result", r.to_string()));
            s.reloads.get_or_create(&l).clone()
        };
        TlsMetrics {
            handshake_failures: s.handshake_failures.get_or_create(&labels).clone(),
            reloaded: result("ok"),
            reload_failed: result("failed"),
            expiry: s.expiry.get_or_create(&labels).clone(),
        }
    }

    /// The credential-check metrics of `listener`.
    pub fn auth(&self, listener: &str) -> AuthMetrics {
        let s = &self.security;
        let reason = |r: &str| {
            s.auth_failures
                .get_or_create(&vec![
                    ("listener", listener.to_string()),
                    ("reason", r.to_string()),
                ])
                .clone()
        };
        let result = |r: &str| {
            s.auth_reloads
                .get_or_create(&vec![
                    ("listener", listener.to_string()),
                    ("result", r.to_string()),
                ])
                .clone()
        };
        AuthMetrics {
            missing: reason("missing"),
            invalid: reason("invalid"),
            reloaded: result("ok"),
            reload_failed: result("failed"),
        }
    }
}
