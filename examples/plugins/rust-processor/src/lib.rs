//! env-mask: a Weir processor. It tags every span, data point and log record with
//! `deployment.environment` from its config, and masks the `user.email` attribute as `***`,
//! counting the masked values in the plugin counter `masked{label="user.email"}`.
//!
//! Config: `{ environment = "production" }`.

use weir_plugin::{Batch, Config, Level, Processor, metrics};

/// The processor's config.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Plugin {
    /// The value of `deployment.environment`.
    environment: String,
}

impl Processor for Plugin {
    fn init(config: Config) -> Result<Self, String> {
        let p: Plugin = config.parse()?;
        if p.environment.is_empty() {
            // Start errors with the key at fault: Weir points at its line in the config.
            return Err("environment: must not be empty".into());
        }
        Ok(p)
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        // One call each way: read the `user.email` column, then write the masked rows.
        let emails = batch.attribute(Level::Item, "user.email");
        let owners: Vec<u32> = (0..batch.len())
            .filter(|&i| emails.get(i as usize).is_some())
            .collect();
        batch.set_attribute(Level::Item, "deployment.environment", self.environment.as_str());
        if !owners.is_empty() {
            batch.set_attribute_on(Level::Item, "user.email", "***", &owners);
            metrics::counter_add("masked", "user.email", owners.len() as u64);
        }
        Ok(())
    }
}

weir_plugin::export_processor!(Plugin);
