//! The bounded queue in front of each exporter: many pipelines send, N sender tasks receive.

use prometheus_client::metrics::gauge::Gauge;

use crate::Batch;

/// Creates a queue holding at most `capacity` batches; `size` tracks how many wait in it.
pub fn batch_queue(capacity: usize, size: Gauge) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = async_channel::bounded(capacity.max(1));
    (
        QueueSender {
            tx,
            size: size.clone(),
        },
        QueueReceiver { rx, size },
    )
}

/// The sending side, held by every pipeline that lists the exporter. The queue closes when the
/// last clone is dropped, which tells the exporter's senders to drain and stop.
#[derive(Clone, Debug)]
pub struct QueueSender {
    tx: async_channel::Sender<Batch>,
    size: Gauge,
}

impl QueueSender {
    /// Waits for room, then enqueues. Gives the batch back if every receiver is gone.
    pub async fn send(&self, batch: Batch) -> Result<(), Batch> {
        let r = self.tx.send(batch).await.map_err(|e| e.into_inner());
        self.size
            .set(i64::try_from(self.tx.len()).unwrap_or(i64::MAX));
        r
    }
}

/// The receiving side, cloned into each of an exporter's sender tasks.
#[derive(Clone, Debug)]
pub struct QueueReceiver {
    rx: async_channel::Receiver<Batch>,
    size: Gauge,
}

impl QueueReceiver {
    /// The next batch, or `None` once the queue is closed and empty.
    pub async fn recv(&self) -> Option<Batch> {
        let b = self.rx.recv().await.ok();
        self.size
            .set(i64::try_from(self.rx.len()).unwrap_or(i64::MAX));
        b
    }
}
