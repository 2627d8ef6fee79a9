//! Rate budgets: global, stateful, driven by the sampler's clock (virtual in tests and the lab).

use std::time::Duration;

use crate::policy::Policy;

/// Spans per second, counted in whole seconds of the sampler's clock (the Collector's
/// `rate_limiting`).
pub(crate) struct SpanRate {
    limit: u64,
    second: u64,
    used: u64,
}

impl SpanRate {
    pub(crate) fn new(limit: u64) -> SpanRate {
        SpanRate {
            limit,
            second: 0,
            used: 0,
        }
    }

    /// Spends `spans` of this second's budget if they fit.
    pub(crate) fn take(&mut self, now: Duration, spans: u64) -> bool {
        let second = now.as_secs();
        if second != self.second {
            self.second = second;
            self.used = 0;
        }
        if self.used.saturating_add(spans) <= self.limit {
            self.used += spans;
            true
        } else {
            false
        }
    }
}

/// A token bucket of bytes: `burst` deep, refilled at `rate` bytes per second.
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    pub(crate) fn new(rate: u64, burst: u64) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: Duration::ZERO,
        }
    }

    /// Spends `bytes` tokens if the bucket holds them.
    pub(crate) fn take(&mut self, now: Duration, bytes: u64) -> bool {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let need = bytes as f64;
        if need <= self.tokens {
            self.tokens -= need;
            true
        } else {
            false
        }
    }
}

/// `composite`: sub-policies with a spans/s share each of one total budget.
pub(crate) struct Composite {
    pub(crate) policies: Vec<Policy>,
    /// Sub-policy `i`'s share of each second.
    pub(crate) rates: Vec<SpanRate>,
}

impl Composite {
    /// `shares[i]` is sub-policy `i`'s percent of `total`; `None`s split what is left equally.
    pub(crate) fn new(total: u64, shares: &[Option<f64>], policies: Vec<Policy>) -> Composite {
        let listed: f64 = shares.iter().flatten().sum();
        let unlisted = shares.iter().filter(|s| s.is_none()).count();
        let rest = if unlisted == 0 {
            0.0
        } else {
            (100.0 - listed).max(0.0) / unlisted as f64
        };
        let rates = shares
            .iter()
            .map(|s| {
                let percent = s.unwrap_or(rest);
                // Rounded down so that the shares never add up to more than the total.
                SpanRate::new((total as f64 * percent / 100.0).floor() as u64)
            })
            .collect();
        Composite { policies, rates }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_rate_resets_each_second() {
        let mut r = SpanRate::new(10);
        let t = Duration::from_millis(100);
        assert!(r.take(t, 6));
        assert!(!r.take(t, 5));
        assert!(r.take(t, 4));
        assert!(r.take(Duration::from_millis(1_100), 10));
    }

    #[test]
    fn bucket_refills_up_to_burst() {
        let mut b = TokenBucket::new(100, 150);
        assert!(b.take(Duration::ZERO, 150));
        assert!(!b.take(Duration::ZERO, 1));
        assert!(b.take(Duration::from_millis(500), 50));
        assert!(!b.take(Duration::from_millis(500), 1));
        // Ten idle seconds refill to the burst, not beyond.
        assert!(!b.take(Duration::from_secs(11), 151));
        assert!(b.take(Duration::from_secs(11), 150));
    }

    #[test]
    fn unlisted_shares_split_the_rest() {
        let c = Composite::new(1000, &[Some(50.0), None, None], Vec::new());
        let limits: Vec<u64> = c.rates.iter().map(|r| r.limit).collect();
        assert_eq!(limits, [500, 250, 250]);
    }
}
