//! Reloads of a running gateway, whatever asked for them (SIGHUP, `POST /-/reload`, a watched
//! file): the config file is read and validated and the difference applied ([`Live::apply`]),
//! then plugin files whose content changed are swapped ([`Reloader::reload`]). One reload runs
//! at a time; shutdown takes the gateway out of here, after which reloads are refused.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use weir_config::Config;
use weir_core::telemetry::Telemetry;

use crate::live::{Live, Stopping};
use crate::reload::Reloader;

/// What a reload looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct What {
    /// Read the config file again.
    pub config: bool,
    /// Check the plugin files.
    pub plugins: bool,
}

/// The files a running gateway depends on.
pub(crate) struct Files {
    /// The config file.
    pub config: Option<PathBuf>,
    /// Processor plugin files (a plugin reload swaps them).
    pub processors: Vec<PathBuf>,
    /// Sampling policy files (a config reload rebuilds their samplers).
    pub policies: Vec<PathBuf>,
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
    /// Counts applied config reloads, so the file watcher follows the files in use.
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

    /// The files a watcher should follow: the config file, the processor plugin files and the
    /// sampling policy files in use (a changed policy file takes a config reload).
    pub(crate) async fn files(&self) -> Files {
        let policies = match self.0.live.lock().await.as_ref() {
            Some(live) => live.policy_paths(),
            None => Vec::new(),
        };
        Files {
            config: self.0.config_path.clone(),
            processors: self.0.reloader.paths().await,
            policies,
        }
    }

    /// Changes after every applied config reload (whatever asked for it).
    pub(crate) fn applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.applied.subscribe()
    }

    /// Reloads what `what` says, in a task of its own: a caller that goes away (an HTTP client
    /// that hangs up, shutdown) cannot stop a reload halfway. See [`Inner::reload`].
    pub(crate) async fn reload(&self, what: What) -> serde_json::Value {
        let inner = self.0.clone();
        match tokio::spawn(async move { inner.reload(what).await }).await {
            Ok(answer) => answer,
            Err(e) => json!({ "error": format!("the reload task failed: {e}") }),
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
    /// Reloads what `what` says; the answer (also for `POST /-/reload`) says, for the config,
    /// `applied` with the changes, `unchanged`, `failed` with the error, or `skipped`, and for
    /// each plugin file what happened to it.
    async fn reload(&self, what: What) -> serde_json::Value {
        let config = if what.config {
            self.reload_config().await
        } else {
            json!({ "outcome": "skipped" })
        };
        let plugins = if what.plugins {
            serde_json::to_value(self.reloader.reload(&self.telemetry).await).unwrap_or_default()
        } else {
            json!([])
        };
        json!({ "config": config, "plugins": plugins })
    }

    async fn reload_config(&self) -> serde_json::Value {
        let Some(path) = &self.config_path else {
            return json!({
                "outcome": "skipped",
                "reason": "running the embedded default config: there is no file to reload",
            });
        };
        if let Some(tls) = self.admin_tls.clone() {
            // Failures are logged and counted inside; the old certificate stays.
            let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
        }
        let mut live = self.live.lock().await;
        let Some(live) = live.as_mut() else {
            return json!({ "outcome": "skipped", "reason": "shutting down" });
        };
        let result = match Config::load(path) {
            Ok(config) => {
                for risk in config.data_loss_risks() {
                    tracing::warn!(%risk, "this configuration can lose acknowledged data");
                }
                live.apply(config).await
            }
            Err(e) => Err(e.into()),
        };
        let file = path.display().to_string();
        match result {
            Ok(changes) if changes.is_empty() => {
                self.telemetry.reload("config", "unchanged");
                json!({ "outcome": "unchanged", "file": file })
            }
            Ok(changes) => {
                self.telemetry.reload("config", "applied");
                tracing::info!(file = %file, changes = %changes.join(", "), "config reloaded");
                self.applied.send_modify(|n| *n += 1);
                json!({ "outcome": "applied", "file": file, "changes": changes })
            }
            Err(e) => {
                self.telemetry.reload("config", "failed");
                let error = format!("{e:#}");
                tracing::error!(file = %file, error = %error, "config not reloaded; the running config stays in force");
                json!({ "outcome": "failed", "file": file, "error": error })
            }
        }
    }
}

impl weir_admin::Reloads for Control {
    fn reload(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(Control::reload(
            self,
            What {
                config: true,
                plugins: true,
            },
        ))
    }

    fn versions(&self) -> weir_admin::JsonFuture<'_> {
        Box::pin(async move { json!({ "plugins": self.0.reloader.versions().await }) })
    }
}
