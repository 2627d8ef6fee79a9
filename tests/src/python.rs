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
    run_json_env(script, args, &[]).await
}

/// [`run_json`] with extra environment variables (the SDK's `OTEL_EXPORTER_OTLP_*`).
pub async fn run_json_env(script: &str, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let path = repo_root().join("tests/python").join(script);
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        // `requests` (under the SDK's OTLP/HTTP exporter) lets REQUESTS_CA_BUNDLE and
        // CURL_CA_BUNDLE override the CA file the exporter sets (OTEL_EXPORTER_OTLP_CERTIFICATE);
        // the tests talk to local servers only, so neither is wanted.
        Command::new(interpreter())
            .arg(path)
            .args(args)
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .envs(env)
            .output()
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
    emit_env(protocol, endpoint, run, &[]).await
}

/// [`emit`] with extra environment variables for the SDK (its standard `OTEL_EXPORTER_OTLP_*`:
/// TLS files, client certificate, headers).
pub async fn emit_env(
    protocol: &str,
    endpoint: &str,
    run: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
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
    let out = run_json_env("emit.py", &args, env).await;
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
