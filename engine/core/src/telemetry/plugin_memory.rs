//! `weir_plugin_memory_bytes{plugin}`: the linear memory live plugin instances hold. The plugin
//! host keeps the numbers (this crate does not know it); the service hands its reader to
//! [`super::Telemetry::plugin_memory_source`], and every render reads it afresh.

use std::sync::{Arc, OnceLock};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Labels;

/// Reads the bytes by plugin name.
pub type Source = fn() -> Vec<(String, u64)>;

/// The family and where its values come from.
#[derive(Clone, Default)]
pub(super) struct PluginMemory {
    bytes: Family<Labels, Gauge>,
    source: Arc<OnceLock<Source>>,
}

impl PluginMemory {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "plugin_memory_bytes",
            "Linear memory of a plugin's live instances, in bytes (part of what memory_limit guards)",
            self.bytes.clone(),
        );
    }

    /// Sets every gauge from the source, if one was given.
    pub(super) fn refresh(&self) {
        if let Some(read) = self.source.get() {
            for (plugin, bytes) in read() {
                self.bytes
                    .get_or_create(&vec![("plugin", plugin)])
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
    }
}

impl super::Telemetry {
    /// Where `weir_plugin_memory_bytes` comes from (the plugin host's accounting); the first
    /// source given stays.
    pub fn plugin_memory_source(&self, source: Source) {
        let _ = self.plugin_memory.source.set(source);
    }
}
