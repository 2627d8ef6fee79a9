//! `weir run`: start, report ready, reload plugins on SIGHUP, wait for SIGTERM/SIGINT, drain
//! with a deadline, exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::Config;
use weir_core::telemetry::Telemetry;

use crate::args::RunArgs;
use crate::topology;

/// Runs the gateway until a termination signal, then drains.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            tracing::info!("no --config given; running the embedded default config");
            Config::embedded_default()?
        }
    };
    // Watch for SIGTERM/SIGINT before anything reports ready, so an orchestrator that stops us
    // right after /readyz turns 200 gets a drain, not the default kill.
    let mut signals = Signals::install()?;
    let telemetry = Telemetry::new();
    let ready = Arc::new(AtomicBool::new(false));

    let admin_listener = TcpListener::bind(config.admin.listen.0)
        .await
        .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
    let admin_addr = admin_listener.local_addr()?;
    let admin_shutdown = CancellationToken::new();
    let reloads = Arc::new(std::sync::OnceLock::new());
    let jaeger_sampling = crate::jaeger::load(&config)?;
    let jaeger_watch = jaeger_sampling
        .as_ref()
        .and_then(|store| crate::jaeger::watch(&config, store, &telemetry, admin_shutdown.clone()));
    let admin = tokio::spawn(weir_admin::serve(
        admin_listener,
        weir_admin::AdminState {
            telemetry: telemetry.clone(),
            ready: ready.clone(),
            jaeger_sampling,
            reloads: reloads.clone(),
        },
        admin_shutdown.clone(),
    ));
    tracing::info!(component = "admin", address = %admin_addr, "listening");

    let topo = topology::build(&config, &telemetry).await?;
    let reloader = topo.reloader.clone();
    let stop_watching = CancellationToken::new();
    let mut watch = None;
    if reloader.has_files().await {
        telemetry.reloads_watched("plugin");
        let every = config.service.watch_plugins.0;
        if !every.is_zero() {
            watch = Some(tokio::spawn(reloader.clone().watch(
                every,
                telemetry.clone(),
                stop_watching.clone(),
            )));
        }
    }
    let _ = reloads.set(Arc::new(crate::reload::AdminReloads {
        reloader: reloader.clone(),
        telemetry: telemetry.clone(),
    }) as Arc<dyn weir_admin::Reloads>);
    let stop_receivers = CancellationToken::new();
    let mut receiver_tasks = Vec::new();
    for (name, bound) in topo.receivers {
        let addrs = bound.addrs();
        if let Some(a) = addrs.grpc {
            tracing::info!(component = "receiver", receiver = %name, protocol = "grpc", address = %a, "listening");
        }
        if let Some(a) = addrs.http {
            tracing::info!(component = "receiver", receiver = %name, protocol = "http", address = %a, "listening");
        }
        receiver_tasks.extend(bound.serve(stop_receivers.clone()));
    }
    ready.store(true, Ordering::Release);
    tracing::info!(pipelines = config.pipelines.len(), "weir is ready");

    let signal = loop {
        match signals.wait().await {
            // SIGHUP: reload changed plugin files, and keep running.
            // In a task of its own, so that a SIGTERM during a long compile is not kept waiting
            // (reloads queue on the reloader's lock).
            "SIGHUP" => {
                tracing::info!("SIGHUP: reloading changed plugin files");
                let (reloader, telemetry) = (reloader.clone(), telemetry.clone());
                tokio::spawn(async move { reloader.reload(&telemetry).await });
            }
            // SIGTERM/SIGINT: shut down.
            signal => break signal,
        }
    };
    let deadline = config.service.shutdown_timeout.0;
    tracing::info!(%signal, ?deadline, "shutting down: refusing new data and draining queues");
    ready.store(false, Ordering::Release);
    stop_watching.cancel();
    if let Some(w) = watch {
        let _ = w.await;
    }
    topo.closing.store(true, Ordering::Release);
    stop_receivers.cancel();

    let started = tokio::time::Instant::now();
    let drain = async {
        join(receiver_tasks).await;
        join(topo.pipelines).await;
        join(topo.exporters).await;
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
    tracing::info!(elapsed = ?started.elapsed(), drained, "weir stopped");
    admin_shutdown.cancel();
    let _ = admin.await;
    if let Some(w) = jaeger_watch {
        let _ = w.await;
    }
    Ok(())
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
