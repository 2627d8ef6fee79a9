//! `[service] memory_limit`: with a stalled backend and clients that keep sending, the
//! gateway's resident memory stays under 1.1 × the limit, clients get retryable refusals, and
//! everything acknowledged is delivered once the backend recovers.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic_types::StatusExt;
use weir_tests::fixtures::numbered_spans;
use weir_tests::{Backend, Gateway, Transport, eventually};

const LIMIT_MIB: u64 = 192;
const SPANS: usize = 400;

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backend_cannot_push_memory_past_the_limit() {
    let backend = Backend::start().await;
    backend.stall();
    let gw = Gateway::start(&format!(
        r#"
[service]
memory_limit = "{LIMIT_MIB}MiB"

[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", max_recv_msg_size = "16MiB" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
timeout = "120s"
sending_queue = {{ queue_size = 1000000, num_consumers = 1 }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
queue_size = 1000
"#,
        backend.grpc_url()
    ))
    .await;
    let pid = gw.pid();
    let before = rss(pid).unwrap();
    assert!(
        before < (LIMIT_MIB << 20) / 2,
        "the idle gateway already uses {before} bytes"
    );

    // Four clients send as fast as they are answered; refused requests are not retried.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
        let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
            .await
            .unwrap();
        clients.push(tokio::spawn(async move {
            let mut n = c << 20;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                match client.export(numbered_spans(n, SPANS)).await {
                    Ok(_) => {
                        acked.fetch_add(SPANS as u64, Ordering::Relaxed);
                    }
                    Err(s) => {
                        assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                        assert!(s.get_details_retry_info().is_some(), "{s:?}");
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    // Run until the limiter has refused for a while (bounded), watching the memory.
    let mut peak = 0;
    let start = Instant::now();
    let mut refusing_since: Option<Instant> = None;
    while start.elapsed() < Duration::from_secs(90) {
        peak = peak.max(rss(pid).unwrap());
        if refused.load(Ordering::Relaxed) > 0 {
            let since = *refusing_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let limit = LIMIT_MIB << 20;
    assert!(
        refusing_since.is_some(),
        "the limiter never refused (peak {peak} bytes):\n{}",
        gw.log_text()
    );
    assert!(
        peak <= limit + limit / 10,
        "resident memory reached {peak} bytes, over 1.1 × {limit}"
    );
    let memory_refusals = gw
        .metric(
            "weir_receiver_refused_items_total",
            &[("reason", "memory_limit")],
        )
        .await;
    assert_eq!(
        memory_refusals,
        (refused.load(Ordering::Relaxed) * SPANS as u64) as f64,
        "every refusal was the memory limiter's"
    );
    assert!(
        !gw.logged("memory above the soft limit: refusing new data until it falls")
            .is_empty()
    );
    // What the stalled exporter holds is accounted (encoded bytes of every acknowledged span).
    let held = |component: &'static str| {
        let gw = &gw;
        async move {
            gw.metric("weir_memory_held_bytes", &[("component", component)])
                .await
        }
    };
    let exporter_held = held("exporter/backend").await;
    let acked_bytes = acked.load(Ordering::Relaxed) as f64 * 300.0;
    assert!(
        exporter_held > acked_bytes,
        "the exporter queue holds every acknowledged span: {exporter_held} bytes accounted"
    );

    backend.resume();
    let want = acked.load(Ordering::Relaxed) as usize;
    assert!(
        eventually(Duration::from_secs(120), || async {
            backend.delivered_items(Transport::Grpc) >= want
        })
        .await,
        "acknowledged spans were not delivered after the backend recovered"
    );
    assert_eq!(
        backend.delivered_items(Transport::Grpc),
        want,
        "sent == received"
    );
    // Delivered: nothing is held any more.
    assert!(
        eventually(Duration::from_secs(10), || async {
            held("exporter/backend").await == 0.0 && held("pipeline/traces").await == 0.0
        })
        .await,
        "held bytes return to zero: exporter {} pipeline {}",
        held("exporter/backend").await,
        held("pipeline/traces").await
    );
    println!("peak RSS {peak} bytes (limit {limit}); {want} spans acknowledged");
}
