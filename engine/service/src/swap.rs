//! Swapping a processor's plugin in place: when a reload's [`crate::Plan`] says
//! [`crate::Action::Swap`] (same config, the plugin file changed), the new version is compiled
//! and initialised (off the async workers), self-tested, then swapped in through its
//! [`PluginSlot`]: each pipeline stage picks the new version up at its next batch, and batches
//! in flight finish on the old one. If anything fails (not a component, another WIT
//! version, `init` rejects the config, a trap) the old version keeps running, and the failure is
//! logged, counted in `weir_reloads_total{what="plugin",outcome="failed"}` and reported.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use weir_core::telemetry::Telemetry;
use weir_wasm::{PluginSettings, PluginSlot, ProcessorPlugin, WasmEngine};

use crate::selftest::SelfTest;

/// A processor loaded from a file, as a reload needs it.
pub(crate) struct PluginFile {
    name: String,
    path: PathBuf,
    config_json: String,
    settings: PluginSettings,
    /// Run on every new version before it is swapped in.
    self_test: Option<SelfTest>,
    slot: Arc<PluginSlot>,
    /// The content in force.
    hash: u64,
    loaded_at: SystemTime,
}

use crate::desired::content_hash;

impl PluginFile {
    /// A processor just loaded from `bytes` at `path` into `slot`.
    pub(crate) fn new(
        name: &str,
        path: PathBuf,
        bytes: &[u8],
        config_json: String,
        settings: PluginSettings,
        self_test: Option<SelfTest>,
        slot: Arc<PluginSlot>,
    ) -> PluginFile {
        PluginFile {
            name: name.to_string(),
            path,
            config_json,
            settings,
            self_test,
            slot,
            hash: content_hash(bytes),
            loaded_at: SystemTime::now(),
        }
    }
}

/// What a reload did to one processor.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    processor: String,
    file: String,
    /// `applied`, `unchanged` or `failed`.
    outcome: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The version in force afterwards (a hash of the file's content).
    version: String,
    /// How many times this processor has been swapped.
    generation: u64,
}

impl Outcome {
    /// Whether the new version was refused (the old one keeps running).
    pub(crate) fn failed(&self) -> bool {
        self.outcome == "failed"
    }

    /// The processor's name.
    pub(crate) fn processor(&self) -> &str {
        &self.processor
    }
}

/// Reloads the processors loaded from files; one reload runs at a time.
#[derive(Default)]
pub(crate) struct Reloader {
    /// The engine they were compiled with (None while there are none) and the files.
    state: tokio::sync::Mutex<(Option<WasmEngine>, Vec<PluginFile>)>,
}

impl Reloader {
    /// Follows a config reload: keeps the files of the processors `keep` accepts (unchanged
    /// ones), forgets the rest, and adds the processors loaded from files for the new config.
    pub(crate) async fn update(
        &self,
        engine: Option<WasmEngine>,
        keep: impl Fn(&str) -> bool,
        add: Vec<PluginFile>,
    ) {
        let mut state = self.state.lock().await;
        if engine.is_some() {
            state.0 = engine;
        }
        state.1.retain(|f| keep(&f.name));
        state.1.extend(add);
    }

    /// Whether any processor was loaded from a file.
    pub(crate) async fn has_files(&self) -> bool {
        !self.state.lock().await.1.is_empty()
    }

    /// Swaps in the new version of each processor in `names` (whose files changed), and says
    /// for every processor loaded from a file what became of it.
    pub(crate) async fn swap(
        &self,
        names: &BTreeSet<String>,
        telemetry: &Telemetry,
    ) -> Vec<Outcome> {
        let mut state = self.state.lock().await;
        let (engine, files) = &mut *state;
        let mut out = Vec::with_capacity(files.len());
        for f in files.iter_mut() {
            let outcome = if names.contains(&f.name) {
                reload_one(engine.clone(), f).await
            } else {
                unchanged(f)
            };
            match outcome.outcome {
                "applied" => {
                    telemetry.reload("plugin", "applied");
                    tracing::info!(processor = %f.name, file = %f.path.display(), version = %outcome.version, generation = outcome.generation, "plugin reloaded");
                }
                "failed" => {
                    telemetry.reload("plugin", "failed");
                    tracing::error!(processor = %f.name, file = %f.path.display(), error = outcome.error.as_deref().unwrap_or(""), "plugin not reloaded; the previous version keeps running");
                }
                _ => {}
            }
            out.push(outcome);
        }
        out
    }
}

/// The report of a processor whose file did not change.
fn unchanged(f: &PluginFile) -> Outcome {
    Outcome {
        processor: f.name.clone(),
        file: f.path.display().to_string(),
        outcome: "unchanged",
        error: None,
        version: format!("{:016x}", f.hash),
        generation: f.slot.generation(),
    }
}

/// Reloads one processor if its file changed.
async fn reload_one(engine: Option<WasmEngine>, f: &mut PluginFile) -> Outcome {
    let report = |f: &PluginFile, outcome, error| Outcome {
        processor: f.name.clone(),
        file: f.path.display().to_string(),
        outcome,
        error,
        version: format!("{:016x}", f.hash),
        generation: f.slot.generation(),
    };
    let bytes = match tokio::fs::read(&f.path).await {
        Ok(b) => b,
        Err(e) => return report(f, "failed", Some(format!("cannot read it: {e}"))),
    };
    let hash = content_hash(&bytes);
    if hash == f.hash {
        return report(f, "unchanged", None);
    }
    let Some(engine) = engine else {
        return report(f, "failed", Some("no plugin engine".into()));
    };
    let (name, origin) = (f.name.clone(), f.path.display().to_string());
    let (config, settings) = (f.config_json.clone(), f.settings.clone());
    let self_test = f.self_test.clone();
    // Compiling, `init` and the self-test are blocking work (see plugins.rs).
    let loaded = tokio::task::spawn_blocking(move || {
        let plugin = ProcessorPlugin::from_bytes(&engine, &name, &origin, &bytes, config, settings)
            .map_err(|e| e.to_string())?;
        let plugin = Arc::new(plugin);
        if let Some(test) = self_test {
            test.run(&name, &plugin)
                .map_err(|why| format!("the new version failed its self-test: {why}"))?;
        }
        Ok::<_, String>(plugin)
    })
    .await;
    match loaded {
        Ok(Ok(plugin)) => {
            // A version that stops handling a signal would let that signal's batches pass
            // unprocessed (for a redaction plugin: leak); that takes a restart.
            let (_, old) = f.slot.current();
            let dropped: Vec<&str> = old
                .signals()
                .iter()
                .filter(|s| !plugin.signals().contains(s))
                .map(|s| s.as_str())
                .collect();
            if !dropped.is_empty() {
                let why = format!(
                    "the new version no longer handles {}, which the running one does; restart Weir to change what a processor handles",
                    dropped.join(", ")
                );
                return report(f, "failed", Some(why));
            }
            f.slot.replace(plugin);
            f.hash = hash;
            f.loaded_at = SystemTime::now();
            report(f, "applied", None)
        }
        Ok(Err(e)) => report(f, "failed", Some(e)),
        Err(e) => report(f, "failed", Some(format!("the load task failed: {e}"))),
    }
}

impl Reloader {
    /// The versions in force: processor, file, version, generation, load time.
    pub(crate) async fn versions(&self) -> serde_json::Value {
        let state = self.state.lock().await;
        serde_json::Value::Array(
            state
                .1
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "processor": f.name,
                        "file": f.path.display().to_string(),
                        "version": format!("{:016x}", f.hash),
                        "generation": f.slot.generation(),
                        "loaded_at_unix_seconds": f.loaded_at
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs()),
                    })
                })
                .collect(),
        )
    }
}
