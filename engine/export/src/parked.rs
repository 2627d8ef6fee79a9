//! Batches waiting for their next attempt. A batch whose attempt failed is parked here with the
//! time of its next attempt, so that no sender task sits idle through a backoff: the senders
//! keep taking new batches from the queue and pick up parked ones when they fall due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;
use weir_core::Delivery;

use crate::retry::Backoff;

/// A batch between attempts.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The batch (and its disk record, for a durable queue).
    pub delivery: Delivery,
    /// When its first attempt started: the retry budget runs from here.
    pub first: Instant,
    /// Its backoff state.
    pub backoff: Backoff,
    /// The batch as an OTLP sink sends it, made by its first attempt and reused by retries
    /// (`None` before it, and for sinks that take the batch itself).
    pub wire: Option<bytes::Bytes>,
}

/// A parked batch, ordered by due time (earliest first in the max-heap), then by arrival.
struct Waiting {
    due: Instant,
    seq: u64,
    pending: Pending,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Default)]
struct Heap {
    heap: BinaryHeap<Waiting>,
    seq: u64,
}

/// The parked batches of one exporter, shared by its sender tasks.
pub(crate) struct Parked {
    heap: Mutex<Heap>,
    /// Notified whenever a batch is parked, so that waiting senders look at the new due time.
    changed: Notify,
    /// At most this many batches wait here; beyond it senders take no new batches from the
    /// queue (which then fills and pushes back on the pipelines).
    limit: usize,
}

impl Parked {
    pub(crate) fn new(limit: usize) -> Parked {
        Parked {
            heap: Mutex::default(),
            changed: Notify::new(),
            limit: limit.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Heap> {
        self.heap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parks `pending` until `due`.
    pub(crate) fn park(&self, pending: Pending, due: Instant) {
        {
            let mut h = self.lock();
            h.seq += 1;
            let seq = h.seq;
            h.heap.push(Waiting { due, seq, pending });
        }
        self.changed.notify_waiters();
    }

    /// The earliest parked batch if it is due at `now`.
    pub(crate) fn take_due(&self, now: Instant) -> Option<Pending> {
        let mut h = self.lock();
        if h.heap.peek().is_some_and(|w| w.due <= now) {
            h.heap.pop().map(|w| w.pending)
        } else {
            None
        }
    }

    /// When the earliest parked batch falls due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.lock().heap.peek().map(|w| w.due)
    }

    /// A future that completes at the next [`Parked::park`]; create it before reading
    /// [`Parked::next_due`] so that no park in between is missed.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// True while fewer than the limit wait.
    pub(crate) fn has_room(&self) -> bool {
        self.lock().heap.len() < self.limit
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().heap.is_empty()
    }

    /// Takes every parked batch (at the shutdown deadline).
    pub(crate) fn take_all(&self) -> Vec<Pending> {
        std::mem::take(&mut self.lock().heap)
            .into_iter()
            .map(|w| w.pending)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_config::RetryConfig;
    use weir_core::{Batch, Signal};

    use super::*;

    fn pending() -> Pending {
        Pending {
            wire: None,
            delivery: Delivery::in_memory(Batch::empty(Signal::Traces)),
            first: Instant::now(),
            backoff: Backoff::new(&RetryConfig::default()),
        }
    }

    #[test]
    fn gives_back_in_due_order_and_only_when_due() {
        let p = Parked::new(2);
        let now = Instant::now();
        p.park(pending(), now + Duration::from_secs(2));
        assert!(p.has_room());
        p.park(pending(), now + Duration::from_secs(1));
        assert!(!p.has_room(), "limit of 2 reached");
        assert_eq!(p.next_due(), Some(now + Duration::from_secs(1)));
        assert!(p.take_due(now).is_none(), "nothing due yet");
        assert!(p.take_due(now + Duration::from_secs(1)).is_some());
        assert_eq!(p.next_due(), Some(now + Duration::from_secs(2)));
        assert_eq!(p.take_all().len(), 1);
        assert!(p.is_empty());
    }
}
