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
    .err()
    .map(|e| e.to_string())
    .unwrap();
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
