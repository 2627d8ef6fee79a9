//! `weir plugin check` on real files: it names the world and WIT version of good components and
//! lists their imports; it fails with a clear message for a core module, a component for another
//! world, and a component that imports a filesystem.

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

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let (code, _, err) = check(&text);
    assert_eq!(code, 1);
    assert!(err.contains("not a WebAssembly file"), "{err}");
}
