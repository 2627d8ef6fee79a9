//! Builds the first-party plugins in `plugins/` for `wasm32-wasip2` and copies them into
//! `OUT_DIR` for `include_bytes!`. `WEIR_BUILTIN_PLUGINS_DIR=<dir>` uses prebuilt components
//! from `<dir>` instead (e.g. `plugins/target/wasm32-wasip2/release`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate, component file stem).
const PLUGINS: [(&str, &str); 9] = [
    ("policies", "policies"),
    ("otlp-http", "otlp_http"),
    ("prometheus-remote-write", "prometheus_remote_write"),
    ("clickhouse", "clickhouse"),
    ("elasticsearch", "elasticsearch"),
    ("enrich", "enrich"),
    ("redact", "redact"),
    ("filter", "filter"),
    ("head-sample", "head_sample"),
];

/// Environment the outer cargo sets that must not leak into the nested build: a clippy or
/// coverage wrapper, host RUSTFLAGS, a target override or target dir.
const SCRUB: [&str; 8] = [
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
];

fn main() {
    println!("cargo:rerun-if-env-changed=WEIR_BUILTIN_PLUGINS_DIR");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR is not set")));
    let dir = match env::var("WEIR_BUILTIN_PLUGINS_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => build(),
    };
    for (_, stem) in PLUGINS {
        let from = dir.join(format!("{stem}.wasm"));
        let bytes = std::fs::read(&from)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", from.display())));
        let to = out.join(format!("{stem}.wasm"));
        // Only rewrite on change, so an unchanged plugin does not rebuild the binary.
        if std::fs::read(&to).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::write(&to, &bytes)
                .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", to.display())));
        }
    }
}

/// Runs `cargo build --release` in `plugins/` and returns where the components are.
fn build() -> PathBuf {
    let manifest = PathBuf::from(
        env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| fail("CARGO_MANIFEST_DIR is not set")),
    );
    let root = manifest.join("../..");
    let plugins = root.join("plugins");
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "sdk",
        "conditions",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(path).display());
    }
    for (krate, _) in PLUGINS {
        println!(
            "cargo:rerun-if-changed={}",
            plugins.join(krate).join("src").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            plugins.join(krate).join("Cargo.toml").display()
        );
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    ensure_target();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins).args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
    ]);
    for (krate, _) in PLUGINS {
        cmd.args(["-p", krate]);
    }
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for plugins/: {e}")));
    if !status.success() {
        fail("building the first-party plugins in plugins/ failed (see the cargo output above)");
    }
    plugins.join("target/wasm32-wasip2/release")
}

/// Adds the `wasm32-wasip2` target with rustup if this toolchain lacks it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed = sysroot
        .as_deref()
        .is_some_and(|s| Path::new(s).join("lib/rustlib/wasm32-wasip2").is_dir());
    if installed {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        fail(
            "the built-in plugins need the wasm32-wasip2 target: run `rustup target add wasm32-wasip2` (or set WEIR_BUILTIN_PLUGINS_DIR to prebuilt components)",
        );
    }
}

fn fail(message: &str) -> ! {
    eprintln!("weir-builtins: {message}");
    std::process::exit(1);
}
