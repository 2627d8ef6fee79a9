//! Metrics from the real OpenTelemetry Python SDK go through Weir's
//! `builtin:prometheus-remote-write` exporter plugin into a real Prometheus (Debian's, with its
//! remote-write receiver on) and come back through PromQL with the names, labels and values the
//! OpenTelemetry-Prometheus compatibility rules give them.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use weir_tests::prometheus::Prometheus;
use weir_tests::{Gateway, eventually, python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_metrics_are_queryable_in_prometheus() {
    let prom = Prometheus::start(&[], &["--web.enable-remote-write-receiver"]).await;
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.prometheus]
type = "plugin"
plugin = "builtin:prometheus-remote-write"
config = {{ endpoint = "{}/api/v1/write" }}

[exporters.rest]
type = "debug"

[pipelines.metrics]
receivers = ["otlp"]
exporters = ["prometheus"]

[pipelines.traces]
receivers = ["otlp"]
exporters = ["rest"]

[pipelines.logs]
receivers = ["otlp"]
exporters = ["rest"]
"#,
        prom.url
    ))
    .await;
    python::emit("http", &gw.url("otlp", "http"), "rw-1").await;

    // The counter `e2e.requests` (unit "1"), 3 per route, with job from service.name.
    let counter = r#"e2e_requests_total{job="weir-e2e",route="/a"}"#;
    let arrived = eventually(Duration::from_secs(30), || async {
        prom.value(counter).await == Some(3.0)
    })
    .await;
    assert!(
        arrived,
        "{:?}\n{}",
        prom.query(r#"{__name__=~"e2e.*"}"#).await,
        gw.log_text()
    );
    for route in ["/a", "/b", "/c"] {
        let q = |m: &str| format!(r#"{m}{{job="weir-e2e",route="{route}"}}"#);
        assert_eq!(prom.value(&q("e2e_requests_total")).await, Some(3.0));
        // The histogram `e2e.latency` (ms): one 12.5 ms observation per route.
        assert_eq!(
            prom.value(&q("e2e_latency_milliseconds_count")).await,
            Some(1.0)
        );
        assert_eq!(
            prom.value(&q("e2e_latency_milliseconds_sum")).await,
            Some(12.5)
        );
    }
    let bucket =
        |le: &str| format!(r#"sum(e2e_latency_milliseconds_bucket{{job="weir-e2e",le="{le}"}})"#);
    assert_eq!(prom.value(&bucket("10")).await, Some(0.0));
    assert_eq!(prom.value(&bucket("25")).await, Some(3.0));
    assert_eq!(prom.value(&bucket("+Inf")).await, Some(3.0));
    let median = prom
        .value(r#"histogram_quantile(0.5, sum by (le) (e2e_latency_milliseconds_bucket{job="weir-e2e"}))"#)
        .await
        .unwrap();
    assert!((10.0..=25.0).contains(&median), "{median}");
    // The other resource attributes are on target_info.
    assert_eq!(
        prom.value(r#"target_info{job="weir-e2e",run_id="rw-1"}"#)
            .await,
        Some(1.0)
    );
    let sent = gw
        .metric(
            "weir_exporter_sent_items_total",
            &[("exporter", "prometheus")],
        )
        .await;
    assert_eq!(sent, 6.0, "six data points: three counter, three histogram");
}
