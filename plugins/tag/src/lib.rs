//! `tag`: sets the configured attributes on every span, data point and log record, and
//! optionally on their resources, and counts what it tagged (`counter="tagged"`).
//! Config: `{"attributes": {"k": "v"}, "resource": {"k": "v"}}`.

use std::collections::BTreeMap;

use weir_plugin::{Batch, Config, Level, Processor};

/// The plugin's config and state.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Attributes set on every item.
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// Attributes set on every resource.
    #[serde(default)]
    resource: BTreeMap<String, String>,
}

impl Processor for Tag {
    fn init(config: Config) -> Result<Self, String> {
        let tag: Tag = config.parse()?;
        if tag.attributes.is_empty() && tag.resource.is_empty() {
            return Err("set at least one of `attributes` or `resource`".into());
        }
        Ok(tag)
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        for (k, v) in &self.attributes {
            batch.set_attribute(Level::Item, k, v);
        }
        for (k, v) in &self.resource {
            batch.set_attribute(Level::Resource, k, v);
        }
        weir_plugin::metrics::counter_add("tagged", "items", u64::from(batch.len()));
        Ok(())
    }
}

weir_plugin::export_processor!(Tag);
