//! Properties of the column view plugins read and write through, on realistic batches from
//! `weir-synth` (every signal, every metric type, secrets planted as nested arrays, maps and
//! bytes) with arbitrary attribute values added:
//! - batch → columns → batch is the identity: lending a batch and finishing without writes,
//!   replacing it with its own OTLP bytes, and writing every attribute and text back as read
//!   (the path a plugin's `set-attribute`/`apply` takes, JSON-encoded maps and arrays included)
//!   all give back exactly the batch lent;
//! - every column read agrees with the items it was read from;
//! - dropping items keeps exactly the others, in order.
//!
//! Writes on requests kept as bytes against decoded ones are in `writes.rs`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use proptest::prelude::*;
use prost::Message;
use weir_columns::{Edit, IdField, Level, Session, Strings, TextField, Value, ValueColumn, kind};
use weir_core::Batch;

use weir_synth::Generator;

mod support;
use support::{batch, generated, item_attributes_mut, lent, packed, typed};

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
