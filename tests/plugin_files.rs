//! Bad plugin files get errors that say what is wrong: not Wasm at all, a core module instead
//! of a component, a component of another world, a missing file.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::sync::Arc;

use weir_tests::plugins;
use weir_wasm::{EngineSettings, PluginSettings, ProcessorPlugin, WasmEngine};

fn engine() -> WasmEngine {
    WasmEngine::new(&EngineSettings {
        cache_dir: None,
        max_instances: 16,
    })
    .unwrap()
}

fn load_bytes(bytes: &[u8]) -> String {
    match ProcessorPlugin::from_bytes(
        &engine(),
        "p",
        "p.wasm",
        bytes,
        "{}".into(),
        PluginSettings::default(),
    ) {
        Ok(_) => panic!("loaded a bad plugin"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_that_is_not_wasm_is_named_as_such() {
    let e = load_bytes(b"#!/bin/sh\necho not wasm\n");
    assert_eq!(
        e,
        "plugin p: p.wasm: not a WebAssembly file (it does not start with \\0asm)"
    );
}

#[test]
fn a_core_module_is_told_to_become_a_component() {
    // The smallest core module: magic and version 1.
    let e = load_bytes(b"\0asm\x01\0\0\0");
    assert!(
        e.starts_with("plugin p: p.wasm: a core WebAssembly module, not a component"),
        "{e}"
    );
    assert!(e.contains("wasm32-wasip2"), "{e}");
}

#[test]
fn a_component_for_another_world_is_refused_with_its_exports() {
    let path = plugins::wasm("not-a-processor");
    let bytes = std::fs::read(&path).unwrap();
    let e = load_bytes(&bytes);
    assert!(
        e.contains("not a weir:plugin processor: it does not export `init`"),
        "{e}"
    );
    assert!(
        e.contains("wasi:cli/run"),
        "the message lists what it does export: {e}"
    );
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let e = ProcessorPlugin::load(
        &engine(),
        "p",
        std::path::Path::new("/nonexistent/plugin.wasm"),
        "{}".into(),
        PluginSettings::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("plugin p: cannot read /nonexistent/plugin.wasm:"),
        "{e}"
    );
}

#[test]
fn a_plugin_that_imports_the_filesystem_is_refused_at_load() {
    let bytes = std::fs::read(plugins::wasm("fs-reader")).unwrap();
    let e = load_bytes(&bytes);
    assert!(e.contains("imports `wasi:filesystem/"), "{e}");
    assert!(e.contains("plugins get no filesystem access"), "{e}");
}

#[test]
fn a_good_plugin_loads_and_reports_its_signals() {
    let path = plugins::wasm("tag");
    let p = ProcessorPlugin::load(
        &engine(),
        "tag",
        &path,
        r#"{"attributes":{"a":"b"}}"#.into(),
        PluginSettings::default(),
    )
    .map(Arc::new)
    .unwrap();
    assert_eq!(p.signals().len(), 3);
}

/// `weir validate` (and so `weir run`) refuses a config whose plugin panics in init, pointing at
/// the config line and quoting the panic.
#[test]
fn weir_validate_reports_a_plugin_that_panics_in_init_at_its_config_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"[receivers.otlp]
grpc = "127.0.0.1:0"

[processors.p]
plugin = "{}"
config = {{ mode = "panic-init" }}

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
processors = ["p"]
exporters = ["out"]
"#,
        plugins::wasm("misbehave").display()
    );
    std::fs::write(dir.path().join("weir.toml"), config).unwrap();
    let out = std::process::Command::new(weir_tests::gateway::binary())
        .args(["validate", "--config", "weir.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("weir.toml:5:10: processors.p.plugin: plugin p: trapped in init"),
        "{stderr}"
    );
    assert!(
        stderr.contains("panicking in init as configured"),
        "{stderr}"
    );
}

#[test]
fn compiled_plugins_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let settings = EngineSettings {
        cache_dir: Some(cache.path().to_path_buf()),
        max_instances: 16,
    };
    let path = plugins::wasm("tag");
    let config = r#"{"attributes":{"a":"b"}}"#;
    let first = WasmEngine::new(&settings).unwrap();
    ProcessorPlugin::load(
        &first,
        "tag",
        &path,
        config.into(),
        PluginSettings::default(),
    )
    .unwrap();
    assert_eq!(first.cache_stats().map(|(hits, _)| hits), Some(0));
    // A new engine (a restarted process) finds the compiled code.
    let second = WasmEngine::new(&settings).unwrap();
    ProcessorPlugin::load(
        &second,
        "tag",
        &path,
        config.into(),
        PluginSettings::default(),
    )
    .unwrap();
    let (hits, _) = second.cache_stats().unwrap();
    assert!(hits >= 1, "no cache hit on the second load");
}
