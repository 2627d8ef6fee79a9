//! "Acknowledged means delivered" (`ack = "processed"`, the default): a client gets OK only
//! after its spans passed the processors and reached the exporter queue. A processor with
//! `on_error = "refuse"` that fails (error, deadline) makes the client retry (gRPC UNAVAILABLE
//! with RetryInfo, HTTP 503 with Retry-After) and nothing acknowledged is lost; a deadline that
//! grows with the batch keeps a healthy plugin from failing on large batches.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::BTreeSet;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic_types::StatusExt;
use weir_tests::fixtures::{numbered_spans, span_numbers};
use weir_tests::{Backend, Gateway, Transport, eventually, plugins};

/// The requests (by number) whose spans reached the backend, each span counted.
fn delivered(backend: &Backend) -> Vec<(u32, u32)> {
    let mut got = span_numbers(&backend.delivered(Transport::Grpc));
    got.sort_unstable();
    got
}

/// Every span of the requests in `accepted`, as [`delivered`] lists them.
fn spans_of(accepted: &BTreeSet<u32>, per_request: u32) -> Vec<(u32, u32)> {
    accepted
        .iter()
        .flat_map(|n| (1..=per_request).map(move |i| (*n, i)))
        .collect()
}

fn config(backend: &Backend, processor: &str) -> String {
    format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"

{processor}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["p"]
exporters = ["backend"]
"#,
        backend = backend.grpc_url()
    )
}

/// `[processors.p]`: the misbehaving test plugin with `on_error = "refuse"` and `settings`
/// (its `config`, a `timeout` …).
fn refusing_misbehave(settings: &str) -> String {
    format!(
        "[processors.p]\nplugin = \"{}\"\non_error = \"refuse\"\n{settings}",
        plugins::wasm("misbehave").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_processor_that_fails_makes_clients_retry_and_loses_nothing_acknowledged() {
    let backend = Backend::start().await;
    // Behaves for its first three calls, then fails every batch.
    let gw = Gateway::start(&config(
        &backend,
        &refusing_misbehave(r#"config = { mode = "error", after = 3 }"#),
    ))
    .await;

    let mut accepted = BTreeSet::new();
    for n in 0..6u32 {
        let r = gw
            .post_otlp("traces", numbered_spans(n, 10).encode_to_vec())
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => {
                accepted.insert(n);
            }
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                let body = r.bytes().await.unwrap();
                let status = tonic_types::pb::Status::decode(body).unwrap();
                assert_eq!(status.code, tonic::Code::Unavailable as i32);
                assert!(
                    status
                        .message
                        .starts_with("pipeline traces: processor p failed: "),
                    "{}",
                    status.message
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(accepted, BTreeSet::from([0, 1, 2]), "one call per request");

    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let status = client
        .export(numbered_spans(100, 10))
        .await
        .expect_err("the processor fails every batch now");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("misbehave: failing this batch as configured"),
        "{}",
        status.message()
    );
    let info = status.get_details_retry_info().expect("RetryInfo attached");
    assert_eq!(info.retry_delay, Some(Duration::from_secs(1)));

    let want = spans_of(&accepted, 10);
    assert!(
        eventually(Duration::from_secs(30), || async {
            backend.delivered_items(Transport::Grpc) >= want.len()
        })
        .await,
        "accepted spans were not delivered:\n{}",
        gw.log_text()
    );
    assert_eq!(delivered(&backend), want, "exactly the acknowledged spans");
    let refused = [("reason", "processor_failed")];
    let http = gw
        .metric(
            "weir_receiver_refused_items_total",
            &[refused[0], ("transport", "http")],
        )
        .await;
    let grpc = gw
        .metric(
            "weir_receiver_refused_items_total",
            &[refused[0], ("transport", "grpc")],
        )
        .await;
    assert_eq!((http, grpc), (30.0, 10.0), "refused items are counted");
    let accepted_items = gw
        .metric(
            "weir_receiver_accepted_items_total",
            &[("transport", "http"), ("signal", "traces")],
        )
        .await;
    assert_eq!(accepted_items, 30.0);
    assert_eq!(
        gw.metric(
            "weir_processor_dropped_items_total",
            &[("processor", "p"), ("signal", "traces")]
        )
        .await,
        0.0,
        "refused, not dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_past_its_deadline_is_refused_not_acknowledged_and_dropped() {
    let backend = Backend::start().await;
    // Spins past its (fixed, 20 ms) deadline from the second call on.
    let gw = Gateway::start(&config(
        &backend,
        &refusing_misbehave(
            r#"timeout = { base = "20ms", per_item = "0s" }
config = { mode = "spin", after = 1 }"#,
        ),
    ))
    .await;
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    client
        .export(numbered_spans(0, 5))
        .await
        .expect("first call behaves");
    let status = client
        .export(numbered_spans(1, 5))
        .await
        .expect_err("past its deadline");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status.message().contains("deadline"),
        "{}",
        status.message()
    );
    assert!(
        eventually(Duration::from_secs(30), || async {
            backend.delivered_items(Transport::Grpc) >= 5
        })
        .await
    );
    assert_eq!(delivered(&backend), spans_of(&BTreeSet::from([0]), 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_received_keeps_the_old_contract_refuse_drops_and_counts() {
    let backend = Backend::start().await;
    let mut config = config(
        &backend,
        &refusing_misbehave(r#"config = { mode = "error", after = 0 }"#),
    );
    config.push_str("ack = \"received\"\nbatch = { send_batch_size = 0 }\n");
    let gw = Gateway::start(&config).await;
    let r = gw
        .post_otlp("traces", numbered_spans(0, 4).encode_to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "acknowledged on receipt");
    // With ack = received a refusing processor can only drop, and counts it.
    gw.wait_metric(
        "weir_processor_dropped_items_total",
        &[("processor", "p"), ("signal", "traces")],
        4.0,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(backend.delivered_items(Transport::Grpc), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_that_can_lose_acknowledged_data_are_named_at_start_and_on_reload() {
    let backend = Backend::start().await;
    let with = |on_error: &str| {
        config(
            &backend,
            &format!("[processors.p]\nplugin = \"builtin:noop\"\non_error = \"{on_error}\""),
        )
    };
    let gw = Gateway::start(&with("drop")).await;
    let warning = "this configuration can lose acknowledged data";
    let at_start = gw.logged(warning);
    assert_eq!(at_start.len(), 1, "{}", gw.log_text());
    let risk = at_start[0]["risk"].as_str().unwrap();
    assert!(
        risk.ends_with(
            "processors.p.on_error: in pipeline traces, a batch this processor fails on is dropped and its clients are told it was accepted; on_error = \"refuse\" makes them retry instead"
        ),
        "{risk}"
    );
    gw.rewrite_config(&with("refuse"));
    assert_eq!(gw.reload().await["config"]["outcome"], "applied");
    assert_eq!(
        gw.logged(warning).len(),
        1,
        "refuse is safe: no new warning"
    );
    gw.rewrite_config(&format!("{}ack = \"received\"\n", with("refuse")));
    assert_eq!(gw.reload().await["config"]["outcome"], "applied");
    let risks: Vec<String> = gw
        .logged(warning)
        .iter()
        .skip(1)
        .map(|l| l["risk"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(risks.len(), 2, "{risks:?}");
    assert!(risks.iter().any(|r| {
        r.contains("pipelines.traces.ack: clients are answered before the processors run")
    }));
    assert!(
        risks
            .iter()
            .any(|r| r.contains("processors.p.on_error: in pipeline traces (ack = \"received\")"))
    );
}
