//! Disk sending queues: with `ack = "processed"`, a span a client saw acknowledged survives
//! `kill -9` and a backend outage and is delivered after the restart; a damaged queue file costs
//! only its damaged batches; a full queue refuses upstream with a retryable status.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use weir_tests::fixtures::{numbered_spans, span_numbers};
use weir_tests::{Backend, Gateway, Transport, eventually};

const SPANS: usize = 5;

fn config(backend: &Backend, dir: &Path, max_size: &str) -> String {
    format!(
        r#"
[service]
shutdown_timeout = "1s"

[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"
timeout = "2s"
retry_on_failure = {{ initial_interval = "100ms", max_interval = "500ms", max_elapsed_time = "600s" }}
sending_queue = {{ storage = "disk", dir = "{dir}", max_size = "{max_size}", num_consumers = 2 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
"#,
        backend = backend.grpc_url(),
        dir = dir.display()
    )
}

/// How many times each (request, span) reached the backend.
fn delivered(backend: &Backend) -> BTreeMap<(u32, u32), usize> {
    let mut seen = BTreeMap::new();
    for n in span_numbers(&backend.delivered(Transport::Grpc)) {
        *seen.entry(n).or_default() += 1;
    }
    seen
}

/// Sends numbered requests from `first` on, one at a time, until the gateway goes away or
/// `limit` requests were answered; returns the numbers it acknowledged.
async fn send_until_gone(gw: &Gateway, first: u32, limit: u32, acked: &Arc<Mutex<BTreeSet<u32>>>) {
    let Ok(mut client) = TraceServiceClient::connect(gw.url("otlp", "grpc")).await else {
        return;
    };
    for n in first..first + limit {
        match client.export(numbered_spans(n, SPANS)).await {
            Ok(_) => {
                acked.lock().unwrap().insert(n);
            }
            Err(s) if s.code() == tonic::Code::Unavailable => {}
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_survive_kill_9_and_a_backend_outage() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queue");
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    // Three runs, each killed with SIGKILL after a different number of acknowledged requests;
    // the backend is down for the first two.
    backend.stall();
    for (round, kill_after) in [(0u32, 37u32), (1, 11), (2, 53)] {
        if round == 2 {
            backend.resume();
        }
        let gw = Gateway::start(&config(&backend, &queue, "64MiB")).await;
        send_until_gone(&gw, round * 1000, kill_after, &acked).await;
        drop(gw); // SIGKILL: no drain, no flush.
    }
    let acked: BTreeSet<u32> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 90,
        "most requests were acknowledged: {}",
        acked.len()
    );
    // A last start sends what the killed ones left on disk.
    let gw = Gateway::start(&config(&backend, &queue, "64MiB")).await;
    let want: BTreeSet<(u32, u32)> = acked
        .iter()
        .flat_map(|n| (1..=SPANS as u32).map(move |i| (*n, i)))
        .collect();
    let all_there = eventually(Duration::from_secs(60), || async {
        let got = delivered(&backend);
        want.iter().all(|k| got.contains_key(k))
    })
    .await;
    let got = delivered(&backend);
    let missing: Vec<_> = want
        .iter()
        .filter(|k| !got.contains_key(k))
        .take(10)
        .collect();
    assert!(
        all_there,
        "acknowledged spans lost across kill -9: {missing:?} …\n{}",
        gw.log_text()
    );
    // Nothing arrives that no client sent, and re-sent batches are few (at most the batches in
    // flight when each kill came: num_consumers per run).
    let unknown: Vec<_> = got.keys().filter(|(n, _)| !acked.contains(n)).collect();
    let sent_requests: BTreeSet<u32> = got.keys().map(|(n, _)| *n).collect();
    assert!(
        sent_requests.len() - acked.len() <= 3,
        "only requests in flight at a kill may arrive unacknowledged: {unknown:?}"
    );
    let duplicates: usize = got.values().map(|c| c - 1).sum();
    assert!(
        duplicates <= 3 * 2 * SPANS * 8,
        "duplicates are bounded by what was in flight: {duplicates}"
    );
    println!(
        "acknowledged {} requests; delivered {} spans, {duplicates} duplicates",
        acked.len(),
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_queue_file_costs_only_its_damaged_batches() {
    let backend = Backend::start().await;
    backend.stall();
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queue");
    let gw = Gateway::start(&config(&backend, &queue, "64MiB")).await;
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    for n in 0..20 {
        client.export(numbered_spans(n, SPANS)).await.unwrap();
    }
    drop(client);
    drop(gw);
    // Flip one byte in the middle of the (only) segment file.
    let seg = std::fs::read_dir(&queue)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();

    backend.resume();
    let gw = Gateway::start(&config(&backend, &queue, "64MiB")).await;
    // 19 of the 20 batches are intact (18, if the flip hit a record boundary). Wait until every
    // batch is accounted for, delivered or counted as lost: the warning comes when the queue
    // opens, before the intact batches have all been sent.
    let damaged = "disk queue was damaged; the intact batches are sent, the damaged ones are lost";
    let requests = || -> BTreeSet<u32> { delivered(&backend).keys().map(|(n, _)| *n).collect() };
    let lost = || -> Option<usize> {
        let warned = gw.logged(damaged);
        Some(warned.first()?["lost_batches"].as_u64()? as usize)
    };
    let settled = eventually(Duration::from_secs(30), || async {
        lost().is_some_and(|lost| requests().len() + lost >= 20)
    })
    .await;
    assert!(
        settled,
        "intact batches were not delivered, or the damage was not counted:\n{}",
        gw.log_text()
    );
    let requests = requests();
    assert!(requests.len() == 19 || requests.len() == 18, "{requests:?}");
    assert_eq!(delivered(&backend).len(), requests.len() * SPANS);
    let warned = gw.logged(damaged);
    assert_eq!(warned.len(), 1, "{}", gw.log_text());
    assert_eq!(
        warned[0]["lost_batches"].as_u64().unwrap() as usize,
        20 - requests.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_queue_refuses_upstream_and_loses_nothing() {
    let backend = Backend::start().await;
    backend.stall();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&config(&backend, &dir.path().join("q"), "1MiB")).await;
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    let mut refusal = None;
    for n in 0..2000u32 {
        match client.export(numbered_spans(n, 50)).await {
            Ok(_) => {
                acked.insert(n);
            }
            Err(s) => {
                refusal = Some(s);
                break;
            }
        }
    }
    let status = refusal.expect("a 1 MiB queue fills up");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let on_disk: u64 = std::fs::read_dir(dir.path().join("q"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        on_disk > 900 << 10 && on_disk <= 1 << 20,
        "the refusal came from the full disk queue ({on_disk} bytes on disk)"
    );
    assert!(!acked.is_empty());
    backend.resume();
    let want = acked.len() * 50;
    assert!(
        eventually(Duration::from_secs(60), || async {
            delivered(&backend).len() >= want
        })
        .await,
        "{}",
        gw.log_text()
    );
    let requests: BTreeSet<u32> = delivered(&backend).keys().map(|(n, _)| *n).collect();
    assert_eq!(requests, acked, "exactly the acknowledged requests arrive");
}
