//! Starting and stopping the gateway: the admin listener, the gateway built from the config,
//! the memory limiter and the file watcher; at shutdown, refusing new data, draining every
//! queue within the deadline and saying what was dropped. Signals are the binary's business
//! (`weir-cli`); it calls [`Service::reload`] and [`Service::shutdown`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::Config;
use weir_core::telemetry::Telemetry;

use crate::apply::Live;
use crate::control::{Control, What};
use crate::watch::WatchSettings;

/// A running gateway: start it, reload it, shut it down. Shared freely (`&self` everywhere):
/// reloads queue one after another, and shutdown waits for the one in progress.
pub struct Service {
    control: Arc<Control>,
    telemetry: Telemetry,
    /// `/readyz` answers 200 while set.
    ready: Arc<AtomicBool>,
    /// What shutdown stops; taken by the first [`Service::shutdown`].
    parts: tokio::sync::Mutex<Option<Parts>>,
}

/// The tasks around the gateway that shutdown stops.
struct Parts {
    /// Stops the admin listener, the memory limiter and the Jaeger strategies watcher, last.
    admin_shutdown: CancellationToken,
    admin: JoinHandle<()>,
    jaeger_watch: Option<JoinHandle<()>>,
    /// Stops the file watcher, first.
    stop_watching: CancellationToken,
    watch: Option<JoinHandle<()>>,
    log_final_metrics: bool,
}

impl Service {
    /// Starts everything `config` describes (read from `config_path`, or the embedded default
    /// when `None`) and reports ready. A bad config, plugin or file stops here, before
    /// anything listens for data.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Service, crate::Error> {
        Ok(Service::start_inner(config, config_path).await?)
    }

    async fn start_inner(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<Service> {
        let log_final_metrics = config.service.log_final_metrics;
        for risk in config.data_loss_risks() {
            tracing::warn!(%risk, "this configuration can lose acknowledged data");
        }
        let telemetry = Telemetry::new();
        telemetry.plugin_memory_source(weir_wasm::plugin_memory);
        let ready = Arc::new(AtomicBool::new(false));
        match weir_listen::raise_fd_limit() {
            Ok(l) if l.before < l.soft => tracing::info!(
                before = l.before,
                soft = l.soft,
                hard = l.hard,
                "raised the limit on open files (connections) to the hard limit"
            ),
            Ok(l) => tracing::info!(
                soft = l.soft,
                hard = l.hard,
                "limit on open files (connections)"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot read or raise the limit on open files"),
        }
        let admin_listener =
            weir_listen::bind(config.admin.listen.0, config.admin.connections.backlog)
                .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
        let admin_addr = admin_listener.local_addr()?;
        let admin_shutdown = CancellationToken::new();
        let reloads = Arc::new(std::sync::OnceLock::new());
        let jaeger_sampling = crate::jaeger::load(&config)?;
        let jaeger_watch = jaeger_sampling.as_ref().and_then(|store| {
            crate::jaeger::watch(&config, store, &telemetry, admin_shutdown.clone())
        });
        let admin_tls = crate::security::admin(&config, &telemetry)?;
        let admin_tls_on = admin_tls.is_some();
        for w in admin_tls.iter().flat_map(weir_tls::ServerTls::warnings) {
            tracing::warn!("{w}");
        }
        if let Some(t) = &admin_tls {
            t.watch();
        }
        crate::security::warn_exposed(&config);
        let admin = tokio::spawn(weir_admin::serve(
            admin_listener,
            weir_admin::AdminState {
                telemetry: telemetry.clone(),
                ready: ready.clone(),
                jaeger_sampling,
                reloads: reloads.clone(),
                token: config
                    .admin
                    .bearer_token
                    .as_ref()
                    .map(|t| weir_admin::AdminState::hash_token(t.get_ref().trim())),
                token_for_reads: config.admin.token_for_reads(),
            },
            config.admin.connections,
            admin_tls.clone(),
            admin_shutdown.clone(),
        ));
        tracing::info!(component = "admin", address = %admin_addr, scheme = if admin_tls_on { "https" } else { "http" }, "listening");

        let watch_settings = WatchSettings {
            config: config.service.watch_config.0,
            plugins: config.service.watch_plugins.0,
            poll: config.service.watch_poll,
        };
        let started = tokio::time::Instant::now();
        let live = Live::start(config, &telemetry).await?;
        // Stopped with the admin listener, at the very end; limits follow config reloads.
        tokio::spawn(crate::memory::run(
            live.memory_limits(),
            live.memory_gate(),
            telemetry.clone(),
            admin_shutdown.clone(),
        ));
        if let Some((from_cache, compiled)) = live.cache_stats() {
            // Plugins found in the compiled-code cache start in milliseconds instead of seconds.
            tracing::info!(from_cache, compiled, elapsed = ?started.elapsed(), "plugins loaded");
        }
        if live.reloader().has_files().await {
            telemetry.reloads_watched("plugin", &["applied", "failed"]);
        }
        let control = Arc::new(Control::new(live, config_path, &telemetry, admin_tls));
        let stop_watching = CancellationToken::new();
        let watch = watch_settings.any().then(|| {
            tokio::spawn(crate::watch::watch(
                control.clone(),
                watch_settings,
                stop_watching.clone(),
            ))
        });
        let _ = reloads.set(control.clone() as Arc<dyn weir_admin::Reloads>);
        ready.store(true, Ordering::Release);
        tracing::info!("weir is ready");
        Ok(Service {
            control,
            telemetry,
            ready,
            parts: tokio::sync::Mutex::new(Some(Parts {
                admin_shutdown,
                admin,
                jaeger_watch,
                stop_watching,
                watch,
                log_final_metrics,
            })),
        })
    }

    /// Reloads what `what` says (SIGHUP: the config file and every file it names) and says
    /// what happened, as `POST /-/reload` answers.
    pub async fn reload(&self, what: What) -> serde_json::Value {
        self.control.reload(what).await
    }

    /// Drains and stops, because of `reason` (the signal): stops watching files, waits for a
    /// reload in progress, stops receiving (refusing new data), drains pipelines and exporter
    /// queues within `service.shutdown_timeout`, then counts and logs whatever is still held.
    pub async fn shutdown(&self, reason: &str) -> Result<(), crate::Error> {
        Ok(self.shutdown_inner(reason).await?)
    }

    async fn shutdown_inner(&self, signal: &str) -> anyhow::Result<()> {
        let Some(parts) = self.parts.lock().await.take() else {
            anyhow::bail!("the gateway was already stopped");
        };
        let Parts {
            admin_shutdown,
            admin,
            jaeger_watch,
            stop_watching,
            watch,
            log_final_metrics,
        } = parts;
        let (control, telemetry, ready) = (&self.control, &self.telemetry, &self.ready);
        stop_watching.cancel();
        if let Some(w) = watch {
            let _ = w.await;
        }
        // Waits for a reload in progress; from here on the topology no longer changes.
        let Some((topo, deadline)) = control.stop().await else {
            anyhow::bail!("the gateway was already stopped");
        };
        tracing::info!(%signal, ?deadline, "shutting down: refusing new data and draining queues");
        ready.store(false, Ordering::Release);
        topo.closing.store(true, Ordering::Release);
        topo.stop_receivers.cancel();

        let started = tokio::time::Instant::now();
        let tasks = topo.tasks;
        let drain = async {
            join(tasks.receivers).await;
            join(tasks.pipelines).await;
            join(tasks.exporters).await;
        };
        tokio::pin!(drain);
        let drained = tokio::time::timeout(deadline, &mut drain).await.is_ok();
        if !drained {
            tracing::warn!(
                "shutdown deadline passed; dropping what is still queued (counted in weir_exporter_dropped_items_total)"
            );
            topo.abandon.cancel();
            // Exporters now stop at once; give them a moment to count what they drop.
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut drain).await;
        }
        log_shutdown_drops(telemetry);
        if log_final_metrics {
            tracing::info!(metrics = %telemetry.render(), "final metrics");
        }
        tracing::info!(elapsed = ?started.elapsed(), drained, "weir stopped");
        admin_shutdown.cancel();
        let _ = admin.await;
        if let Some(w) = jaeger_watch {
            let _ = w.await;
        }
        Ok(())
    }
}

/// One line with everything dropped at the shutdown deadline (per pipeline and exporter, by
/// signal), so the total is in the log even though the process exits before a scrape.
fn log_shutdown_drops(telemetry: &Telemetry) {
    let drops = telemetry.shutdown_drops();
    let total: u64 = drops.iter().map(|(_, _, n)| n).sum();
    if total == 0 {
        tracing::info!(dropped_items = 0, "shutdown: nothing was dropped");
        return;
    }
    let detail = drops
        .iter()
        .map(|(component, signal, n)| format!("{component} {signal}={n}"))
        .collect::<Vec<_>>()
        .join(", ");
    tracing::error!(dropped_items = total, reason = "shutdown deadline", %detail,
        "shutdown: items dropped at the deadline (acknowledged but not delivered)");
}

async fn join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "a task failed during shutdown");
        }
    }
}
