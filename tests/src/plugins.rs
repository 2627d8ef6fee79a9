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

/// One plugin engine per test binary, caching compiled plugins in `target/` across runs.
pub fn engine() -> &'static weir_wasm::WasmEngine {
    static ENGINE: OnceLock<weir_wasm::WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache = crate::repo_root().join("target/weir-test-plugin-cache");
        let settings = weir_wasm::EngineSettings {
            cache_dir: Some(cache),
            max_instances: 64,
        };
        weir_wasm::WasmEngine::new(&settings).unwrap()
    })
}

/// A traces stage running `plugin` with `policy` and `breaker`, and the registry its metrics
/// (labels `processor="p"`, `pipeline="traces"`) go to.
pub fn stage(
    plugin: std::sync::Arc<weir_wasm::ProcessorPlugin>,
    policy: weir_core::FailurePolicy,
    breaker: weir_wasm::BreakerSettings,
) -> (weir_wasm::ProcessorStage, weir_core::telemetry::Telemetry) {
    stage_for(plugin, weir_core::Signal::Traces, policy, breaker)
}

/// Like [`stage`], for batches of `signal` (metrics go to `pipeline="<signal>"`).
pub fn stage_for(
    plugin: std::sync::Arc<weir_wasm::ProcessorPlugin>,
    signal: weir_core::Signal,
    policy: weir_core::FailurePolicy,
    breaker: weir_wasm::BreakerSettings,
) -> (weir_wasm::ProcessorStage, weir_core::telemetry::Telemetry) {
    let t = weir_core::telemetry::Telemetry::new();
    let m = t.plugin("p", signal.as_str(), signal);
    let s = weir_wasm::ProcessorStage::new(plugin, signal, policy, breaker, m);
    (s, t)
}

/// The embedded first-party plugin `builtin:<name>`, loaded with `config` (JSON) through the
/// real host; the error is the host's message (e.g. the plugin's config rejection).
pub fn builtin(
    name: &str,
    config: &str,
) -> Result<std::sync::Arc<weir_wasm::ProcessorPlugin>, String> {
    let wasm = weir_builtins::get(name)
        .unwrap_or_else(|| panic!("no builtin:{name}"))
        .wasm;
    weir_wasm::ProcessorPlugin::from_bytes(
        engine(),
        name,
        &format!("builtin:{name}"),
        wasm,
        config.to_string(),
        weir_wasm::PluginSettings::default(),
    )
    .map(std::sync::Arc::new)
    .map_err(|e| e.to_string())
}
