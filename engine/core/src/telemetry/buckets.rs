//! The bucket layouts of Weir's histograms, one per kind of quantity measured.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub(super) fn batch_size_histogram() -> Histogram {
    // 1 … ~500k items.
    Histogram::new(exponential_buckets(1.0, 4.0, 10))
}

pub(super) fn plugin_duration_histogram() -> Histogram {
    // 10 µs … ~2.6 s.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

pub(super) fn decision_histogram() -> Histogram {
    // 10 ms … ~90 min: decision waits are seconds to minutes.
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

pub(super) fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}
