//! The first-party plugins' golden fixtures: for each `plugins/<plugin>/golden/<case>/`,
//! `builtin:<plugin>` is loaded with `config.json` and run on `in.json` (or the plugin's shared
//! `golden/in.json`). A case with `out.json` expects exactly that OTLP/JSON afterwards; a case
//! with `error.txt` expects loading to fail with a message containing that text.
//!
//! `tests/builtin_golden.rs` compares; the separate `bless-golden` command
//! (`cargo run -p weir-tests --bin bless-golden`) rewrites `out.json` files. The test never
//! writes, so a run of the suite can never bless a wrong output into a passing one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_core::{Batch, FailurePolicy, Stage};
use weir_plugin::testing::{parse, render};
use weir_wasm::{BreakerSettings, ProcessorPlugin};

use crate::plugins;

/// The plugins that have golden fixtures.
pub const PLUGINS: [&str; 4] = ["enrich", "redact", "filter", "head-sample"];

/// What one case produced.
pub enum Outcome {
    /// The config was refused (`error.txt` cases): the message, and the text expected in it.
    Refused {
        got: Result<(), String>,
        want: String,
    },
    /// The plugin ran: its output as OTLP/JSON, where `out.json` is, and for `redact` the
    /// output of a second pass over the first one (redacting twice must change nothing).
    Ran {
        got: serde_json::Value,
        expected: PathBuf,
        again: Option<serde_json::Value>,
    },
}

/// One case, named `<plugin>/<case>`.
pub struct Case {
    pub name: String,
    pub outcome: Outcome,
}

/// Runs `plugin` once on `batch`; a plugin error is returned (policy `refuse` surfaces it).
fn run(plugin: &Arc<ProcessorPlugin>, mut batch: Batch) -> Result<Batch, String> {
    let (mut stage, _) = plugins::stage_for(
        plugin.clone(),
        batch.signal(),
        FailurePolicy::Refuse,
        BreakerSettings::default(),
    );
    stage
        .process(&mut batch)
        .map_err(|e| format!("plugin failed: {e}"))?;
    Ok(batch)
}

/// The case folders of `plugin`, sorted.
fn case_dirs(plugin: &str) -> Result<Vec<PathBuf>, String> {
    let dir = crate::repo_root()
        .join("plugins")
        .join(plugin)
        .join("golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    if cases.is_empty() {
        return Err(format!("{} has no cases", dir.display()));
    }
    Ok(cases)
}

/// Runs every case of `plugin`; an `Err` says which case could not run at all and why.
pub fn run_cases(plugin: &str) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for case in case_dirs(plugin)? {
        let name = format!(
            "{plugin}/{}",
            case.file_name().unwrap_or_default().display()
        );
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| format!("{name}: {}: {e}", p.display()))
        };
        let config = read(&case.join("config.json"))?;
        let error = case.join("error.txt");
        if error.exists() {
            let want = read(&error)?.trim().to_string();
            let got = plugins::builtin(plugin, &config).map(drop);
            out.push(Case {
                name,
                outcome: Outcome::Refused { got, want },
            });
            continue;
        }
        let input = if case.join("in.json").exists() {
            case.join("in.json")
        } else {
            case.join("../in.json")
        };
        let loaded = plugins::builtin(plugin, &config).map_err(|e| format!("{name}: {e}"))?;
        let batch = parse(&read(&input)?).map_err(|e| format!("{name}: in.json: {e}"))?;
        let first = run(&loaded, batch).map_err(|e| format!("{name}: {e}"))?;
        let got = render(&first);
        let again = if plugin == "redact" {
            Some(render(
                &run(&loaded, first).map_err(|e| format!("{name}: {e}"))?,
            ))
        } else {
            None
        };
        out.push(Case {
            name,
            outcome: Outcome::Ran {
                got,
                expected: case.join("out.json"),
                again,
            },
        });
    }
    Ok(out)
}
