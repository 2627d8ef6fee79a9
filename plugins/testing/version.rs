// Shared by the `version-*` test plugins (included after `const VERSION: &str`): tags every item
// with `weir.test.version` = VERSION and `weir.test.version.<VERSION>` = true, so the reload
// tests can tell which version processed a batch, and whether two did. VERSION "broken" refuses
// to start; "logs-only" handles logs only.

use weir_plugin::{Batch, Config, Level, Processor, Signal};

/// The plugin (no config).
pub struct Version;

impl Processor for Version {
    fn init(_config: Config) -> Result<Self, String> {
        if VERSION == "broken" {
            return Err("this version refuses to start".into());
        }
        Ok(Version)
    }

    fn signals(&self) -> Vec<Signal> {
        if VERSION == "logs-only" {
            vec![Signal::Logs]
        } else {
            vec![Signal::Traces, Signal::Metrics, Signal::Logs]
        }
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        batch.set_attribute(Level::Item, "weir.test.version", VERSION);
        batch.set_attribute(Level::Item, &format!("weir.test.version.{VERSION}"), true);
        Ok(())
    }
}

weir_plugin::export_processor!(Version);
