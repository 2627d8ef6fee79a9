//! `weir run`: start, report ready, reload on SIGHUP, `POST /-/reload` and watched files, wait
//! for SIGTERM/SIGINT, drain with a deadline, exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::Config;
use weir_core::telemetry::Telemetry;

use crate::args::RunArgs;
use crate::control::{Control, What};
use crate::live::Live;
use crate::watch::WatchSettings;

/// Runs the gateway until a termination signal, then drains.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            tracing::info!("no --config given; running the embedded default config");
            Config::embedded_default()?
        }
    };
    let log_final_metrics = config.service.log_final_metrics;
    for risk in config.data_loss_risks() {
        tracing::warn!(%risk, "this configuration can lose acknowledged data");
    }
    // Watch for SIGTERM/SIGINT before anything reports ready, so an orchestrator that stops us
    // right after /readyz turns 200 gets a drain, not the default kill.
    let mut signals = Signals::install()?;
    let telemetry = Telemetry::new();
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
    let admin_listener = weir_listen::bind(config.admin.listen.0, config.admin.connections.backlog)
        .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
    let admin_addr = admin_listener.local_addr()?;
    let admin_shutdown = CancellationToken::new();
    let reloads = Arc::new(std::sync::OnceLock::new());
    let jaeger_sampling = crate::jaeger::load(&config)?;
    let jaeger_watch = jaeger_sampling
        .as_ref()
        .and_then(|store| crate::jaeger::watch(&config, store, &telemetry, admin_shutdown.clone()));
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
    let memory_limits = config.service.memory_limits();
    let started = tokio::time::Instant::now();
    let live = Live::start(config, &telemetry).await?;
    // Stopped with the admin listener, at the very end.
    if let Some(limits) = memory_limits {
        tokio::spawn(crate::memory::run(
            limits,
            live.memory_gate(),
            telemetry.clone(),
            admin_shutdown.clone(),
        ));
    }
    if let Some((from_cache, compiled)) = live.cache_stats() {
        // Plugins found in the compiled-code cache start in milliseconds instead of seconds.
        tracing::info!(from_cache, compiled, elapsed = ?started.elapsed(), "plugins loaded");
    }
    if live.reloader().has_files().await {
        telemetry.reloads_watched("plugin", &["applied", "failed"]);
    }
    let control = Arc::new(Control::new(
        live,
        args.config.clone(),
        &telemetry,
        admin_tls,
    ));
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

    let signal = loop {
        match signals.wait().await {
            // SIGHUP: reload the config file and changed plugin files, and keep running.
            // In a task of its own, so that a SIGTERM during a long compile is not kept waiting
            // (reloads queue on the control's lock).
            "SIGHUP" => {
                tracing::info!("SIGHUP: reloading the config file and changed plugin files");
                let control = control.clone();
                let what = What {
                    config: true,
                    plugins: true,
                };
                tokio::spawn(async move { control.reload(what).await });
            }
            // SIGTERM/SIGINT: shut down.
            signal => break signal,
        }
    };
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
    log_shutdown_drops(&telemetry);
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

/// The termination signals Weir drains on.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts watching; from here on SIGTERM/SIGINT/SIGHUP no longer kill the process outright.
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
                hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal Weir handles and names it: SIGTERM, SIGINT or SIGHUP.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                // A service manager or `kill` asked us to stop.
                _ = self.term.recv() => "SIGTERM",
                // Ctrl-C.
                _ = self.int.recv() => "SIGINT",
                // An operator asks for a reload.
                _ = self.hup.recv() => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
