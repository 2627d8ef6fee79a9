//! With the backend stalled and small queues, clients get retryable refusals (HTTP 503 with
//! Retry-After, gRPC UNAVAILABLE with RetryInfo) instead of a 200 followed by a drop; once the
//! backend recovers, everything a client saw accepted is delivered exactly once.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::BTreeSet;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic_types::StatusExt;
use weir_core::Batch;
use weir_tests::fixtures::span_numbers;
use weir_tests::{Backend, Gateway, Transport, eventually};

/// A request of 10 realistic spans whose span ids encode `n`, so every accepted span can be
/// traced.
fn request(n: u32) -> ExportTraceServiceRequest {
    weir_tests::fixtures::numbered_spans(n, 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backend_turns_into_retryable_refusals_and_loses_nothing() {
    let backend = Backend::start().await;
    backend.stall();
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
timeout = "120s"
sending_queue = {{ queue_size = 2, num_consumers = 1 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
queue_size = 2
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url()
    ))
    .await;

    let mut accepted = BTreeSet::new();
    let mut refused_http = None;
    for n in 0..500u32 {
        let r = gw
            .post_otlp("traces", request(n).encode_to_vec())
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => {
                accepted.insert(n);
            }
            503 => {
                refused_http = Some(r);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refused = refused_http.expect("the gateway never refused while the backend was stalled");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!(
        !accepted.is_empty(),
        "nothing was accepted before the queues filled"
    );

    // gRPC clients get UNAVAILABLE with RetryInfo while the queues are full.
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let status = client
        .export(request(10_000))
        .await
        .expect_err("queues are full");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let info = status.get_details_retry_info().expect("RetryInfo attached");
    assert!(
        info.retry_delay
            .is_some_and(|d| d >= Duration::from_millis(1))
    );
    let overloaded = gw
        .metric(
            "weir_receiver_refused_items_total",
            &[("reason", "overloaded")],
        )
        .await;
    assert!(
        overloaded >= 20.0,
        "refused items are counted: {overloaded}"
    );

    backend.resume();
    let want = accepted.len() * 10;
    let done = eventually(Duration::from_secs(60), || async {
        backend.delivered_items(Transport::Grpc) >= want
    })
    .await;
    assert!(
        done,
        "accepted data was not delivered after the backend recovered:\n{}",
        gw.log_text()
    );
    let mut got = span_numbers(&backend.delivered(Transport::Grpc));
    got.sort();
    let mut expected = span_numbers(
        &accepted
            .iter()
            .map(|n| Batch::Traces(request(*n)))
            .collect::<Vec<_>>(),
    );
    expected.sort();
    assert_eq!(got, expected, "sent == received, no duplicates");
    assert_eq!(
        gw.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
    // Refused requests (no exporter room in time) leave nothing counted as held.
    for component in ["exporter/backend", "pipeline/traces"] {
        let zero = eventually(Duration::from_secs(10), || async {
            gw.metric("weir_memory_held_bytes", &[("component", component)])
                .await
                == 0.0
        })
        .await;
        assert!(
            zero,
            "{component} still holds bytes after delivering everything"
        );
    }
}

/// An exporter its backend refuses for a configuration reason (401) takes no new batches: once
/// its small queue is full, clients get retryable refusals instead of acknowledgements, nothing
/// is dropped, and once the backend accepts again everything acknowledged arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_exporter_fills_its_queue_and_then_clients_are_refused_not_dropped() {
    let backend = Backend::start().await;
    backend.script(Transport::Http, &[weir_tests::Reply::Unauthenticated; 6]);
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-http"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s" }}
sending_queue = {{ queue_size = 2, num_consumers = 1 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
queue_size = 2
batch = {{ send_batch_size = 0 }}
"#,
        backend.http_url()
    ))
    .await;
    assert_eq!(
        gw.post_otlp("traces", request(0).encode_to_vec())
            .await
            .unwrap()
            .status(),
        200
    );
    gw.wait_logged(
        "backend refuses this exporter's requests; the exporter is marked failed (/readyz is 503), keeps its data and takes no more batches (pipelines push back) until the backend accepts again",
        1,
        Duration::from_secs(20),
    )
    .await;

    // 20 clients at once while the exporter is failed (five 1 s probes at least).
    let posts = (1..=20u32).map(|n| {
        let gw = &gw;
        async move {
            let r = gw
                .post_otlp("traces", request(n).encode_to_vec())
                .await
                .unwrap();
            (
                n,
                r.status().as_u16(),
                r.headers().contains_key("retry-after"),
            )
        }
    });
    let answers = futures::future::join_all(posts).await;
    let mut accepted: BTreeSet<u32> = [0].into();
    let mut refused = 0;
    for (n, status, retry_after) in answers {
        match status {
            200 => {
                accepted.insert(n);
            }
            503 => {
                assert!(retry_after, "a refusal says when to retry");
                refused += 1;
            }
            other => panic!("request {n}: unexpected status {other}"),
        }
    }
    assert!(
        refused > 0,
        "nothing refused: the failed exporter took data in"
    );
    assert!(
        accepted.len() < 10,
        "accepted {accepted:?} into queues of 2"
    );

    let want = accepted.len() * 10;
    let done = eventually(Duration::from_secs(60), || async {
        backend.delivered_items(Transport::Http) >= want
    })
    .await;
    assert!(done, "not delivered after recovery:\n{}", gw.log_text());
    let mut got = span_numbers(&backend.delivered(Transport::Http));
    got.sort();
    let mut expected = span_numbers(
        &accepted
            .iter()
            .map(|n| Batch::Traces(request(*n)))
            .collect::<Vec<_>>(),
    );
    expected.sort();
    assert_eq!(got, expected, "everything acknowledged, once");
    assert_eq!(
        gw.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
}
