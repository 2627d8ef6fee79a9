//! Plugin reloads. On SIGHUP, `POST /-/reload` or (with `[service] watch_plugins`) a change to
//! a plugin file, every processor loaded from a file whose
//! content changed is compiled and initialised again (off the async workers), then swapped in
//! through its [`PluginSlot`]: each pipeline stage picks the new version up at its next batch,
//! and batches in flight finish on the old one. If anything fails (not a component, another WIT
//! version, `init` rejects the config, a trap) the old version keeps running, and the failure is
//! logged, counted in `weir_reloads_total{what="plugin",outcome="failed"}` and reported.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use weir_core::telemetry::Telemetry;
use weir_wasm::{PluginSettings, PluginSlot, ProcessorPlugin, WasmEngine};

/// A processor loaded from a file, as a reload needs it.
pub(crate) struct PluginFile {
    name: String,
    path: PathBuf,
    config_json: String,
    settings: PluginSettings,
    slot: Arc<PluginSlot>,
    /// The content in force.
    hash: u64,
    loaded_at: SystemTime,
}

/// What identifies a file's content without reading it: size and modification time, and on
/// Unix the inode and change time, so that a file renamed into place with the same size and a
/// preserved modification time (`cp -p`, `rsync -a`, reproducible builds) still counts as new.
fn identity(m: &std::fs::Metadata) -> (u64, Option<SystemTime>, u64, i64, i64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            m.len(),
            m.modified().ok(),
            m.ino(),
            m.ctime(),
            m.ctime_nsec(),
        )
    }
    #[cfg(not(unix))]
    (m.len(), m.modified().ok(), 0, 0, 0)
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl PluginFile {
    /// A processor just loaded from `bytes` at `path` into `slot`.
    pub(crate) fn new(
        name: &str,
        path: PathBuf,
        bytes: &[u8],
        config_json: String,
        settings: PluginSettings,
        slot: Arc<PluginSlot>,
    ) -> PluginFile {
        PluginFile {
            name: name.to_string(),
            path,
            config_json,
            settings,
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

/// Reloads the processors loaded from files; one reload runs at a time.
pub(crate) struct Reloader {
    engine: Option<WasmEngine>,
    files: tokio::sync::Mutex<Vec<PluginFile>>,
}

impl Reloader {
    /// A reloader for `files`, compiled with `engine` (None when there are none).
    pub(crate) fn new(engine: Option<WasmEngine>, files: Vec<PluginFile>) -> Reloader {
        Reloader {
            engine,
            files: tokio::sync::Mutex::new(files),
        }
    }

    /// Checks the plugin files every `interval` until `shutdown` and reloads when one changed:
    /// a file whose size or modification time differs from the last check is left for one more
    /// interval (a copy may still be writing it), and reloaded once it holds still.
    pub(crate) async fn watch(
        self: Arc<Self>,
        interval: std::time::Duration,
        telemetry: Telemetry,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let paths: Vec<PathBuf> = self
            .files
            .lock()
            .await
            .iter()
            .map(|f| f.path.clone())
            .collect();
        let stat = |p: &PathBuf| std::fs::metadata(p).ok().map(|m| identity(&m));
        let mut seen: Vec<_> = paths.iter().map(stat).collect();
        let mut settling = false;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // Shutdown: stop watching.
                () = shutdown.cancelled() => return,
                // Time to look at the files.
                _ = tick.tick() => {}
            }
            let now: Vec<_> = paths.iter().map(stat).collect();
            if now != seen {
                seen = now;
                settling = true;
            } else if settling {
                settling = false;
                tokio::select! {
                    // Shutdown: a reload in progress is abandoned (the old version stays).
                    () = shutdown.cancelled() => return,
                    // The reload ran; its outcomes are logged and counted.
                    _ = self.reload(&telemetry) => {}
                }
            }
        }
    }

    /// Whether any processor was loaded from a file.
    pub(crate) async fn has_files(&self) -> bool {
        !self.files.lock().await.is_empty()
    }

    /// Checks every plugin file and swaps in those that changed and load.
    pub(crate) async fn reload(&self, telemetry: &Telemetry) -> Vec<Outcome> {
        let mut files = self.files.lock().await;
        let mut out = Vec::with_capacity(files.len());
        for f in files.iter_mut() {
            let outcome = self.reload_one(f).await;
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

    async fn reload_one(&self, f: &mut PluginFile) -> Outcome {
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
        let Some(engine) = self.engine.clone() else {
            return report(f, "failed", Some("no plugin engine".into()));
        };
        let (name, origin) = (f.name.clone(), f.path.display().to_string());
        let (config, settings) = (f.config_json.clone(), f.settings.clone());
        // Compiling and `init` are blocking work (see plugins.rs).
        let loaded = tokio::task::spawn_blocking(move || {
            ProcessorPlugin::from_bytes(&engine, &name, &origin, &bytes, config, settings)
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
                f.slot.replace(Arc::new(plugin));
                f.hash = hash;
                f.loaded_at = SystemTime::now();
                report(f, "applied", None)
            }
            Ok(Err(e)) => report(f, "failed", Some(e.to_string())),
            Err(e) => report(f, "failed", Some(format!("the load task failed: {e}"))),
        }
    }

    /// The versions in force: processor, file, version, generation, load time.
    pub(crate) async fn versions(&self) -> serde_json::Value {
        let files = self.files.lock().await;
        serde_json::Value::Array(
            files
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

/// The admin listener's view of the reloader.
pub(crate) struct AdminReloads {
    /// The reloader.
    pub(crate) reloader: Arc<Reloader>,
    /// Where reloads are counted.
    pub(crate) telemetry: Telemetry,
}

impl weir_admin::Reloads for AdminReloads {
    fn reload(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(async move {
            let outcomes = self.reloader.reload(&self.telemetry).await;
            serde_json::json!({ "plugins": outcomes })
        })
    }

    fn versions(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(async move { serde_json::json!({ "plugins": self.reloader.versions().await }) })
    }
}
