//! Properties of the column view plugins read and write through, on realistic batches from
//! `weir-synth` (every signal, every metric type, secrets planted as nested arrays, maps and
//! bytes) with arbitrary attribute values added:
//! - batch → columns → batch is the identity: lending a batch and finishing without writes,
//!   replacing it with its own OTLP bytes, and writing every attribute and text back as read
//!   (the path a plugin's `set-attribute`/`apply` takes, JSON-encoded maps and arrays included)
//!   all give back exactly the batch lent;
//! - every column read agrees with the items it was read from;
//! - dropping items keeps exactly the others, in order.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use proptest::prelude::*;
use prost::Message;
use weir_columns::{
    Edit, IdField, Level, NumberField, Session, Strings, TextField, Value, ValueColumn, kind,
};
use weir_core::Batch;
use weir_synth::Generator;
use weir_synth::strategy::extra_attributes;

/// A realistic batch of `n` items of one signal, maybe with secrets planted (which adds values
/// of every shape).
fn generated(seed: u64, signal: u8, n: usize, rate: f64) -> Batch {
    let mut g = Generator::new(seed).plant_secrets(rate);
    match signal {
        0 => Batch::Traces(g.traces(n)),
        1 => Batch::Metrics(g.metrics(n)),
        _ => Batch::Logs(g.logs(n)),
    }
}

/// A generated batch with arbitrary values added as attributes `x.<i>` of some items.
fn batch() -> impl Strategy<Value = Batch> {
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
fn lent(b: &Batch, wire: bool) -> Batch {
    if !wire {
        return b.clone();
    }
    Batch::from_wire(b.signal(), bytes::Bytes::from(b.encode_to_vec())).unwrap()
}

/// A batch a session gave back, decoded to compare.
fn typed(b: Batch) -> Batch {
    b.typed().into_owned()
}

/// Each item's attributes, in the order the column view numbers items.
fn item_attributes_mut(b: &mut Batch) -> Vec<&mut Vec<KeyValue>> {
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

/// Each item's attributes and resource index.
fn items(b: &Batch) -> Vec<(u32, Vec<KeyValue>)> {
    let mut b = b.clone();
    let resources: Vec<u32> = match &b {
        Batch::Wire(_) => panic!("the generator makes typed batches"),
        Batch::Traces(r) => (0u32..)
            .zip(&r.resource_spans)
            .flat_map(|(i, r)| {
                std::iter::repeat_n(i, r.scope_spans.iter().map(|s| s.spans.len()).sum())
            })
            .collect(),
        Batch::Logs(r) => (0u32..)
            .zip(&r.resource_logs)
            .flat_map(|(i, r)| {
                std::iter::repeat_n(i, r.scope_logs.iter().map(|s| s.log_records.len()).sum())
            })
            .collect(),
        Batch::Metrics(r) => (0u32..)
            .zip(&r.resource_metrics)
            .flat_map(|(i, r)| {
                let points = r
                    .scope_metrics
                    .iter()
                    .flat_map(|s| &s.metrics)
                    .map(|m| weir_core::data_point_count(m.data.as_ref()))
                    .sum();
                std::iter::repeat_n(i, points)
            })
            .collect(),
    };
    let attrs: Vec<Vec<KeyValue>> = item_attributes_mut(&mut b)
        .into_iter()
        .map(|a| a.clone())
        .collect();
    resources.into_iter().zip(attrs).collect()
}

fn strings(s: &Strings) -> Vec<String> {
    let offsets: Vec<usize> = s
        .offsets
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize)
        .collect();
    offsets
        .windows(2)
        .map(|w| String::from_utf8(s.data[w[0]..w[1]].to_vec()).unwrap())
        .collect()
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The values of a column as plugins decode them (`None` for absent).
fn values(c: &ValueColumn) -> Vec<Option<Value>> {
    let text = |raw: &[u8]| String::from_utf8(raw.to_vec()).unwrap();
    let raw_text = {
        let offsets = u32s(&c.text.offsets);
        offsets
            .windows(2)
            .map(|w| c.text.data[w[0] as usize..w[1] as usize].to_vec())
            .collect::<Vec<_>>()
    };
    c.kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let n = u64::from_le_bytes(c.numbers[i * 8..i * 8 + 8].try_into().unwrap());
            match *k {
                kind::ABSENT => None,
                kind::STR => Some(Value::Str(text(&raw_text[i]))),
                kind::BOOL => Some(Value::Bool(n != 0)),
                kind::INT => Some(Value::Int(n.cast_signed())),
                kind::DOUBLE => Some(Value::Double(f64::from_bits(n))),
                kind::BYTES => Some(Value::Bytes(raw_text[i].clone())),
                kind::JSON => Some(Value::Json(text(&raw_text[i]))),
                other => panic!("unknown kind {other}"),
            }
        })
        .collect()
}

/// A value as the column view presents it.
fn as_value(v: &AnyValue) -> Option<Value> {
    use any_value::Value as V;
    Some(match v.value.as_ref()? {
        V::StringValue(s) => Value::Str(s.clone()),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::Int(*i),
        V::DoubleValue(d) => Value::Double(*d),
        V::BytesValue(b) => Value::Bytes(b.clone()),
        V::StringValueStrindex(_) => return None,
        other => Value::Json(
            serde_json::to_string(&AnyValue {
                value: Some(other.clone()),
            })
            .unwrap(),
        ),
    })
}

/// The text fields each signal lets plugins write.
fn writable_texts(b: &Batch) -> &'static [TextField] {
    match b {
        Batch::Wire(_) => panic!("the generator makes typed batches"),
        Batch::Traces(_) => &[TextField::Name, TextField::TraceState],
        Batch::Logs(_) => &[TextField::Name, TextField::SeverityText],
        Batch::Metrics(_) => &[TextField::Name, TextField::Unit, TextField::Description],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn lending_without_writes_gives_the_batch_back(b in batch(), wire in any::<bool>()) {
        let input = lent(&b, wire);
        let s = Session::new(input.clone());
        let out = s.finish().unwrap();
        if wire && b.signal() != weir_core::Signal::Metrics {
            // Kept as the very bytes that came in.
            prop_assert_eq!(&out, &input);
        }
        prop_assert_eq!(typed(out), b);
    }

    #[test]
    fn replacing_a_batch_with_its_own_otlp_bytes_is_the_identity(b in batch(), wire in any::<bool>()) {
        let mut s = Session::new(lent(&b, wire));
        let bytes = s.otlp();
        s.replace_otlp(&bytes).unwrap();
        prop_assert_eq!(typed(s.finish().unwrap()), b);
    }

    #[test]
    fn writing_back_every_value_as_read_is_the_identity(b in batch(), wire in any::<bool>(), texts in any::<bool>()) {
        let mut s = Session::new(lent(&b, wire));
        let mut edits = Vec::new();
        for level in [Level::Item, Level::Resource] {
            let table = s.attributes(level);
            let owners = u32s(&table.owners);
            let keys = u32s(&table.key_ids);
            for ((owner, key), value) in owners.iter().zip(keys).zip(values(&table.values)) {
                let key = table.keys[key as usize].clone();
                match value {
                    Some(value) => edits.push(Edit::SetAttribute { level, owner: *owner, key, value }),
                    None => edits.push(Edit::RemoveAttribute { level, owner: *owner, key }),
                }
            }
        }
        // Text writes make a wire session decode; without them it writes the bytes in place.
        for field in writable_texts(&b).iter().filter(|_| texts) {
            for (item, value) in (0u32..).zip(strings(&s.text(*field))) {
                edits.push(Edit::SetText { item, field: *field, value });
            }
        }
        // An attribute with no value cannot be written back, only removed: drop those from
        // what is expected.
        let mut expected = b.clone();
        for attrs in item_attributes_mut(&mut expected) {
            attrs.retain(|kv| kv.value.as_ref().is_some_and(|v| v.value.is_some()));
        }
        s.apply(edits);
        prop_assert_eq!(typed(s.finish().unwrap()), expected);
    }

    #[test]
    fn columns_agree_with_items(b in batch(), wire in any::<bool>()) {
        let s = Session::new(lent(&b, wire));
        let items = items(&b);
        prop_assert_eq!(s.len() as usize, items.len());
        prop_assert_eq!(u32s(&s.item_resources()), items.iter().map(|(r, _)| *r).collect::<Vec<_>>());
        // Each attribute column agrees with each item's own attributes.
        let table = s.attributes(Level::Item);
        let rows: Vec<(u32, String, Option<Value>)> = u32s(&table.owners)
            .into_iter()
            .zip(u32s(&table.key_ids))
            .zip(values(&table.values))
            .map(|((o, k), v)| (o, table.keys[k as usize].clone(), v))
            .collect();
        let expected: Vec<(u32, String, Option<Value>)> = (0u32..)
            .zip(&items)
            .flat_map(|(i, (_, attrs))| {
                attrs.iter().map(move |kv| (i, kv.key.clone(), kv.value.as_ref().and_then(as_value)))
            })
            .collect();
        prop_assert_eq!(rows, expected);
        for key in ["http.route", "log.logger", "x.0"] {
            let column = values(&s.attribute(Level::Item, key));
            let want: Vec<Option<Value>> = items
                .iter()
                .map(|(_, attrs)| {
                    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref().and_then(as_value))
                })
                .collect();
            prop_assert_eq!(column, want, "{}", key);
        }
        if let Batch::Traces(r) = &b {
            let spans: Vec<_> = r.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
            prop_assert_eq!(strings(&s.text(TextField::Name)), spans.iter().map(|s| s.name.clone()).collect::<Vec<_>>());
            prop_assert_eq!(s.ids(IdField::TraceId), spans.iter().flat_map(|s| s.trace_id.clone()).collect::<Vec<_>>());
            prop_assert_eq!(s.ids(IdField::SpanId), spans.iter().flat_map(|s| s.span_id.clone()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn dropping_items_keeps_exactly_the_others(b in batch(), mask in proptest::collection::vec(any::<bool>(), 120), wire in any::<bool>()) {
        let mut s = Session::new(lent(&b, wire));
        let drop: Vec<u32> = (0..s.len()).filter(|i| mask[*i as usize]).collect();
        let packed: Vec<u8> = drop.iter().flat_map(|i| i.to_le_bytes()).collect();
        s.drop_items(&packed);
        let out = typed(s.finish().unwrap());
        let kept: Vec<Vec<KeyValue>> = items(&b)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !mask[*i])
            .map(|(_, (_, a))| a)
            .collect();
        let got: Vec<Vec<KeyValue>> = items(&out).into_iter().map(|(_, a)| a).collect();
        prop_assert_eq!(got, kept);
        prop_assert_eq!(out.item_count(), b.item_count() - drop.len());
    }
}

/// Realistic batches survive OTLP protobuf encoding too (guards the generator's own output).
#[test]
fn generated_batches_are_valid_otlp() {
    for signal in 0..3 {
        let b = generated(11, signal, 500, 0.1);
        let s = Session::new(b.clone());
        let bytes = s.otlp();
        assert!(!bytes.is_empty());
        let decoded = match &b {
            Batch::Wire(_) => panic!("the generator makes typed batches"),
            Batch::Traces(_) => Batch::Traces(Message::decode(bytes.as_slice()).unwrap()),
            Batch::Metrics(_) => Batch::Metrics(Message::decode(bytes.as_slice()).unwrap()),
            Batch::Logs(_) => Batch::Logs(Message::decode(bytes.as_slice()).unwrap()),
        };
        assert_eq!(decoded, b);
    }
}

fn packed(items: &[u32]) -> Vec<u8> {
    items.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// One item lent alone with `otlp-items`, without its resource, scope or metric metadata:
/// what `find` must search for that item.
fn own_text(s: &mut Session, item: u32) -> Vec<u8> {
    let lent = s.otlp_items(&packed(&[item]));
    let mut b = match s.signal() {
        weir_core::Signal::Traces => Batch::Traces(Message::decode(lent.as_slice()).unwrap()),
        weir_core::Signal::Metrics => Batch::Metrics(Message::decode(lent.as_slice()).unwrap()),
        weir_core::Signal::Logs => Batch::Logs(Message::decode(lent.as_slice()).unwrap()),
    };
    match &mut b {
        Batch::Wire(_) => panic!("the generator makes typed batches"),
        Batch::Traces(r) => r.resource_spans.iter_mut().for_each(|r| {
            r.resource = None;
            r.scope_spans.iter_mut().for_each(|s| s.scope = None);
        }),
        Batch::Logs(r) => r.resource_logs.iter_mut().for_each(|r| {
            r.resource = None;
            r.scope_logs.iter_mut().for_each(|s| s.scope = None);
        }),
        Batch::Metrics(r) => r.resource_metrics.iter_mut().for_each(|r| {
            r.resource = None;
            r.scope_metrics.iter_mut().for_each(|s| {
                s.scope = None;
                s.metrics.iter_mut().for_each(|m| m.metadata.clear());
            });
        }),
    }
    b.encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lent_items_handed_back_unchanged_leave_the_batch_as_it_was(
        b in batch(),
        pick in proptest::collection::vec(any::<bool>(), 120),
        wire in any::<bool>(),
    ) {
        let mut s = Session::new(lent(&b, wire));
        let list: Vec<u32> = (0..s.len()).filter(|&i| pick[i as usize % 120]).collect();
        let lent = s.otlp_items(&packed(&list));
        s.replace_items(&packed(&list), &lent).unwrap();
        prop_assert_eq!(typed(s.finish().unwrap()), b);
    }

    /// `find` misses no item holding a planted secret in its own text: an item it does not
    /// report holds none of the planted values anywhere (resources, scopes and metric metadata
    /// aside, which it reports as shared).
    #[test]
    fn find_misses_no_item_holding_a_planted_secret(
        seed in any::<u64>(),
        signal in 0u8..3,
        n in 1usize..80,
        wire in any::<bool>(),
    ) {
        let mut g = Generator::new(seed).plant_secrets(0.2);
        let b = match signal {
            0 => Batch::Traces(g.traces(n)),
            1 => Batch::Metrics(g.metrics(n)),
            _ => Batch::Logs(g.logs(n)),
        };
        let planted: Vec<String> = g
            .planted()
            .iter()
            .filter(|p| p.kind != weir_synth::SecretKind::CardInteger)
            .map(|p| p.value.clone())
            .collect();
        prop_assume!(!planted.is_empty());
        let patterns: Vec<String> = planted.iter().map(|v| regex_syntax::escape(v)).collect();
        let mut s = Session::new(lent(&b, wire));
        let found = s.find(&weir_columns::Matcher::new(&patterns, true).unwrap());
        let reported: Vec<u32> = found
            .items
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        for item in (0..s.len()).filter(|i| !reported.contains(i)) {
            let text = own_text(&mut s, item);
            for v in &planted {
                prop_assert!(
                    !text.windows(v.len()).any(|w| w == v.as_bytes()),
                    "item {} holds {:?} but find did not report it", item, v
                );
            }
        }
    }
}

/// One write a plugin may ask for, for the agreement property below.
#[derive(Debug, Clone)]
enum Op {
    Set(Level, &'static str, Value, Option<Vec<u32>>),
    Remove(Level, &'static str, Option<Vec<u32>>),
    Drop(Vec<u32>),
    Edits(Vec<(Level, u32, &'static str, Option<Value>)>),
    /// `set-attribute-values`: each owner its own value, `None` removing.
    Values(Level, &'static str, Vec<(u32, Option<Value>)>),
}

fn op() -> impl Strategy<Value = Op> {
    let level = prop_oneof![Just(Level::Item), Just(Level::Resource)];
    // Keys the generator uses (so that writes replace and remove existing attributes), and new.
    let key = prop_oneof![
        Just("http.route"),
        Just("service.name"),
        Just("x.0"),
        Just("log.logger"),
        Just("new.key")
    ];
    let value = prop_oneof![
        "[a-z@.]{0,12}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        (-1e9f64..1e9).prop_map(Value::Double),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytes),
    ];
    let owners = proptest::option::of(proptest::collection::vec(0u32..400, 0..12));
    prop_oneof![
        (level.clone(), key.clone(), value.clone(), owners.clone())
            .prop_map(|(l, k, v, o)| Op::Set(l, k, v, o)),
        (level.clone(), key.clone(), owners).prop_map(|(l, k, o)| Op::Remove(l, k, o)),
        proptest::collection::vec(0u32..400, 0..20).prop_map(Op::Drop),
        proptest::collection::vec(
            (
                level.clone(),
                0u32..400,
                key.clone(),
                proptest::option::of(value.clone())
            ),
            0..12
        )
        .prop_map(Op::Edits),
        (
            level,
            key,
            proptest::collection::vec((0u32..400, proptest::option::of(value)), 0..12)
        )
            .prop_map(|(l, k, v)| Op::Values(l, k, v)),
    ]
}

/// Runs `ops` on a session, with owner indices folded into range.
fn run_ops(s: &mut Session, ops: &[Op]) {
    let (items, resources) = (s.len().max(1), s.resource_count().max(1));
    let fold = |level: Level, o: u32| match level {
        Level::Item => o % items,
        Level::Resource => o % resources,
    };
    let list = |level: Level, o: &Option<Vec<u32>>| {
        o.as_ref().map(|o| {
            let mut v: Vec<u32> = o.iter().map(|&x| fold(level, x)).collect();
            v.sort_unstable();
            v.dedup();
            packed(&v)
        })
    };
    for op in ops {
        match op {
            Op::Set(l, k, v, o) => {
                s.set_attribute(*l, (*k).into(), v.clone(), list(*l, o).as_deref());
            }
            Op::Remove(l, k, o) => s.remove_attribute(*l, (*k).into(), list(*l, o).as_deref()),
            Op::Drop(d) => s.drop_items(&list(Level::Item, &Some(d.clone())).unwrap()),
            Op::Edits(e) => s.apply(
                e.iter()
                    .map(|(l, o, k, v)| match v {
                        Some(value) => Edit::SetAttribute {
                            level: *l,
                            owner: fold(*l, *o),
                            key: (*k).into(),
                            value: value.clone(),
                        },
                        None => Edit::RemoveAttribute {
                            level: *l,
                            owner: fold(*l, *o),
                            key: (*k).into(),
                        },
                    })
                    .collect(),
            ),
            Op::Values(l, k, v) => {
                let owners: Vec<u32> = v.iter().map(|(o, _)| fold(*l, *o)).collect();
                let values: Vec<Option<Value>> = v.iter().map(|(_, v)| v.clone()).collect();
                s.set_attribute_values(*l, (*k).into(), &packed(&owners), &column(&values));
            }
        }
    }
}

/// A value column holding `values` (`None` as absent rows), as a plugin's SDK packs one.
fn column(values: &[Option<Value>]) -> ValueColumn {
    let (mut kinds, mut numbers, mut data, mut offsets) = (vec![], vec![], vec![], vec![0u8; 4]);
    for v in values {
        let (k, n, t): (u8, u64, &[u8]) = match v {
            None => (kind::ABSENT, 0, b""),
            Some(Value::Str(s)) => (kind::STR, 0, s.as_bytes()),
            Some(Value::Bool(b)) => (kind::BOOL, u64::from(*b), b""),
            Some(Value::Int(i)) => (kind::INT, i.cast_unsigned(), b""),
            Some(Value::Double(d)) => (kind::DOUBLE, d.to_bits(), b""),
            Some(Value::Bytes(b)) => (kind::BYTES, 0, b),
            Some(Value::Json(j)) => (kind::JSON, 0, j.as_bytes()),
        };
        kinds.push(k);
        numbers.extend_from_slice(&n.to_le_bytes());
        data.extend_from_slice(t);
        offsets.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    }
    ValueColumn {
        kinds,
        numbers,
        text: Strings { data, offsets },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A session over a request kept as bytes reads every column as the decoded one does, and
    /// gives back the same batch after any sequence of attribute writes and drops.
    #[test]
    fn wire_and_decoded_sessions_agree(
        b in batch(),
        ops in proptest::collection::vec(op(), 0..6),
    ) {
        let mut d = Session::new(b.clone());
        let mut w = Session::new(lent(&b, true));
        prop_assert_eq!(w.len(), d.len());
        prop_assert_eq!(w.resource_count(), d.resource_count());
        prop_assert_eq!(w.item_resources(), d.item_resources());
        for level in [Level::Item, Level::Resource] {
            prop_assert_eq!(w.attributes(level), d.attributes(level));
            for key in ["http.route", "service.name", "x.0", "absent"] {
                prop_assert_eq!(w.attribute(level, key), d.attribute(level, key));
            }
            let last = match level { Level::Item => d.len(), Level::Resource => d.resource_count() };
            if last > 0 {
                prop_assert_eq!(w.owner_attributes(level, last - 1), d.owner_attributes(level, last - 1));
            }
        }
        for field in [TextField::Name, TextField::StatusMessage, TextField::TraceState,
                      TextField::SeverityText, TextField::Body, TextField::ScopeName] {
            prop_assert_eq!(w.text(field), d.text(field), "{:?}", field);
        }
        for field in [IdField::TraceId, IdField::SpanId, IdField::ParentSpanId] {
            prop_assert_eq!(w.ids(field), d.ids(field));
        }
        for field in [NumberField::TimeUnixNano, NumberField::EndTimeUnixNano, NumberField::Kind,
                      NumberField::StatusCode, NumberField::Flags] {
            prop_assert_eq!(w.numbers(field), d.numbers(field), "{:?}", field);
        }
        let m = weir_columns::Matcher::new(&["[0-9]{4}".into(), "@ex".into(), "AKIA".into()], true).unwrap();
        prop_assert_eq!(w.find(&m), d.find(&m));
        run_ops(&mut d, &ops);
        run_ops(&mut w, &ops);
        let (d, w) = (d.finish(), w.finish());
        prop_assert_eq!(w.is_ok(), d.is_ok());
        if let (Ok(d), Ok(w)) = (d, w) {
            prop_assert_eq!(w.item_count(), d.item_count());
            prop_assert_eq!(typed(w), d);
        }
    }

    /// `set-attribute-values` writes exactly what the same per-owner `apply` edits write (set
    /// where a row has a value, remove where it is absent, the later row for an owner listed
    /// twice), on requests kept as bytes and decoded alike.
    #[test]
    fn a_column_of_values_writes_what_the_same_edits_write(
        b in batch(),
        wire in any::<bool>(),
        level in prop_oneof![Just(Level::Item), Just(Level::Resource)],
        rows in proptest::collection::vec(
            (0u32..400, proptest::option::of(prop_oneof![
                "[a-z@.]{0,12}".prop_map(Value::Str),
                any::<i64>().prop_map(Value::Int),
                (-1e9f64..1e9).prop_map(Value::Double),
                Just(Value::Json(r#"{"arrayValue":{"values":[{"intValue":"1"}]}}"#.into())),
            ])),
            0..40,
        ),
        key in prop_oneof![Just("http.route"), Just("service.name"), Just("x.0"), Just("new.key")],
    ) {
        let mut by_values = Session::new(lent(&b, wire));
        let mut by_edits = Session::new(lent(&b, wire));
        let owners = match level {
            Level::Item => by_values.len(),
            Level::Resource => by_values.resource_count(),
        };
        prop_assume!(owners > 0);
        let rows: Vec<(u32, Option<Value>)> =
            rows.into_iter().map(|(o, v)| (o % owners, v)).collect();
        let list: Vec<u32> = rows.iter().map(|(o, _)| *o).collect();
        let values: Vec<Option<Value>> = rows.iter().map(|(_, v)| v.clone()).collect();
        by_values.set_attribute_values(level, key.into(), &packed(&list), &column(&values));
        by_edits.apply(rows.into_iter().map(|(owner, v)| match v {
            Some(value) => Edit::SetAttribute { level, owner, key: key.into(), value },
            None => Edit::RemoveAttribute { level, owner, key: key.into() },
        }).collect());
        prop_assert_eq!(typed(by_values.finish().unwrap()), typed(by_edits.finish().unwrap()));
    }
}
