//! The outcome of one export attempt, as the retry loop understands it.

use std::time::Duration;

/// What happened to one attempt at sending a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The backend took the batch; `rejected` items of it were refused for good (partial success).
    Delivered {
        /// Items the backend reported as rejected.
        rejected: u64,
        /// The backend's explanation, if any.
        message: String,
    },
    /// Worth retrying: the backend is unavailable, throttling, or the request timed out.
    Retryable {
        /// What happened.
        message: String,
        /// The delay the backend asked for (gRPC RetryInfo, HTTP Retry-After).
        throttle: Option<Duration>,
    },
    /// Not worth retrying: the backend refused the data (400, 413, INVALID_ARGUMENT …).
    Permanent {
        /// What happened.
        message: String,
    },
    /// The backend refuses every request for a reason that retrying cannot fix but a change of
    /// configuration can (authentication, unknown path or service, unsupported compression).
    /// The data is not at fault: the exporter is marked failed and keeps the batch.
    Misconfigured {
        /// What happened.
        message: String,
        /// What to change.
        hint: &'static str,
    },
}
