//! The scan must accept exactly what prost accepts, count what decoding counts, and flag the
//! items the receiver drops; checked on generated traffic, on every (field, wire type) pair of
//! every message, at the nesting limit, and on random corruptions.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use prost::Message;
use weir_synth::Generator;

use super::*;
use crate::Batch;
use crate::ids::{log_id_problem, span_id_problem};

/// What prost says about `bytes`: the batch, or that it does not decode.
fn prost_decode(signal: Signal, bytes: &[u8]) -> Option<Batch> {
    Some(match signal {
        Signal::Traces => Batch::Traces(ExportTraceServiceRequest::decode(bytes).ok()?),
        Signal::Metrics => Batch::Metrics(ExportMetricsServiceRequest::decode(bytes).ok()?),
        Signal::Logs => Batch::Logs(ExportLogsServiceRequest::decode(bytes).ok()?),
    })
}

/// Items whose ids the receiver drops.
fn bad_ids(b: &Batch) -> usize {
    match b {
        Batch::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|s| span_id_problem(s).is_some())
            .count(),
        Batch::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| &sl.log_records)
            .filter(|l| log_id_problem(l).is_some())
            .count(),
        _ => 0,
    }
}

/// Asserts that the scan agrees with prost on `bytes`; returns whether they were valid.
fn agree(signal: Signal, bytes: &[u8]) -> bool {
    let scanned = scan(signal, bytes);
    let decoded = prost_decode(signal, bytes);
    match (&scanned, &decoded) {
        (Ok(s), Some(b)) => {
            assert_eq!(s.items, b.item_count(), "items of {bytes:02x?}");
            assert_eq!(s.resources, b.resource_count(), "resources of {bytes:02x?}");
            assert_eq!(s.bad_ids, bad_ids(b), "bad ids of {bytes:02x?}");
            true
        }
        (Err(_), None) => false,
        _ => panic!(
            "scan {scanned:?} but prost {} on {bytes:02x?}",
            if decoded.is_some() {
                "decodes"
            } else {
                "refuses"
            }
        ),
    }
}

fn generated(seed: u64) -> [(Signal, Vec<u8>); 3] {
    let g = Generator::new(seed);
    [
        (Signal::Traces, g.clone().traces(40).encode_to_vec()),
        (Signal::Metrics, g.clone().metrics(40).encode_to_vec()),
        (Signal::Logs, g.clone().logs(40).encode_to_vec()),
    ]
}

#[test]
fn generated_traffic_scans_as_it_decodes() {
    for seed in 0..8 {
        for (signal, bytes) in generated(seed) {
            assert!(agree(signal, &bytes));
            let s = scan(signal, &bytes).expect("valid");
            assert!(s.items > 0 && s.resources > 0);
        }
    }
}

// Hand-made protobuf: a field key, a varint, a length-delimited field.
fn key(tag: u32, wire_type: u8) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(u64::from(tag) << 3 | u64::from(wire_type), &mut out);
    out
}

fn delimited(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = key(tag, 2);
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// A field of every wire type with a small payload, valid and not.
fn payloads(tag: u32) -> Vec<Vec<u8>> {
    vec![
        [key(tag, 0), vec![0x01]].concat(),
        [key(tag, 0), vec![0xff; 10]].concat(),
        [
            key(tag, 0),
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ]
        .concat(),
        [key(tag, 1), vec![0; 8]].concat(),
        [key(tag, 1), vec![0; 7]].concat(),
        [key(tag, 5), vec![0; 4]].concat(),
        delimited(tag, &[]),
        delimited(tag, b"\x08\x01"),
        delimited(tag, b"\x09\x00\x00\x00\x00\x00\x00\x00\x00"),
        delimited(tag, &[0xff]),
        delimited(tag, &[1u8; 16]),
        delimited(tag, &[1u8; 8]),
        [key(tag, 3), key(tag, 4)].concat(),
        [key(tag, 3), key(tag + 1, 4)].concat(),
        [key(tag, 3), key(1, 0), vec![5], key(tag, 4)].concat(),
        key(tag, 4),
        [key(tag, 6), vec![0]].concat(),
        [key(tag, 7), vec![0]].concat(),
    ]
}

/// Wraps `inner` (the fields of a message) in the messages on the way to it.
fn wrap(path: &[u32], inner: &[u8]) -> Vec<u8> {
    path.iter()
        .rev()
        .fold(inner.to_vec(), |acc, tag| delimited(*tag, &acc))
}

/// Valid ids for a span or log record, so that the field under test decides.
fn span_ids() -> Vec<u8> {
    [delimited(1, &[1; 16]), delimited(2, &[1; 8])].concat()
}

#[test]
fn every_field_of_every_message_accepts_what_prost_accepts() {
    // (signal, path of tags to the message, fields to put beside the one under test)
    let any_value = [1, 2, 2, 2, 9, 2];
    let paths: Vec<(Signal, Vec<u32>, Vec<u8>)> = vec![
        (Signal::Traces, vec![], vec![]),
        (Signal::Traces, vec![1], vec![]),
        (Signal::Traces, vec![1, 1], vec![]),
        (Signal::Traces, vec![1, 1, 3], vec![]),
        (Signal::Traces, vec![1, 2], vec![]),
        (Signal::Traces, vec![1, 2, 1], vec![]),
        (Signal::Traces, vec![1, 2, 2], vec![]),
        (Signal::Traces, vec![1, 2, 2], span_ids()),
        (Signal::Traces, vec![1, 2, 2, 9], vec![]),
        (Signal::Traces, any_value.to_vec(), vec![]),
        (Signal::Traces, [&any_value[..], &[5]].concat(), vec![]),
        (Signal::Traces, [&any_value[..], &[6]].concat(), vec![]),
        (Signal::Traces, vec![1, 2, 2, 11], vec![]),
        (Signal::Traces, vec![1, 2, 2, 13], vec![]),
        (Signal::Traces, vec![1, 2, 2, 15], vec![]),
        (Signal::Logs, vec![1, 2, 2], vec![]),
        (Signal::Logs, vec![1, 2, 2], span_ids()),
        (Signal::Logs, vec![1, 2, 2, 5], vec![]),
        (Signal::Metrics, vec![1, 2, 2], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 5], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 5, 1], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 5, 1, 5], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 7], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 9, 1], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 10, 1], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 10, 1, 8], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 11, 1], vec![]),
        (Signal::Metrics, vec![1, 2, 2, 11, 1, 6], vec![]),
    ];
    let mut valid = 0;
    let mut invalid = 0;
    for (signal, path, beside) in &paths {
        for tag in 1..=17 {
            for field in payloads(tag) {
                let bytes = wrap(path, &[beside.as_slice(), &field].concat());
                if agree(*signal, &bytes) {
                    valid += 1;
                } else {
                    invalid += 1;
                }
            }
        }
    }
    // Both outcomes occur, so the comparison says something.
    assert!(
        valid > 1000 && invalid > 1000,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn metric_data_counts_the_last_variant_as_decoding_keeps_it() {
    let point = delimited(1, &[]);
    let gauge = delimited(5, &[point.clone(), point.clone()].concat());
    let sum = delimited(7, &point);
    for metric in [
        [gauge.clone(), sum.clone()].concat(),
        [sum.clone(), gauge.clone()].concat(),
        [gauge.clone(), gauge.clone()].concat(),
        [gauge.clone(), sum.clone(), gauge.clone()].concat(),
    ] {
        assert!(agree(Signal::Metrics, &wrap(&[1, 2, 2], &metric)));
    }
}

#[test]
fn nesting_is_refused_where_prost_refuses_it() {
    // An attribute whose value is arrays in arrays, `levels` deep; the range crosses the limit,
    // so both answers occur for each shape.
    let (mut values, mut groups) = (Vec::new(), Vec::new());
    for levels in 40..52 {
        let mut value = delimited(1, b"x");
        for _ in 0..levels {
            value = delimited(5, &delimited(1, &value));
        }
        let kv = [delimited(1, b"k"), delimited(2, &value)].concat();
        let bytes = wrap(&[1, 2, 2], &[span_ids(), delimited(9, &kv)].concat());
        values.push(agree(Signal::Traces, &bytes));
        // And an unknown group nested as deep.
        let mut group = Vec::new();
        for _ in 0..levels * 2 {
            group = [key(20, 3), group, key(20, 4)].concat();
        }
        groups.push(agree(Signal::Traces, &wrap(&[1, 2, 2], &group)));
    }
    for (shape, answers) in [("values", &values), ("groups", &groups)] {
        assert!(
            answers.contains(&true) && answers.contains(&false),
            "{shape} never crossed the limit: {answers:?}"
        );
    }
}

#[test]
fn wire_batches_append_and_decode_to_what_they_hold() {
    let g = Generator::new(7);
    let (a, b) = (g.clone().traces(10), g.clone().traces(15));
    let mut typed = Batch::Traces(a.clone());
    typed.append(Batch::Traces(b.clone())).expect("same signal");

    let mut wire = Batch::empty(Signal::Traces);
    for r in [&a, &b] {
        let one = Batch::from_wire(Signal::Traces, Bytes::from(r.encode_to_vec())).expect("valid");
        assert!(matches!(one, Batch::Wire(_)));
        wire.append(one).expect("same signal");
    }
    let Batch::Wire(w) = &wire else {
        panic!("two wire batches stay bytes: {wire:?}");
    };
    assert_eq!(w.pieces().len(), 2);
    assert_eq!(wire.item_count(), 25);
    assert_eq!(wire.resource_count(), typed.resource_count());
    assert_eq!(wire.encoded_len(), typed.encoded_len());
    assert_eq!(&*wire.typed(), &typed);
    let mut decoded = wire.clone();
    decoded.make_typed();
    assert_eq!(decoded, typed);
    // Typed meets wire: decoded.
    let mut mixed = Batch::Traces(a);
    mixed
        .append(Batch::from_wire(Signal::Traces, Bytes::from(b.encode_to_vec())).expect("valid"))
        .expect("same signal");
    assert_eq!(mixed, typed);
    // Another signal is handed back.
    let logs = Batch::from_wire(Signal::Logs, Bytes::from(g.clone().logs(2).encode_to_vec()));
    assert!(wire.append(logs.expect("valid")).is_err());
}

#[test]
fn a_request_with_bad_ids_is_decoded_for_the_receiver() {
    let bad = wrap(&[1, 2, 2], &delimited(1, &[0; 16]));
    let b = Batch::from_wire(Signal::Traces, Bytes::from(bad)).expect("valid protobuf");
    assert!(matches!(b, Batch::Traces(_)), "{b:?}");
    assert!(Batch::from_wire(Signal::Traces, Bytes::from_static(b"\x0a\x05ab")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random corruptions of real requests: flipped bytes, cuts, insertions.
    #[test]
    fn corrupted_requests_scan_as_they_decode(
        seed in 0u64..1000,
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let (signal, mut bytes) = generated(seed)[which].clone();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        agree(signal, &bytes);
    }
}
