//! Turns `[processors.*]` into stages: `builtin:` ones natively, Wasm plugin files through the
//! plugin host. Each plugin file is compiled and initialised once (so a bad plugin or config
//! stops Weir before it listens); every pipeline using it gets its own instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use weir_config::{Config, ProcessorConfig};
use weir_core::telemetry::Telemetry;
use weir_core::{Signal, Stage, blocking};
use weir_pipeline::Noop;
use weir_wasm::{
    BreakerSettings, EngineSettings, Grants, PluginSettings, ProcessorPlugin, ProcessorStage,
    WasmEngine,
};

/// The `builtin:` processors this build has.
const BUILTINS: [&str; 1] = ["builtin:noop"];

/// Processors loaded so far, and the engine, created on first use.
#[derive(Default)]
pub(crate) struct Plugins {
    engine: Option<WasmEngine>,
    loaded: BTreeMap<String, Arc<ProcessorPlugin>>,
}

impl Plugins {
    /// Loads processor `name` (once) so that its problems surface now.
    pub(crate) fn load(
        &mut self,
        config: &Config,
        name: &str,
        p: &ProcessorConfig,
    ) -> anyhow::Result<()> {
        let plugin = p.plugin.get_ref();
        if plugin.starts_with("builtin:") {
            if BUILTINS.contains(&plugin.as_str()) {
                return Ok(());
            }
            let message = format!(
                "unknown built-in plugin {plugin:?} (this build has: {})",
                BUILTINS.join(", ")
            );
            bail!(
                "{}",
                config.diagnostic(
                    p.plugin.span(),
                    format!("processors.{name}.plugin"),
                    message
                )
            );
        }
        if self.loaded.contains_key(name) {
            return Ok(());
        }
        let engine = match &self.engine {
            Some(e) => e.clone(),
            None => {
                let e = WasmEngine::new(&EngineSettings::default())?;
                self.engine = Some(e.clone());
                e
            }
        };
        let path = config.resolve_path(plugin);
        let config_json = serde_json::to_string(&p.config)?;
        let settings = PluginSettings {
            timeout: p.timeout.0,
            memory_limit: p.memory_limit.0,
            grants: Grants {
                clocks: p.grants.clocks,
                env: p
                    .grants
                    .env
                    .iter()
                    .filter_map(|k| Some((k.clone(), std::env::var(k).ok()?)))
                    .collect(),
            },
        };
        // Compiling and running `init` is blocking work, and WASI's synchronous bindings must
        // not run on an async worker.
        let loaded =
            blocking(|| ProcessorPlugin::load(&engine, name, &path, config_json, settings));
        match loaded {
            Ok(plugin) => {
                self.loaded.insert(name.to_string(), Arc::new(plugin));
                Ok(())
            }
            Err(e) => {
                bail!(
                    "{}",
                    config.diagnostic(
                        p.plugin.span(),
                        format!("processors.{name}.plugin"),
                        e.to_string()
                    )
                )
            }
        }
    }

    /// The stage of processor `name` for one pipeline; [`Plugins::load`] must have succeeded.
    pub(crate) fn stage(
        &self,
        name: &str,
        p: &ProcessorConfig,
        pipeline: &str,
        signal: Signal,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Box<dyn Stage>> {
        if p.plugin.get_ref() == "builtin:noop" {
            return Ok(Box::new(Noop::new(name, p.on_error.into())));
        }
        let Some(plugin) = self.loaded.get(name) else {
            bail!("processor {name} was not loaded")
        };
        Ok(Box::new(ProcessorStage::new(
            plugin.clone(),
            signal,
            p.on_error.into(),
            BreakerSettings::default(),
            telemetry.plugin(name, pipeline, signal),
        )))
    }
}
