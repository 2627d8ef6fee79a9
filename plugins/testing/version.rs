// Shared by the `version-*` test plugins (included after `const VERSION: &str`): tags every item
// with `weir.test.version` = VERSION, so the reload tests can tell which version processed a
// batch. VERSION "broken" refuses to start.

use weir_plugin::{Batch, Config, Level, Processor};

/// The plugin (no config).
pub struct Version;

impl Processor for Version {
    fn init(_config: Config) -> Result<Self, String> {
        if VERSION == "broken" {
            return Err("this version refuses to start".into());
        }
        Ok(Version)
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        batch.set_attribute(Level::Item, "weir.test.version", VERSION);
        Ok(())
    }
}

weir_plugin::export_processor!(Version);
