//! The strategies in force, and their reloading.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use weir_core::telemetry::Telemetry;

use crate::{Error, Strategies};

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// The file had not changed.
    Unchanged,
    /// New strategies are in force.
    Applied {
        /// Services with their own strategy.
        services: usize,
    },
    /// The file is unreadable or invalid; the previous strategies stay in force.
    Failed(Error),
}

/// The strategies loaded from one file; shared by the admin route and the reload task.
pub struct Store {
    path: PathBuf,
    current: RwLock<Arc<Strategies>>,
    /// The text the strategies in force came from (or the last text that failed), so an
    /// unchanged file is not parsed again and a bad file is reported once.
    last_text: Mutex<String>,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: path.display().to_string(),
        source,
    })
}

impl Store {
    /// Loads `path`; an unreadable or invalid file is an error (Weir does not start on it).
    pub fn load(path: &Path) -> Result<Store, Error> {
        let text = read(path)?;
        let strategies = Strategies::parse(&path.display().to_string(), &text)?;
        Ok(Store {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(strategies)),
            last_text: Mutex::new(text),
        })
    }

    /// The strategies in force.
    pub fn current(&self) -> Arc<Strategies> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again and puts its strategies in force if it changed and is valid.
    pub fn reload(&self) -> Reload {
        let text = match read(&self.path) {
            Ok(t) => t,
            Err(e) => return Reload::Failed(e),
        };
        let mut last = self
            .last_text
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *last == text {
            return Reload::Unchanged;
        }
        let parsed = Strategies::parse(&self.path.display().to_string(), &text);
        *last = text;
        match parsed {
            Ok(s) => {
                let services = s.service_count();
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(s);
                Reload::Applied { services }
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// Checks the file every `interval` until `shutdown`, logging and counting
    /// (`weir_reloads_total{what="jaeger_sampling"}`) each change applied or refused. A file
    /// that is missing for a moment (an editor's save) is reported as failed and picked up
    /// again once it is back.
    pub async fn watch(
        self: Arc<Self>,
        interval: Duration,
        telemetry: Telemetry,
        shutdown: CancellationToken,
    ) {
        telemetry.reloads_watched("jaeger_sampling", &["applied", "failed"]);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the file was just loaded
        let mut failing = false;
        loop {
            tokio::select! {
                // Shutdown: stop watching.
                () = shutdown.cancelled() => return,
                // Time to look at the file again.
                _ = tick.tick() => {}
            }
            let store = self.clone();
            let Ok(outcome) = tokio::task::spawn_blocking(move || store.reload()).await else {
                continue;
            };
            match outcome {
                // Back to what is in force (e.g. a deleted file restored): a later outage is
                // news again.
                Reload::Unchanged => failing = false,
                Reload::Applied { services } => {
                    failing = false;
                    telemetry.reload("jaeger_sampling", "applied");
                    tracing::info!(file = %self.path.display(), services, "jaeger sampling strategies reloaded");
                }
                // Read errors repeat every tick while the file is gone: report the first.
                Reload::Failed(e @ Error::Read { .. }) if failing => {
                    tracing::debug!(error = %e, "jaeger sampling strategies still unreadable");
                }
                Reload::Failed(e) => {
                    failing = matches!(e, Error::Read { .. });
                    telemetry.reload("jaeger_sampling", "failed");
                    tracing::error!(error = %e, "jaeger sampling strategies not reloaded; the previous ones stay in force");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn reloads_changes_and_keeps_the_old_strategies_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.json");
        let rate = |store: &Store| {
            store.current().response("a")["probabilisticSampling"]["samplingRate"].clone()
        };
        std::fs::write(
            &file,
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.2}}"#,
        )
        .unwrap();
        let store = Store::load(&file).unwrap();
        assert_eq!(rate(&store), 0.2);
        assert!(matches!(store.reload(), Reload::Unchanged));
        std::fs::write(
            &file,
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.7}}"#,
        )
        .unwrap();
        assert!(matches!(store.reload(), Reload::Applied { services: 0 }));
        assert_eq!(rate(&store), 0.7);
        std::fs::write(
            &file,
            r#"{"default_strategy": {"type": "probabilistic", "param": 7}}"#,
        )
        .unwrap();
        assert!(matches!(
            store.reload(),
            Reload::Failed(Error::Invalid { .. })
        ));
        assert_eq!(
            rate(&store),
            0.7,
            "a bad file leaves the old strategies in force"
        );
        assert!(
            matches!(store.reload(), Reload::Unchanged),
            "a bad file is reported once"
        );
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(store.reload(), Reload::Failed(Error::Read { .. })));
        assert_eq!(rate(&store), 0.7);
    }

    #[test]
    fn a_bad_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Store::load(&dir.path().join("missing.json"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("missing.json: cannot read it"), "{e}");
    }
}
