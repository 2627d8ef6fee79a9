//! Later actions see what earlier ones wrote, however values move between keys: swaps through a
//! temporary key, rename chains, copies of a key that is overwritten afterwards, and a convert
//! of a renamed value. (enrich keeps a renamed or copied value as a reference to the column it
//! came from until the end of the call; these cases pin that down.)

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

/// Each span's attributes as key → OTLP/JSON value.
fn attributes(out: &Json) -> Vec<BTreeMap<String, Json>> {
    out["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| {
            span["attributes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn values_moved_between_keys_are_the_ones_seen_when_moved() {
    let span = |id: &str, attrs: Json| {
        json!({ "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": id, "name": "s",
                "attributes": attrs })
    };
    let fixture = json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": [
        span("0102030405060708", json!([
            { "key": "a", "value": { "stringValue": "1" } },
            { "key": "b", "value": { "stringValue": "x" } },
        ])),
        span("0102030405060709", json!([
            { "key": "b", "value": { "stringValue": "y" } },
        ])),
    ]}]}]});
    let config = json!({ "actions": [
        { "action": "rename", "key": "a", "to": "tmp" },
        { "action": "rename", "key": "b", "to": "a" },
        { "action": "rename", "key": "tmp", "to": "b" },
        { "action": "insert", "key": "c", "from_attribute": "a" },
        { "action": "update", "key": "a", "value": "overwritten" },
        { "action": "rename", "key": "b", "to": "d" },
        { "action": "rename", "key": "d", "to": "e" },
        { "action": "convert", "key": "e", "converted_type": "int" },
    ]});
    let out =
        weir_plugin::testing::run::<enrich::Enrich>(&config.to_string(), &fixture.to_string())
            .unwrap();
    let spans = attributes(&out);
    let text = |s: &str| json!({ "stringValue": s });
    assert_eq!(
        spans[0],
        BTreeMap::from([
            ("a".to_string(), text("overwritten")),
            ("c".to_string(), text("x")),
            ("e".to_string(), json!({ "intValue": "1" })),
        ]),
        "swap, copy before the overwrite, rename chain, convert of a renamed value"
    );
    assert_eq!(
        spans[1],
        BTreeMap::from([
            ("a".to_string(), text("overwritten")),
            ("c".to_string(), text("y")),
        ]),
        "a span without `a`: only b's value moves"
    );
}
