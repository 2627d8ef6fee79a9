//! `builtin:filter`: drops the spans, metric data points and log records that match any of the
//! configured rules (each rule is a condition of `weir-conditions`: all of its keys must hold).
//!
//! ```toml
//! [processors.drop-noise.config]
//! drop = [
//!   { attribute = "http.route", equals = "/healthz" },
//!   { severity_below = "info" },
//! ]
//! ```

use weir_conditions::{Condition, ConditionConfig};
use weir_plugin::{Batch, Config, Processor, Signal};

/// The config as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Rules; an item matching any of them is dropped.
    drop: Vec<ConditionConfig>,
}

/// The compiled rules.
pub struct Filter {
    rules: Vec<Condition>,
}

impl Processor for Filter {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if settings.drop.is_empty() {
            return Err("drop: list at least one rule".into());
        }
        let rules = settings
            .drop
            .into_iter()
            .enumerate()
            .map(|(i, c)| Condition::compile(c, &format!("drop[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter { rules })
    }

    fn signals(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        for s in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            if self.rules.iter().any(|r| r.signals().contains(&s)) {
                out.push(s);
            }
        }
        out
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        let mut dropped = vec![false; batch.len() as usize];
        for rule in &self.rules {
            for (d, m) in dropped.iter_mut().zip(rule.select(batch)) {
                *d |= m;
            }
        }
        let items: Vec<u32> = (0..batch.len()).filter(|&i| dropped[i as usize]).collect();
        if !items.is_empty() {
            batch.drop_items(&items);
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(Filter);
