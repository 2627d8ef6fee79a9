//! The batch type: one OTLP export request of one signal, decoded once by a receiver and encoded
//! once by an exporter, or kept as its bytes all the way ([`Wire`]) when nothing reads it.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;

use crate::wire::{Wire, WireError};

/// The three OTLP signals. Pipelines, receivers and metrics are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in the order Weir lists them.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lower-case name used in config (`[pipelines.traces]`) and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The position of this signal in [`Signal::ALL`], for per-signal arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses the config name of a signal.
    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// What one item of this signal is called, for logs and summaries.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OTLP export request of one signal. Stages mutate it in place; fan-out clones it once per
/// extra exporter.
///
/// Code that reads fields first makes a [`Batch::Wire`] typed ([`Batch::make_typed`],
/// [`Batch::typed`]); the other variants are then the only ones it meets.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// A traces request.
    Traces(ExportTraceServiceRequest),
    /// A metrics request.
    Metrics(ExportMetricsServiceRequest),
    /// A logs request.
    Logs(ExportLogsServiceRequest),
    /// A request of any signal kept as the protobuf bytes it arrived in, for pipelines that
    /// pass it on unread (see [`crate::wire`]). Boxed so that a `Batch` stays as small as a
    /// request (bounded queues allocate a slot per entry up front).
    Wire(Box<Wire>),
}

impl Batch {
    /// An empty batch of `signal`, the starting point of a batcher.
    pub fn empty(signal: Signal) -> Batch {
        match signal {
            Signal::Traces => Batch::Traces(ExportTraceServiceRequest::default()),
            Signal::Metrics => Batch::Metrics(ExportMetricsServiceRequest::default()),
            Signal::Logs => Batch::Logs(ExportLogsServiceRequest::default()),
        }
    }

    /// Which signal this batch carries.
    pub fn signal(&self) -> Signal {
        match self {
            Batch::Traces(_) => Signal::Traces,
            Batch::Metrics(_) => Signal::Metrics,
            Batch::Logs(_) => Signal::Logs,
            Batch::Wire(w) => w.signal(),
        }
    }

    /// Checks `bytes` as an export request of `signal` and keeps them as a [`Batch::Wire`];
    /// decoded instead when some of its items have ids the receiver must drop (so that it can).
    pub fn from_wire(signal: Signal, bytes: Bytes) -> Result<Batch, WireError> {
        let (wire, scan) = Wire::new(signal, bytes)?;
        if scan.bad_ids == 0 {
            return Ok(Batch::Wire(Box::new(wire)));
        }
        let mut batch = Batch::Wire(Box::new(wire));
        batch.make_typed();
        Ok(batch)
    }

    /// Decodes a [`Batch::Wire`] in place; other batches stay as they are.
    pub fn make_typed(&mut self) {
        if let Batch::Wire(w) = self {
            *self = decode_wire(w);
        }
    }

    /// The batch with its fields readable: itself, or a decoded copy of a [`Batch::Wire`].
    pub fn typed(&self) -> Cow<'_, Batch> {
        match self {
            Batch::Wire(w) => Cow::Owned(decode_wire(w)),
            other => Cow::Borrowed(other),
        }
    }

    /// The batch as an OTLP protobuf export request in one buffer: a [`Batch::Wire`]'s bytes
    /// without copying when it is one piece, else encoded.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Batch::Wire(w) => w.to_bytes(),
            other => Bytes::from(other.encode_to_vec()),
        }
    }

    /// The size of the batch as an OTLP protobuf request: what memory accounting counts
    /// (cheaper than measuring the heap, and proportional to it).
    pub fn encoded_len(&self) -> usize {
        match self {
            Batch::Traces(r) => r.encoded_len(),
            Batch::Metrics(r) => r.encoded_len(),
            Batch::Logs(r) => r.encoded_len(),
            Batch::Wire(w) => w.len(),
        }
    }

    /// The batch as an OTLP protobuf export request (what exporters send).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            Batch::Traces(r) => r.encode_to_vec(),
            Batch::Metrics(r) => r.encode_to_vec(),
            Batch::Logs(r) => r.encode_to_vec(),
            Batch::Wire(w) => w.to_bytes().to_vec(),
        }
    }

    /// The number of items: spans, metric data points (histogram buckets do not count
    /// separately, as in the Collector) or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Batch::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Batch::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| data_point_count(m.data.as_ref()))
                .sum(),
            Batch::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            Batch::Wire(w) => w.items(),
        }
    }

    /// The number of resource entries (resource spans, metrics or logs).
    pub fn resource_count(&self) -> usize {
        match self {
            Batch::Traces(r) => r.resource_spans.len(),
            Batch::Metrics(r) => r.resource_metrics.len(),
            Batch::Logs(r) => r.resource_logs.len(),
            Batch::Wire(w) => w.resources(),
        }
    }

    /// True when the batch holds no items and no resources.
    pub fn is_empty(&self) -> bool {
        self.resource_count() == 0
    }

    /// Appends the resources of `other` to this batch. Both must carry the same signal; a batch
    /// of another signal is handed back unchanged so that nothing is lost. Two [`Batch::Wire`]s
    /// stay bytes (the pieces are kept, not copied); a wire batch meeting a typed one is decoded.
    pub fn append(&mut self, other: Batch) -> Result<(), Batch> {
        if self.signal() != other.signal() {
            return Err(other);
        }
        if self.is_empty() && !matches!(self, Batch::Wire(_)) {
            // An empty batcher takes the other's form, so that wire batches stay wire.
            *self = other;
            return Ok(());
        }
        let mut other = match (&mut *self, other) {
            (Batch::Wire(a), Batch::Wire(b)) => {
                a.append(*b);
                return Ok(());
            }
            (_, other) => other,
        };
        // A wire batch meeting a typed one: both typed (a no-op for the typed side).
        self.make_typed();
        other.make_typed();
        match (self, other) {
            (Batch::Traces(a), Batch::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (Batch::Metrics(a), Batch::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
            (Batch::Logs(a), Batch::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (_, other) => return Err(other),
        }
        Ok(())
    }
}

/// Decodes a wire batch. Its bytes passed [`crate::wire::scan`], which refuses what prost
/// refuses, so this does not fail; if it ever did, the error is logged as the bug it is and the
/// batch is empty rather than the process down.
fn decode_wire(w: &Wire) -> Batch {
    fn decode<T: Message + Default>(w: &Wire) -> T {
        T::decode(w.to_bytes()).unwrap_or_else(|e| {
            tracing::error!(
                signal = %w.signal(),
                bytes = w.len(),
                error = %e,
                "bug: a request that passed the wire scan does not decode; its items are lost"
            );
            T::default()
        })
    }
    match w.signal() {
        Signal::Traces => Batch::Traces(decode(w)),
        Signal::Metrics => Batch::Metrics(decode(w)),
        Signal::Logs => Batch::Logs(decode(w)),
    }
}

/// Counts the data points of one metric (its items).
pub fn data_point_count(data: Option<&Data>) -> usize {
    match data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn traces(spans: usize) -> Batch {
        Batch::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[test]
    fn a_batch_is_as_small_as_a_request() {
        // Bounded queues allocate a slot per entry up front (a sending queue of a million
        // requests): a wider `Batch` costs memory before any data arrives.
        assert!(
            std::mem::size_of::<Batch>() <= std::mem::size_of::<ExportTraceServiceRequest>() + 8,
            "{} bytes",
            std::mem::size_of::<Batch>()
        );
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (i, s) in Signal::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn counts_and_appends_items() {
        let mut a = traces(3);
        a.append(traces(2)).expect("same signal");
        assert_eq!(a.item_count(), 5);
        assert_eq!(a.resource_count(), 2);
    }

    #[test]
    fn append_of_another_signal_hands_the_batch_back() {
        let mut a = traces(1);
        let back = a.append(Batch::empty(Signal::Logs));
        assert_eq!(back, Err(Batch::empty(Signal::Logs)));
        assert_eq!(a.item_count(), 1);
    }
}
