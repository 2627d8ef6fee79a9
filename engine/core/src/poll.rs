//! Re-reading files on a timer for as long as their owner lives: certificates, credential
//! files and other settings whose files may change under a running Weir.

use std::sync::{Arc, Weak};
use std::time::Duration;

/// Every `every` (the first time after one interval), runs `reload` with the owner of `target`
/// on a blocking thread (files may sit on slow mounts), until every strong reference to it is
/// gone. Needs a Tokio runtime. `reload` reports its own failures.
pub fn while_alive<T: Send + Sync + 'static>(every: Duration, target: Weak<T>, reload: fn(Arc<T>)) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(owner) = target.upgrade() else {
                return;
            };
            let _ = tokio::task::spawn_blocking(move || reload(owner)).await;
        }
    });
}
