//! Every first-party plugin on its golden fixtures, through the real host and the component
//! embedded in the binary. For each `plugins/<plugin>/golden/<case>/`, `builtin:<plugin>` is
//! loaded with `config.json` and run on `in.json` (or the plugin's shared `golden/in.json`):
//! - if the case has `out.json`, the batch afterwards must be exactly that OTLP/JSON;
//! - if it has `error.txt`, loading must fail with a message containing that text.
//!
//! `redact` cases also run their output through the plugin again: redacting twice changes
//! nothing. `WEIR_BLESS=1` rewrites every `out.json` from what the plugin produced (review the
//! diff before committing it).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_core::{Batch, FailurePolicy, Stage};
use weir_plugin::testing::{parse, render};
use weir_tests::plugins;
use weir_wasm::{BreakerSettings, ProcessorPlugin};

/// Runs `plugin` once on `batch`; a plugin error fails the test (policy `refuse` surfaces it).
fn run(plugin: &Arc<ProcessorPlugin>, mut batch: Batch) -> Batch {
    let (mut stage, _) = plugins::stage_for(
        plugin.clone(),
        batch.signal(),
        FailurePolicy::Refuse,
        BreakerSettings::default(),
    );
    if let Err(e) = stage.process(&mut batch) {
        panic!("plugin failed: {e}");
    }
    batch
}

fn cases(plugin: &str) -> Vec<PathBuf> {
    let dir = weir_tests::repo_root()
        .join("plugins")
        .join(plugin)
        .join("golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "{} has no cases", dir.display());
    cases
}

fn check(plugin: &str) {
    let bless = std::env::var_os("WEIR_BLESS").is_some();
    for case in cases(plugin) {
        let name = format!("{plugin}/{}", case.file_name().unwrap().to_string_lossy());
        let read = |p: &Path| {
            std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{name}: {}: {e}", p.display()))
        };
        let config = read(&case.join("config.json"));
        let error = case.join("error.txt");
        if error.exists() {
            let want = read(&error);
            match plugins::builtin(plugin, &config) {
                Ok(_) => panic!("{name}: the config was accepted; expected {want:?}"),
                Err(e) => assert!(e.contains(want.trim()), "{name}: got {e:?}, want {want:?}"),
            }
            continue;
        }
        let input = if case.join("in.json").exists() {
            case.join("in.json")
        } else {
            case.parent().unwrap().join("in.json")
        };
        let loaded = plugins::builtin(plugin, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = run(&loaded, parse(&read(&input)).unwrap());
        let got = render(&out);
        let expected = case.join("out.json");
        if bless {
            let text = serde_json::to_string_pretty(&got).unwrap();
            std::fs::write(&expected, text + "\n").unwrap();
        } else {
            let want: serde_json::Value = serde_json::from_str(&read(&expected)).unwrap();
            assert_eq!(
                got,
                want,
                "{name}: output differs from out.json:\n{}",
                serde_json::to_string_pretty(&got).unwrap()
            );
        }
        if plugin == "redact" {
            let again = render(&run(&loaded, out));
            assert_eq!(again, got, "{name}: redacting twice changed the output");
        }
    }
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
