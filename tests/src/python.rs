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
pub async fn run_json(script: &str, args: Vec<String>) -> serde_json::Value {
    let path = repo_root().join("tests/python").join(script);
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
