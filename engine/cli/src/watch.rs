//! Watching the config file (`[service] watch_config`) and plugin files
//! (`[service] watch_plugins`) and reloading once a changed file has held still.
//!
//! Files are watched through their directories with the operating system's file events
//! (inotify here), so that an editor's save-by-rename and a build's copy-into-place are seen.
//! Where events are unavailable, or with `[service] watch_poll = true` for file systems whose
//! events are unreliable (network mounts), the directories are polled instead. Every change
//! restarts its file's quiet period (the debounce); when it runs out, the reload runs as on
//! SIGHUP: the whole config if the config file changed, else the plugin files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::control::{Control, What};

/// What to watch and how long a changed file must hold still.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchSettings {
    /// Quiet period for the config file; zero: not watched.
    pub config: Duration,
    /// Quiet period for plugin files; zero: not watched.
    pub plugins: Duration,
    /// Poll instead of using file events.
    pub poll: bool,
}

impl WatchSettings {
    /// Whether anything is watched.
    pub(crate) fn any(&self) -> bool {
        !self.config.is_zero() || !self.plugins.is_zero()
    }

    /// How often a polling watcher looks: the shorter quiet period in use.
    fn poll_interval(&self) -> Duration {
        [self.config, self.plugins]
            .into_iter()
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// `path` made absolute (without resolving links), as file events name it.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A file watcher that forwards the paths of changed entries to `tx`: the operating system's
/// events, or polling when asked or when events are unavailable.
fn watcher(
    settings: WatchSettings,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> Option<Box<dyn Watcher + Send>> {
    // Called on notify's thread for every event.
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
        Err(e) => tracing::warn!(error = %e, "file watcher error"),
    };
    let poll = notify::Config::default().with_poll_interval(settings.poll_interval());
    if !settings.poll {
        match RecommendedWatcher::new(handler.clone(), notify::Config::default()) {
            Ok(w) => return Some(Box::new(w)),
            Err(e) => {
                tracing::warn!(error = %e, "file events unavailable; polling watched files instead")
            }
        }
    }
    match PollWatcher::new(handler, poll) {
        Ok(w) => Some(Box::new(w)),
        Err(e) => {
            tracing::error!(error = %e, "cannot watch files; reload with SIGHUP or POST /-/reload");
            None
        }
    }
}

/// Watches until `shutdown`, reloading through `control` when a watched file changed.
pub(crate) async fn watch(
    control: Arc<Control>,
    settings: WatchSettings,
    shutdown: CancellationToken,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let Some(mut watcher) = watcher(settings, tx) else {
        return;
    };
    let mut dirs = BTreeSet::new();
    let (mut config, mut plugins) = watched(&control, settings, &mut *watcher, &mut dirs).await;
    // When the pending reload is due, and whether it includes the config.
    let mut pending: Option<(Instant, bool)> = None;
    loop {
        tokio::select! {
            // Shutdown: stop watching.
            () = shutdown.cancelled() => return,
            // notify's thread saw a change in a watched directory.
            Some(path) = rx.recv() => {
                let is_config = config.as_ref() == Some(&path);
                let quiet = if is_config {
                    settings.config
                } else if plugins.contains(&path) {
                    settings.plugins
                } else {
                    continue;
                };
                let with_config = is_config || pending.is_some_and(|(_, c)| c);
                pending = Some((Instant::now() + quiet, with_config));
            }
            // A changed file held still for its quiet period.
            () = sleep_until(pending.map_or_else(Instant::now, |(at, _)| at)), if pending.is_some() => {
                let with_config = pending.take().is_some_and(|(_, c)| c);
                let what = What { config: with_config, plugins: !settings.plugins.is_zero() };
                tokio::select! {
                    // Shutdown: a reload in progress is abandoned (the old versions stay).
                    () = shutdown.cancelled() => return,
                    // The reload ran; its outcome is logged and counted.
                    _ = control.reload(what) => {}
                }
                // A config reload may have added or removed plugin files.
                (config, plugins) = watched(&control, settings, &mut *watcher, &mut dirs).await;
            }
        }
    }
}

/// The files to watch now, with their directories added to the watcher.
async fn watched(
    control: &Control,
    settings: WatchSettings,
    watcher: &mut (dyn Watcher + Send),
    dirs: &mut BTreeSet<PathBuf>,
) -> (Option<PathBuf>, BTreeSet<PathBuf>) {
    let (config, plugins) = control.files().await;
    let config = config
        .filter(|_| !settings.config.is_zero())
        .map(|p| absolute(&p));
    let plugins: BTreeSet<PathBuf> = if settings.plugins.is_zero() {
        BTreeSet::new()
    } else {
        plugins.iter().map(|p| absolute(p)).collect()
    };
    for file in config.iter().chain(&plugins) {
        let Some(dir) = file.parent() else { continue };
        if dirs.contains(dir) {
            continue;
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                dirs.insert(dir.to_path_buf());
            }
            Err(e) => {
                tracing::warn!(directory = %dir.display(), error = %e, "cannot watch; changes there need SIGHUP or POST /-/reload")
            }
        }
    }
    (config, plugins)
}
