//! `weir run`: start, report ready, wait for SIGTERM/SIGINT, drain with a deadline, exit.

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
    let telemetry = Telemetry::new();
    let ready = Arc::new(AtomicBool::new(false));

    let admin_listener = TcpListener::bind(config.admin.listen.0)
        .await
        .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
    let admin_addr = admin_listener.local_addr()?;
    let admin_shutdown = CancellationToken::new();
    let admin = tokio::spawn(weir_admin::serve(
        admin_listener,
        weir_admin::AdminState {
            telemetry: telemetry.clone(),
            ready: ready.clone(),
        },
        admin_shutdown.clone(),
    ));
    tracing::info!(component = "admin", address = %admin_addr, "listening");

    let topo = topology::build(&config, &telemetry).await?;
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

    let signal = wait_for_signal().await?;
    let deadline = config.service.shutdown_timeout.0;
    tracing::info!(%signal, ?deadline, "shutting down: refusing new data and draining queues");
    ready.store(false, Ordering::Release);
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
    Ok(())
}

async fn join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "a task failed during shutdown");
        }
    }
}

/// Waits for SIGTERM or SIGINT and names it.
async fn wait_for_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        tokio::select! {
            // A service manager or `kill` asked us to stop.
            _ = term.recv() => Ok("SIGTERM"),
            // Ctrl-C.
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot watch Ctrl-C")?;
        Ok("Ctrl-C")
    }
}
