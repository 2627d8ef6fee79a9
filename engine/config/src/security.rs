//! `tls = { … }` on receivers, exporters and `[admin]`, and `auth = { … }` on receivers: the
//! settings of Weir's secure edge. The shapes follow the Collector's `configtls` and
//! `configauth` (`cert_file`, `key_file`, `client_ca_file`, `ca_file`, `min_version`,
//! `reload_interval`, `insecure_skip_verify`, `server_name_override`). The files are read when
//! the runtime is built (`weir validate` reads them too); this module checks what can be
//! checked without I/O.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::units::Seconds;

/// The oldest TLS version a listener or exporter accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2 (the default, as in the Collector).
    #[default]
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V1_3,
}

/// `tls = { cert_file, key_file, … }` of a listener (receiver or admin): it serves TLS with
/// this certificate, and with `client_ca_file` requires client certificates (mTLS).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// The listener's certificate chain, PEM (leaf first). Relative to the config file.
    pub cert_file: Spanned<String>,
    /// The private key of the leaf certificate, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Spanned<String>,
    /// CA certificates, PEM: when set, every client must present a certificate signed by one
    /// of them (mTLS), and its subject's common name is the client's identity (tenant).
    pub client_ca_file: Option<Spanned<String>>,
    /// The oldest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// How often the files are checked for changes; changed files are loaded for new
    /// connections (established ones keep theirs), and files that do not load keep the old
    /// certificate in force (logged, counted). Default `"10s"`; `"0s"` re-reads them only on a
    /// config reload.
    #[serde(default = "default_tls_reload")]
    pub reload_interval: Seconds,
}

fn default_tls_reload() -> Seconds {
    Seconds(Duration::from_secs(10))
}

/// `tls = { … }` of an exporter with an `https://` endpoint: whom to trust and how to present
/// itself. Without it, `https://` uses the system's root certificates.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// CA certificates (PEM) that sign the backend's certificate, instead of the system roots.
    pub ca_file: Option<Spanned<String>>,
    /// A client certificate chain (PEM) for backends that require mTLS; needs `key_file`.
    pub cert_file: Option<Spanned<String>>,
    /// The client certificate's private key (PEM); needs `cert_file`.
    pub key_file: Option<Spanned<String>>,
    /// The name the backend's certificate must carry, when it differs from the endpoint's host
    /// (e.g. an endpoint given by IP address). The Collector's `server_name_override` is
    /// accepted too.
    #[serde(alias = "server_name_override")]
    pub server_name: Option<Spanned<String>>,
    /// Accept any certificate the backend presents. For tests only: it gives up the protection
    /// TLS exists for, and Weir logs a warning at start.
    pub insecure_skip_verify: Option<Spanned<bool>>,
    /// The oldest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: TlsVersion,
}

impl ClientTlsConfig {
    /// True when `insecure_skip_verify = true`.
    pub fn insecure(&self) -> bool {
        self.insecure_skip_verify
            .as_ref()
            .is_some_and(|v| *v.get_ref())
    }
}

/// `auth = { … }` of a receiver: requests without valid credentials are answered 401 /
/// UNAUTHENTICATED and nothing of them is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A TOML file of bearer tokens, each with its tenant:
    /// `[[tokens]] tenant = "team-a"` and `token = "…"` or `token_sha256 = "<hex>"`. Clients
    /// send `Authorization: Bearer <token>`.
    pub bearer_tokens_file: Option<Spanned<String>>,
    /// HTTP basic authentication against an htpasswd file (bcrypt entries, `htpasswd -B`);
    /// the user name is the tenant.
    pub basic: Option<Spanned<BasicAuthConfig>>,
    /// How often the file is checked for changes. Default `"10s"`; `"0s"` re-reads it only on
    /// a config reload.
    #[serde(default = "default_tls_reload")]
    pub reload_interval: Seconds,
}

/// `basic = { htpasswd_file = "…" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The htpasswd file: `user:$2y$…` lines (bcrypt).
    pub htpasswd_file: Spanned<String>,
}

/// A problem found without I/O: the span, the key under the table, and what is wrong.
pub(crate) type Problem = (std::ops::Range<usize>, String, String);

/// Problems of a listener's `tls` table (`key` is its dotted key).
pub(crate) fn check_server_tls(key: &str, t: &ServerTlsConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    for (field, v) in [("cert_file", &t.cert_file), ("key_file", &t.key_file)]
        .into_iter()
        .chain(t.client_ca_file.as_ref().map(|c| ("client_ca_file", c)))
    {
        if v.get_ref().trim().is_empty() {
            out.push((
                v.span(),
                format!("{key}.{field}"),
                "must not be empty".into(),
            ));
        }
    }
    out
}

/// Problems of an exporter's `tls` table, given its endpoint (if any).
pub(crate) fn check_client_tls(
    key: &str,
    table_span: std::ops::Range<usize>,
    t: &ClientTlsConfig,
    endpoint: Option<&str>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(ep) = endpoint
        && ep.starts_with("http://")
    {
        out.push((
            table_span.clone(),
            key.to_string(),
            format!("TLS settings need an https:// endpoint, and \"{ep}\" is http://"),
        ));
    }
    if t.insecure()
        && let Some(ca) = &t.ca_file
    {
        out.push((
            ca.span(),
            format!("{key}.ca_file"),
            "`insecure_skip_verify = true` accepts any certificate, so a `ca_file` would never be used; remove one of them".into(),
        ));
    }
    match (&t.cert_file, &t.key_file) {
        (Some(c), None) => out.push((
            c.span(),
            format!("{key}.cert_file"),
            "a client certificate needs its `key_file`".into(),
        )),
        (None, Some(k)) => out.push((
            k.span(),
            format!("{key}.key_file"),
            "a `key_file` needs the `cert_file` it belongs to".into(),
        )),
        _ => {}
    }
    for (field, v) in [
        ("ca_file", &t.ca_file),
        ("cert_file", &t.cert_file),
        ("key_file", &t.key_file),
        ("server_name", &t.server_name),
    ] {
        if let Some(v) = v
            && v.get_ref().trim().is_empty()
        {
            out.push((
                v.span(),
                format!("{key}.{field}"),
                "must not be empty".into(),
            ));
        }
    }
    out
}

/// Problems of a receiver's `auth` table.
pub(crate) fn check_auth(
    key: &str,
    table_span: std::ops::Range<usize>,
    a: &AuthConfig,
) -> Vec<Problem> {
    let mut out = Vec::new();
    match (&a.bearer_tokens_file, &a.basic) {
        (None, None) => out.push((
            table_span,
            key.to_string(),
            "name a `bearer_tokens_file` or `basic = { htpasswd_file = \"…\" }`".into(),
        )),
        (Some(b), Some(_)) => out.push((
            b.span(),
            key.to_string(),
            "choose one of `bearer_tokens_file` and `basic`: a receiver checks one kind of credentials".into(),
        )),
        _ => {}
    }
    out
}

/// A receiver's `tls`, `auth` and `tenant_attribute`.
pub(crate) fn check_receiver(
    c: &mut crate::validate::Checker<'_, '_>,
    key: &str,
    r: &Spanned<crate::ReceiverConfig>,
) {
    let rc = r.get_ref();
    let mut problems = Vec::new();
    if let Some(t) = &rc.tls {
        problems.extend(check_server_tls(&format!("{key}.tls"), t.get_ref()));
    }
    if let Some(a) = &rc.auth {
        problems.extend(check_auth(&format!("{key}.auth"), a.span(), a.get_ref()));
    }
    if let Some(attr) = &rc.tenant_attribute {
        let mtls = rc
            .tls
            .as_ref()
            .is_some_and(|t| t.get_ref().client_ca_file.is_some());
        if attr.get_ref().trim().is_empty() {
            problems.push((
                attr.span(),
                format!("{key}.tenant_attribute"),
                "must not be empty".into(),
            ));
        } else if rc.auth.is_none() && !mtls {
            problems.push((
                attr.span(),
                format!("{key}.tenant_attribute"),
                "there is no tenant to set: add `auth = { … }` or `tls.client_ca_file` (mTLS) to this receiver".into(),
            ));
        }
    }
    for (span, k, msg) in problems {
        c.err(span, k, msg);
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const BASE: &str = "[exporters.d]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"in\"]\nexporters = [\"d\"]\n";

    fn check(receiver: &str, extra: &str) -> Result<Config, String> {
        let text = format!("[receivers.in]\ngrpc = \"127.0.0.1:0\"\n{receiver}\n{BASE}{extra}");
        Config::parse("w.toml", &text, &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn receiver_tls_auth_and_tenants_read_and_check() {
        let c = check(
            "tls = { cert_file = \"s.pem\", key_file = \"k.pem\", client_ca_file = \"ca.pem\", min_version = \"1.3\" }\ntenant_attribute = \"tenant\"",
            "",
        )
        .expect("valid");
        let tls = c.receivers["in"].tls.as_ref().expect("tls").get_ref();
        assert_eq!(tls.min_version, super::TlsVersion::V1_3);
        assert_eq!(tls.reload_interval.0, std::time::Duration::from_secs(10));
        let e = check("tenant_attribute = \"tenant\"", "").expect_err("no tenant source");
        assert!(
            e.contains("receivers.in.tenant_attribute: there is no tenant to set"),
            "{e}"
        );
        let e = check("auth = { reload_interval = \"1s\" }", "").expect_err("no file");
        assert!(
            e.contains("receivers.in.auth: name a `bearer_tokens_file`"),
            "{e}"
        );
        let e = check(
            "auth = { bearer_tokens_file = \"t.toml\", basic = { htpasswd_file = \"h\" } }",
            "",
        )
        .expect_err("two kinds");
        assert!(
            e.contains("choose one of `bearer_tokens_file` and `basic`"),
            "{e}"
        );
        let e = check("tls = { cert_file = \"s.pem\" }", "").expect_err("no key");
        assert!(e.contains("missing field `key_file`"), "{e}");
    }

    #[test]
    fn exporter_tls_is_checked_against_its_endpoint() {
        let exporter = |lines: &str| {
            let text = format!(
                "[receivers.in]\ngrpc = \"127.0.0.1:0\"\n[exporters.d]\ntype = \"otlp-grpc\"\n{lines}\n[pipelines.traces]\nreceivers = [\"in\"]\nexporters = [\"d\"]\n"
            );
            Config::parse("w.toml", &text, &|_| None).map_err(|e| e.to_string())
        };
        exporter("endpoint = \"https://collector.example.com\"").expect("https without tls");
        exporter("endpoint = \"https://10.0.0.1:4317\"\ntls = { ca_file = \"ca.pem\", server_name = \"c.internal\" }")
            .expect("https with a CA");
        let e = exporter("endpoint = \"http://c:4317\"\ntls = { ca_file = \"ca.pem\" }")
            .expect_err("http");
        assert_eq!(
            e,
            "w.toml:6:7: exporters.d.tls: TLS settings need an https:// endpoint, and \"http://c:4317\" is http://"
        );
        let e = exporter("endpoint = \"https://c:4317\"\ntls = { insecure_skip_verify = true, ca_file = \"ca.pem\" }")
            .expect_err("both");
        assert!(
            e.contains(
                "exporters.d.tls.ca_file: `insecure_skip_verify = true` accepts any certificate"
            ),
            "{e}"
        );
        let e = exporter("endpoint = \"https://c:4317\"\ntls = { cert_file = \"c.pem\" }")
            .expect_err("no key");
        assert!(
            e.contains("exporters.d.tls.cert_file: a client certificate needs its `key_file`"),
            "{e}"
        );
        let e = exporter("endpoint = \"https://:4317\"").expect_err("no host");
        assert!(e.contains("needs a host"), "{e}");
    }

    #[test]
    fn the_admin_token_is_checked() {
        let e = check("", "[admin]\ntoken_for_reads = true\n").expect_err("no token");
        assert!(
            e.contains("admin.token_for_reads: needs `bearer_token`"),
            "{e}"
        );
        let c = check(
            "",
            "[admin]\nbearer_token = \"t\"\ntls = { cert_file = \"a\", key_file = \"b\" }\n",
        )
        .expect("valid");
        assert!(c.admin.tls.is_some());
    }
}
