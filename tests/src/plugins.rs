//! Builds the plugins workspace (`plugins/`, target wasm32-wasip2) once per test binary and
//! hands out paths to its components.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The plugins workspace.
pub fn workspace() -> PathBuf {
    crate::repo_root().join("plugins")
}

/// The component built from crate `name` (`tag`, `misbehave` …), building the workspace first
/// if this test binary has not yet. Panics with cargo's output if the build fails.
pub fn wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        // Run from plugins/ so that its .cargo/config.toml (target wasm32-wasip2) applies.
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked"])
            .current_dir(workspace())
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!(
            "building plugins/ failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{e}"
        );
    }
    // Libraries are named with underscores, binaries keep their dashes.
    let dir = workspace().join("target/wasm32-wasip2/release");
    let file = [name.replace('-', "_"), name.to_string()]
        .into_iter()
        .map(|n| dir.join(format!("{n}.wasm")))
        .find(|f| f.exists());
    file.unwrap_or_else(|| panic!("plugin {name} was not built in {}", dir.display()))
}

/// The Python plugin `name` (`plugins/python/<name>/app.py`) built into a component with
/// componentize-py, via `plugins/python/build.sh` (which rebuilds only when sources changed).
pub fn python_wasm(name: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = Command::new("bash")
        .arg(workspace().join("python/build.sh"))
        .arg(name)
        .output()
        .expect("cannot run plugins/python/build.sh");
    assert!(
        out.status.success(),
        "plugins/python/build.sh {name} failed (run `bash scripts/test.sh` first to create .venv):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    workspace()
        .join("python/target")
        .join(format!("{name}.wasm"))
}
