//! Writes through the column view on requests kept as bytes agree with the same writes on
//! decoded requests, for any sequence of attribute writes and drops; and
//! `set-attribute-values` writes exactly what the per-owner edits it stands for write.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;
use weir_columns::{
    Edit, IdField, Level, NumberField, Session, Strings, TextField, Value, ValueColumn, kind,
};

mod support;
use support::{batch, lent, packed, typed};

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
