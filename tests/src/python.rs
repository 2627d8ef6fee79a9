//! Runs the OpenTelemetry Python SDK from the venv that `scripts/test.sh` creates.

use std::path::PathBuf;
use std::process::Command;

use crate::repo_root;

/// The venv's python: `$WEIR_TEST_PYTHON`, or `<repo>/.venv/bin/python`.
pub fn interpreter() -> PathBuf {
    let p = std::env::var_os("WEIR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test.sh` (it creates the venv with the OpenTelemetry SDK)",
        p.display()
    );
    p
}

/// Runs `tests/python/<script>` with `args` (blocking, in a worker thread) and returns its
/// stdout parsed as JSON. Panics with the script's stderr if it fails.
pub async fn run_json(script: &str, args: &[&str]) -> serde_json::Value {
    let path = repo_root().join("tests/python").join(script);
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(interpreter()).arg(path).args(args).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs `emit.py`: 20 spans, 10 log records and its metrics from the real SDK to `endpoint`
/// over `protocol` (`grpc` or `http`), tagged `run.id = run`. Asserts the SDK flushed
/// everything and returns what the script reports it sent.
pub async fn emit(protocol: &str, endpoint: &str, run: &str) -> serde_json::Value {
    let args = [
        "--protocol",
        protocol,
        "--endpoint",
        endpoint,
        "--run-id",
        run,
        "--spans",
        "20",
        "--logs",
        "10",
    ];
    let out = run_json("emit.py", &args).await;
    assert_eq!(out["ok"], true, "the SDK reported a failed flush: {out}");
    out
}

/// How many items (spans, metric data points, log records) one `emit.py` run reported.
pub fn emitted_items(out: &serde_json::Value) -> usize {
    let len = |k: &str| out[k].as_array().map_or(0, Vec::len);
    let points: u64 = out["metrics"].as_object().map_or(0, |m| {
        m.values().filter_map(serde_json::Value::as_u64).sum()
    });
    len("spans") + len("logs") + usize::try_from(points).unwrap_or(usize::MAX)
}
