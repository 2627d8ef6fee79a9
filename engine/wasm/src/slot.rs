//! The version of a processor plugin in force, shared by every pipeline stage that runs it, so
//! that a reload can swap it between batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::ProcessorPlugin;

/// Holds the plugin in force and a generation number that changes with every swap. A stage
/// checks the generation before each batch and picks up a new version then, so a batch is
/// processed wholly by one version, and the batches in flight finish on the one they started
/// with.
pub struct PluginSlot {
    generation: AtomicU64,
    current: RwLock<Arc<ProcessorPlugin>>,
}

impl PluginSlot {
    /// A slot holding `plugin` (generation 0).
    pub fn new(plugin: Arc<ProcessorPlugin>) -> Arc<PluginSlot> {
        Arc::new(PluginSlot {
            generation: AtomicU64::new(0),
            current: RwLock::new(plugin),
        })
    }

    /// The generation in force; cheap enough to read before every batch.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The plugin in force and its generation.
    pub fn current(&self) -> (u64, Arc<ProcessorPlugin>) {
        let plugin = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (self.generation(), plugin.clone())
    }

    /// Puts `plugin` in force from every stage's next batch; returns the new generation.
    pub fn replace(&self, plugin: Arc<ProcessorPlugin>) -> u64 {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = plugin;
        // Bumped while the write lock is held, so a reader that sees the new generation gets
        // the new plugin.
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}
