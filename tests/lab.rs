//! `weir lab` end to end: a recording made by the gateway's `file` exporter from a run of the
//! OpenTelemetry Python SDK replays with exact ground truth; a scenario gives a byte-identical
//! report for the same seed; bad inputs are reported with file and key.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use weir_tests::gateway::binary;
use weir_tests::{Gateway, eventually, python};

fn weir(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

/// `weir lab` on `workload` with each of `policies`, writing to `out`, plus `extra` flags.
fn weir_lab(workload: &Path, policies: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["lab", "--workload", workload.to_str().unwrap()];
    for p in policies {
        args.extend(["--policies", p.to_str().unwrap()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    weir(&args)
}

fn lab(workload: &Path, policies: &Path, out: &Path) -> Value {
    let o = weir_lab(workload, &[policies], out, &["--no-timing"]);
    assert!(
        o.status.success(),
        "weir lab failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

const POLICIES: &str = r#"
[samplers.all]
decision_wait = "5s"
[[samplers.all.policies]]
name = "all"
type = "always_sample"

[samplers.errors]
decision_wait = "5s"
[[samplers.errors.policies]]
name = "errors"
type = "status_code"
config = { status_codes = ["ERROR"] }
"#;

fn config(report: &Value, name: &str) -> Value {
    report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_recording_of_a_python_sdk_run_with_exact_truth() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("spans.jsonl");
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.record]
type = "file"
path = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["record"]
"#,
        recording.display()
    ))
    .await;
    let out = python::run_json(
        "emit_services.py",
        &["--endpoint", &gw.url("otlp", "grpc"), "--traces", "50"],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let traces = out["traces"].as_array().unwrap();
    let spans: u64 = traces.iter().map(|t| t["spans"].as_u64().unwrap()).sum();
    let errors = traces.iter().filter(|t| t["error"] == true).count() as u64;
    let services = ["frontend", "cart", "search", "checkout"];
    let written = eventually(Duration::from_secs(30), || {
        let recording = recording.clone();
        async move {
            let text = std::fs::read_to_string(&recording).unwrap_or_default();
            text.matches("\"spanId\"").count() as u64 >= spans
        }
    })
    .await;
    assert!(written, "the file exporter did not write every span");

    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let report = lab(&recording, &policies, &dir.path().join("out"));
    let w = &report["workload"];
    assert_eq!(w["traces"], traces.len() as u64, "{w}");
    assert_eq!(w["spans"], spans);
    assert_eq!(w["error_traces"], errors);
    assert!(w["operations"].as_u64().unwrap() >= services.len() as u64);

    let all = config(&report, "all");
    assert_eq!(all["kept_traces_share"], 1.0);
    assert_eq!(all["kept_spans_share"], 1.0);
    assert_eq!(all["complete_share"], 1.0);
    let e = config(&report, "errors");
    assert_eq!(e["error_recall"], 1.0);
    assert_eq!(e["kept_traces"], errors, "exactly the error traces");
    assert!(dir.path().join("out/report.html").exists());
}

const SCENARIO: &str = r#"
name = "tiny shop"
seed = 11
duration = "60s"
traces_per_second = 20
export_delay = "3s"

[[operations]]
name = "GET /"
service = "frontend"
root_weight = 1
latency = { median = "20ms", p99 = "2s" }
error_rate = 0.05
calls = [{ operation = "db", count = 2 }]

[[operations]]
name = "db"
service = "postgres"
latency = { median = "2ms", p99 = "50ms" }
"#;

#[test]
fn the_same_seed_gives_a_byte_identical_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let a = lab(&scenario, &policies, &dir.path().join("a"));
    let b = lab(&scenario, &policies, &dir.path().join("b"));
    let bytes = |d: &str| std::fs::read(dir.path().join(d).join("report.json")).unwrap();
    assert_eq!(bytes("a"), bytes("b"));
    assert_eq!(a, b);
    assert_eq!(config(&a, "errors")["error_recall"], 1.0);
    // The terminal table (stdout is not a terminal here: no progress bar on stderr).
    let o = weir_lab(&scenario, &[&policies], &dir.path().join("c"), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("workload tiny shop") && stdout.contains("errors"),
        "{stdout}"
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains('#'),
        "no progress bar"
    );
}

#[test]
fn bad_inputs_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(
        &scenario,
        SCENARIO.replace("count = 2", "count = 2, probability = 3"),
    )
    .unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES.replace("\"ERROR\"", "\"BROKEN\"")).unwrap();
    let good_policies = dir.path().join("good.toml");
    std::fs::write(&good_policies, POLICIES).unwrap();
    let out = dir.path().join("out");
    let run = |w: &Path, p: &Path| {
        let o = weir_lab(w, &[p], &out, &[]);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(&scenario, &good_policies);
    assert!(
        err.contains("shop.toml: operations[0].calls[0].probability: must be between 0 and 1"),
        "{err}"
    );
    let std_scenario = dir.path().join("ok.toml");
    std::fs::write(&std_scenario, SCENARIO).unwrap();
    let err = run(&std_scenario, &policies);
    assert!(
        err.contains("policies.toml:13:28: samplers.errors.policies[0].config.status_codes[0]"),
        "{err}"
    );
    let not_a_recording = dir.path().join("junk.bin");
    std::fs::write(&not_a_recording, b"\x00\x01junk").unwrap();
    let err = run(&not_a_recording, &good_policies);
    assert!(
        err.contains("junk.bin: neither OTLP/JSON lines nor OTLP protobuf"),
        "{err}"
    );
}

/// Runs headless Chromium (Debian's `chromium`, installed by scripts/test.sh) on `args`.
fn chromium(args: &[&str]) -> Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--window-size=1400,1100",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}): run `bash scripts/test.sh`, it installs it")
        })
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    lab(&scenario, &policies, &dir.path().join("out"));
    let page = format!("file://{}", dir.path().join("out/report.html").display());

    // The rendered DOM has both charts with their marks, and the page logged no errors.
    let dom = chromium(&["--dump-dom", &page]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(html.contains("<svg id=\"recall\"") && html.contains("<svg id=\"memory\""));
    assert_eq!(
        html.matches("<circle class=\"point\"").count(),
        2,
        "one per policy"
    );
    assert_eq!(html.matches("<polyline class=\"series\"").count(), 2);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(
        !log.contains("CONSOLE") && !log.contains("Uncaught"),
        "the page logged errors:\n{log}"
    );

    // The screenshot shows them: much more drawn than on an empty page of the same size.
    let empty = dir.path().join("empty.html");
    std::fs::write(&empty, "<!doctype html><html><body></body></html>").unwrap();
    let shot = |url: &str, png: &Path| {
        let o = chromium(&[&format!("--screenshot={}", png.display()), url]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::metadata(png).unwrap().len()
    };
    let report_png = shot(&page, &dir.path().join("report.png"));
    let empty_png = shot(
        &format!("file://{}", empty.display()),
        &dir.path().join("empty.png"),
    );
    assert!(
        report_png > empty_png * 5,
        "the report's screenshot ({report_png} B) is hardly more than an empty page's ({empty_png} B)"
    );
}

#[test]
fn same_named_samplers_of_two_files_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shop.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, POLICIES).unwrap();
    std::fs::write(
        &b,
        POLICIES.replace("decision_wait = \"5s\"", "decision_wait = \"1s\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = weir_lab(&scenario, &[&a, &b], &out, &["--no-timing"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["all", "errors", "b/all", "b/errors"]);
    // A shorter wait cuts more traces: the two "all" columns are measured apart.
    assert!(
        config(&report, "b/all")["complete_share"].as_f64().unwrap()
            < config(&report, "all")["complete_share"].as_f64().unwrap()
    );
}
