//! How much linear memory the live instances of each plugin hold: the memory accounting of
//! `[service] memory_limit` counts it beside the telemetry queued in pipelines and exporters.
//! Each instance's store carries a [`MemoryShare`] that follows its memory grows and gives its
//! bytes back when the store is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Bytes of linear memory by plugin name, over every live instance in this process.
static LIVE: LazyLock<Mutex<BTreeMap<Arc<str>, u64>>> = LazyLock::new(Mutex::default);

/// The linear memory the live instances of each plugin hold, in bytes, by plugin name (every
/// plugin that had an instance, 0 once all are gone).
pub fn plugin_memory() -> Vec<(String, u64)> {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

/// One instance's part of [`plugin_memory`].
#[derive(Debug)]
pub(crate) struct MemoryShare {
    plugin: Arc<str>,
    bytes: u64,
}

impl MemoryShare {
    pub(crate) fn new(plugin: Arc<str>) -> MemoryShare {
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(plugin.clone())
            .or_insert(0);
        MemoryShare { plugin, bytes: 0 }
    }

    /// A memory of the instance grew from `current` to `desired` bytes.
    pub(crate) fn grew(&mut self, current: usize, desired: usize) {
        let more = u64::try_from(desired.saturating_sub(current)).unwrap_or(u64::MAX);
        self.bytes = self.bytes.saturating_add(more);
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let total = live.entry(self.plugin.clone()).or_insert(0);
        *total = total.saturating_add(more);
    }
}

impl Drop for MemoryShare {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(total) = live.get_mut(&self.plugin) {
            *total = total.saturating_sub(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(name: &str) -> u64 {
        plugin_memory()
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(u64::MAX, |(_, b)| b)
    }

    #[test]
    fn shares_add_up_by_plugin_and_leave_with_their_instance() {
        let mut a = MemoryShare::new("mem-test-a".into());
        let mut b = MemoryShare::new("mem-test-a".into());
        a.grew(0, 65_536);
        b.grew(0, 65_536);
        b.grew(65_536, 196_608);
        assert_eq!(of("mem-test-a"), 262_144);
        drop(b);
        assert_eq!(of("mem-test-a"), 65_536);
        drop(a);
        assert_eq!(of("mem-test-a"), 0);
    }
}
