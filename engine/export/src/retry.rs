//! Exponential backoff with jitter, bounded by a total time budget.

use std::time::Duration;

use rand::Rng;
use weir_config::RetryConfig;

/// The shortest wait between attempts, even when a backend asks for less.
pub(crate) const MIN_THROTTLE: Duration = Duration::from_millis(100);

/// The waits of one batch's retries (the exporter's [`RetryConfig`] is passed to each call, so a
/// parked batch carries only its own state).
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(config: &RetryConfig) -> Backoff {
        Backoff {
            next: config.initial_interval.0,
        }
    }

    /// How long to wait before the next attempt, or `None` to give up. `throttle` is the delay
    /// the backend asked for and is honoured as given, but never below [`MIN_THROTTLE`] (a zero
    /// delay would turn into a retry storm); `elapsed` is the time since the first attempt.
    pub(crate) fn wait(
        &mut self,
        config: &RetryConfig,
        throttle: Option<Duration>,
        elapsed: Duration,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if !config.enabled {
            return None;
        }
        let base = self.next;
        let max = config.max_interval.0;
        // Checked float-to-duration conversions: a huge multiplier or Retry-After must not panic.
        self.next = Duration::try_from_secs_f64(base.as_secs_f64() * config.multiplier)
            .map_or(max, |d| d.min(max));
        let wait = match throttle {
            Some(t) => t.max(MIN_THROTTLE),
            None => {
                let f = config.randomization_factor;
                let jitter = if f > 0.0 {
                    rng.random_range(-f..=f)
                } else {
                    0.0
                };
                Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + jitter)).unwrap_or(base)
            }
        };
        elapsed
            .checked_add(wait)
            .is_some_and(|t| t <= config.max_elapsed_time.0)
            .then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_config::Seconds;

    fn config() -> RetryConfig {
        RetryConfig {
            enabled: true,
            initial_interval: Seconds(Duration::from_secs(1)),
            max_interval: Seconds(Duration::from_secs(3)),
            max_elapsed_time: Seconds(Duration::from_secs(10)),
            multiplier: 2.0,
            randomization_factor: 0.0,
        }
    }

    #[test]
    fn grows_caps_honours_throttle_and_gives_up() {
        let c = config();
        let mut b = Backoff::new(&c);
        let mut rng = rand::rng();
        let s = Duration::from_secs;
        assert_eq!(b.wait(&c, None, s(0), &mut rng), Some(s(1)));
        assert_eq!(b.wait(&c, None, s(1), &mut rng), Some(s(2)));
        assert_eq!(b.wait(&c, None, s(3), &mut rng), Some(s(3)));
        assert_eq!(b.wait(&c, Some(s(4)), s(6), &mut rng), Some(s(4)));
        assert_eq!(
            b.wait(&c, None, s(8), &mut rng),
            None,
            "8 s + 3 s exceeds the 10 s budget"
        );
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        let c = RetryConfig {
            randomization_factor: 0.5,
            ..config()
        };
        let mut rng = rand::rng();
        for _ in 0..100 {
            let w = Backoff::new(&c)
                .wait(&c, None, Duration::ZERO, &mut rng)
                .expect("wait");
            assert!(
                w >= Duration::from_millis(500) && w <= Duration::from_millis(1500),
                "{w:?}"
            );
        }
    }

    #[test]
    fn absurd_delays_neither_panic_nor_storm() {
        let c = RetryConfig {
            multiplier: 1e300,
            ..config()
        };
        let mut b = Backoff::new(&c);
        let mut rng = rand::rng();
        let s = Duration::from_secs;
        assert_eq!(b.wait(&c, None, s(0), &mut rng), Some(s(1)));
        assert_eq!(
            b.wait(&c, None, s(0), &mut rng),
            Some(s(3)),
            "capped at max_interval"
        );
        assert_eq!(
            b.wait(&c, Some(Duration::MAX), s(1), &mut rng),
            None,
            "no overflow: gives up"
        );
        assert_eq!(
            b.wait(&c, Some(Duration::ZERO), s(1), &mut rng),
            Some(MIN_THROTTLE)
        );
    }

    #[test]
    fn disabled_never_retries() {
        let c = RetryConfig {
            enabled: false,
            ..config()
        };
        assert_eq!(
            Backoff::new(&c).wait(&c, None, Duration::ZERO, &mut rand::rng()),
            None
        );
    }
}
