//! The bounded queue in front of each exporter: many pipelines send, N sender tasks receive.
//! In memory (`async-channel`, bounded in batches) or on disk ([`weir_spool::Spool`], bounded
//! in bytes, surviving restarts and crashes).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use prost::Message;
use weir_spool::{Spool, SpoolError};

use crate::{Batch, Signal, blocking};

/// How often a sender whose disk queue is full looks again for room.
const FULL_RECHECK: Duration = Duration::from_millis(50);

/// Creates a queue holding at most `capacity` batches; `size` tracks how many wait in it.
pub fn batch_queue(capacity: usize, size: Gauge) -> (QueueSender, QueueReceiver) {
    batch_queue_held(capacity, size, Gauge::default())
}

/// [`batch_queue`] that also keeps `held` at the encoded bytes of the batches it holds, from
/// the moment a pipeline hands one over until its sender task is done with it.
pub fn batch_queue_held(capacity: usize, size: Gauge, held: Gauge) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = async_channel::bounded(capacity.max(1));
    (
        QueueSender {
            kind: SenderKind::Memory(tx, held.clone()),
            size: size.clone(),
        },
        QueueReceiver {
            kind: ReceiverKind::Memory(rx, held),
            size,
        },
    )
}

/// A queue kept in `spool`: a batch is handed on once it is written there, and is removed only
/// when its sender task is done with it, so what a crash or the shutdown deadline interrupts is
/// sent after the next start. `size` tracks the records it holds.
pub fn disk_queue(spool: Arc<Spool>, size: Gauge) -> (QueueSender, QueueReceiver) {
    size.set(i64::try_from(spool.len()).unwrap_or(i64::MAX));
    (
        QueueSender {
            kind: SenderKind::Disk(Arc::new(DiskSender(spool.clone()))),
            size: size.clone(),
        },
        QueueReceiver {
            kind: ReceiverKind::Disk(spool),
            size,
        },
    )
}

/// Closes the spool when the last sender is gone, as dropping the last channel sender does.
#[derive(Debug)]
struct DiskSender(Arc<Spool>);

impl Drop for DiskSender {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[derive(Clone, Debug)]
enum SenderKind {
    /// The channel, carrying each batch with its encoded size, and the held-bytes gauge.
    Memory(async_channel::Sender<(Batch, u64)>, Gauge),
    Disk(Arc<DiskSender>),
}

/// The sending side, held by every pipeline that lists the exporter. The queue closes when the
/// last clone is dropped, which tells the exporter's senders to drain and stop.
#[derive(Clone, Debug)]
pub struct QueueSender {
    kind: SenderKind,
    size: Gauge,
}

impl QueueSender {
    /// Waits for room, then enqueues (on disk: writes it). Gives the batch back if the queue
    /// is closed. A full disk queue (or a failing disk) is waited out like a full channel:
    /// the caller bounds the wait and refuses upstream.
    pub async fn send(&self, batch: Batch) -> Result<(), Batch> {
        let bytes = batch.encoded_len() as u64;
        self.send_sized(batch, bytes).await
    }

    /// [`QueueSender::send`] of a batch whose encoded size (`bytes`, for the held-bytes gauge)
    /// is known, so that a pipeline sending one batch to several exporters measures it once.
    pub async fn send_sized(&self, batch: Batch, bytes: u64) -> Result<(), Batch> {
        match &self.kind {
            SenderKind::Memory(tx, held) => {
                // Counted from now; given back unless the batch reached the queue, also when
                // the caller stops waiting for room (this future is dropped).
                let mut pending = Held::new(held, bytes);
                let r = tx.send((batch, bytes)).await.map_err(|e| e.into_inner().0);
                if r.is_ok() {
                    pending.keep();
                }
                self.size.set(i64::try_from(tx.len()).unwrap_or(i64::MAX));
                r
            }
            SenderKind::Disk(d) => {
                let payload = encode(&batch);
                let mut warned = false;
                loop {
                    match blocking(|| d.0.append(&payload)) {
                        Ok(_) => {
                            self.size.set(i64::try_from(d.0.len()).unwrap_or(i64::MAX));
                            return Ok(());
                        }
                        Err(SpoolError::Closed) => return Err(batch),
                        Err(e) => {
                            if !warned {
                                tracing::warn!(error = %e, "disk queue has no room; waiting (upstream is refused meanwhile)");
                                warned = true;
                            }
                            tokio::time::sleep(FULL_RECHECK).await;
                        }
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum ReceiverKind {
    Memory(async_channel::Receiver<(Batch, u64)>, Gauge),
    Disk(Arc<Spool>),
}

/// The receiving side, cloned into each of an exporter's sender tasks.
#[derive(Clone, Debug)]
pub struct QueueReceiver {
    kind: ReceiverKind,
    size: Gauge,
}

/// One batch taken from a queue. Call [`Delivery::done`] once it is delivered or given up on
/// (and counted); a durable one dropped undone goes back to its disk queue, to be read again
/// by the next reader (after the next start at the latest).
#[derive(Debug)]
pub struct Delivery {
    /// The batch to send.
    pub batch: Batch,
    /// Its record in a disk queue.
    record: Option<(Arc<Spool>, u64)>,
    /// The held-bytes gauge of a memory queue and this batch's bytes, released on drop.
    held: Option<(Gauge, u64)>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some((gauge, bytes)) = self.held.take() {
            gauge.dec_by(gauge_value(bytes));
        }
        // Not done: the record goes back to its disk queue for the next reader (a sender that
        // stopped leaves it to those that take over); on disk it stays either way.
        // While a sender panics (a sink that panics on this batch) the record is not handed
        // on, or the next sender would take it and panic too; it is read again after a restart.
        if let Some((spool, seq)) = self.record.take()
            && !std::thread::panicking()
        {
            spool.release(seq);
        }
    }
}

/// Bytes added to a held gauge that go back off it when dropped, unless [`Held::keep`] hands
/// them on (to the batch in the queue, whose [`Delivery`] gives them back).
struct Held<'a> {
    gauge: &'a Gauge,
    bytes: u64,
}

impl<'a> Held<'a> {
    fn new(gauge: &'a Gauge, bytes: u64) -> Held<'a> {
        gauge.inc_by(gauge_value(bytes));
        Held { gauge, bytes }
    }

    fn keep(&mut self) {
        self.bytes = 0;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.gauge.dec_by(gauge_value(self.bytes));
    }
}

fn gauge_value(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// A delivery reads as its batch.
impl std::ops::Deref for Delivery {
    type Target = Batch;
    fn deref(&self) -> &Batch {
        &self.batch
    }
}

impl Delivery {
    /// A delivery of `batch` that belongs to no queue (tests, and batches made outside one).
    pub fn in_memory(batch: Batch) -> Delivery {
        Delivery {
            batch,
            record: None,
            held: None,
        }
    }

    /// True if the batch is kept on disk until [`Delivery::done`].
    pub fn is_durable(&self) -> bool {
        self.record.is_some()
    }

    /// Removes the batch from its disk queue (nothing to do for a memory queue).
    pub fn done(mut self) {
        if let Some((spool, seq)) = self.record.take()
            && let Err(e) = blocking(|| spool.ack(seq))
        {
            tracing::error!(error = %e, "cannot mark a disk queue record done; it may be sent again after a restart");
        }
    }
}

impl QueueReceiver {
    /// The next batch, or `None` once the queue is closed and empty. Disk records that do not
    /// decode (written by another version, or damaged) are logged and skipped.
    pub async fn recv(&self) -> Option<Delivery> {
        match &self.kind {
            ReceiverKind::Memory(rx, held) => {
                let b = rx.recv().await.ok();
                self.size.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
                b.map(|(batch, bytes)| Delivery {
                    batch,
                    record: None,
                    held: Some((held.clone(), bytes)),
                })
            }
            ReceiverKind::Disk(spool) => loop {
                let record = spool.next().await?;
                match decode(&record.payload) {
                    Some(batch) => {
                        return Some(Delivery {
                            batch,
                            record: Some((spool.clone(), record.seq)),
                            held: None,
                        });
                    }
                    None => {
                        tracing::error!(
                            seq = record.seq,
                            "a disk queue record does not decode; skipping it"
                        );
                        let _ = blocking(|| spool.ack(record.seq));
                    }
                }
            },
        }
    }

    /// True for a disk queue: what is left in it at the shutdown deadline is not lost.
    pub fn is_durable(&self) -> bool {
        matches!(self.kind, ReceiverKind::Disk(_))
    }
}

/// A batch as a disk record: its signal's index, then the OTLP protobuf request.
fn encode(batch: &Batch) -> Vec<u8> {
    let mut out = vec![u8::try_from(batch.signal().index()).unwrap_or(u8::MAX)];
    match batch {
        Batch::Traces(r) => r.encode_raw(&mut out),
        Batch::Metrics(r) => r.encode_raw(&mut out),
        Batch::Logs(r) => r.encode_raw(&mut out),
        Batch::Wire(w) => w.pieces().iter().for_each(|p| out.extend_from_slice(p)),
    }
    out
}

/// The batch a disk record holds, if it is a valid request: kept as bytes, since exporters send
/// it as it is.
fn decode(payload: &[u8]) -> Option<Batch> {
    let (&signal, body) = payload.split_first()?;
    let signal = *Signal::ALL.get(usize::from(signal))?;
    Batch::from_wire(signal, bytes::Bytes::copy_from_slice(body)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_bytes_follow_the_batch_and_are_given_back_when_a_send_is_abandoned() {
        let held = Gauge::default();
        let (tx, rx) = batch_queue_held(1, Gauge::default(), held.clone());
        let b = Batch::Logs(weir_synth::Generator::new(1).logs(10));
        let bytes = i64::try_from(b.encoded_len()).unwrap_or(i64::MAX);
        tx.send(b.clone()).await.expect("room");
        assert_eq!(held.get(), bytes);
        // The queue is full: a send that is given up on (dropped) must not stay counted.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), tx.send(b));
        assert!(waiting.await.is_err(), "no room");
        assert_eq!(held.get(), bytes);
        let d = rx.recv().await.expect("queued");
        assert_eq!(held.get(), bytes, "held while being sent");
        d.done();
        assert_eq!(held.get(), 0);
    }

    #[test]
    fn batches_survive_the_disk_encoding() {
        let g = weir_synth::Generator::new(3);
        for b in [
            Batch::Traces(g.clone().traces(20)),
            Batch::Metrics(g.clone().metrics(20)),
            Batch::Logs(g.clone().logs(20)),
        ] {
            // Read back as bytes, which decode to the batch written; written again unchanged.
            let read = decode(&encode(&b)).expect("a valid record");
            assert!(matches!(read, Batch::Wire(_)), "{read:?}");
            assert_eq!(&*read.typed(), &b);
            assert_eq!(encode(&read), encode(&b));
        }
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[7, 1, 2]), None);
        // A corrupt record (a length past the end) is refused, not read as an empty batch.
        assert_eq!(decode(&[0, 0x0a, 0x05, 1]), None);
    }
}
