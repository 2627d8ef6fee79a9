//! A real Prometheus (Debian's) scrapes Weir's own `/metrics`: the target is up, every sample
//! name Weir exposes (counters, gauges, histograms, a Wasm plugin's metrics) is stored, and the
//! values and labels are the ones Weir counted.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeSet;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use weir_core::Batch;
use weir_tests::prometheus::Prometheus;
use weir_tests::{Backend, Gateway, Transport, eventually, fixtures, plugins};

/// The distinct sample names in a Prometheus text exposition.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_weirs_metrics() {
    let backend = Backend::start().await;
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[processors.team]
plugin = "{}"
config = {{ attributes = {{ team = "payments" }} }}

[pipelines.traces]
receivers = ["otlp"]
processors = ["team"]
exporters = ["backend"]
"#,
        backend.grpc_url(),
        plugins::wasm("tag").display()
    ))
    .await;
    let Batch::Traces(request) = fixtures::traces(25, 2) else {
        unreachable!()
    };
    let request: ExportTraceServiceRequest = request;
    for _ in 0..4 {
        let r = gw
            .post_otlp("traces", request.encode_to_vec())
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let delivered = eventually(Duration::from_secs(20), || {
        let b = &backend;
        async move { b.delivered_items(Transport::Grpc) >= 100 }
    })
    .await;
    assert!(delivered, "the spans did not reach the backend");

    let prom = Prometheus::start(&[gw.admin], &[]).await;
    // Every sample name Weir exposes now must show up in Prometheus after its next scrapes; a
    // line Prometheus could not parse would fail the whole scrape and leave `up` at 0.
    let exposed = sample_names(&gw.metrics().await);
    assert!(exposed.len() > 10, "{exposed:?}");
    let stored = eventually(Duration::from_secs(30), || {
        let (prom, exposed) = (&prom, &exposed);
        async move {
            let names: BTreeSet<String> = prom
                .query(r#"count by (__name__) ({__name__=~"weir_.+"})"#)
                .await
                .iter()
                .filter_map(|r| r["metric"]["__name__"].as_str().map(str::to_string))
                .collect();
            exposed.is_subset(&names)
        }
    })
    .await;
    let names = prom
        .query(r#"count by (__name__) ({__name__=~"weir_.+"})"#)
        .await;
    assert!(
        stored,
        "Prometheus lacks some of Weir's metrics; it has {names:?}, Weir exposes {exposed:?}"
    );
    assert_eq!(prom.value(r#"up{job="weir"}"#).await, Some(1.0));

    // Values and labels as Weir counted them.
    let accepted = prom
        .value(r#"sum(weir_receiver_accepted_items_total{receiver="otlp",transport="http",signal="traces"})"#)
        .await;
    assert_eq!(accepted, Some(100.0));
    let calls = prom
        .value(
            r#"sum(weir_plugin_call_duration_seconds_count{processor="team",pipeline="traces"})"#,
        )
        .await;
    assert!(calls.is_some_and(|c| c >= 1.0), "{calls:?}");
    // A histogram is usable as one: its buckets give a quantile.
    let p99 = prom
        .value(r#"histogram_quantile(0.99, sum by (le) (weir_plugin_call_duration_seconds_bucket{processor="team"}))"#)
        .await;
    assert!(p99.is_some_and(|v| v > 0.0 && v.is_finite()), "{p99:?}");
}
