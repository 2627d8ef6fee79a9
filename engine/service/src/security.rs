//! The secure edge from the config: receivers' `tls` and `auth`, exporters' `tls`, the admin
//! listener's `tls` and token. Files are read here (at start, on reload and by `weir
//! validate`), and a file that cannot be used is reported at the `file:line` of its setting.

use std::sync::Arc;

use anyhow::anyhow;
use tokio_rustls::rustls::ClientConfig;
use weir_config::{Config, ExporterConfig, ExporterKind, ReceiverConfig};
use weir_core::telemetry::Telemetry;
use weir_receiver::Security;
use weir_tls::ServerTls;

/// Receiver `name`'s TLS and credential check (not yet watching its files).
pub(crate) fn receiver(
    config: &Config,
    name: &str,
    rc: &ReceiverConfig,
    telemetry: &Telemetry,
) -> anyhow::Result<Security> {
    let resolve = |p: &str| config.resolve_path(p);
    Security::build(name, rc, &resolve, telemetry)
        .map_err(|e| anyhow!("{}", config.diagnostic(e.span, e.key, e.message)))
}

/// The ALPN an exporter offers: gRPC needs HTTP/2; OTLP/HTTP takes either; a plugin's
/// `wasi:http` requests are HTTP/1.1.
fn alpn(kind: ExporterKind) -> &'static [&'static [u8]] {
    match kind {
        ExporterKind::OtlpGrpc => weir_tls::ALPN_H2,
        ExporterKind::Plugin => &[b"http/1.1"],
        _ => weir_tls::ALPN_HTTP,
    }
}

/// Exporter `name`'s client TLS config: for an `https://` endpoint, and for a plugin (whose
/// requests may go to https hosts); `None` for plaintext endpoints and file/debug exporters.
/// The files of an exporter's `tls` table, resolved.
pub(crate) fn exporter_files(config: &Config, e: &ExporterConfig) -> Vec<std::path::PathBuf> {
    let Some(t) = e.tls() else { return Vec::new() };
    let t = t.get_ref();
    [&t.ca_file, &t.cert_file, &t.key_file]
        .into_iter()
        .flatten()
        .map(|f| config.resolve_path(f.get_ref()))
        .collect()
}

pub(crate) fn exporter(
    config: &Config,
    name: &str,
    e: &ExporterConfig,
) -> anyhow::Result<Option<Arc<ClientConfig>>> {
    let endpoint = match e {
        ExporterConfig::OtlpGrpc(o) | ExporterConfig::OtlpHttp(o) => Some(&o.endpoint),
        _ => None,
    };
    let https = endpoint.is_some_and(|ep| ep.get_ref().starts_with("https://"));
    if !(https || e.kind() == ExporterKind::Plugin) {
        return Ok(None);
    }
    let tls = e.tls().map(|t| t.get_ref());
    let resolve = |p: &str| config.resolve_path(p);
    let built = weir_tls::client_config(tls, &resolve, alpn(e.kind())).map_err(|err| {
        let key = format!("exporters.{name}.tls");
        let at = |field: &Option<toml::Spanned<String>>| field.as_ref().map(toml::Spanned::span);
        let span = tls
            .and_then(|t| match err.field {
                "ca_file" => at(&t.ca_file),
                "cert_file" => at(&t.cert_file),
                "key_file" => at(&t.key_file),
                "server_name" => at(&t.server_name),
                _ => None,
            })
            .or_else(|| e.tls().map(toml::Spanned::span))
            .or_else(|| endpoint.map(toml::Spanned::span))
            .unwrap_or(0..0);
        let key = if err.field.is_empty() {
            key
        } else {
            format!("{key}.{}", err.field)
        };
        anyhow!("{}", config.diagnostic(span, key, err.to_string()))
    })?;
    if tls.is_some_and(weir_config::ClientTlsConfig::insecure) {
        tracing::warn!(
            exporter = name,
            "insecure_skip_verify = true: this exporter accepts any server certificate; anyone on the path can read and alter its data"
        );
    }
    Ok(Some(built))
}

/// The admin listener's TLS, if configured (not yet watching its files).
pub(crate) fn admin(config: &Config, telemetry: &Telemetry) -> anyhow::Result<Option<ServerTls>> {
    let Some(t) = &config.admin.tls else {
        return Ok(None);
    };
    let resolve = |p: &str| config.resolve_path(p);
    let files = weir_tls::server_files(t, &resolve, weir_tls::ALPN_HTTP);
    ServerTls::load(files, "admin", telemetry.tls("admin"))
        .map(Some)
        .map_err(|e| {
            let span = match e.field {
                "key_file" => t.key_file.span(),
                "client_ca_file" => t
                    .client_ca_file
                    .as_ref()
                    .map_or(t.cert_file.span(), |c| c.span()),
                _ => t.cert_file.span(),
            };
            let field = if e.field.is_empty() {
                "cert_file"
            } else {
                e.field
            };
            anyhow!(
                "{}",
                config.diagnostic(span, format!("admin.tls.{field}"), e.to_string())
            )
        })
}

/// Credentials that others can read or do without, or that will not work: an admin listener
/// reachable beyond loopback without a token, or with a token but no TLS; receivers that take
/// credentials in plaintext beyond loopback; exporters whose client certificate or CA has
/// expired. `weir validate` prints these, `weir run` logs them.
pub(crate) fn credential_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let admin = &config.admin;
    if !admin.listen.0.ip().is_loopback() {
        if admin.bearer_token.is_none() {
            out.push(format!("admin.listen {}: the admin listener is reachable beyond this host and has no bearer_token: anyone who reaches it can read /metrics; set [admin] bearer_token (reloads stay loopback-only until you do)", admin.listen.0));
        } else if admin.tls.is_none() {
            out.push(format!("admin.listen {}: the admin bearer_token travels in plaintext beyond this host: add [admin] tls", admin.listen.0));
        }
    }
    for (name, rc) in &config.receivers {
        let exposed = [
            rc.grpc.as_ref().map(|g| g.endpoint.0),
            rc.http.as_ref().map(|h| h.endpoint.0),
        ]
        .into_iter()
        .flatten()
        .any(|a| !a.ip().is_loopback());
        if rc.auth.is_some() && rc.tls.is_none() && exposed {
            out.push(format!("receivers.{name}: this receiver checks credentials without TLS: tokens and passwords cross the network in plaintext; add `tls`"));
        }
    }
    for (name, e) in &config.exporters {
        if let Some(tls) = e.tls() {
            out.extend(weir_tls::client_warnings(
                tls.get_ref(),
                &|p| config.resolve_path(p),
                name,
            ));
        }
    }
    out
}

/// Logs [`credential_warnings`] at start.
pub(crate) fn warn_exposed(config: &Config) {
    for w in credential_warnings(config) {
        tracing::warn!("{w}");
    }
}

/// What `weir validate` checks of the receivers' and admin listener's secure edge: every file
/// loads (each failure is pushed to `problems`, so one run names them all). Returns the
/// warnings: expired certificates, exposed credentials, exporters that skip verification.
/// Exporters' TLS files are loaded with the exporters themselves ([`exporter`]).
pub(crate) fn check(config: &Config, problems: &mut Vec<String>) -> Vec<String> {
    let telemetry = Telemetry::new();
    let mut warnings = Vec::new();
    for (name, rc) in &config.receivers {
        match receiver(config, name, rc, &telemetry) {
            Ok(r) => warnings.extend(r.warnings()),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    for (name, e) in &config.exporters {
        let insecure = e
            .tls()
            .and_then(|t| t.get_ref().insecure_skip_verify.as_ref())
            .filter(|v| *v.get_ref());
        if let Some(v) = insecure {
            warnings.push(
                config
                    .diagnostic(
                        v.span(),
                        format!("exporters.{name}.tls.insecure_skip_verify"),
                        "accepts any server certificate: anyone on the path can read and change this exporter's data",
                    )
                    .to_string(),
            );
        }
    }
    warnings.extend(credential_warnings(config));
    match admin(config, &telemetry) {
        Ok(Some(admin)) => warnings.extend(admin.warnings()),
        Ok(None) => {}
        Err(e) => problems.push(format!("{e:#}")),
    }
    warnings
}
