//! The time a plugin call may take: a fixed part plus a part that grows with the batch.

use std::fmt;
use std::time::Duration;

/// A plugin call's deadline, `base + per_item × items`. A fixed deadline is a trap once the
/// batcher makes batches large: a healthy plugin would time out only because it was handed more
/// work. With a per-item part the deadline follows the work, and a timeout means the plugin is
/// stuck or far slower than its budget, not that the batch was big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// The fixed part: every call may take this long, whatever the batch size.
    pub base: Duration,
    /// Added for each item (span, data point, log record) of the batch.
    pub per_item: Duration,
}

impl CallBudget {
    /// The default of processor plugins and policies: 100 ms plus 50 µs per item (an 8,192-span
    /// batch may take 510 ms; a plugin that needs more than 50 µs a span is stuck or very slow).
    pub const DEFAULT: CallBudget = CallBudget {
        base: Duration::from_millis(100),
        per_item: Duration::from_micros(50),
    };

    /// A budget that does not grow with the batch.
    pub const fn fixed(base: Duration) -> CallBudget {
        CallBudget {
            base,
            per_item: Duration::ZERO,
        }
    }

    /// The deadline of one call over `items` items (saturating).
    pub fn for_items(&self, items: usize) -> Duration {
        let per = self
            .per_item
            .saturating_mul(u32::try_from(items).unwrap_or(u32::MAX));
        self.base.saturating_add(per)
    }
}

impl Default for CallBudget {
    fn default() -> Self {
        CallBudget::DEFAULT
    }
}

impl fmt::Display for CallBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_item.is_zero() {
            write!(f, "{:?}", self.base)
        } else {
            write!(f, "{:?} + {:?} per item", self.base, self.per_item)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_the_batch_and_saturates() {
        let b = CallBudget::DEFAULT;
        assert_eq!(b.for_items(0), Duration::from_millis(100));
        assert_eq!(
            b.for_items(8192),
            Duration::from_micros(100_000 + 8192 * 50)
        );
        assert_eq!(
            CallBudget::fixed(Duration::from_millis(7)).for_items(1 << 20),
            Duration::from_millis(7)
        );
        let huge = CallBudget {
            base: Duration::MAX,
            per_item: Duration::from_secs(1),
        };
        assert_eq!(huge.for_items(usize::MAX), Duration::MAX);
        assert_eq!(b.to_string(), "100ms + 50µs per item");
    }
}
