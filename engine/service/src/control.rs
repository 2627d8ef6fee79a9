//! Reloads of a running gateway, whatever asked for them (SIGHUP, `POST /-/reload`, a watched
//! config, plugin, policy or certificate file), all by one path: the desired state is made
//! (the config file read again, or the config in force kept, and every file it names hashed),
//! [`crate::plan`] says what differs from the running state, and [`Live::apply`] carries it out
//! (processors whose plugin file changed are swapped in place as part of it). One reload runs
//! at a time; shutdown takes the gateway out of here, after which reloads are refused.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use weir_config::Config;
use weir_core::telemetry::Telemetry;

use crate::apply::{Live, Stopping};
use crate::desired::Desired;
use crate::swap::Reloader;

/// What a reload looks at besides the files the config names (which every reload hashes).
#[derive(Debug, Clone, Copy)]
pub struct What {
    /// Read the config file again (otherwise the config in force stays, and only changed
    /// plugin, policy and certificate files are picked up).
    pub config: bool,
}

impl What {
    /// The config file and every file it names (SIGHUP, `POST /-/reload`).
    pub const EVERYTHING: What = What { config: true };
    /// Only the files the config in force names (a watched plugin file changed).
    pub const FILES: What = What { config: false };
}

/// The running gateway and how to reload it.
pub(crate) struct Control(Arc<Inner>);

struct Inner {
    /// The config file (`None` for the embedded default, which never changes).
    config_path: Option<PathBuf>,
    /// `None` once shutdown began.
    live: tokio::sync::Mutex<Option<Live>>,
    reloader: Arc<Reloader>,
    telemetry: Telemetry,
    /// Counts applied reloads, so the file watcher follows the files in use.
    applied: tokio::sync::watch::Sender<u64>,
    /// The admin listener's TLS files, re-read on every config reload.
    admin_tls: Option<weir_tls::ServerTls>,
}

impl Control {
    /// Takes charge of `live`, started from the file at `config_path`; `admin_tls` is the
    /// admin listener's TLS, whose files a config reload re-reads.
    pub(crate) fn new(
        live: Live,
        config_path: Option<PathBuf>,
        telemetry: &Telemetry,
        admin_tls: Option<weir_tls::ServerTls>,
    ) -> Control {
        if config_path.is_some() {
            telemetry.reloads_watched("config", &["applied", "failed", "unchanged"]);
        }
        Control(Arc::new(Inner {
            config_path,
            reloader: live.reloader(),
            live: tokio::sync::Mutex::new(Some(live)),
            telemetry: telemetry.clone(),
            applied: tokio::sync::watch::Sender::new(0),
            admin_tls,
        }))
    }

    /// The files a watcher should follow: the config file (if any) and every file the running
    /// config names (plugins, policies, exporter certificates).
    pub(crate) async fn files(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        let named = match self.0.live.lock().await.as_ref().and_then(Live::desired) {
            Some(desired) => desired.paths(),
            None => Vec::new(),
        };
        (self.0.config_path.clone(), named)
    }

    /// Changes after every applied reload (whatever asked for it).
    pub(crate) fn applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.applied.subscribe()
    }

    /// Reloads what `what` says, in a task of its own: a caller that goes away (an HTTP client
    /// that hangs up, shutdown) cannot stop a reload halfway. See [`Inner::reload`].
    pub(crate) async fn reload(&self, what: What) -> serde_json::Value {
        let inner = self.0.clone();
        match tokio::spawn(async move { inner.reload(what).await }).await {
            Ok(answer) => answer,
            Err(e) => {
                json!({ "config": { "outcome": "failed", "error": format!("the reload task failed: {e}") } })
            }
        }
    }

    /// Ends reloads (waiting for one in progress) and hands over what shutdown needs, with the
    /// shutdown deadline in force.
    pub(crate) async fn stop(&self) -> Option<(Stopping, Duration)> {
        let live = self.0.live.lock().await.take()?;
        let deadline = live
            .config()
            .map_or(Duration::from_secs(30), |c| c.service.shutdown_timeout.0);
        Some((live.stop(), deadline))
    }
}

impl Inner {
    /// Reloads; the answer (also for `POST /-/reload`) says, for the config, `applied` with
    /// the changes, `unchanged`, `failed` with the error, or `skipped` (the config file was
    /// not read and nothing but plugin versions changed), and for each processor loaded from a
    /// file what became of it (`applied`, `unchanged`, `failed`).
    async fn reload(&self, what: What) -> serde_json::Value {
        let file = self.config_path.as_ref().map(|p| p.display().to_string());
        if what.config
            && let Some(tls) = self.admin_tls.clone()
        {
            // Failures are logged and counted inside; the old certificate stays.
            let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
        }
        let mut live = self.live.lock().await;
        let Some(live) = live.as_mut() else {
            return json!({ "config": { "outcome": "skipped", "reason": "shutting down" }, "plugins": [] });
        };
        if what.config && self.config_path.is_none() {
            return json!({
                "config": {
                    "outcome": "skipped",
                    "reason": "running the embedded default config: there is no file to reload",
                },
                "plugins": [],
            });
        }
        let read_file = what.config;
        let config = match (&self.config_path, read_file) {
            (Some(path), true) => Config::load(path).map_err(anyhow::Error::from),
            _ => live
                .config()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no config in force")),
        };
        let desired = match config {
            Ok(config) => {
                if read_file {
                    for risk in config.data_loss_risks() {
                        tracing::warn!(%risk, "this configuration can lose acknowledged data");
                    }
                }
                tokio::task::spawn_blocking(move || Desired::read(config))
                    .await
                    .map_err(|e| anyhow::anyhow!("reading the files the config names: {e}"))
            }
            Err(e) => Err(e),
        };
        let result = match desired {
            Ok(desired) => live.apply(desired).await,
            Err(e) => Err(e),
        };
        let (config, plugins) = match result {
            Ok(applied) if applied.changes.is_empty() && !read_file => {
                (json!({ "outcome": "skipped" }), applied.swaps)
            }
            Ok(applied) if applied.changes.is_empty() => {
                self.telemetry.reload("config", "unchanged");
                (
                    json!({ "outcome": "unchanged", "file": file }),
                    applied.swaps,
                )
            }
            Ok(applied) => {
                self.telemetry.reload("config", "applied");
                let changes = applied.changes.join(", ");
                tracing::info!(file = file.as_deref().unwrap_or("(embedded)"), %changes, "config reloaded");
                let answer =
                    json!({ "outcome": "applied", "file": file, "changes": applied.changes });
                (answer, applied.swaps)
            }
            Err(e) => {
                self.telemetry.reload("config", "failed");
                let error = format!("{e:#}");
                tracing::error!(file = file.as_deref().unwrap_or("(embedded)"), error = %error, "config not reloaded; the running config stays in force");
                (
                    json!({ "outcome": "failed", "file": file, "error": error }),
                    Vec::new(),
                )
            }
        };
        self.applied.send_modify(|n| *n += 1);
        json!({ "config": config, "plugins": plugins })
    }
}

impl weir_admin::Reloads for Control {
    fn reload(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(Control::reload(self, What::EVERYTHING))
    }

    fn versions(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(async move { json!({ "plugins": self.0.reloader.versions().await }) })
    }
}
