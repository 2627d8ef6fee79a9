//! Every first-party plugin on its golden fixtures, through the real host and the component
//! embedded in the binary (the cases are described in `weir_tests::golden`). `redact` cases
//! also run their output through the plugin again: redacting twice changes nothing.
//!
//! This test only compares. To accept new outputs, run the separate command
//! `cargo run -p weir-tests --bin bless-golden` and review the diff; it refuses to run in CI.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use weir_tests::golden::{self, Outcome};

fn check(plugin: &str) {
    assert!(
        std::env::var_os("WEIR_BLESS").is_none(),
        "WEIR_BLESS no longer rewrites golden files: run `cargo run -p weir-tests --bin bless-golden`"
    );
    let cases = golden::run_cases(plugin).unwrap_or_else(|e| panic!("{e}"));
    for case in cases {
        let name = &case.name;
        match case.outcome {
            Outcome::Refused { got, want } => match got {
                Ok(()) => panic!("{name}: the config was accepted; expected {want:?}"),
                Err(e) => assert!(e.contains(&want), "{name}: got {e:?}, want {want:?}"),
            },
            Outcome::Ran {
                got,
                expected,
                again,
            } => {
                let text = std::fs::read_to_string(&expected)
                    .unwrap_or_else(|e| panic!("{name}: {}: {e}", expected.display()));
                let want: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    got,
                    want,
                    "{name}: output differs from out.json:\n{}",
                    serde_json::to_string_pretty(&got).unwrap()
                );
                if let Some(again) = again {
                    assert_eq!(again, got, "{name}: redacting twice changed the output");
                }
            }
        }
    }
}

/// A plugin that gains fixtures is added to `golden::PLUGINS` (and a test below), or its
/// fixtures would never run.
#[test]
fn every_plugin_with_fixtures_is_checked() {
    let mut with_fixtures: Vec<String> = std::fs::read_dir(weir_tests::repo_root().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("golden").is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    with_fixtures.sort();
    let mut checked = golden::PLUGINS.to_vec();
    checked.sort();
    assert_eq!(with_fixtures, checked);
}

#[test]
fn enrich_golden_fixtures() {
    check("enrich");
}

#[test]
fn redact_golden_fixtures() {
    check("redact");
}

#[test]
fn filter_golden_fixtures() {
    check("filter");
}

#[test]
fn head_sample_golden_fixtures() {
    check("head-sample");
}
