//! `weir run`: load the config, watch for signals, start the gateway ([`weir_service::Service`]),
//! reload on SIGHUP, drain and exit on SIGTERM/SIGINT.

use anyhow::Context;
use weir_config::Config;
use weir_service::{Service, What};

use crate::args::RunArgs;

/// Runs the gateway until a termination signal, then drains.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => {
            let flags = args.listener_flags();
            if !flags.is_empty() {
                anyhow::bail!(
                    "{} set(s) the addresses of the embedded default config; with --config {}, set them in the file ([receivers.<name>] grpc/http, [admin] listen)",
                    flags.join(", "),
                    path.display()
                );
            }
            Config::load(path)?
        }
        None => {
            tracing::info!("no --config given; running the embedded default config");
            let flag = |name: &str| match name {
                "WEIR_GRPC" => args.grpc,
                "WEIR_HTTP" => args.http,
                "WEIR_ADMIN" => args.admin,
                _ => None,
            };
            Config::embedded_default_with(&|name| {
                flag(name)
                    .map(|a| a.to_string())
                    .or_else(|| std::env::var(name).ok())
            })?
        }
    };
    // Watch for SIGTERM/SIGINT before anything reports ready, so an orchestrator that stops us
    // right after /readyz turns 200 gets a drain, not the default kill.
    let mut signals = Signals::install()?;
    let service = std::sync::Arc::new(Service::start(config, args.config.clone()).await?);
    let signal = loop {
        match signals.wait().await {
            // SIGHUP: reload the config file and every file it names, and keep running. In a
            // task of its own, so that a SIGTERM during a long compile is not kept waiting
            // (reloads queue one after another).
            "SIGHUP" => {
                tracing::info!("SIGHUP: reloading the config file and the files it names");
                let service = service.clone();
                tokio::spawn(async move { service.reload(What::EVERYTHING).await });
            }
            // SIGTERM/SIGINT: shut down.
            signal => break signal,
        }
    };
    // Waits for a reload in progress (a SIGHUP's task); then nothing changes any more.
    service.shutdown(signal).await?;
    Ok(())
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
