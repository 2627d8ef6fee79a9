//! Exporter plugins (`type = "plugin"`): the first-party `builtin:otlp-http` delivers protobuf
//! (gzip) and JSON to a real OTLP/HTTP server; a request to a host that is not allowed is
//! refused by the host and the batch dropped and counted; retryable answers are retried with
//! backoff; a send that traps is retried on a fresh instance and nothing is lost; bad exporter
//! configs are reported at their line.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::process::Command;
use std::time::Duration;

use prost::Message;
use weir_core::Batch;
use weir_tests::{Backend, Gateway, Reply, Transport, eventually, plugins};

const LIMIT: Duration = Duration::from_secs(30);

/// A request of `n` realistic spans numbered 1..=n (see [`span`]).
fn request(n: u8) -> Vec<u8> {
    weir_tests::fixtures::numbered_spans(0, usize::from(n)).encode_to_vec()
}

/// The number of a span made by [`request`].
fn span(id: &[u8]) -> u8 {
    weir_tests::fixtures::span_number(id).map_or(0, |(_, i)| i as u8)
}

/// The span numbers delivered over HTTP, sorted.
fn delivered_ids(backend: &Backend) -> Vec<u8> {
    let mut ids: Vec<u8> = backend
        .delivered(Transport::Http)
        .iter()
        .filter_map(|b| match b {
            Batch::Traces(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| span(&s.span_id))
        .collect();
    ids.sort_unstable();
    ids
}

/// A gateway with one exporter `out` (TOML lines `exporter`) fed by the `otlp` receiver.
fn config(exporter: &str) -> String {
    format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.out]
type = "plugin"
{exporter}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
batch = {{ send_batch_size = 1, timeout = "10ms" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_otlp_http_delivers_protobuf_and_json() {
    let (proto, json) = (Backend::start().await, Backend::start().await);
    let text = format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.proto]
type = "plugin"
plugin = "builtin:otlp-http"
config = {{ endpoint = "{}", encoding = "proto", compression = "gzip" }}

[exporters.json]
type = "plugin"
plugin = "builtin:otlp-http"
config = {{ endpoint = "{}", encoding = "json", compression = "none" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["proto", "json"]
"#,
        proto.http_url(),
        json.http_url()
    );
    let gw = Gateway::start(&text).await;
    let r = gw.post_otlp("traces", request(10)).await.unwrap();
    assert_eq!(r.status(), 200);
    let both = || async { delivered_ids(&proto).len() == 10 && delivered_ids(&json).len() == 10 };
    assert!(
        eventually(LIMIT, both).await,
        "{:?} {:?}",
        delivered_ids(&proto),
        delivered_ids(&json)
    );
    let want: Vec<u8> = (1..=10).collect();
    assert_eq!(delivered_ids(&proto), want);
    assert_eq!(delivered_ids(&json), want);
    let sent = gw
        .metric("weir_exporter_sent_items_total", &[("exporter", "json")])
        .await;
    assert_eq!(sent, 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_not_allowed_is_refused_and_the_batch_counted_as_rejected() {
    let backend = Backend::start().await;
    let exporter = format!(
        "plugin = \"{}\"\nconfig = {{ url = \"{}/v1/traces\" }}\nallowed_hosts = [\"127.0.0.1:1\"]",
        plugins::wasm("exporter-test").display(),
        backend.http_url()
    );
    let gw = Gateway::start(&config(&exporter)).await;
    let r = gw.post_otlp("traces", request(5)).await.unwrap();
    assert_eq!(r.status(), 200);
    let counted = || async {
        gw.metric(
            "weir_exporter_dropped_items_total",
            &[("exporter", "out"), ("reason", "rejected")],
        )
        .await
            == 5.0
    };
    assert!(eventually(LIMIT, counted).await, "{}", gw.log_text());
    assert!(backend.seen().is_empty(), "the request went out");
    assert!(gw.log_text().contains("not in its allowed_hosts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_answers_are_retried_with_backoff() {
    let backend = Backend::start().await;
    backend.script(
        Transport::Http,
        &[Reply::Unavailable(None), Reply::Unavailable(None)],
    );
    let exporter = format!(
        "plugin = \"builtin:otlp-http\"\nconfig = {{ endpoint = \"{}\" }}\nretry_on_failure = {{ initial_interval = \"200ms\", randomization_factor = 0.0 }}",
        backend.http_url()
    );
    let gw = Gateway::start(&config(&exporter)).await;
    let r = gw.post_otlp("traces", request(4)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(eventually(LIMIT, || async { delivered_ids(&backend).len() == 4 }).await);
    let seen = backend.seen();
    assert_eq!(seen.len(), 3, "two refusals, then the delivery");
    // Backoff: 200 ms, then 300 ms (multiplier 1.5), at the least.
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(190),
        "{seen:?}"
    );
    assert!(
        seen[2].at - seen[1].at >= Duration::from_millis(290),
        "{seen:?}"
    );
    let failed = gw
        .metric(
            "weir_exporter_send_failed_items_total",
            &[("exporter", "out")],
        )
        .await;
    assert_eq!(failed, 8.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_traps_is_retried_and_nothing_is_lost() {
    let backend = Backend::start().await;
    backend.script(Transport::Http, &[Reply::Unavailable(None)]);
    let exporter = format!(
        "plugin = \"{}\"\nconfig = {{ url = \"{}/v1/traces\", trap_on_failure = true }}\nallowed_hosts = [\"{}\"]\nretry_on_failure = {{ initial_interval = \"50ms\" }}",
        plugins::wasm("exporter-test").display(),
        backend.http_url(),
        backend.http
    );
    let gw = Gateway::start(&config(&exporter)).await;
    let r = gw.post_otlp("traces", request(3)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(eventually(LIMIT, || async { delivered_ids(&backend) == vec![1, 2, 3] }).await);
    assert_eq!(backend.seen().len(), 2);
    let failed = gw
        .metric(
            "weir_exporter_send_failed_items_total",
            &[("exporter", "out")],
        )
        .await;
    assert_eq!(failed, 3.0);
    let logs = gw.log_text();
    assert!(logs.contains("trapping as configured"), "{logs}");
}

#[test]
fn bad_exporter_plugin_configs_point_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "",
            "exporters.out.plugin: exporters of type plugin need a `plugin`",
        ),
        (
            "plugin = \"builtin:otlp-grpc\"",
            "exporters.out.plugin: unknown built-in exporter \"builtin:otlp-grpc\" (this build has: builtin:otlp-http, builtin:prometheus-remote-write, builtin:clickhouse, builtin:elasticsearch)",
        ),
        (
            "plugin = \"builtin:otlp-http\"\nconfig = { endpoint = \"127.0.0.1:4318\" }",
            "exporters.out.config.endpoint: plugin out rejected its config: \"127.0.0.1:4318\" is not an http:// or https:// URL",
        ),
        (
            "plugin = \"builtin:otlp-http\"\nconfig = { endpoint = \"http://x\" }\nallowed_hosts = [\"http://x\"]",
            "exporters.out.allowed_hosts: \"http://x\" is not a host or host:port",
        ),
    ];
    for (exporter, want) in cases {
        let path = dir.path().join("weir.toml");
        std::fs::write(&path, config(exporter)).unwrap();
        let out = Command::new(weir_tests::gateway::binary())
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{exporter}");
        assert!(stderr.contains(want), "{exporter}:\n{stderr}");
        assert!(stderr.contains("weir.toml:"), "{stderr}");
    }
}
