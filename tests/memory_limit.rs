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
    let before = weir_tests::resident_bytes(pid).unwrap();
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
        peak = peak.max(weir_tests::resident_bytes(pid).unwrap());
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

/// The linear memory of plugin instances is accounted per plugin: a redact stage in two
/// pipelines holds two instances' worth, and a reload that removes the plugin gives it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_memory_is_accounted_per_plugin_and_given_back() {
    let config = |processors: &str| {
        let defined = if processors.is_empty() {
            ""
        } else {
            "[processors.r]\nplugin = \"builtin:redact\"\n"
        };
        format!(
            r#"
[receivers.otlp]
http = "127.0.0.1:0"

{defined}

[exporters.out]
type = "debug"
verbosity = "basic"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
processors = [{processors}]

[pipelines.logs]
receivers = ["otlp"]
exporters = ["out"]
processors = [{processors}]
"#
        )
    };
    let gw = Gateway::start(&config("\"r\"")).await;
    // Data through both stages, then at least one 64 KiB page per instance.
    assert_eq!(status(&gw).await, 200);
    let logs = prost::Message::encode_to_vec(&match weir_tests::fixtures::logs(3) {
        weir_core::Batch::Logs(r) => r,
        _ => unreachable!(),
    });
    assert_eq!(gw.post_otlp("logs", logs).await.unwrap().status(), 200);
    let held = gw
        .metric("weir_plugin_memory_bytes", &[("plugin", "r")])
        .await;
    assert!(held >= 2.0 * 65_536.0, "{held} bytes");

    gw.rewrite_config(&config(""));
    assert_eq!(gw.reload().await["config"]["outcome"], "applied");
    let given_back = eventually(Duration::from_secs(10), || async {
        gw.metric("weir_plugin_memory_bytes", &[("plugin", "r")])
            .await
            < held
    })
    .await;
    assert!(given_back, "the removed stages' memory is still counted");
}

/// The status of one small OTLP/HTTP request.
async fn status(gw: &Gateway) -> u16 {
    let body = prost::Message::encode_to_vec(&numbered_spans(1, 3));
    gw.post_otlp("traces", body)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `memory_limit` follows config reloads: set below what the gateway already holds, receivers
/// refuse at once (retryably, counted as memory_limit); removed again, they accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_sets_and_removes_the_memory_limit() {
    let config = |service: &str| {
        format!(
            r#"
[service]
{service}

[receivers.otlp]
http = "127.0.0.1:0"

[exporters.out]
type = "debug"
verbosity = "basic"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#
        )
    };
    let gw = Gateway::start(&config("")).await;
    assert_eq!(status(&gw).await, 200);
    // The smallest limit allowed with the largest spike: a soft limit of 1 MiB, which any
    // running gateway is above.
    gw.rewrite_config(&config(
        "memory_limit = \"32MiB\"\nmemory_spike = \"31MiB\"",
    ));
    assert_eq!(gw.reload().await["config"]["outcome"], "applied");
    let refused = eventually(Duration::from_secs(10), || async {
        status(&gw).await == 503
    })
    .await;
    assert!(refused, "a lower limit did not apply:\n{}", gw.log_text());
    assert_eq!(gw.metric("weir_memory_limited", &[]).await, 1.0);
    assert!(
        gw.metric(
            "weir_receiver_refused_items_total",
            &[("reason", "memory_limit")]
        )
        .await
            >= 3.0
    );
    gw.rewrite_config(&config(""));
    assert_eq!(gw.reload().await["config"]["outcome"], "applied");
    let accepted = eventually(Duration::from_secs(10), || async {
        status(&gw).await == 200
    })
    .await;
    assert!(
        accepted,
        "removing the limit did not apply:\n{}",
        gw.log_text()
    );
    assert_eq!(gw.metric("weir_memory_limited", &[]).await, 0.0);
}
