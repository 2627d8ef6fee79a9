//! The boundary benchmark's workloads (benches/boundary.rs), written the way a plugin author
//! would with the SDK. Config: `{"mode": "noop" | "add" | "mask", "pattern": "<regex>"}`.

use regex::Regex;
use weir_plugin::{Batch, Config, Level, Processor};

#[derive(serde::Deserialize)]
struct Settings {
    mode: String,
    #[serde(default)]
    pattern: String,
}

/// One workload.
pub enum Bench {
    /// Touch nothing.
    Noop,
    /// Set `bench.added = "yes"` on every item.
    Add,
    /// Replace every string attribute value matching the regex with `***`.
    Mask(Regex),
}

impl Processor for Bench {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        match s.mode.as_str() {
            "noop" => Ok(Bench::Noop),
            "add" => Ok(Bench::Add),
            "mask" => Regex::new(&s.pattern)
                .map(Bench::Mask)
                .map_err(|e| e.to_string()),
            other => Err(format!("unknown mode {other:?}")),
        }
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        match self {
            Bench::Noop => {}
            Bench::Add => batch.set_attribute(Level::Item, "bench.added", "yes"),
            Bench::Mask(re) => {
                let table = batch.attributes(Level::Item);
                let values = table.values();
                for r in 0..table.len() {
                    if let Some(v) = values.str(r)
                        && re.is_match(v)
                    {
                        batch
                            .item(table.owner(r))
                            .set_attribute(table.key(r), "***");
                    }
                }
            }
        }
        Ok(())
    }
}

weir_plugin::export_processor!(Bench);
