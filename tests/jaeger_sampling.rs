//! Jaeger remote sampling on the admin listener: `GET /sampling?service=NAME` serves the
//! strategies file in Jaeger's format, follows changes to it, keeps the previous strategies when
//! the file turns invalid (logged and counted), and a real Jaeger client (`jaeger-client` from
//! PyPI) with a remote sampler fetches and applies them.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use weir_tests::{Gateway, eventually, gateway, python};

const STRATEGIES: &str = r#"{
  "service_strategies": [
    {"service": "checkout", "type": "probabilistic", "param": 0.0,
     "operation_strategies": [{"operation": "POST /pay", "type": "probabilistic", "param": 1.0}]},
    {"service": "search", "type": "ratelimiting", "param": 2}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.25}
}"#;

fn config(file: &Path) -> String {
    format!(
        r#"
[admin.jaeger_sampling]
file = "{}"
reload_interval = "200ms"

[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#,
        file.display()
    )
}

/// Replaces `file` as an editor or a deploy tool does: write aside, then rename, so that a
/// check never reads a half-written file.
fn replace(file: &Path, text: &str) {
    let aside = file.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, file).unwrap();
}

async fn get(gw: &Gateway, query: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}/sampling{query}", gw.admin))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The sampling rate served to a service without its own strategy.
async fn default_rate(gw: &Gateway) -> Value {
    strategy(gw, "unknown").await["probabilisticSampling"]["samplingRate"].clone()
}

async fn strategy(gw: &Gateway, service: &str) -> Value {
    let (status, body) = get(gw, &format!("?service={service}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_follows_and_survives_a_bad_strategies_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, STRATEGIES).unwrap();
    let gw = Gateway::start(&config(&file)).await;

    assert_eq!(
        strategy(&gw, "checkout").await,
        json!({
            "strategyType": "PROBABILISTIC",
            "probabilisticSampling": {"samplingRate": 0.0},
            "operationSampling": {
                "defaultSamplingProbability": 0.0,
                "defaultLowerBoundTracesPerSecond": 0.0,
                "perOperationStrategies": [
                    {"operation": "POST /pay", "probabilisticSampling": {"samplingRate": 1.0}}
                ]
            }
        })
    );
    assert_eq!(
        strategy(&gw, "search").await,
        json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 2}})
    );
    assert_eq!(
        strategy(&gw, "unknown").await["probabilisticSampling"],
        json!({"samplingRate": 0.25})
    );
    let (status, body) = get(&gw, "").await;
    assert_eq!(
        (status, body.trim()),
        (400, "'service' parameter must be provided")
    );

    // A change is picked up within a few reload intervals.
    replace(&file, &STRATEGIES.replace("0.25", "0.5"));
    assert!(
        eventually(Duration::from_secs(10), || async {
            default_rate(&gw).await == json!(0.5)
        })
        .await
    );
    let reloads = |outcome: &'static str| {
        let gw = &gw;
        async move {
            gw.metric(
                "weir_reloads_total",
                &[("what", "jaeger_sampling"), ("outcome", outcome)],
            )
            .await
        }
    };
    // Counted right after the swap: wait for it rather than race it.
    assert!(
        eventually(Duration::from_secs(10), || async {
            reloads("applied").await == 1.0
        })
        .await
    );

    // An invalid file leaves the previous strategies in force, and says why.
    replace(&file, &STRATEGIES.replace("0.25", "2.5"));
    assert!(
        eventually(Duration::from_secs(10), || async {
            reloads("failed").await == 1.0
        })
        .await
    );
    assert_eq!(default_rate(&gw).await, json!(0.5));
    let log = gw.log_text();
    assert!(
        log.contains("param 2.5: a probability must be between 0 and 1")
            && log.contains("the previous ones stay in force"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jaeger_client_fetches_and_applies_the_strategies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, STRATEGIES).unwrap();
    let gw = Gateway::start(&config(&file)).await;
    let port = gw.admin.port().to_string();

    // checkout: nothing sampled but POST /pay, which always is.
    let out = python::run_json(
        "jaeger_remote.py",
        &[
            "--port",
            &port,
            "--service",
            "checkout",
            "--operations",
            "POST /pay,GET /cart",
        ],
    )
    .await;
    assert_eq!(
        out["sampled"],
        json!({"POST /pay": 50, "GET /cart": 0}),
        "{out}"
    );

    // search: at most a couple of traces per second.
    let out = python::run_json(
        "jaeger_remote.py",
        &["--port", &port, "--service", "search", "--operations", "q"],
    )
    .await;
    assert!(
        out["sampler"]
            .as_str()
            .unwrap()
            .contains("RateLimitingSampler"),
        "{out}"
    );
    // On the client's frozen clock: a full balance of 2 credits, then 2 more a second later.
    assert_eq!(out["sampled"]["q"], 2, "rate limited to 2/s: {out}");
    assert_eq!(out["sampled_one_second_later"]["q"], 2, "{out}");
}

#[test]
fn validate_points_at_a_bad_strategies_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    std::fs::write(
        &file,
        "{\"default_strategy\": {\"type\": \"adaptive\", \"param\": 1}}",
    )
    .unwrap();
    let cfg = dir.path().join("weir.toml");
    std::fs::write(&cfg, config(&file)).unwrap();
    let out = Command::new(gateway::binary())
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains(&format!(
            "{}:3:8: admin.jaeger_sampling.file:",
            cfg.display()
        )) && text.contains(
            "default_strategy: type \"adaptive\": use \"probabilistic\" or \"ratelimiting\""
        ),
        "{text}"
    );
}
