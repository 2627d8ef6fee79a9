//! Builds the plugins workspace (`plugins/`, target wasm32-wasip2) once per test binary and
//! hands out paths to its components.

use std::path::{Path, PathBuf};
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

/// Builds the plugin project in `dir` (an example in `examples/plugins/` or one made by `weir
/// plugin new`) the way its README says, with the toolchains `scripts/test.sh` installs, and
/// returns the component. `lang` is `rust`, `python`, `js` or `c`; `file` the component's file
/// stem; Rust projects share `cargo_target` so their dependencies build once. Panics with the
/// build's output if it fails.
pub fn build_project(dir: &Path, lang: &str, file: &str, cargo_target: &Path) -> PathBuf {
    // The venv holds componentize-py and wasm-tools; ~/.cargo/bin holds wit-bindgen.
    let mut path = vec![crate::repo_root().join(".venv/bin")];
    if let Some(home) = std::env::var_os("HOME") {
        path.push(PathBuf::from(home).join(".cargo/bin"));
    }
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(path).expect("PATH");
    // Where the project has a lock file (the examples do), build exactly what it pins.
    let locked = |f: &str| dir.join(f).is_file();
    let npm = if locked("package-lock.json") {
        "ci"
    } else {
        "install"
    };
    let steps: Vec<Vec<&str>> = match lang {
        "rust" if locked("Cargo.lock") => {
            vec![vec![env!("CARGO"), "build", "--release", "--locked"]]
        }
        "rust" => vec![vec![env!("CARGO"), "build", "--release"]],
        "python" => vec![vec!["./build.sh"]],
        "js" => vec![
            vec!["npm", npm, "--no-audit", "--no-fund", "--prefer-offline"],
            vec!["npm", "run", "build"],
        ],
        "c" => vec![vec!["make"]],
        other => panic!("no build for language {other}"),
    };
    for step in steps {
        let out = Command::new(step[0])
            .args(&step[1..])
            .current_dir(dir)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", cargo_target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", dir.display(), step[0]));
        assert!(
            out.status.success(),
            "{}: `{}` failed (run `bash scripts/test.sh` once: it installs the toolchains):\n{}\n{}",
            dir.display(),
            step.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wasm = if lang == "rust" {
        cargo_target.join(format!("wasm32-wasip2/release/{file}.wasm"))
    } else {
        dir.join(format!("target/{file}.wasm"))
    };
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
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

/// The policy plugin built from `plugins/<crate_name>` (e.g. `bad-policy`), loaded with `config`
/// (JSON) and a `timeout` per evaluation, wrapped as one sampler's policy with default breaker
/// settings. Its metrics go to `telemetry` as `processor="<name>"`.
pub fn wasm_policy(
    crate_name: &str,
    name: &str,
    config: &str,
    timeout: std::time::Duration,
    telemetry: &weir_core::telemetry::Telemetry,
) -> weir_wasm::WasmPolicy {
    let settings = weir_wasm::PluginSettings {
        timeout,
        ..Default::default()
    };
    let plugin = weir_wasm::PolicyPlugin::load(
        engine(),
        name,
        &wasm(crate_name),
        config.to_string(),
        settings,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    weir_wasm::WasmPolicy::new(
        std::sync::Arc::new(plugin),
        weir_wasm::BreakerSettings::default(),
        telemetry.plugin(name, "traces", weir_core::Signal::Traces),
    )
}

/// A first-party policy (`type`, e.g. `status_code`) from the embedded component, with its
/// config (a JSON object without `type`).
pub fn builtin_policy(kind: &str, config: &str) -> Result<weir_wasm::PolicyPlugin, String> {
    let mut json: serde_json::Value = serde_json::from_str(config).map_err(|e| e.to_string())?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("type".into(), serde_json::Value::String(kind.into()));
    }
    weir_wasm::PolicyPlugin::from_bytes(
        engine(),
        kind,
        "builtin policies",
        weir_builtins::POLICIES,
        json.to_string(),
        weir_wasm::PluginSettings::default(),
    )
    .map_err(|e| e.to_string())
}
