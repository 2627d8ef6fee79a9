//! `weir plugin new` makes projects that build and pass their own fixture test without edits,
//! for each kind it supports, and refuses what it does not support with a clear message.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::gateway::binary;

fn weir(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn new_rust_projects_build_and_pass_their_fixture() {
    let dir = tempfile::tempdir().unwrap();
    // One target dir for both projects, so the second reuses the first one's dependencies.
    let target = dir.path().join("target");
    for (name, kind) in [("team-tagger", "processor"), ("vip-traces", "sampler")] {
        let project = dir.path().join(name);
        let o = weir(&[
            "plugin",
            "new",
            name,
            "--lang",
            "rust",
            "--kind",
            kind,
            "--dir",
            project.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(readme.contains("weir plugin test"), "{readme}");
        let build = Command::new(env!("CARGO"))
            .args(["build", "--release"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
        assert!(build.status.success(), "{name}: {}", text(&build));
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let fixture = |f: &str| project.join("fixtures").join(f);
        let p = |x: &Path| x.to_str().unwrap().to_string();
        let o = weir(&[
            "plugin",
            "test",
            &p(&wasm),
            "--input",
            &p(&fixture("in.json")),
            "--config",
            &p(&fixture("config.json")),
            "--expect",
            &p(&fixture("out.json")),
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let o = weir(&["plugin", "check", &p(&wasm)]);
        assert!(
            text(&o).contains(&format!("{kind} component")),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn refuses_what_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let at = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = weir(&["plugin", "new", "Bad Name", "--dir", &at("a")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("use lower-case letters"), "{}", text(&o));
    let o = weir(&["plugin", "new", "x", "--lang", "js", "--dir", &at("b")]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--lang js: this Weir has templates for rust only"),
        "{}",
        text(&o)
    );
    let o = weir(&[
        "plugin",
        "new",
        "x",
        "--kind",
        "exporter",
        "--dir",
        &at("c"),
    ]);
    assert!(
        text(&o).contains("does not load exporter plugins yet"),
        "{}",
        text(&o)
    );
    std::fs::create_dir_all(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/keep.txt"), "mine").unwrap();
    let o = weir(&["plugin", "new", "x", "--dir", &at("d")]);
    assert!(text(&o).contains("exists and is not empty"), "{}", text(&o));
}
