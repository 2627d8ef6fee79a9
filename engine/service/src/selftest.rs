//! Processor self-tests (`[processors.<name>.self_test]`): a fixture every new version of a
//! plugin must pass before it runs, so that a version that loads but misbehaves (a wrong build,
//! a regression) never touches live data. Run at start, on plugin reloads and on config reloads.

use std::path::PathBuf;
use std::sync::Arc;

use weir_config::{Config, ProcessorConfig};
use weir_core::telemetry::Telemetry;
use weir_core::{Batch, FailurePolicy, Stage};
use weir_wasm::{BreakerSettings, ProcessorPlugin, ProcessorStage};

/// A processor's fixture, with its paths resolved.
#[derive(Debug, Clone)]
pub(crate) struct SelfTest {
    input: PathBuf,
    expect: PathBuf,
}

impl SelfTest {
    /// The self-test of processor `p`, if it has one.
    pub(crate) fn of(config: &Config, p: &ProcessorConfig) -> Option<SelfTest> {
        let t = p.self_test.as_ref()?.get_ref();
        Some(SelfTest {
            input: config.resolve_path(&t.input),
            expect: config.resolve_path(&t.expect),
        })
    }

    /// Runs `plugin` (a fresh instance) on the input and compares its output with the expected
    /// one; the error says what differs. Blocking: it calls the plugin.
    pub(crate) fn run(&self, name: &str, plugin: &Arc<ProcessorPlugin>) -> Result<(), String> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let mut batch = Batch::from_otlp_json(&read(&self.input)?)
            .map_err(|e| format!("{}: {e}", self.input.display()))?;
        let want: serde_json::Value = serde_json::from_str(&read(&self.expect)?)
            .map_err(|e| format!("{}: not JSON: {e}", self.expect.display()))?;
        let signal = batch.signal();
        if !plugin.signals().contains(&signal) {
            return Err(format!(
                "the plugin does not handle {}, the signal of {}",
                signal.as_str(),
                self.input.display()
            ));
        }
        let mut stage = ProcessorStage::new(
            plugin.clone(),
            signal,
            FailurePolicy::Refuse,
            BreakerSettings::default(),
            Telemetry::new().plugin(name, "self_test", signal),
        );
        stage
            .process(&mut batch)
            .map_err(|e| format!("the call on {} failed: {e}", self.input.display()))?;
        let got = batch.to_otlp_value();
        if got == want {
            return Ok(());
        }
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
        Err(format!(
            "its output on {} differs from {}; {}",
            self.input.display(),
            self.expect.display(),
            diff(&pretty(&want), &pretty(&got)).trim_end()
        ))
    }
}

/// The first lines where two pretty JSON texts differ, as a small unified-style diff (also
/// what `weir plugin test` prints).
pub fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let from = first.saturating_sub(3);
    let mut out = format!("first difference at line {}:\n", first + 1);
    for l in w.iter().skip(from).take(10) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in g.iter().skip(from).take(10) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}
