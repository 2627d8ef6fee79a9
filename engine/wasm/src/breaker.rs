//! The circuit breaker of one plugin stage: after repeated failures it stops calling the plugin
//! for a while (doubling each time it trips again) instead of failing every batch slowly.

use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failed calls that open the breaker.
    pub failures: u32,
    /// How long it stays open the first time.
    pub initial_backoff: Duration,
    /// The longest it stays open.
    pub max_backoff: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Closed (calls go through), open until an instant, or half-open (one trial call).
#[derive(Debug)]
pub(crate) struct Breaker {
    settings: BreakerSettings,
    consecutive: u32,
    backoff: Duration,
    open_until: Option<Instant>,
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            consecutive: 0,
            backoff: settings.initial_backoff,
            open_until: None,
        }
    }

    /// Whether a call may be made at `now`. Once the open period is over, one trial call is let
    /// through (half-open); its outcome closes or re-opens the breaker.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    /// Records a successful call: the breaker closes and the backoff resets.
    pub(crate) fn success(&mut self) {
        self.consecutive = 0;
        self.open_until = None;
        self.backoff = self.settings.initial_backoff;
    }

    /// Records a failed call at `now`; returns the open period if this failure opened it.
    pub(crate) fn failure(&mut self, now: Instant) -> Option<Duration> {
        self.consecutive = self.consecutive.saturating_add(1);
        let half_open_trial = self.open_until.is_some();
        if half_open_trial || self.consecutive >= self.settings.failures {
            let open_for = if half_open_trial {
                self.backoff
            } else {
                self.settings.initial_backoff
            };
            self.open_until = Some(now + open_for);
            self.backoff = (open_for * 2).min(self.settings.max_backoff);
            return Some(open_for);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_backs_off() {
        let s = BreakerSettings {
            failures: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
        };
        let mut b = Breaker::new(s);
        let t0 = Instant::now();
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.failure(t0), Some(Duration::from_secs(1)));
        assert!(!b.allows(t0 + Duration::from_millis(999)));
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.allows(t1), "half-open after the backoff");
        assert_eq!(
            b.failure(t1),
            Some(Duration::from_secs(2)),
            "a failed trial doubles the backoff"
        );
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(
            b.failure(t2),
            Some(Duration::from_secs(3)),
            "capped at max_backoff"
        );
        b.success();
        assert!(b.allows(t2));
        assert_eq!(b.failure(t2), None, "a success resets the count");
    }

    #[test]
    fn a_success_between_failures_keeps_it_closed() {
        let mut b = Breaker::new(BreakerSettings {
            failures: 2,
            ..BreakerSettings::default()
        });
        let t = Instant::now();
        assert_eq!(b.failure(t), None);
        b.success();
        assert_eq!(b.failure(t), None);
        assert!(b.allows(t));
    }
}
