//! The tag plugin's logic run natively on an OTLP/JSON fixture, through the host's column code.

use serde_json::{Value, json};

fn attr(v: &Value, key: &str) -> Option<Value> {
    v["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].clone())
}

#[test]
fn tags_every_span_and_resource_and_replaces_an_existing_key() {
    let config = r#"{"attributes":{"team":"payments"},"resource":{"env":"prod"}}"#;
    let out = weir_plugin::testing::run::<tag::Tag>(config, include_str!("fixtures/traces.json"))
        .unwrap();
    let counts = weir_plugin::metrics::take_counts();
    assert_eq!(
        counts.get(&("tagged".to_string(), "items".to_string())),
        Some(&2)
    );
    let rs = &out["resourceSpans"][0];
    assert_eq!(
        attr(&rs["resource"], "env"),
        Some(json!({"stringValue": "prod"}))
    );
    let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    for s in spans {
        assert_eq!(
            attr(s, "team"),
            Some(json!({"stringValue": "payments"})),
            "{s}"
        );
    }
    assert_eq!(
        attr(&spans[0], "http.method"),
        Some(json!({"stringValue": "GET"}))
    );
    let teams = spans[0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["key"] == "team")
        .count();
    assert_eq!(teams, 1, "set replaces, it does not duplicate");
}

#[test]
fn an_empty_config_is_rejected() {
    let e = weir_plugin::testing::run::<tag::Tag>("{}", include_str!("fixtures/traces.json"))
        .unwrap_err();
    assert_eq!(e, "set at least one of `attributes` or `resource`");
}
