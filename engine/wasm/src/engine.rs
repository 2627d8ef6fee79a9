//! The one place a wasmtime [`Engine`] is configured: epoch interruption ticked from a plain
//! thread, the pooling allocator, a bounded wasm stack and the on-disk cache of compiled code.
//! Nothing else in Weir constructs an `Engine`.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy,
};

use crate::{Error, Result};

/// How often the ticker thread advances the epoch: the resolution of every plugin deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The largest linear memory any plugin may be given, whatever its `memory_limit` says; the
/// pooling allocator reserves address space for this much per slot.
pub const MAX_PLUGIN_MEMORY: u64 = 1 << 30;

/// The environment variable that makes the engine write `/tmp/perf-<pid>.map`, so that `perf`
/// names the functions of plugins (their JIT-compiled code is otherwise `[unknown]`).
pub const PERFMAP_ENV: &str = "WEIR_WASM_PERFMAP";

/// Process-wide settings of the plugin engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Where compiled plugins are cached, keyed by content hash, wasmtime version and engine
    /// settings. `None` disables the cache (every start compiles again).
    pub cache_dir: Option<PathBuf>,
    /// How many plugin instances may be live at once across the process (pool slots).
    pub max_instances: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            cache_dir: default_cache_dir(),
            max_instances: 256,
        }
    }
}

/// `$XDG_CACHE_HOME/weir/wasm` or `$HOME/.cache/weir/wasm`, if either is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weir").join("wasm"))
}

/// The process's plugin engine. Cloning is cheap and shares the engine and its ticker.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    cache: Option<Cache>,
}

impl WasmEngine {
    /// Builds the engine and starts its epoch ticker, which stops when the last clone is dropped.
    pub fn new(settings: &EngineSettings) -> Result<WasmEngine> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // A plugin gets 512 KiB of wasm stack; deep recursion traps instead of overflowing ours.
        config.max_wasm_stack(512 << 10);
        let perfmap = std::env::var_os(PERFMAP_ENV).is_some_and(|v| v == "1");
        if perfmap {
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(settings.max_instances)
            .total_core_instances(settings.max_instances.saturating_mul(8))
            .total_memories(settings.max_instances.saturating_mul(2))
            .total_tables(settings.max_instances.saturating_mul(4))
            .total_stacks(settings.max_instances)
            .max_memory_size(usize::try_from(MAX_PLUGIN_MEMORY).unwrap_or(usize::MAX))
            // Large interpreted guests (componentize-py bundles CPython) have big instances.
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            .table_elements(100_000);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let cache = match &settings.cache_dir {
            Some(dir) => {
                let mut cc = CacheConfig::new();
                cc.with_directory(dir);
                let cache = Cache::new(cc).map_err(|e| {
                    Error::Engine(format!("compiled-plugin cache at {}: {e}", dir.display()))
                })?;
                config.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&config).map_err(|e| {
            let hint = if perfmap {
                format!(" ({PERFMAP_ENV}=1 is set: the perf map goes to /tmp/perf-<pid>.map)")
            } else {
                String::new()
            };
            Error::Engine(format!("{e}{hint}"))
        })?;
        let weak = engine.weak();
        thread::Builder::new()
            .name("weir-wasm-epoch".into())
            .spawn(move || {
                // Ticks until the engine is gone. A plain thread, so that busy async workers can
                // never delay a deadline.
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| Error::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(WasmEngine { engine, cache })
    }

    /// The wasmtime engine, for compiling and instantiating.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many compiled plugins came from the disk cache and how many were compiled.
    pub fn cache_stats(&self) -> Option<(usize, usize)> {
        self.cache
            .as_ref()
            .map(|c| (c.cache_hits(), c.cache_misses()))
    }
}

/// The number of epoch ticks that covers `timeout` (at least one full tick after the call
/// starts).
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    u64::try_from(timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1)
        + 1
}
