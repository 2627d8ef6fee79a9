//! The exporters wait as the backend tells them (gRPC RetryInfo, HTTP Retry-After) and deliver
//! once; a 400 / INVALID_ARGUMENT is not retried and is counted as dropped.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::time::Duration;

use prost::Message;
use weir_tests::{Backend, Gateway, Reply, Transport, eventually};

/// A request of `spans` realistic spans.
fn request(spans: u8) -> Vec<u8> {
    weir_tests::fixtures::numbered_spans(3, usize::from(spans)).encode_to_vec()
}

fn config(backend: &Backend, initial_interval: &str) -> String {
    format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.g]
type = "otlp-grpc"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "{initial_interval}", max_interval = "30s", max_elapsed_time = "60s" }}

[exporters.h]
type = "otlp-http"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "{initial_interval}", max_interval = "30s", max_elapsed_time = "60s" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["g", "h"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url(),
        backend.http_url()
    )
}

async fn send(gw: &Gateway, spans: u8) {
    let r = gw.post_otlp("traces", request(spans)).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_as_told_then_delivers_once() {
    let backend = Backend::start().await;
    backend.script(
        Transport::Grpc,
        &[Reply::Unavailable(Some(Duration::from_millis(400)))],
    );
    backend.script(
        Transport::Http,
        &[Reply::Unavailable(Some(Duration::from_secs(1)))],
    );
    // Our own backoff would first wait 10–30 s: delivery within the limit below shows the
    // backend's shorter delay was used, and the gaps show it was not cut short.
    let gw = Gateway::start(&config(&backend, "20s")).await;
    send(&gw, 5).await;
    let done = eventually(Duration::from_secs(9), || async {
        backend.delivered_items(Transport::Grpc) == 5
            && backend.delivered_items(Transport::Http) == 5
    })
    .await;
    assert!(
        done,
        "not delivered after the advertised delay:\n{}",
        gw.log_text()
    );
    for (t, told) in [
        (Transport::Grpc, Duration::from_millis(400)),
        (Transport::Http, Duration::from_secs(1)),
    ] {
        let attempts: Vec<_> = backend
            .seen()
            .into_iter()
            .filter(|s| s.transport == t)
            .collect();
        assert_eq!(attempts.len(), 2, "{t:?}: one refusal, one delivery");
        let gap = attempts[1].at - attempts[0].at;
        assert!(
            gap >= told,
            "{t:?}: retried after {gap:?}, was told {told:?}"
        );
    }
    // The backend records a request before it answers; the gateway counts after the answer.
    let counted = eventually(Duration::from_secs(30), || async {
        gw.metric("weir_exporter_sent_items_total", &[]).await == 10.0
    })
    .await;
    assert!(counted, "sent items not counted:\n{}", gw.metrics().await);
    assert_eq!(
        gw.metric("weir_exporter_send_failed_items_total", &[])
            .await,
        10.0
    );
    assert_eq!(
        gw.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_not_retried_and_is_counted_as_dropped() {
    let backend = Backend::start().await;
    backend.script(Transport::Grpc, &[Reply::BadRequest]);
    backend.script(Transport::Http, &[Reply::BadRequest]);
    // A 10 ms backoff would retry many times within the wait below if it retried at all.
    let gw = Gateway::start(&config(&backend, "10ms")).await;
    send(&gw, 4).await;
    // Each exporter logs its decision once it has given the batch up; after that line the batch
    // is gone, so no retry can follow (an event, where a sleep could only hope).
    let given_up = gw
        .wait_logged(
            "backend refused the batch; not retryable, dropping it",
            2,
            Duration::from_secs(30),
        )
        .await;
    let mut exporters: Vec<_> = given_up.iter().map(|l| l["exporter"].clone()).collect();
    exporters.sort_by_key(ToString::to_string);
    assert_eq!(exporters, ["g", "h"], "one decision per exporter");
    assert!(
        gw.logged("export failed; retrying").is_empty(),
        "a rejection was retried:\n{}",
        gw.log_text()
    );
    assert_eq!(backend.seen().len(), 2, "each exporter tried exactly once");
    gw.wait_metric(
        "weir_exporter_dropped_items_total",
        &[("reason", "rejected")],
        8.0,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(gw.metric("weir_exporter_sent_items_total", &[]).await, 0.0);
}
