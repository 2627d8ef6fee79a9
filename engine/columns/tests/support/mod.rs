//! Helpers shared by the column property tests: realistic batches and how a session is lent one.

#![allow(dead_code, reason = "each test file uses some of the helpers")]

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use proptest::prelude::*;
use weir_core::Batch;
use weir_synth::Generator;
use weir_synth::strategy::extra_attributes;

/// A realistic batch of `n` items of one signal, maybe with secrets planted (which adds values
/// of every shape).
pub fn generated(seed: u64, signal: u8, n: usize, rate: f64) -> Batch {
    let mut g = Generator::new(seed).plant_secrets(rate);
    match signal {
        0 => Batch::Traces(g.traces(n)),
        1 => Batch::Metrics(g.metrics(n)),
        _ => Batch::Logs(g.logs(n)),
    }
}

/// A generated batch with arbitrary values added as attributes `x.<i>` of some items.
pub fn batch() -> impl Strategy<Value = Batch> {
    (
        any::<u64>(),
        0u8..3,
        0usize..120,
        prop_oneof![Just(0.0), 0.0..0.5f64],
        extra_attributes(6),
    )
        .prop_map(|(seed, signal, n, rate, extra)| {
            let mut b = generated(seed, signal, n, rate);
            let mut items = item_attributes_mut(&mut b);
            if !items.is_empty() {
                let len = items.len();
                for (at, kv) in extra {
                    items[at % len].push(kv);
                }
            }
            b
        })
}

/// `b` as a session is lent it: decoded, or (`wire`) kept as the protobuf bytes a receiver
/// keeps, which traces and logs sessions read and write in place.
pub fn lent(b: &Batch, wire: bool) -> Batch {
    if !wire {
        return b.clone();
    }
    Batch::from_wire(b.signal(), bytes::Bytes::from(b.encode_to_vec())).unwrap()
}

/// A batch a session gave back, decoded to compare.
pub fn typed(b: Batch) -> Batch {
    b.typed().into_owned()
}

/// Each item's attributes, in the order the column view numbers items.
pub fn item_attributes_mut(b: &mut Batch) -> Vec<&mut Vec<KeyValue>> {
    match b {
        Batch::Wire(_) => panic!("the generator makes typed batches"),
        Batch::Traces(r) => r
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
            .map(|s| &mut s.attributes)
            .collect(),
        Batch::Logs(r) => r
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
            .map(|l| &mut l.attributes)
            .collect(),
        Batch::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
            .flat_map(|m| -> Vec<&mut Vec<KeyValue>> {
                match m.data.as_mut() {
                    Some(Data::Gauge(g)) => g
                        .data_points
                        .iter_mut()
                        .map(|p| &mut p.attributes)
                        .collect(),
                    Some(Data::Sum(s)) => s
                        .data_points
                        .iter_mut()
                        .map(|p| &mut p.attributes)
                        .collect(),
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .iter_mut()
                        .map(|p| &mut p.attributes)
                        .collect(),
                    Some(Data::ExponentialHistogram(h)) => h
                        .data_points
                        .iter_mut()
                        .map(|p| &mut p.attributes)
                        .collect(),
                    Some(Data::Summary(s)) => s
                        .data_points
                        .iter_mut()
                        .map(|p| &mut p.attributes)
                        .collect(),
                    None => Vec::new(),
                }
            })
            .collect(),
    }
}

pub fn packed(items: &[u32]) -> Vec<u8> {
    items.iter().flat_map(|i| i.to_le_bytes()).collect()
}
