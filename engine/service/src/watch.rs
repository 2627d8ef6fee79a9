//! Watching the config file (`[service] watch_config`) and plugin files
//! (`[service] watch_plugins`) and reloading once a changed file has held still.
//!
//! Files are watched through their directories with the operating system's file events
//! (inotify here), so that an editor's save-by-rename and a build's copy-into-place are seen.
//! Where events are unavailable, or with `[service] watch_poll = true` for file systems whose
//! events are unreliable (network mounts), the files are looked at every quiet period instead.
//! Either way a file counts as changed when its identity (what it resolves to, size, times,
//! inode) differs from the last look, so reads and other files never trigger a reload. Every
//! change restarts its file's quiet period (the debounce); when it runs out, a reload runs by
//! the one reload path ([`Control::reload`]): reading the config file again if it changed, and
//! in any case picking up the named files (plugins, policies, certificates) that changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
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

/// The operating system's file events, telling `tx` which paths something happened to in a
/// watched directory; `None` when polling is asked for or events are unavailable.
fn watcher(
    settings: WatchSettings,
    tx: mpsc::UnboundedSender<Vec<PathBuf>>,
) -> Option<RecommendedWatcher> {
    if settings.poll {
        return None;
    }
    // Called on notify's thread for every event. Opening and reading files (Weir's own reloads
    // do) changes nothing.
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => {}
        Ok(event) => {
            let _ = tx.send(event.paths);
        }
        Err(e) => tracing::warn!(error = %e, "file watcher error"),
    };
    match RecommendedWatcher::new(handler, notify::Config::default()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "file events unavailable; polling watched files instead");
            None
        }
    }
}

/// What tells one version of a watched file from another without reading it: the file it
/// resolves to (a Kubernetes ConfigMap swaps a symlinked directory), its size, modification
/// time, and on Unix its inode and change time (a file renamed into place with a preserved
/// modification time still differs).
type Identity = Option<(PathBuf, u64, Option<std::time::SystemTime>, u64, i64, i64)>;

fn identity(path: &Path) -> Identity {
    let target = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&target).ok()?;
    #[cfg(unix)]
    let (ino, ctime, ctime_ns) = {
        use std::os::unix::fs::MetadataExt;
        (m.ino(), m.ctime(), m.ctime_nsec())
    };
    #[cfg(not(unix))]
    let (ino, ctime, ctime_ns) = (0, 0, 0);
    Some((target, m.len(), m.modified().ok(), ino, ctime, ctime_ns))
}

/// The watched files and what they were when last looked at.
#[derive(Default)]
struct Watched {
    /// The config file.
    config: Option<(PathBuf, Identity)>,
    /// The files the config names: processor, policy and exporter plugins, exporter
    /// certificates.
    named: Vec<(PathBuf, Identity)>,
    dirs: BTreeSet<PathBuf>,
}

impl Watched {
    /// Follows the files in use now, adding their directories (and those of the files they
    /// resolve to) to the watcher.
    async fn refresh(
        &mut self,
        control: &Control,
        settings: WatchSettings,
        mut watcher: Option<&mut RecommendedWatcher>,
    ) {
        let (config, named) = control.files().await;
        let config = config
            .filter(|_| !settings.config.is_zero())
            .map(|p| absolute(&p));
        let named: Vec<PathBuf> = if settings.plugins.is_zero() {
            Vec::new()
        } else {
            named.iter().map(|p| absolute(p)).collect()
        };
        for file in config.iter().chain(&named) {
            let resolved = std::fs::canonicalize(file).ok();
            for dir in [file.parent(), resolved.as_deref().and_then(Path::parent)]
                .into_iter()
                .flatten()
            {
                if self.dirs.contains(dir) {
                    continue;
                }
                let Some(watcher) = watcher.as_deref_mut() else {
                    break;
                };
                match watcher.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.dirs.insert(dir.to_path_buf());
                    }
                    Err(e) => {
                        tracing::warn!(directory = %dir.display(), error = %e, "cannot watch; changes there need SIGHUP or POST /-/reload")
                    }
                }
            }
        }
        self.config = config.map(|p| {
            let id = identity(&p);
            (p, id)
        });
        self.named = named
            .into_iter()
            .map(|p| {
                let id = identity(&p);
                (p, id)
            })
            .collect();
    }

    /// Which kinds of file changed since the last look: (the config file, a file it names).
    fn changed(&mut self) -> (bool, bool) {
        let mut look = |(path, seen): &mut (PathBuf, Identity)| {
            let now = identity(path);
            let changed = now != *seen;
            *seen = now;
            changed
        };
        let config = self.config.as_mut().is_some_and(&mut look);
        // Every file is looked at (no short cut), so each remembers its new identity.
        let mut any = |files: &mut Vec<(PathBuf, Identity)>| {
            files
                .iter_mut()
                .map(&mut look)
                .collect::<Vec<bool>>()
                .contains(&true)
        };
        let named = any(&mut self.named);
        (config, named)
    }
}

/// Waits for the next file event (draining those that came with it) and returns the paths they
/// name or, without events, waits for the next polling tick (no paths).
async fn wake(
    rx: &mut mpsc::UnboundedReceiver<Vec<PathBuf>>,
    poll: &mut tokio::time::Interval,
    events: bool,
) -> Vec<PathBuf> {
    if events {
        if let Some(mut paths) = rx.recv().await {
            while let Ok(more) = rx.try_recv() {
                paths.extend(more);
            }
            return paths;
        }
        // The watcher is gone: nothing more will come.
        std::future::pending::<()>().await;
    }
    poll.tick().await;
    Vec::new()
}

/// Watches until `shutdown`, reloading through `control` when a watched file changed.
pub(crate) async fn watch(
    control: Arc<Control>,
    settings: WatchSettings,
    shutdown: CancellationToken,
) {
    // notify's thread sends the paths of each event (see `watcher`); this loop receives them.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut events = watcher(settings, tx);
    // Without events, look at the files this often.
    let mut poll = tokio::time::interval(settings.poll_interval());
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut applied = control.applied();
    let mut files = Watched::default();
    files.refresh(&control, settings, events.as_mut()).await;
    // When a changed config file and changed named files are due (each has its quiet period).
    let (mut config_due, mut files_due): (Option<Instant>, Option<Instant>) = (None, None);
    loop {
        let due = [config_due, files_due].into_iter().flatten().min();
        tokio::select! {
            // Shutdown: stop watching.
            () = shutdown.cancelled() => return,
            // notify's thread saw something happen in a watched directory, or (polling) it is
            // time to look: compare the files (reading them, or other files, change nothing).
            paths = wake(&mut rx, &mut poll, events.is_some()) => {
                let (config, named) = files.changed();
                // Every look is logged with what woke it, so a test (or an operator asking why a
                // reload ran) can tell which events were seen and what they changed.
                tracing::debug!(config, plugins = named, ?paths, "watched files looked at");
                let now = Instant::now();
                if config {
                    config_due = Some(now + settings.config);
                }
                if named {
                    files_due = Some(now + settings.plugins);
                }
            }
            // A config reload was applied (by anyone): the plugin files in use may differ.
            Ok(()) = applied.changed() => files.refresh(&control, settings, events.as_mut()).await,
            // A changed file held still for its quiet period.
            () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let now = Instant::now();
                // Every reload hashes the named files; only a changed config file is read again.
                let what = What {
                    config: config_due.is_some_and(|d| d <= now),
                };
                if what.config {
                    config_due = None;
                }
                if files_due.is_some_and(|d| d <= now) {
                    files_due = None;
                }
                // Runs to its end even if shutdown starts meanwhile (see Control::reload); its
                // outcome is logged and counted.
                control.reload(what).await;
            }
        }
    }
}
