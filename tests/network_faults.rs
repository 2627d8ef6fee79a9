//! The exporter side of network faults: a backend stopped (SIGSTOP) under load and resumed, one
//! failing half its requests, one refusing for configuration reasons. In each, what a client
//! saw acknowledged is delivered, and what happens is visible.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use weir_tests::fixtures::{numbered_spans, span_numbers};
use weir_tests::{Backend, Gateway, Reply, Transport, eventually};

fn signal(gw: &Gateway, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &gw.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

/// Sends numbered 10-span requests over gRPC from `clients` tasks until `stop`; returns the
/// request numbers the gateway acknowledged.
async fn load(gw: &Gateway, clients: u32, run_for: Duration) -> BTreeSet<u32> {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let until = tokio::time::Instant::now() + run_for;
    let url = gw.url("otlp", "grpc");
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (acked, url) = (acked.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(url).await.unwrap();
            let mut n = c;
            while tokio::time::Instant::now() < until {
                let mut req = tonic::Request::new(numbered_spans(n, 10));
                req.set_timeout(Duration::from_secs(5));
                if client.export(req).await.is_ok() {
                    acked.lock().unwrap().insert(n);
                }
                n += clients;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

/// The request numbers with all 10 spans at `backend`.
fn delivered_requests(backend: &Backend) -> BTreeSet<u32> {
    let mut spans = std::collections::BTreeMap::<u32, u32>::new();
    for (req, _) in span_numbers(&backend.delivered(Transport::Grpc)) {
        *spans.entry(req).or_default() += 1;
    }
    spans
        .into_iter()
        .filter(|(_, n)| *n >= 10)
        .map(|(r, _)| r)
        .collect()
}

/// Waits (bounded) until every acknowledged request is at `backend`; fails naming the missing.
async fn assert_all_delivered(backend: &Backend, acked: &BTreeSet<u32>, front: &Gateway) {
    let all = eventually(Duration::from_secs(90), || async {
        delivered_requests(backend).is_superset(acked)
    })
    .await;
    let delivered = delivered_requests(backend);
    let missing: Vec<_> = acked.difference(&delivered).collect();
    assert!(
        all,
        "{} acknowledged requests never delivered (first: {:?})\nfront:\n{}",
        missing.len(),
        missing.first(),
        front.log_text()
    );
}

/// A backend that ends every HTTP/2 connection with GOAWAY ENHANCE_YOUR_CALM after a few
/// streams, dropping the stream it was on, while clients keep sending: each such export is
/// retried on a new connection, and every acknowledged request arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_sending_goaway_enhance_your_calm_gets_everything_acknowledged() {
    let backend = weir_tests::goaway::GoawayBackend::start(4).await;
    let front = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "50ms", max_interval = "500ms", max_elapsed_time = "60s" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.url()
    ))
    .await;
    let acked = load(&front, 4, Duration::from_secs(3)).await;
    assert!(
        acked.len() > 20,
        "too little load: {} requests",
        acked.len()
    );
    let delivered = || {
        let batches: Vec<_> = backend
            .received()
            .into_iter()
            .map(weir_core::Batch::Traces)
            .collect();
        let mut spans = std::collections::BTreeMap::<u32, u32>::new();
        for (req, _) in span_numbers(&batches) {
            *spans.entry(req).or_default() += 1;
        }
        spans
            .into_iter()
            .filter(|(_, n)| *n >= 10)
            .map(|(r, _)| r)
            .collect::<BTreeSet<u32>>()
    };
    let all = eventually(Duration::from_secs(60), || async {
        delivered().is_superset(&acked)
    })
    .await;
    let missing = acked.difference(&delivered()).count();
    assert!(
        all,
        "{missing} acknowledged requests never delivered:\n{}",
        front.log_text()
    );
    assert!(backend.goaways() > 5, "only {} GOAWAYs", backend.goaways());
    assert!(
        !front.logged("export failed; retrying").is_empty(),
        "the GOAWAYs were not retried:\n{}",
        front.log_text()
    );
    assert_eq!(
        front.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
}

/// A gateway in front of a second Weir that is stopped with SIGSTOP while clients keep
/// sending, then resumed. The front exporter's short timeouts reset stream after stream on one
/// HTTP/2 connection; when the stopped process wakes to a pile of resets its HTTP/2 server may
/// answer GOAWAY ENHANCE_YOUR_CALM, which tonic reports as RESOURCE_EXHAUSTED. That is a
/// connection failure, retried on a new connection; nothing acknowledged may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_stopped_under_load_then_resumed_gets_everything_acknowledged() {
    let backend = Backend::start().await;
    let sink = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url()
    ))
    .await;
    let front = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.sink]
type = "otlp-grpc"
endpoint = "{}"
timeout = "300ms"
compression = "none"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s", max_elapsed_time = "300s" }}
sending_queue = {{ queue_size = 5000, num_consumers = 10 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["sink"]
batch = {{ send_batch_size = 0 }}
"#,
        sink.url("otlp", "grpc")
    ))
    .await;

    signal(&sink, "-STOP");
    let acked = load(&front, 4, Duration::from_secs(6)).await;
    signal(&sink, "-CONT");
    assert!(
        acked.len() > 50,
        "too little load: {} requests",
        acked.len()
    );

    assert_all_delivered(&backend, &acked, &front).await;
    assert_eq!(
        front.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0,
        "{}",
        front.log_text()
    );
}

/// The same stop-and-resume for an exporter plugin (`builtin:otlp-http` over the host's
/// outgoing HTTP): calls stuck past their deadline and refused connections are retryable, and
/// nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_exporter_survives_a_backend_stopped_under_load() {
    let backend = Backend::start().await;
    let sink = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url()
    ))
    .await;
    let front = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.sink]
type = "plugin"
plugin = "builtin:otlp-http"
config = {{ endpoint = "{}" }}
timeout = "500ms"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s", max_elapsed_time = "300s" }}
sending_queue = {{ queue_size = 5000, num_consumers = 4 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["sink"]
batch = {{ send_batch_size = 0 }}
"#,
        sink.url("otlp", "http")
    ))
    .await;
    signal(&sink, "-STOP");
    let acked = load(&front, 4, Duration::from_secs(4)).await;
    signal(&sink, "-CONT");
    assert!(
        acked.len() > 50,
        "too little load: {} requests",
        acked.len()
    );
    assert_all_delivered(&backend, &acked, &front).await;
    assert!(
        !front.logged("export failed; retrying").is_empty(),
        "the stall was not noticed:\n{}",
        front.log_text()
    );
}

/// The sink in front of the backend is killed (SIGKILL) under load and started again on the
/// same port a second later: the front retries on new connections, the sink's disk queue keeps
/// what it acknowledged, and every request a client saw acknowledged arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_and_restarted_under_load_gets_everything_acknowledged() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sink_config = |grpc: &str| {
        format!(
            r#"
[receivers.otlp]
grpc = "{grpc}"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
sending_queue = {{ storage = "disk", dir = "{}" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
            backend.grpc_url(),
            dir.path().join("queue").display()
        )
    };
    let sink = Gateway::start(&sink_config("127.0.0.1:0")).await;
    let address = sink.addr("otlp", "grpc");
    let front = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.sink]
type = "otlp-grpc"
endpoint = "http://{address}"
timeout = "1s"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "500ms", max_elapsed_time = "300s" }}
sending_queue = {{ queue_size = 5000 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["sink"]
batch = {{ send_batch_size = 0 }}
"#
    ))
    .await;
    let restart = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(sink); // SIGKILL
        tokio::time::sleep(Duration::from_secs(1)).await;
        Gateway::start(&sink_config(&address.to_string())).await
    };
    let (acked, _sink) = tokio::join!(load(&front, 4, Duration::from_secs(5)), restart);
    assert!(
        acked.len() > 50,
        "too little load: {} requests",
        acked.len()
    );
    assert_all_delivered(&backend, &acked, &front).await;
    let retried = front.logged("export failed; retrying").iter().any(|l| {
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Unavailable"))
    });
    assert!(
        retried,
        "the restart was not noticed:\n{}",
        front.log_text()
    );
}

/// Every other request fails (UNAVAILABLE without a delay). With one sender and a 2 s backoff,
/// a sender that slept through each backoff would need ≥ 20 s for the 10 failures; parked
/// retries let the other batches through meanwhile, and each span arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_wait_parked_so_a_half_failing_backend_still_gets_the_rest_through() {
    let backend = Backend::start().await;
    let script: Vec<Reply> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                Reply::Unavailable(None)
            } else {
                Reply::Ok
            }
        })
        .collect();
    backend.script(Transport::Grpc, &script);
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "2s", max_interval = "2s", randomization_factor = 0.0, max_elapsed_time = "60s" }}
sending_queue = {{ num_consumers = 1 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url()
    ))
    .await;
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    for n in 0..20u32 {
        client.export(numbered_spans(n, 5)).await.unwrap();
    }
    let done = eventually(Duration::from_secs(60), || async {
        backend.delivered_items(Transport::Grpc) >= 100
    })
    .await;
    let took = started.elapsed();
    assert!(done, "not delivered:\n{}", gw.log_text());
    assert!(
        took < Duration::from_secs(12),
        "took {took:?}: retries held the only sender through their backoff"
    );
    let spans = span_numbers(&backend.delivered(Transport::Grpc));
    let unique: BTreeSet<_> = spans.iter().collect();
    assert_eq!(spans.len(), 100, "duplicates delivered");
    assert_eq!(unique.len(), 100);
}

/// A backend that answers UNIMPLEMENTED (gRPC) or 401 (HTTP) cannot be fixed by retrying: the
/// exporter is marked failed (metric, /readyz 503 naming it, one log line), keeps the batch
/// instead of dropping it, and delivers it once the backend accepts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_refusing_the_configuration_fails_the_exporter_and_loses_nothing() {
    let backend = Backend::start().await;
    backend.script(Transport::Grpc, &[Reply::Unimplemented; 3]);
    backend.script(Transport::Http, &[Reply::Unauthenticated; 3]);
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.g]
type = "otlp-grpc"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s", max_elapsed_time = "2s" }}

[exporters.h]
type = "otlp-http"
endpoint = "{}"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s", max_elapsed_time = "2s" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["g", "h"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url(),
        backend.http_url()
    ))
    .await;
    let post = |n: u32| {
        let body = numbered_spans(n, 5).encode_to_vec();
        let gw = &gw;
        async move {
            let r = gw.post_otlp("traces", body).await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    post(0).await;
    let failed = gw
        .wait_logged(
            "backend refuses this exporter's requests; the exporter is marked failed (/readyz is 503), keeps its data and takes no more batches (pipelines push back) until the backend accepts again",
            2,
            Duration::from_secs(30),
        )
        .await;
    let mut which: Vec<_> = failed
        .iter()
        .map(|l| l["exporter"].as_str().unwrap().to_string())
        .collect();
    which.sort();
    assert_eq!(which, ["g", "h"]);
    let fixes: Vec<_> = failed.iter().map(|l| l["fix"].to_string()).collect();
    assert!(fixes.iter().any(|f| f.contains("headers")), "{fixes:?}");

    // While failed: not ready, and why; the data is kept, not dropped.
    let readyz = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body = readyz.text().await.unwrap();
    assert!(
        body.contains("exporter/g: gRPC Unimplemented") && body.contains("exporter/h: POST"),
        "{body}"
    );
    assert_eq!(
        gw.metric("weir_component_failed", &[("component", "exporter/g")])
            .await,
        1.0
    );
    // Data accepted while failed waits too.
    post(1).await;

    // The script runs out after three refusals: the probes get through and all is delivered.
    for t in [Transport::Grpc, Transport::Http] {
        let ok = eventually(Duration::from_secs(30), || async {
            backend.delivered_items(t) == 10
        })
        .await;
        assert!(
            ok,
            "{t:?}: not delivered after recovery:\n{}",
            gw.log_text()
        );
    }
    gw.wait_logged(
        "backend accepts batches again; exporter no longer failed",
        2,
        Duration::from_secs(10),
    )
    .await;
    let readyz = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    assert_eq!(
        gw.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
    assert_eq!(
        gw.metric("weir_component_failed", &[("component", "exporter/h")])
            .await,
        0.0
    );
}

/// An exporter plugin (`builtin:otlp-http`) whose backend answers 401 gives the batch up as
/// rejected; the host saw the 401 and treats it like a native exporter's configuration
/// refusal: the exporter is marked failed with the fix to make, keeps the batch, and delivers
/// it once the backend accepts again. Nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_exporter_refused_for_its_configuration_fails_and_loses_nothing() {
    let backend = Backend::start().await;
    backend.script(Transport::Http, &[Reply::Unauthenticated; 2]);
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.p]
type = "plugin"
plugin = "builtin:otlp-http"
config = {{ endpoint = "{}" }}
retry_on_failure = {{ initial_interval = "100ms", max_interval = "1s", max_elapsed_time = "2s" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["p"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.http_url()
    ))
    .await;
    let body = numbered_spans(0, 5).encode_to_vec();
    assert_eq!(gw.post_otlp("traces", body).await.unwrap().status(), 200);
    let failed = gw
        .wait_logged(
            "backend refuses this exporter's requests; the exporter is marked failed (/readyz is 503), keeps its data and takes no more batches (pipelines push back) until the backend accepts again",
            1,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(failed[0]["exporter"], "p");
    assert!(
        failed[0]["fix"].to_string().contains("credentials"),
        "{}",
        failed[0]
    );
    let ok = eventually(Duration::from_secs(30), || async {
        backend.delivered_items(Transport::Http) == 5
    })
    .await;
    assert!(ok, "not delivered after recovery:\n{}", gw.log_text());
    gw.wait_logged(
        "backend accepts batches again; exporter no longer failed",
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        gw.metric("weir_exporter_dropped_items_total", &[]).await,
        0.0
    );
}
