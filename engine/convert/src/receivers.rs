//! Receivers: the Collector's `otlp` receiver with `protocols.grpc` / `protocols.http` becomes
//! Weir's OTLP receiver with `grpc` / `http` listeners. When only one protocol has TLS, the two
//! become separate receivers (Weir's `tls` covers both listeners of one receiver).

use toml::Value;
use yaml_rust2::Yaml;

use crate::out::{Item, Table};
use crate::yaml::{self, get, string};
use crate::{Became, Cx, Section, header};

/// Converts receiver `id` of type `kind`.
pub(crate) fn convert(cx: &mut Cx, id: &str, kind: &str, node: &Yaml) -> Became {
    if kind != "otlp" {
        let line = cx.lost(
            &format!("receivers.{id}"),
            "Weir receives OTLP only (gRPC and HTTP); point the sender at an OTLP receiver, or \
             keep a Collector in front for this source",
        );
        cx.kept(Section::Receivers, line, id, node);
        return Became::Nothing;
    }
    let protocols = get(node, "protocols");
    let grpc = protocols
        .filter(|p| yaml::has(p, "grpc"))
        .map(|p| get(p, "grpc"));
    let http = protocols
        .filter(|p| yaml::has(p, "http"))
        .map(|p| get(p, "http"));
    let tls = |p: Option<Option<&Yaml>>| p.flatten().and_then(|n| get(n, "tls")).cloned();
    let (grpc_tls, http_tls) = (tls(grpc), tls(http));
    let split = grpc.is_some() && http.is_some() && grpc_tls != http_tls;
    let mut names = Vec::new();
    let mut build = |cx: &mut Cx,
                     name: String,
                     grpc: Option<Option<&Yaml>>,
                     http: Option<Option<&Yaml>>,
                     tls: Option<Yaml>| {
        let path = format!("receivers.{id}");
        let mut t = Table::new(header("receivers", &name));
        if name != id {
            t.note(format!(
                "The {} listener of the Collector's `{id}`: its TLS differs from the other's.",
                if grpc.is_some() { "gRPC" } else { "HTTP" }
            ));
        }
        if let Some(g) = grpc {
            t.set("grpc", grpc_listener(cx, &path, g));
        }
        if let Some(h) = http {
            t.set("http", http_listener(cx, &path, h));
        }
        if let Some(tls) = tls {
            t.set("tls", server_tls(cx, &format!("{path}.tls"), &tls));
        }
        if grpc.is_none() && http.is_none() {
            t.note("The Collector's otlp receiver listed no protocol; both are on here.");
            t.set("grpc", "127.0.0.1:4317")
                .set("http", "127.0.0.1:4318");
        }
        cx.receivers.push(Item::Table(t));
        names.push(name);
    };
    if split {
        build(cx, format!("{id}-grpc"), grpc, None, grpc_tls);
        build(cx, format!("{id}-http"), None, http, http_tls);
    } else {
        build(cx, id.to_string(), grpc, http, grpc_tls.or(http_tls));
    }
    Became::Components(names)
}

/// A Collector `endpoint` as a Weir listen address: `localhost` is 127.0.0.1, `:4317` is every
/// interface; `${env:…}` references pass through (Weir expands them too).
fn listen(endpoint: Option<String>, default: &str) -> String {
    let Some(e) = endpoint else {
        return default.to_string();
    };
    if let Some(port) = e.strip_prefix(':') {
        return format!("0.0.0.0:{port}");
    }
    if let Some(port) = e.strip_prefix("localhost:") {
        return format!("127.0.0.1:{port}");
    }
    e
}

/// The gRPC listener: an address, or a table when a size limit is set.
fn grpc_listener(cx: &mut Cx, path: &str, node: Option<&Yaml>) -> Value {
    // The Collector's default is localhost:4317 (since v0.104).
    let endpoint = listen(node.and_then(|n| string(n, "endpoint")), "127.0.0.1:4317");
    let Some(n) = node else {
        return Value::String(endpoint);
    };
    let mut t = toml::Table::new();
    t.insert("endpoint".into(), Value::String(endpoint.clone()));
    if let Some(mib) = yaml::int(n, "max_recv_msg_size_mib") {
        t.insert(
            "max_recv_msg_size".into(),
            Value::String(format!("{mib}MiB")),
        );
    }
    for k in yaml::keys(n) {
        if !matches!(k.as_str(), "endpoint" | "max_recv_msg_size_mib" | "tls") {
            let why = match k.as_str() {
                "auth" => {
                    "receiver authentication is Weir's `auth` table (bearer tokens, basic auth); see docs/security.md"
                }
                "keepalive"
                | "max_concurrent_streams"
                | "read_buffer_size"
                | "write_buffer_size" => {
                    "Weir's connection limits are `connections = { ... }` on the listener; see docs/configuration.md"
                }
                _ => "Weir's gRPC listener has no such setting",
            };
            cx.lost(&format!("{path}.protocols.grpc.{k}"), why);
        }
    }
    if t.len() == 1 {
        Value::String(endpoint)
    } else {
        Value::Table(t)
    }
}

/// The HTTP listener: an address, or a table for a body limit or CORS origins.
fn http_listener(cx: &mut Cx, path: &str, node: Option<&Yaml>) -> Value {
    let endpoint = listen(node.and_then(|n| string(n, "endpoint")), "127.0.0.1:4318");
    let Some(n) = node else {
        return Value::String(endpoint);
    };
    let mut t = toml::Table::new();
    t.insert("endpoint".into(), Value::String(endpoint.clone()));
    if let Some(bytes) = yaml::int(n, "max_request_body_size") {
        t.insert("max_request_body_size".into(), Value::Integer(bytes));
    }
    if let Some(cors) = get(n, "cors") {
        let origins = yaml::strings(cors, "allowed_origins");
        if !origins.is_empty() {
            t.insert(
                "cors_allowed_origins".into(),
                Value::Array(origins.into_iter().map(Value::String).collect()),
            );
        }
        for k in yaml::keys(cors) {
            if k != "allowed_origins" {
                cx.lost(
                    &format!("{path}.protocols.http.cors.{k}"),
                    "Weir's CORS takes only the allowed origins",
                );
            }
        }
    }
    for k in yaml::keys(n) {
        match k.as_str() {
            "endpoint" | "max_request_body_size" | "cors" | "tls" => {}
            "traces_url_path" | "metrics_url_path" | "logs_url_path" => {
                cx.lost(
                    &format!("{path}.protocols.http.{k}"),
                    "Weir serves the standard /v1/traces, /v1/metrics and /v1/logs paths only",
                );
            }
            "auth" => {
                cx.lost(
                    &format!("{path}.protocols.http.auth"),
                    "receiver authentication is Weir's `auth` table (bearer tokens, basic auth); see docs/security.md",
                );
            }
            _ => {
                cx.lost(
                    &format!("{path}.protocols.http.{k}"),
                    "Weir's HTTP listener has no such setting",
                );
            }
        }
    }
    if t.len() == 1 {
        Value::String(endpoint)
    } else {
        Value::Table(t)
    }
}

/// A listener's `tls` table (cert, key, client CA for mTLS, minimum version).
pub(crate) fn server_tls(cx: &mut Cx, path: &str, node: &Yaml) -> Value {
    let mut t = toml::Table::new();
    for (from, to) in [
        ("cert_file", "cert_file"),
        ("key_file", "key_file"),
        ("client_ca_file", "client_ca_file"),
        ("min_version", "min_version"),
        ("reload_interval", "reload_interval"),
    ] {
        if let Some(v) = string(node, from) {
            t.insert(to.into(), Value::String(v));
        }
    }
    for k in yaml::keys(node) {
        if !matches!(
            k.as_str(),
            "cert_file" | "key_file" | "client_ca_file" | "min_version" | "reload_interval"
        ) {
            cx.lost(&format!("{path}.{k}"), "Weir's server TLS has no such setting (it takes cert_file, key_file, client_ca_file, min_version, reload_interval)");
        }
    }
    Value::Table(t)
}

/// `service.telemetry`: the metrics address becomes the admin listener; the rest (Weir's own
/// logs and metrics are set otherwise) is listed.
pub(crate) fn telemetry(cx: &mut Cx, node: &Yaml) {
    for k in yaml::keys(node) {
        let path = format!("service.telemetry.{k}");
        let Some(part) = get(node, &k) else { continue };
        if k == "metrics" {
            for m in yaml::keys(part) {
                match (m.as_str(), string(part, &m)) {
                    ("address", Some(addr)) => cx.admin.push((
                        "listen".into(),
                        Value::String(listen(Some(addr), "127.0.0.1:8888")),
                        vec![
                            "from service.telemetry.metrics.address: /metrics, /healthz, /readyz"
                                .into(),
                        ],
                    )),
                    _ => {
                        cx.lost(
                            &format!("{path}.{m}"),
                            "Weir's own metrics are /metrics on the admin listener ([admin] listen)",
                        );
                    }
                }
            }
        } else if k == "logs" {
            cx.lost(
                &path,
                "Weir's own logs are set on the command line: `weir run --log-level LEVEL \
                 --log-format text|json` (or WEIR_LOG)",
            );
        } else {
            cx.lost(&path, "Weir's own telemetry has no such setting");
        }
    }
}
