//! `weir plugin check` on real files: it names the world and WIT version of good components and
//! lists their imports; it fails with a clear message for a core module, a component for another
//! world, and a component that imports a filesystem. `weir plugin test` runs a plugin through the
//! real host on a golden fixture, and diffs against the expected output.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;

use weir_tests::gateway::binary;
use weir_tests::plugins;

/// (exit code, stdout, stderr) of `weir plugin check FILE`.
fn check(file: &Path) -> (i32, String, String) {
    let o = Command::new(binary())
        .args(["plugin", "check"])
        .arg(file)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn names_the_world_version_and_capabilities_of_good_plugins() {
    let version = weir_wasm::wit_version();
    let (code, out, err) = check(&plugins::wasm("tag"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("a weir:plugin@{version} processor component")),
        "{out}"
    );
    assert!(out.contains("weir:plugin/telemetry@"), "{out}");
    assert!(
        out.contains("wasi:cli/environment")
            && out.contains("empty unless the config lists variables in grants.env"),
        "{out}"
    );
    assert!(out.contains("ok: Weir can load it"), "{out}");
    let (code, out, err) = check(&plugins::wasm("keep-service"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("a weir:plugin@{version} sampler component")),
        "{out}"
    );
}

#[test]
fn refuses_a_core_module_another_world_and_a_filesystem_import() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, _, err) = check(&core);
    assert_eq!(code, 1);
    assert!(
        err.contains("a core WebAssembly module, not a component: build it for wasm32-wasip2"),
        "{err}"
    );

    let (code, out, err) = check(&plugins::wasm("not-a-processor"));
    assert_eq!(code, 1);
    assert!(out.contains("a component, but not a Weir plugin"), "{out}");
    assert!(
        err.contains("it implements none of Weir's plugin worlds")
            && err.contains("processor: init, process, signals")
            && err.contains("It looks like a WASI command"),
        "{err}"
    );

    let (code, out, err) = check(&plugins::wasm("fs-reader"));
    assert_eq!(code, 1);
    assert!(
        out.contains("REFUSED: plugins get no filesystem access"),
        "{out}"
    );
    assert!(err.contains("it imports `wasi:filesystem/"), "{err}");
    // The reason comes from the world in wit/sandbox.wit that the plugin is judged by.
    assert!(
        err.contains("(not in the `processor-host` world of wit/sandbox.wit)"),
        "{err}"
    );
    assert!(out.contains("wasi:cli/stdout@0.2."), "{out}");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let (code, _, err) = check(&text);
    assert_eq!(code, 1);
    assert!(err.contains("not a WebAssembly file"), "{err}");
}

/// (exit code, stdout, stderr) of `weir plugin test` with `args`.
fn plugin_test(args: &[&Path]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["plugin", "test"]).arg(args[0]);
    for (flag, path) in ["--input", "--config", "--expect"].iter().zip(&args[1..]) {
        cmd.arg(flag).arg(path);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn plugin_test_runs_a_golden_fixture_and_diffs_a_wrong_one() {
    let golden = weir_tests::repo_root().join("plugins/enrich/golden");
    let enrich = plugins::wasm("enrich");
    let input = golden.join("in.json");
    let (code, out, err) = plugin_test(&[
        &enrich,
        &input,
        &golden.join("static-values/config.json"),
        &golden.join("static-values/out.json"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: the output matches"), "{out}");
    assert!(
        err.contains("spans in") && err.contains("out, in"),
        "time per batch: {err}"
    );

    let (code, out, _) = plugin_test(&[
        &enrich,
        &input,
        &golden.join("derived-route/config.json"),
        &golden.join("static-values/out.json"),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("first difference at line") && out.contains("the output differs"),
        "{out}"
    );

    // A processor that does not handle the fixture's signal says so instead of passing silently.
    let (code, out, err) = plugin_test(&[&plugins::wasm("version-logs-only"), &input]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("the plugin does not handle traces (its signals(): logs)"),
        "{err}"
    );

    // A sampler: its verdict on the fixture (spans of billing-service-python) as one trace.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keep.toml");
    for (services, want) in [
        (
            "[\"checkout\", \"billing-service-python\"]",
            serde_json::json!({"decision": "keep", "reason": "touched billing-service-python"}),
        ),
        (
            "[\"checkout\"]",
            serde_json::json!({"decision": "no-opinion", "reason": ""}),
        ),
    ] {
        std::fs::write(&config, format!("services = {services}\n")).unwrap();
        let (code, out, err) = plugin_test(&[&plugins::wasm("keep-service"), &input, &config]);
        assert_eq!(code, 0, "{err}");
        let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(verdict, want, "services = {services}");
    }

    // A config the plugin rejects is reported with the plugin's message.
    std::fs::write(&config, "services = []\n").unwrap();
    let (code, _, err) = plugin_test(&[&plugins::wasm("keep-service"), &input, &config]);
    assert_eq!(code, 1);
    assert!(
        err.contains("services: list at least one service.name"),
        "{err}"
    );

    // A call that fails says so plainly, not "N in, N out".
    let failing = dir.path().join("error.json");
    std::fs::write(&failing, r#"{"mode":"error"}"#).unwrap();
    let (code, out, err) = plugin_test(&[&plugins::wasm("misbehave"), &input, &failing]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("the call FAILED after")
            && err.contains("(error)")
            && err.contains("no output"),
        "{err}"
    );
    assert!(!err.contains("out, in"), "{err}");
}
