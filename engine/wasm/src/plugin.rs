//! Loading a plugin file: checks that say precisely what is wrong with it, compilation (through
//! the engine's cache), the import policy, and pre-instantiation so that each worker can get a
//! fresh instance in microseconds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use weir_core::Signal;

use crate::bindings::{Processor, ProcessorPre};
use crate::contract::World;
use crate::engine::{MAX_PLUGIN_MEMORY, WasmEngine};
use crate::host::PluginState;
use crate::sandbox::{self, Grants, Limiter, OutputTail};
use crate::{Error, Result};

/// Per-plugin limits and grants, from its config.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// Wall-clock budget of one call (`init`, or the fixed part of `process`/`evaluate`).
    pub timeout: Duration,
    /// Added to `timeout` for each item of the batch a `process` or `evaluate` call gets, so
    /// that the deadline follows the work ([`weir_core::CallBudget`]). Zero in
    /// `PluginSettings::default()` (a fixed deadline, for tools and tests); configs get 50 µs.
    pub per_item: Duration,
    /// Linear memory cap of one instance, in bytes.
    pub memory_limit: u64,
    /// Capabilities beyond the default sandbox.
    pub grants: Grants,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            timeout: Duration::from_millis(100),
            per_item: Duration::ZERO,
            memory_limit: 64 << 20,
            grants: Grants::default(),
        }
    }
}

/// A compiled, checked processor plugin, ready to instantiate. Shared by every pipeline that
/// uses it; each pipeline's stage owns its own instance.
pub struct ProcessorPlugin {
    pub(crate) name: Arc<str>,
    pub(crate) pre: ProcessorPre<PluginState>,
    pub(crate) engine: WasmEngine,
    pub(crate) settings: PluginSettings,
    pub(crate) config_json: String,
    signals: Vec<Signal>,
}

impl std::fmt::Debug for ProcessorPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorPlugin")
            .field("name", &self.name)
            .field("signals", &self.signals)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A live instance: its store and the typed exports.
pub(crate) struct Instance {
    pub(crate) store: Store<PluginState>,
    pub(crate) exports: Processor,
}

/// The first bytes of a core module and of a component (magic, then version and layer).
const CORE_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";
const COMPONENT_MAGIC: [u8; 4] = *b"\0asm";

impl ProcessorPlugin {
    /// Reads, checks and compiles the component at `path` for the plugin called `name`, then
    /// instantiates it once to run `init(config_json)` so that a bad config or a failing init
    /// stops Weir from starting.
    pub fn load(
        engine: &WasmEngine,
        name: &str,
        path: &Path,
        config_json: String,
        settings: PluginSettings,
    ) -> Result<ProcessorPlugin> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            plugin: name.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(
            engine,
            name,
            &path.display().to_string(),
            &bytes,
            config_json,
            settings,
        )
    }

    /// Like [`ProcessorPlugin::load`] for a component already in memory; `origin` names it in
    /// errors.
    pub fn from_bytes(
        engine: &WasmEngine,
        name: &str,
        origin: &str,
        bytes: &[u8],
        config_json: String,
        settings: PluginSettings,
    ) -> Result<ProcessorPlugin> {
        let pre = prepare(
            engine,
            (name, origin, bytes),
            &settings,
            World::Processor,
            ProcessorPre::new,
        )?;
        let mut plugin = ProcessorPlugin {
            name: name.into(),
            pre,
            engine: engine.clone(),
            settings,
            config_json,
            signals: Vec::new(),
        };
        let mut instance = plugin.instantiate().map_err(|e| Error::Init {
            plugin: name.to_string(),
            message: e.to_string(),
        })?;
        let signals = instance
            .exports
            .call_signals(&mut instance.store)
            .map_err(|e| Error::Init {
                plugin: name.to_string(),
                message: format!("signals() failed: {e}"),
            })?;
        plugin.signals = signals.into_iter().map(Signal::from).collect();
        Ok(plugin)
    }

    /// The plugin's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signals the plugin handles (its answer to `signals()`).
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// A fresh instance with `init` already run.
    pub(crate) fn instantiate(&self) -> std::result::Result<Instance, crate::CallError> {
        let (store, exports) = start_instance(
            (&self.engine, &self.name, &self.settings, &self.config_json),
            |_| {},
            |store| self.pre.instantiate(store),
            |exports, store, config| exports.call_init(store, config),
        )?;
        Ok(Instance { store, exports })
    }
}

/// The checks every plugin kind shares: the file is a component (not a core module), within the
/// memory cap, exports what `world` needs and imports nothing the sandbox refuses. Returns it
/// compiled and pre-instantiated with Weir's imports and WASI, typed for its world by `typed`.
pub(crate) fn prepare<P>(
    engine: &WasmEngine,
    (name, origin, bytes): (&str, &str, &[u8]),
    settings: &PluginSettings,
    world: World,
    typed: impl FnOnce(InstancePre<PluginState>) -> wasmtime::Result<P>,
) -> Result<P> {
    let bad = |message: String| Error::Plugin {
        plugin: name.to_string(),
        origin: origin.to_string(),
        message,
    };
    if bytes.get(..4) != Some(&COMPONENT_MAGIC[..]) {
        return Err(bad(
            "not a WebAssembly file (it does not start with \\0asm)".into(),
        ));
    }
    if bytes.get(..8) == Some(&CORE_HEADER[..]) {
        return Err(bad(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 \
             (or wrap it with `wasm-tools component new`)"
                .into(),
        ));
    }
    check_memory(settings).map_err(bad)?;
    let component = Component::new(engine.engine(), bytes)
        .map_err(|e| bad(format!("cannot compile: {e:#}")))?;
    let exports: Vec<String> = component
        .component_type()
        .exports(engine.engine())
        .map(|(n, _)| n.to_string())
        .collect();
    for export in world.exports() {
        if !exports.iter().any(|e| e == export) {
            return Err(bad(format!(
                "not a weir:plugin {}: it does not export `{export}` (it exports: {}); \
                 build it against the `{}` world of wit/",
                world.name(),
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                },
                world.name()
            )));
        }
    }
    let http = world == World::Exporter;
    let refused = sandbox::refused_imports(&component, world);
    if let Some((import, why)) = refused.first() {
        return Err(bad(format!("imports `{import}`: {why}")));
    }
    let mut linker: Linker<PluginState> = Linker::new(engine.engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .and_then(|()| crate::lazy_io::shadow(&mut linker))
        .map_err(|e| Error::Engine(e.to_string()))?;
    if http {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| Error::Engine(e.to_string()))?;
    }
    // Every world imports the same interfaces, so the processor world's linker covers them all.
    Processor::add_to_linker::<_, wasmtime::component::HasSelf<PluginState>>(&mut linker, |s| s)
        .map_err(|e| Error::Engine(e.to_string()))?;
    linker
        .instantiate_pre(&component)
        .and_then(typed)
        .map_err(|e| {
            bad(format!(
                "does not match the weir:plugin {} world: {e:#}",
                world.name()
            ))
        })
}

/// Checks the memory cap a plugin's config asks for.
pub(crate) fn check_memory(settings: &PluginSettings) -> std::result::Result<(), String> {
    if settings.memory_limit > MAX_PLUGIN_MEMORY {
        return Err(format!(
            "memory_limit may be at most {} MiB",
            MAX_PLUGIN_MEMORY >> 20
        ));
    }
    Ok(())
}

/// Starts one instance of any plugin kind: a fresh store (sandbox, memory cap), `setup` for
/// what the kind adds to it, instantiation, then `init(config)` under the call deadline. The
/// kinds differ only in their typed pre-instance (`instantiate`) and exports (`init`).
pub(crate) fn start_instance<E>(
    (engine, name, settings, config): (&WasmEngine, &Arc<str>, &PluginSettings, &str),
    setup: impl FnOnce(&mut PluginState),
    instantiate: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<E>,
    init: impl FnOnce(
        &E,
        &mut Store<PluginState>,
        &str,
    ) -> wasmtime::Result<std::result::Result<(), String>>,
) -> std::result::Result<(Store<PluginState>, E), crate::CallError> {
    use crate::CallError;
    let mut store = new_store(engine, name, settings);
    setup(store.data_mut());
    let timeout = settings.timeout;
    let exports = instantiate(&mut store)
        .map_err(|e| CallError::classify("instantiate", &mut store, &e, timeout))?;
    store.set_epoch_deadline(crate::engine::deadline_ticks(timeout));
    match init(&exports, &mut store, config) {
        Ok(Ok(())) => Ok((store, exports)),
        Ok(Err(message)) => Err(CallError::Rejected(format!(
            "init rejected its config: {message}"
        ))),
        Err(e) => Err(CallError::classify("init", &mut store, &e, timeout)),
    }
}

/// A fresh store for one instance of plugin `name`: its sandbox, memory cap and call deadline.
pub(crate) fn new_store(
    engine: &WasmEngine,
    name: &Arc<str>,
    settings: &PluginSettings,
) -> Store<PluginState> {
    let stdout = OutputTail::new(name.clone(), "stdout");
    let stderr = OutputTail::new(name.clone(), "stderr");
    let state = PluginState {
        name: name.clone(),
        session: None,
        wasi: sandbox::wasi_ctx(&settings.grants, stdout, stderr.clone()),
        table: ResourceTable::new(),
        limiter: Limiter::new(
            name.clone(),
            usize::try_from(settings.memory_limit).unwrap_or(usize::MAX),
        ),
        stderr,
        counts: Vec::new(),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        allow: crate::exporter::AllowList::default(),
        matchers: Vec::new(),
    };
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(crate::engine::deadline_ticks(settings.timeout));
    store
}
