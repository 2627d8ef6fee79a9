//! The plugin ABI, driven host-side: `weir_columns::Session` is what a guest's calls on a lent
//! batch reach (reads of columns, deferred writes, `finish` after the call). Arbitrary sequences
//! of reads and writes on two lent batches, interleaved, must never panic the host; `finish`
//! must return a batch with valid ids that encodes and decodes to itself, or (for a refused
//! write) the original batch untouched; and what one call does must not depend on what the
//! other did (its operations replayed alone give the same result).

use arbitrary::{Arbitrary, Unstructured};
use weir_columns::{Edit, IdField, Level, NumberField, Session, TextField, Value};
use weir_core::otlp::common::v1::any_value::Value as Any;
use weir_core::otlp::common::v1::{AnyValue, KeyValue};
use weir_core::{Batch, Signal};

use crate::receiver::{check_valid, decode, encode};

const KEYS: [&str; 5] = ["a", "http.url", "user.email", "k", "a.b"];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Lvl {
    Resource,
    Item,
}

#[derive(Arbitrary, Debug, Clone)]
enum Val {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Json(String),
}

/// One call a guest can make on a lent batch.
#[derive(Arbitrary, Debug, Clone)]
enum Op {
    Text(u8),
    Ids(u8),
    Numbers(u8),
    ItemResources,
    Attributes(Lvl),
    Attribute(Lvl, u8),
    OwnerAttributes(Lvl, u32),
    Otlp,
    OtlpJson,
    Set(Lvl, u8, Val, Option<Vec<u8>>),
    SetAnyKey(Lvl, String, Val),
    Remove(Lvl, u8, Option<Vec<u8>>),
    Drop(Vec<u8>),
    DropIndices(Vec<u32>),
    Edits(Vec<(u8, u32, u8, Val)>),
    Replace(Vec<u8>),
    ReplaceWithOwn,
}

fn level(l: Lvl) -> Level {
    match l {
        Lvl::Resource => Level::Resource,
        Lvl::Item => Level::Item,
    }
}

fn value(v: Val) -> Value {
    match v {
        Val::Str(s) => Value::Str(s),
        Val::Bool(b) => Value::Bool(b),
        Val::Int(i) => Value::Int(i),
        Val::Double(d) => Value::Double(d),
        Val::Bytes(b) => Value::Bytes(b),
        Val::Json(j) => Value::Json(j),
    }
}

fn key(k: u8) -> String {
    KEYS[usize::from(k) % KEYS.len()].to_string()
}

const TEXT: [TextField; 8] = [
    TextField::Name,
    TextField::StatusMessage,
    TextField::TraceState,
    TextField::SeverityText,
    TextField::Body,
    TextField::Unit,
    TextField::Description,
    TextField::ScopeName,
];
const IDS: [IdField; 3] = [IdField::TraceId, IdField::SpanId, IdField::ParentSpanId];
const NUMBERS: [NumberField; 6] = [
    NumberField::TimeUnixNano,
    NumberField::EndTimeUnixNano,
    NumberField::Kind,
    NumberField::StatusCode,
    NumberField::Value,
    NumberField::Flags,
];

fn pick<T: Copy>(all: &[T], i: u8) -> T {
    all[usize::from(i) % all.len()]
}

/// Runs one call on `s`; reads are made and dropped (the host must answer them, not panic).
fn run(s: &mut Session, op: Op) {
    match op {
        Op::Text(f) => drop(s.text(pick(&TEXT, f))),
        Op::Ids(f) => {
            let field = pick(&IDS, f);
            let ids = s.ids(field);
            assert!(ids.len().is_multiple_of(field.width()), "ids come whole");
        }
        Op::Numbers(f) => drop(s.numbers(pick(&NUMBERS, f))),
        Op::ItemResources => drop(s.item_resources()),
        Op::Attributes(l) => drop(s.attributes(level(l))),
        Op::Attribute(l, k) => drop(s.attribute(level(l), &key(k))),
        Op::OwnerAttributes(l, o) => drop(s.owner_attributes(level(l), o)),
        Op::Otlp => drop(s.otlp()),
        Op::OtlpJson => drop(s.otlp_json()),
        Op::Set(l, k, v, owners) => s.set_attribute(level(l), key(k), value(v), owners.as_deref()),
        Op::SetAnyKey(l, k, v) => s.set_attribute(level(l), k, value(v), None),
        Op::Remove(l, k, owners) => s.remove_attribute(level(l), key(k), owners.as_deref()),
        Op::Drop(bytes) => s.drop_items(&bytes),
        Op::DropIndices(items) => {
            let packed: Vec<u8> = items.iter().flat_map(|i| i.to_le_bytes()).collect();
            s.drop_items(&packed);
        }
        Op::Edits(edits) => s.apply(
            edits
                .into_iter()
                .map(|(kind, owner, k, v)| match kind % 3 {
                    0 => Edit::SetAttribute {
                        level: if k % 2 == 0 {
                            Level::Item
                        } else {
                            Level::Resource
                        },
                        owner,
                        key: key(k),
                        value: value(v),
                    },
                    1 => Edit::RemoveAttribute {
                        level: Level::Item,
                        owner,
                        key: key(k),
                    },
                    _ => Edit::SetText {
                        item: owner,
                        field: pick(&TEXT, k),
                        value: match v {
                            Val::Str(s) => s,
                            other => format!("{other:?}"),
                        },
                    },
                })
                .collect(),
        ),
        Op::Replace(bytes) => drop(s.replace_otlp(&bytes)),
        Op::ReplaceWithOwn => {
            let own = s.otlp();
            drop(s.replace_otlp(&own));
        }
    }
}

/// What `finish` gave, as protobuf bytes, after checking it.
fn finish(s: Session, original: &Batch) -> Vec<u8> {
    match s.finish() {
        Ok(batch) => {
            assert_eq!(
                batch.signal(),
                original.signal(),
                "a call changed the signal"
            );
            check_valid(&batch);
            let bytes = encode(&batch);
            let again = decode(batch.signal(), &bytes).map(|b| encode(&b));
            assert!(
                again.as_deref() == Some(&bytes[..]),
                "the result does not decode to itself"
            );
            bytes
        }
        Err((batch, _invalid)) => {
            let bytes = encode(&batch);
            assert!(
                bytes == encode(original),
                "a refused call changed the batch"
            );
            bytes
        }
    }
}

/// A small valid batch of `signal` built from `u`.
fn batch(u: &mut Unstructured<'_>, signal: Signal) -> Batch {
    use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use weir_core::otlp::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use weir_core::otlp::resource::v1::Resource;
    use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    let attrs = |u: &mut Unstructured<'_>| -> Vec<KeyValue> {
        let n = u.int_in_range(0..=3u8).unwrap_or(0);
        (0..n)
            .map(|i| KeyValue {
                key: KEYS[usize::from(i) % KEYS.len()].to_string(),
                value: Some(AnyValue {
                    value: Some(match u.int_in_range(0..=2u8).unwrap_or(0) {
                        0 => Any::StringValue(u.arbitrary().unwrap_or_default()),
                        1 => Any::IntValue(u.arbitrary().unwrap_or_default()),
                        _ => Any::BoolValue(u.arbitrary().unwrap_or_default()),
                    }),
                }),
                ..Default::default()
            })
            .collect()
    };
    let resources = u.int_in_range(1..=3u8).unwrap_or(1);
    let mut next_id = 1u8;
    let mut id = |w: usize| {
        next_id = next_id.wrapping_add(1).max(1);
        vec![next_id; w]
    };
    match signal {
        Signal::Traces => Batch::Traces(ExportTraceServiceRequest {
            resource_spans: (0..resources)
                .map(|_| ResourceSpans {
                    resource: Some(Resource {
                        attributes: attrs(u),
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans: (0..u.int_in_range(0..=4u8).unwrap_or(1))
                            .map(|_| Span {
                                trace_id: id(16),
                                span_id: id(8),
                                name: u.arbitrary().unwrap_or_default(),
                                attributes: attrs(u),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }),
        Signal::Metrics => Batch::Metrics(ExportMetricsServiceRequest {
            resource_metrics: (0..resources)
                .map(|_| ResourceMetrics {
                    resource: Some(Resource {
                        attributes: attrs(u),
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "m".into(),
                            data: Some(metric::Data::Gauge(Gauge {
                                data_points: (0..u.int_in_range(0..=4u8).unwrap_or(1))
                                    .map(|i| NumberDataPoint {
                                        attributes: attrs(u),
                                        value: Some(number_data_point::Value::AsInt(i.into())),
                                        ..Default::default()
                                    })
                                    .collect(),
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }),
        Signal::Logs => Batch::Logs(ExportLogsServiceRequest {
            resource_logs: (0..resources)
                .map(|_| ResourceLogs {
                    resource: Some(Resource {
                        attributes: attrs(u),
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: (0..u.int_in_range(0..=4u8).unwrap_or(1))
                            .map(|_| LogRecord {
                                body: Some(AnyValue {
                                    value: Some(Any::StringValue(
                                        u.arbitrary().unwrap_or_default(),
                                    )),
                                }),
                                attributes: attrs(u),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }),
    }
}

/// Two lent batches, arbitrary interleaved calls on them, then `finish` on both.
pub fn plugin_abi(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let signal = Signal::ALL[usize::from(u.arbitrary::<u8>().unwrap_or(0)) % 3];
    let (a, b) = (batch(&mut u, signal), batch(&mut u, signal));
    let ops: Vec<(bool, Op)> = u.arbitrary().unwrap_or_default();
    let (mut sa, mut sb) = (Session::new(a.clone()), Session::new(b.clone()));
    for (on_b, op) in ops.iter().take(64).cloned() {
        run(if on_b { &mut sb } else { &mut sa }, op);
    }
    let (got_a, got_b) = (finish(sa, &a), finish(sb, &b));
    // Each call's operations replayed alone give the same result: nothing leaked between them.
    for (on_b, original, got) in [(false, &a, got_a), (true, &b, got_b)] {
        let mut alone = Session::new(original.clone());
        for (_, op) in ops.iter().take(64).filter(|(b, _)| *b == on_b).cloned() {
            run(&mut alone, op);
        }
        assert!(
            finish(alone, original) == got,
            "one lent batch changed another's result"
        );
    }
}
