//! The memory limiter (`[service] memory_limit`): reads the process's resident memory every
//! 50 ms and, while it is above the soft limit (`memory_limit - memory_spike`), makes receivers
//! refuse new data with retryable statuses (gRPC UNAVAILABLE + RetryInfo, HTTP 503 +
//! Retry-After), as the Collector's memory_limiter does. Data already accepted keeps flowing,
//! so memory falls as exporters deliver; refusing stops it from growing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use weir_core::telemetry::Telemetry;

/// How often the resident memory is read.
const EVERY: Duration = Duration::from_millis(50);

/// The limits in force, `(soft, hard)` in bytes (`None`: no `memory_limit`); a config reload
/// sends new ones.
pub(crate) type Limits = tokio::sync::watch::Receiver<Option<(u64, u64)>>;

/// Runs the limiter until `stop` fires: sets `over` while RSS > the soft limit. Without a
/// limit it reads nothing and waits for one (a reload may set it).
pub(crate) async fn run(
    mut limits: Limits,
    over: Arc<AtomicBool>,
    telemetry: Telemetry,
    stop: CancellationToken,
) {
    let (rss_gauge, limited_gauge) = telemetry.memory();
    let mut was_over = false;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // False once the running gateway stopped changing (shutdown): the last limits stay.
    let mut reloadable = true;
    let mut current = *limits.borrow_and_update();
    loop {
        let Some((soft, hard)) = current else {
            // No limit (any more): nothing is refused for memory.
            if was_over {
                tracing::info!("memory limit removed: accepting data");
            }
            over.store(false, Ordering::Release);
            limited_gauge.set(0);
            was_over = false;
            tokio::select! {
                // Shutdown: the limiter is no longer needed.
                () = stop.cancelled() => return,
                // A reload set the limits (gone: no reloads any more, and none to apply).
                changed = limits.changed(), if reloadable => match changed {
                    Ok(()) => current = *limits.borrow_and_update(),
                    Err(_) => reloadable = false,
                },
            }
            continue;
        };
        tokio::select! {
            // Shutdown: the limiter is no longer needed.
            () = stop.cancelled() => return,
            // A reload changed the limits: apply them now. Gone (shutdown has begun): keep
            // these until the end.
            changed = limits.changed(), if reloadable => {
                match changed {
                    Ok(()) => current = *limits.borrow_and_update(),
                    Err(_) => reloadable = false,
                }
                continue;
            }
            // Time for the next reading.
            _ = tick.tick() => {}
        }
        let Some(rss) = resident_bytes() else {
            tracing::warn!("cannot read /proc/self/status; the memory limiter is off");
            return;
        };
        rss_gauge.set(i64::try_from(rss).unwrap_or(i64::MAX));
        let is_over = rss > soft;
        over.store(is_over, Ordering::Release);
        limited_gauge.set(i64::from(is_over));
        if is_over != was_over {
            if is_over {
                tracing::warn!(
                    rss,
                    soft_limit = soft,
                    hard_limit = hard,
                    "memory above the soft limit: refusing new data until it falls"
                );
            } else {
                tracing::info!(
                    rss,
                    soft_limit = soft,
                    "memory below the soft limit again: accepting data"
                );
            }
            was_over = is_over;
        }
    }
}

/// The process's resident set size, from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_rss(&status)
}

fn status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_vmrss_in_bytes() {
        let status = "Name:\tweir\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads:\t4\n";
        assert_eq!(super::status_rss(status), Some(2 << 20));
        assert_eq!(super::status_rss("Name:\tweir\n"), None);
        assert!(super::resident_bytes().is_some_and(|b| b > 0));
    }
}
