//! Turns `[processors.*]` into stages: `builtin:noop` natively; the embedded first-party
//! plugins (`builtin:redact`, …) and plugin files through the plugin host. Each plugin is
//! compiled and initialised once (so a bad plugin or config stops Weir before it listens);
//! every pipeline using it gets its own instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use weir_config::{Config, PathStep, ProcessorConfig};
use weir_core::telemetry::Telemetry;
use weir_core::{Signal, Stage, blocking};
use weir_pipeline::Noop;
use weir_wasm::{
    BreakerSettings, EngineSettings, Grants, PluginSettings, PluginSlot, ProcessorPlugin,
    ProcessorStage, WasmEngine,
};

use crate::selftest::SelfTest;
use crate::swap::PluginFile;

/// Every `builtin:` processor name this build has.
fn builtin_names() -> Vec<String> {
    std::iter::once("builtin:noop".to_string())
        .chain(
            weir_builtins::ALL
                .iter()
                .map(|b| format!("builtin:{}", b.name)),
        )
        .collect()
}

/// Processors loaded so far, and the engine, created on first use (also what the policy lab
/// loads sampling policies with).
#[derive(Default)]
pub struct Plugins {
    engine: Option<WasmEngine>,
    loaded: BTreeMap<String, Arc<PluginSlot>>,
    /// The processors loaded from files, which a reload can swap.
    files: Vec<PluginFile>,
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
        if plugin == "builtin:noop" {
            return Ok(());
        }
        let builtin = match plugin.strip_prefix("builtin:") {
            None => None,
            Some(b) => match weir_builtins::get(b) {
                Some(b) => Some(b),
                None => {
                    let message = format!(
                        "unknown built-in plugin {plugin:?} (this build has: {})",
                        builtin_names().join(", ")
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
            },
        };
        if self.loaded.contains_key(name) {
            return Ok(());
        }
        let engine = self.engine()?;
        let config_json = serde_json::to_string(&p.config)?;
        let settings = plugin_settings(p.timeout.0, p.memory_limit.0, &p.grants);
        // Compiling and running `init` is blocking work, and WASI's synchronous bindings must
        // not run on an async worker.
        let path = config.resolve_path(plugin);
        // A file is read once: the bytes that run are the bytes a reload compares against.
        let (origin, bytes) = match builtin {
            Some(b) => (plugin.to_string(), Ok(b.wasm.to_vec())),
            None => (
                path.display().to_string(),
                std::fs::read(&path).map_err(|source| weir_wasm::Error::Read {
                    plugin: name.to_string(),
                    path: path.display().to_string(),
                    source,
                }),
            ),
        };
        let loaded = bytes.and_then(|bytes| {
            let plugin = blocking(|| {
                ProcessorPlugin::from_bytes(
                    &engine,
                    name,
                    &origin,
                    &bytes,
                    config_json.clone(),
                    settings.clone(),
                )
            })?;
            Ok((plugin, bytes))
        });
        match loaded {
            Ok((loaded, bytes)) => {
                let loaded = Arc::new(loaded);
                let self_test = SelfTest::of(config, p);
                if let (Some(test), Some(span)) = (&self_test, &p.self_test) {
                    blocking(|| test.run(name, &loaded)).map_err(|why| {
                        anyhow::anyhow!(
                            "{}",
                            config.diagnostic(
                                span.span(),
                                format!("processors.{name}.self_test"),
                                format!("plugin {name} failed its self-test: {why}")
                            )
                        )
                    })?;
                }
                let slot = PluginSlot::new(loaded);
                if builtin.is_none() {
                    self.files.push(PluginFile::new(
                        name,
                        path,
                        &bytes,
                        config_json,
                        settings,
                        self_test,
                        slot.clone(),
                    ));
                }
                self.loaded.insert(name.to_string(), slot);
                Ok(())
            }
            Err(e) => {
                let table = [
                    PathStep::Key("processors"),
                    PathStep::Key(name),
                    PathStep::Key("config"),
                ];
                Err(load_error(config, &table, name, &e, || {
                    config.diagnostic(
                        p.plugin.span(),
                        format!("processors.{name}.plugin"),
                        e.to_string(),
                    )
                }))
            }
        }
    }

    /// The processors for a new config: the engine and the loaded processors that `keep`
    /// accepts (unchanged ones, whose running stages a config reload keeps), nothing else.
    pub(crate) fn carry(&self, keep: impl Fn(&str) -> bool) -> Plugins {
        Plugins {
            engine: self.engine.clone(),
            loaded: self
                .loaded
                .iter()
                .filter(|(name, _)| keep(name))
                .map(|(name, slot)| (name.clone(), slot.clone()))
                .collect(),
            files: Vec::new(),
        }
    }

    /// The processors loaded from files since the last call, for the [`crate::swap::Reloader`].
    pub(crate) fn take_files(&mut self) -> Vec<PluginFile> {
        std::mem::take(&mut self.files)
    }

    /// The wasm engine if anything created it.
    pub(crate) fn loaded_engine(&self) -> Option<WasmEngine> {
        self.engine.clone()
    }

    /// The one wasm engine, created on first use.
    pub(crate) fn engine(&mut self) -> anyhow::Result<WasmEngine> {
        if let Some(e) = &self.engine {
            return Ok(e.clone());
        }
        let e = WasmEngine::new(&EngineSettings::default())?;
        self.engine = Some(e.clone());
        Ok(e)
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
            return Ok(Box::new(Noop::new(name, p.failure_policy())));
        }
        let Some(slot) = self.loaded.get(name) else {
            bail!("processor {name} was not loaded")
        };
        Ok(Box::new(ProcessorStage::swappable(
            slot.clone(),
            signal,
            p.failure_policy(),
            BreakerSettings::default(),
            telemetry.plugin(name, pipeline, signal),
        )))
    }
}

/// A plugin's limits and grants from its config keys.
pub(crate) fn plugin_settings(
    timeout: weir_core::CallBudget,
    memory_limit: u64,
    grants: &weir_config::GrantsConfig,
) -> PluginSettings {
    PluginSettings {
        timeout: timeout.base,
        per_item: timeout.per_item,
        memory_limit,
        grants: Grants {
            clocks: grants.clocks,
            env: grants
                .env
                .iter()
                .filter_map(|k| Some((k.clone(), std::env::var(k).ok()?)))
                .collect(),
        },
    }
}

/// Why plugin `name` failed to load, as a config diagnostic: an `init` that rejected its config
/// points at the key it names in the `config` table at `table`; anything else gets `fallback`
/// (which points at the `plugin` or `type` key).
pub(crate) fn load_error(
    config: &Config,
    table: &[PathStep<'_>],
    name: &str,
    e: &weir_wasm::Error,
    fallback: impl FnOnce() -> weir_config::Diagnostic,
) -> anyhow::Error {
    if let weir_wasm::Error::Init { message, .. } = e
        && let Some(rejected) = message.strip_prefix("init rejected its config: ")
        && let Some(d) = config_diagnostic(config, table, name, rejected)
    {
        return anyhow::anyhow!("{d}");
    }
    anyhow::anyhow!("{}", fallback())
}

/// Renders config path steps as a key: `samplers.tail.policies[0].config`.
pub(crate) fn key_of(steps: &[PathStep<'_>]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            PathStep::Key(k) if out.is_empty() => out.push_str(k),
            PathStep::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Points a plugin's complaint about its config at the line that holds the value: an `init`
/// message `detectors[1]: unknown detector …` (first-party plugins write them so) becomes
/// `weir.toml:L:C: processors.<name>.config.detectors[1]: plugin <name> rejected its config:
/// unknown detector …`. `table` is the path of the plugin's `config` table. When the path is
/// not in the file (a missing key, or a message that does not start with a path) it points at
/// the `config` table with the whole message. `None` if there is no `config` table to point
/// into.
pub(crate) fn config_diagnostic(
    config: &Config,
    table: &[PathStep<'_>],
    name: &str,
    rejected: &str,
) -> Option<weir_config::Diagnostic> {
    let key = key_of(table);
    if let Some((path, rest)) = rejected.split_once(": ")
        && let Some(steps) = parse_path(path)
    {
        let full: Vec<PathStep<'_>> = table.iter().copied().chain(steps).collect();
        if let Some((span, found)) = config.locate(&full)
            && found == full.len()
        {
            return Some(config.diagnostic(
                span,
                format!("{key}.{path}"),
                format!("plugin {name} rejected its config: {rest}"),
            ));
        }
    }
    let (span, found) = config.locate(table)?;
    (found == table.len()).then(|| {
        config.diagnostic(
            span,
            key,
            format!("plugin {name} rejected its config: {rejected}"),
        )
    })
}

/// `a.b[2].c` as path steps; `None` unless the whole text is such a path.
fn parse_path(path: &str) -> Option<Vec<PathStep<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut indices) = part.split_once('[').map_or((part, ""), |(k, i)| (k, i));
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_ok {
            return None;
        }
        steps.push(PathStep::Key(key));
        while !indices.is_empty() {
            let (index, after) = indices.split_once(']')?;
            steps.push(PathStep::Index(index.parse().ok()?));
            indices = match after {
                "" => "",
                a => a.strip_prefix('[')?,
            };
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_paths_parse_into_steps() {
        use PathStep::{Index, Key};
        assert_eq!(
            parse_path("actions[0].patterns[12].regex"),
            Some(vec![
                Key("actions"),
                Index(0),
                Key("patterns"),
                Index(12),
                Key("regex")
            ])
        );
        assert_eq!(parse_path("percent"), Some(vec![Key("percent")]));
        assert_eq!(parse_path("invalid config"), None);
        assert_eq!(parse_path("a[x]"), None);
        assert_eq!(parse_path("a[1"), None);
    }
}
