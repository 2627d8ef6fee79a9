//! Plugins in a running gateway fed by the real OpenTelemetry Python SDK: a Rust plugin written
//! with the SDK tags traces, metrics and logs end to end; a plugin stuck in a loop is
//! interrupted, its batches get `on_error = "pass"`, and everything still arrives.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use weir_core::Batch;
use weir_tests::{Backend, Gateway, Transport, eventually, plugins, python};

fn has(attrs: &[KeyValue], key: &str, value: &str) -> bool {
    attrs.iter().any(|kv| {
        kv.key == key && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s == value)
    })
}

/// Every item's attributes and its resource's attributes, for every delivered batch.
fn items(batches: &[Batch]) -> Vec<(Vec<KeyValue>, Vec<KeyValue>)> {
    let mut out = Vec::new();
    for b in batches {
        match b {
            Batch::Wire(_) => panic!("the test backend decodes what it receives"),
            Batch::Traces(r) => {
                for rs in &r.resource_spans {
                    let res = rs.resource.clone().unwrap_or_default().attributes;
                    for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                        out.push((s.attributes.clone(), res.clone()));
                    }
                }
            }
            Batch::Logs(r) => {
                for rl in &r.resource_logs {
                    let res = rl.resource.clone().unwrap_or_default().attributes;
                    for l in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                        out.push((l.attributes.clone(), res.clone()));
                    }
                }
            }
            Batch::Metrics(r) => {
                for rm in &r.resource_metrics {
                    let res = rm.resource.clone().unwrap_or_default().attributes;
                    for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                        let points: Vec<Vec<KeyValue>> = match &m.data {
                            Some(Data::Sum(s)) => {
                                s.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            Some(Data::Gauge(g)) => {
                                g.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            Some(Data::Histogram(h)) => {
                                h.data_points.iter().map(|p| p.attributes.clone()).collect()
                            }
                            _ => Vec::new(),
                        };
                        out.extend(points.into_iter().map(|a| (a, res.clone())));
                    }
                }
            }
        }
    }
    out
}

async fn emit(gw: &Gateway, run: &str) -> usize {
    python::emitted_items(&python::emit("grpc", &gw.url("otlp", "grpc"), run).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_sdk_plugin_tags_traces_metrics_and_logs_end_to_end() {
    let backend = Backend::start().await;
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.tag]
plugin = "{plugin}"
[processors.tag.config]
attributes = {{ team = "payments" }}
resource = {{ "deployment.environment" = "e2e" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["tag"]
exporters = ["backend"]

[pipelines.metrics]
receivers = ["otlp"]
processors = ["tag"]
exporters = ["backend"]

[pipelines.logs]
receivers = ["otlp"]
processors = ["tag"]
exporters = ["backend"]
"#,
        plugin = plugins::wasm("tag").display(),
        backend = backend.grpc_url()
    );
    let gw = Gateway::start(&config).await;
    let want = emit(&gw, "tagged").await;
    let arrived = eventually(Duration::from_secs(60), || async {
        backend.delivered_items(Transport::Grpc) >= want
    })
    .await;
    assert!(
        arrived,
        "not everything arrived; gateway logs:\n{}",
        gw.log_text()
    );

    let batches = backend.delivered(Transport::Grpc);
    let signals: Vec<_> = batches.iter().map(Batch::signal).collect();
    for s in weir_core::Signal::ALL {
        assert!(signals.contains(&s), "no {s} arrived");
    }
    let all = items(&batches);
    assert_eq!(all.len(), want, "every item once");
    for (attrs, res) in &all {
        assert!(has(attrs, "team", "payments"), "item not tagged: {attrs:?}");
        assert!(
            has(res, "deployment.environment", "e2e"),
            "resource not tagged: {res:?}"
        );
        assert!(
            has(res, "service.name", "weir-e2e"),
            "resource attributes kept: {res:?}"
        );
    }
    // Each batch leaving a pipeline's batcher is one plugin call and then one export request.
    for s in weir_core::Signal::ALL {
        let calls = gw
            .metric(
                "weir_plugin_calls_total",
                &[("processor", "tag"), ("signal", s.as_str())],
            )
            .await;
        let exported = batches.iter().filter(|b| b.signal() == s).count();
        assert_eq!(calls, exported as f64, "{s}: one call per exported batch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_stuck_in_a_loop_is_interrupted_and_the_pipeline_keeps_flowing() {
    let backend = Backend::start().await;
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.stuck]
plugin = "{plugin}"
on_error = "pass"
timeout = "20ms"
config = {{ mode = "spin", after = 1 }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["stuck"]
exporters = ["backend"]
batch = {{ send_batch_size = 1, timeout = "1ms" }}

[pipelines.logs]
receivers = ["otlp"]
exporters = ["backend"]

[pipelines.metrics]
receivers = ["otlp"]
exporters = ["backend"]
"#,
        plugin = plugins::wasm("misbehave").display(),
        backend = backend.grpc_url()
    );
    let mut gw = Gateway::start(&config).await;
    let want = emit(&gw, "stuck").await;
    let arrived = eventually(Duration::from_secs(60), || async {
        backend.delivered_items(Transport::Grpc) >= want
    })
    .await;
    assert!(
        arrived,
        "on_error = pass must hand interrupted batches on; logs:\n{}",
        gw.log_text()
    );
    assert_eq!(
        backend.delivered_items(Transport::Grpc),
        want,
        "every item exactly once"
    );
    let timeouts = gw
        .metric(
            "weir_plugin_errors_total",
            &[("processor", "stuck"), ("kind", "timeout")],
        )
        .await;
    assert!(timeouts >= 1.0, "the loop was interrupted at least once");
    assert!(gw.is_running(), "a plugin never takes the process down");
    assert!(
        // 20 ms plus the default 50 µs per item of the batch.
        gw.log_text().contains("process ran past its ")
            && gw.log_text().contains("ms deadline and was interrupted"),
        "the failure is logged"
    );
}

/// A plugin that prints on every call: its calls run on the runtime's worker once the plugin is
/// instantiated and quick, and printing (WASI's blocking write, which waits on the runtime) must
/// then leave the worker from inside the call instead of panicking the pipeline's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_prints_on_every_batch_runs_inline_and_its_lines_reach_the_log() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let backend = Backend::start().await;
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.chatty]
plugin = "{plugin}"
config = {{ mode = "print" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["chatty"]
exporters = ["backend"]
"#,
        plugin = plugins::wasm("misbehave").display(),
        backend = backend.grpc_url()
    );
    let mut gw = Gateway::start(&config).await;
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    const REQUESTS: u32 = 10;
    for r in 1..=REQUESTS {
        let sent = client
            .export(weir_tests::fixtures::numbered_spans(r, 5))
            .await;
        assert!(
            sent.is_ok(),
            "request {r}: {sent:?}; logs:\n{}",
            gw.log_text()
        );
    }
    let want = 5 * REQUESTS as usize;
    let arrived = eventually(Duration::from_secs(30), || async {
        backend.delivered_items(Transport::Grpc) >= want
    })
    .await;
    assert!(arrived, "not everything arrived; logs:\n{}", gw.log_text());
    let tagged = items(&backend.delivered(Transport::Grpc))
        .into_iter()
        .filter(|(attrs, _)| has(attrs, "misbehave", "ok"))
        .count();
    assert_eq!(tagged, want, "every span once, tagged");
    let calls = gw
        .metric(
            "weir_plugin_calls_total",
            &[("processor", "chatty"), ("signal", "traces")],
        )
        .await;
    assert_eq!(calls, f64::from(REQUESTS), "one call per request");
    // The first calls may still leave the worker (instantiating, then a slow first call); the
    // last ones ran inline.
    for stream in ["stdout", "stderr"] {
        let line = format!("misbehave: batch {REQUESTS} on {stream}");
        gw.wait_logged(&line, 1, Duration::from_secs(10)).await;
    }
    let log = gw.log_text();
    assert!(gw.is_running(), "printing never takes the process down");
    let errors = gw
        .try_metric("weir_plugin_errors_total", &[("processor", "chatty")])
        .await;
    assert_eq!(errors, None, "no call failed; logs:\n{log}");
}

/// `WEIR_WASM_PERFMAP=1` makes the gateway write `/tmp/perf-<pid>.map` naming its plugins'
/// compiled functions, for `perf`; without it there is no such file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_perf_map_names_plugin_code_only_when_asked() {
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.tag]
plugin = "{plugin}"
config = {{ attributes = {{ team = "payments" }} }}

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
processors = ["tag"]
exporters = ["out"]
"#,
        plugin = plugins::wasm("tag").display(),
    );
    let map = |gw: &Gateway| std::path::PathBuf::from(format!("/tmp/perf-{}.map", gw.pid()));
    let plain = Gateway::start(&config).await;
    assert!(!map(&plain).exists(), "no perf map unless asked");
    drop(plain);

    let gw = Gateway::start_with(
        &weir_tests::gateway::binary(),
        &config,
        &[("WEIR_WASM_PERFMAP", std::path::Path::new("1"))],
    )
    .await;
    let path = map(&gw);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    // perf's format: start address, size, name (hex, hex, text) per line.
    let plugin_lines = text
        .lines()
        .filter(|l| l.split(' ').count() >= 3 && l.contains("wasm"))
        .count();
    assert!(
        plugin_lines > 10,
        "{} should name the plugin's functions; it has {} lines:\n{}",
        path.display(),
        text.lines().count(),
        text.lines().take(5).collect::<Vec<_>>().join("\n")
    );
}
