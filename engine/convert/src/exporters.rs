//! Exporters: `otlp`/`otlp_grpc`, `otlphttp`/`otlp_http`, `debug`/`logging` and `file` are
//! Weir exporter types; `prometheusremotewrite`, `clickhouse` and `elasticsearch` are built-in
//! exporter plugins. An exporter with no Weir form becomes a marked `debug` stand-in so that
//! the pipelines around it still validate.

use toml::Value;
use yaml_rust2::Yaml;

use crate::out::{Item, Table};
use crate::yaml::{self, get, string};
use crate::{Became, Cx, header};

/// Keys every sending exporter shares (the Collector's exporterhelper).
const HELPER: [&str; 3] = ["timeout", "sending_queue", "retry_on_failure"];

/// Converts exporter `id` of type `kind`.
pub(crate) fn convert(cx: &mut Cx, id: &str, kind: &str, node: &Yaml) -> Became {
    let path = format!("exporters.{id}");
    let mut t = Table::new(header("exporters", id));
    let taken: &[&str] = match kind {
        "otlp" | "otlp_grpc" | "otlphttp" | "otlp_http" => {
            let grpc = matches!(kind, "otlp" | "otlp_grpc");
            t.set("type", if grpc { "otlp-grpc" } else { "otlp-http" });
            let insecure =
                get(node, "tls").and_then(|t| yaml::boolean(t, "insecure")) == Some(true);
            let endpoint = string(node, "endpoint").unwrap_or_default();
            let endpoint = if endpoint.contains("://") || endpoint.starts_with("${") {
                endpoint
            } else if insecure {
                format!("http://{endpoint}")
            } else {
                // The Collector's otlp exporter uses TLS unless `tls.insecure` is set.
                format!("https://{endpoint}")
            };
            t.set("endpoint", endpoint.clone());
            if let Some(c) = string(node, "compression") {
                match c.as_str() {
                    "gzip" | "zstd" | "none" => {
                        t.set("compression", c);
                    }
                    "" => {}
                    other => {
                        cx.lost(
                            &format!("{path}.compression"),
                            format!("Weir compresses with gzip, zstd or none, not {other}"),
                        );
                    }
                }
            }
            if let Some(headers) = get(node, "headers").and_then(yaml::string_map) {
                t.set("headers", Value::Table(headers));
            }
            if !grpc {
                for k in [
                    "traces_endpoint",
                    "metrics_endpoint",
                    "logs_endpoint",
                    "encoding",
                ] {
                    if get(node, k).is_some() {
                        cx.lost(
                            &format!("{path}.{k}"),
                            "Weir's otlp-http exporter takes one base `endpoint` and sends \
                             protobuf; use `type = \"plugin\"` with builtin:otlp-http for per-signal \
                             URLs or JSON",
                        );
                    }
                }
            }
            &[
                "endpoint",
                "compression",
                "headers",
                "tls",
                "traces_endpoint",
                "metrics_endpoint",
                "logs_endpoint",
                "encoding",
            ]
        }
        "debug" | "logging" => {
            t.set("type", "debug");
            let verbosity = string(node, "verbosity").unwrap_or_else(|| "basic".into());
            t.set("verbosity", verbosity.to_ascii_lowercase());
            &[
                "verbosity",
                "sampling_initial",
                "sampling_thereafter",
                "use_internal_logger",
            ]
        }
        "file" => {
            t.set("type", "file");
            t.set(
                "path",
                string(node, "path").unwrap_or_else(|| "weir-export.json".into()),
            );
            &["path"]
        }
        "prometheusremotewrite" => {
            plugin(
                &mut t,
                "prometheus-remote-write",
                node,
                &[
                    ("endpoint", "endpoint"),
                    ("headers", "headers"),
                    ("add_metric_suffixes", "add_unit_suffix"),
                ],
            );
            &["endpoint", "headers", "add_metric_suffixes", "tls"]
        }
        "clickhouse" => {
            let endpoint = string(node, "endpoint").unwrap_or_default();
            plugin(
                &mut t,
                "clickhouse",
                node,
                &[
                    ("endpoint", "endpoint"),
                    ("database", "database"),
                    ("traces_table_name", "traces_table"),
                    ("logs_table_name", "logs_table"),
                    ("username", "username"),
                    ("password", "password"),
                    ("create_schema", "create_schema"),
                ],
            );
            if !endpoint.starts_with("http") {
                let http = clickhouse_http(&endpoint);
                cx.lost(
                    &format!("{path}.endpoint"),
                    format!(
                        "Weir writes to ClickHouse's HTTP interface: {endpoint} became {http} \
                         (the native protocol's port 9000 as HTTP's 8123; URL options dropped)"
                    ),
                );
                if let Some((_, Value::Table(c), _)) = t.keys.iter_mut().find(|k| k.0 == "config") {
                    c.insert("endpoint".into(), Value::String(http));
                }
            }
            &[
                "endpoint",
                "database",
                "traces_table_name",
                "logs_table_name",
                "username",
                "password",
                "create_schema",
                "tls",
            ]
        }
        "elasticsearch" => {
            let endpoints = yaml::strings(node, "endpoints");
            if endpoints.len() > 1 {
                cx.lost(
                    &format!("{path}.endpoints"),
                    "builtin:elasticsearch sends to one endpoint: the first is kept",
                );
            }
            let first = endpoints.into_iter().next();
            plugin(
                &mut t,
                "elasticsearch",
                node,
                &[
                    ("endpoint", "endpoint"),
                    ("logs_index", "logs_index"),
                    ("traces_index", "traces_index"),
                    ("api_key", "api_key"),
                    ("user", "username"),
                    ("password", "password"),
                    ("headers", "headers"),
                ],
            );
            if let (Some(e), Some((_, Value::Table(c), _))) =
                (first, t.keys.iter_mut().find(|k| k.0 == "config"))
            {
                c.entry("endpoint").or_insert(Value::String(e));
            }
            &[
                "endpoint",
                "endpoints",
                "logs_index",
                "traces_index",
                "api_key",
                "user",
                "password",
                "headers",
                "tls",
            ]
        }
        _ => {
            let line = cx.lost(
                &path,
                match kind {
                    "loadbalancing" => "Weir has no load-balancing exporter yet; this debug exporter stands in for it".to_string(),
                    _ => format!("Weir has no `{kind}` exporter; this debug exporter stands in for it (an exporter plugin can send there: docs/plugins/exporters.md)"),
                },
            );
            t.note(line);
            t.notes.extend(yaml::quote(id, node));
            t.set("type", "debug").set("verbosity", "basic");
            cx.exporters.push(Item::Table(t));
            return Became::Components(vec![id.to_string()]);
        }
    };
    helper(cx, &path, node, &mut t, kind);
    tls(cx, &path, node, &mut t);
    for k in yaml::keys(node) {
        if !taken.contains(&k.as_str()) && !HELPER.contains(&k.as_str()) {
            let why = match k.as_str() {
                "auth" => {
                    "exporter authentication extensions do not convert: set `headers` (or the plugin's credentials)"
                }
                "balancer_name" | "keepalive" | "read_buffer_size" | "write_buffer_size"
                | "wait_for_ready" => "Weir tunes its connections itself",
                _ => "Weir's exporter has no such setting",
            };
            cx.lost(&format!("{path}.{k}"), why);
        }
    }
    cx.exporters.push(Item::Table(t));
    Became::Components(vec![id.to_string()])
}

/// A ClickHouse native-protocol URL (`tcp://host:9000?opts`) as its HTTP interface's.
fn clickhouse_http(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host_port = rest.split(['?', '/']).next().unwrap_or(rest);
    let host = match host_port.rsplit_once(':') {
        Some((h, "9000")) => format!("{h}:8123"),
        Some(_) => host_port.to_string(),
        None => format!("{host_port}:8123"),
    };
    format!("http://{host}")
}

/// `type = "plugin"` with `builtin:<name>` and the config keys renamed by `keys`.
fn plugin(t: &mut Table, name: &str, node: &Yaml, keys: &[(&str, &str)]) {
    t.set("type", "plugin")
        .set("plugin", format!("builtin:{name}"));
    let mut config = toml::Table::new();
    for (from, to) in keys {
        match get(node, from) {
            // Maps are headers: string values.
            Some(h @ Yaml::Hash(_)) => {
                if let Some(m) = yaml::string_map(h) {
                    config.insert((*to).into(), Value::Table(m));
                }
            }
            Some(v) => {
                config.insert((*to).into(), yaml::to_toml(v));
            }
            None => {}
        }
    }
    t.set("config", Value::Table(config));
}

/// `timeout`, `sending_queue` and `retry_on_failure`, which Weir names as the Collector does.
fn helper(cx: &mut Cx, path: &str, node: &Yaml, t: &mut Table, kind: &str) {
    let sends = !matches!(kind, "debug" | "logging" | "file");
    if let Some(d) = yaml::duration(node, "timeout").filter(|_| sends) {
        t.set("timeout", d);
    }
    if let Some(q) = get(node, "sending_queue") {
        let mut queue = toml::Table::new();
        for k in yaml::keys(q) {
            match k.as_str() {
                "queue_size" | "num_consumers" => {
                    if let Some(n) = yaml::int(q, &k) {
                        queue.insert(k, Value::Integer(n));
                    }
                }
                "enabled" if yaml::boolean(q, "enabled") == Some(false) => {
                    cx.lost(
                        &format!("{path}.sending_queue.enabled"),
                        "every Weir exporter has a sending queue; it is kept at its defaults",
                    );
                }
                "enabled" => {}
                "storage" => {
                    queue.insert("storage".into(), Value::String("disk".into()));
                    queue.insert(
                        "dir".into(),
                        Value::String(format!("queue/{}", id_dir(path))),
                    );
                    t.note(format!(
                        "{path}.sending_queue.storage: a persistent queue, on disk under \
                         queue/ next to this file (Weir needs no storage extension)."
                    ));
                }
                _ => {
                    cx.lost(
                        &format!("{path}.sending_queue.{k}"),
                        "Weir's sending queue counts batches and has no such setting",
                    );
                }
            }
        }
        if !queue.is_empty() {
            t.set("sending_queue", Value::Table(queue));
        }
    }
    if let Some(r) = get(node, "retry_on_failure").filter(|_| sends) {
        let mut retry = toml::Table::new();
        for k in yaml::keys(r) {
            match k.as_str() {
                "enabled" => {
                    if let Some(b) = yaml::boolean(r, "enabled") {
                        retry.insert(k, Value::Boolean(b));
                    }
                }
                "initial_interval" | "max_interval" | "max_elapsed_time" => {
                    if let Some(d) = yaml::duration(r, &k) {
                        retry.insert(k, Value::String(d));
                    }
                }
                "multiplier" | "randomization_factor" => {
                    if let Some(f) = yaml::float(r, &k) {
                        retry.insert(k, Value::Float(f));
                    }
                }
                _ => {
                    cx.lost(
                        &format!("{path}.retry_on_failure.{k}"),
                        "Weir's retry has no such setting",
                    );
                }
            }
        }
        t.set("retry_on_failure", Value::Table(retry));
    }
}

/// A directory name for an exporter's disk queue (`otlp/backend` → `otlp-backend`).
fn id_dir(path: &str) -> String {
    path.trim_start_matches("exporters.")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The exporter's `tls`, which Weir takes for an `https://` endpoint only (OTLP exporters'
/// and plugins' alike); `insecure` alone needs none.
fn tls(cx: &mut Cx, path: &str, node: &Yaml, t: &mut Table) {
    let Some(tls) = get(node, "tls") else { return };
    let endpoint = t.keys.iter().find_map(|(k, v, _)| match (k.as_str(), v) {
        ("endpoint", Value::String(e)) => Some(e.clone()),
        ("config", Value::Table(c)) => c
            .get("endpoint")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    });
    if endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("https://"))
    {
        let v = client_tls(cx, &format!("{path}.tls"), tls);
        t.set("tls", v);
    } else if yaml::keys(tls).iter().any(|k| k != "insecure") {
        cx.lost(
            &format!("{path}.tls"),
            "Weir takes `tls` only with an endpoint written as https://… (set it there)",
        );
    }
}

/// An exporter's client `tls` table.
fn client_tls(cx: &mut Cx, path: &str, node: &Yaml) -> Value {
    let mut t = toml::Table::new();
    for k in yaml::keys(node) {
        match k.as_str() {
            "ca_file" | "cert_file" | "key_file" | "min_version" => {
                if let Some(v) = string(node, &k) {
                    t.insert(k, Value::String(v));
                }
            }
            "server_name_override" => {
                if let Some(v) = string(node, &k) {
                    t.insert("server_name".into(), Value::String(v));
                }
            }
            "insecure_skip_verify" => {
                if let Some(b) = yaml::boolean(node, &k) {
                    t.insert(k, Value::Boolean(b));
                }
            }
            "insecure" => {}
            _ => {
                cx.lost(
                    &format!("{path}.{k}"),
                    "Weir's client TLS has no such setting",
                );
            }
        }
    }
    Value::Table(t)
}
