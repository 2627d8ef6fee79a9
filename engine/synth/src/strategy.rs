//! Proptest strategies for what generated telemetry does not cover on purpose: arbitrary
//! attribute values, to add to generated batches in property tests (feature `proptest`).

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value,
};
use proptest::prelude::*;

/// Any OTLP attribute value Weir carries: strings (any Unicode), booleans, integers (the whole
/// i64 range), finite doubles (OTLP/JSON has no NaN or infinity), bytes, and arrays and maps
/// nested up to three deep.
pub fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::DoubleValue),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::BytesValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values })),
            }),
            proptest::collection::vec(("[a-z._]{1,8}", inner), 0..4).prop_map(|kvs| AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

/// Up to `n` arbitrary attributes `x.0`, `x.1`, … each with the index (modulo the item count)
/// of the item that gets it.
pub fn extra_attributes(n: usize) -> impl Strategy<Value = Vec<(usize, KeyValue)>> {
    proptest::collection::vec((any::<usize>(), any_value()), 0..=n).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (at, value))| {
                (
                    at,
                    KeyValue {
                        key: format!("x.{i}"),
                        value: Some(value),
                        ..Default::default()
                    },
                )
            })
            .collect()
    })
}
