//! A Python plugin written with the thin SDK (`plugins/python/weir_plugin.py`) and built with
//! componentize-py runs through the real host: it tags items and resources, passes its config
//! check, counts through the `metrics` import, and has no WASI imports left for the sandbox to
//! refuse.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::Arc;

use weir_core::{Batch, FailurePolicy, Stage};
use weir_tests::fixtures::{span_attribute, traces};
use weir_tests::plugins;
use weir_wasm::{BreakerSettings, PluginSettings, ProcessorPlugin};

#[test]
fn a_python_plugin_tags_items_and_resources_and_rejects_a_bad_config() {
    let path = plugins::python_wasm("tag");
    let engine = plugins::engine();
    let settings = PluginSettings {
        timeout: std::time::Duration::from_secs(5),
        ..PluginSettings::default()
    };

    let e = ProcessorPlugin::load(engine, "pytag", &path, "{}".into(), settings.clone())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("init rejected its config: set at least one of"),
        "{e}"
    );

    let config = r#"{"attributes":{"team":"payments"},"resource":{"env":"prod"}}"#;
    let plugin =
        Arc::new(ProcessorPlugin::load(engine, "pytag", &path, config.into(), settings).unwrap());
    let (mut stage, telemetry) =
        plugins::stage(plugin, FailurePolicy::Pass, BreakerSettings::default());
    let mut batch = traces(20, 2);
    stage.process(&mut batch).unwrap();
    assert_eq!(
        span_attribute(&batch, "team"),
        vec![Some("payments".to_string()); 20]
    );
    let Batch::Traces(r) = &batch else { panic!() };
    let res = r.resource_spans[0].resource.as_ref().unwrap();
    assert!(res.attributes.iter().any(|kv| kv.key == "env"));
    // The plugin counts what it tagged through the `metrics` import.
    let counted = weir_tests::gateway::expect_sample(
        &telemetry.render(),
        "weir_plugin_counter_total",
        &[("counter", "tagged"), ("label", "items")],
    );
    assert_eq!(counted, 20.0);
}

/// The Python SDK reaches Weir's host kernels: `find` marks exactly the items holding a match
/// (at any depth), and items lent with `otlp_items` come back unchanged through `replace_items`.
#[test]
fn a_python_plugin_uses_the_find_kernel() {
    let path = plugins::python_wasm("tag");
    let engine = plugins::engine();
    let settings = PluginSettings {
        timeout: std::time::Duration::from_secs(5),
        ..PluginSettings::default()
    };
    let mut batch = traces(20, 2);
    if let Batch::Traces(r) = &mut batch {
        let mut spans: Vec<_> = r
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
            .collect();
        spans[3].name = "GET for ada@example.com".into();
        spans[11]
            .events
            .push(weir_core::otlp::trace::v1::span::Event {
                name: "mail".into(),
                attributes: vec![weir_core::otlp::common::v1::KeyValue {
                    key: "to".into(),
                    value: Some(weir_core::otlp::common::v1::AnyValue {
                        value: Some(weir_core::otlp::common::v1::any_value::Value::StringValue(
                            "bob@example.org".into(),
                        )),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            });
    }
    let mark = r#"{"mark":{"key":"has.email","patterns":["[a-z]+@example\\.(com|org)"]}}"#;
    let plugin = Arc::new(
        ProcessorPlugin::load(engine, "pymark", &path, mark.into(), settings.clone()).unwrap(),
    );
    let (mut stage, telemetry) =
        plugins::stage(plugin, FailurePolicy::Refuse, BreakerSettings::default());
    let mut marked = batch.clone();
    stage.process(&mut marked).unwrap();
    let has: Vec<usize> = span_attribute(&marked, "has.email")
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().map(|_| i))
        .collect();
    assert_eq!(has, [3, 11]);
    let counted = weir_tests::gateway::expect_sample(
        &telemetry.render(),
        "weir_plugin_counter_total",
        &[("counter", "marked"), ("label", "items")],
    );
    assert_eq!(counted, 2.0);

    let roundtrip = r#"{"mark":{"key":"k","patterns":["example"]},"roundtrip":true}"#;
    let plugin = Arc::new(
        ProcessorPlugin::load(engine, "pyround", &path, roundtrip.into(), settings).unwrap(),
    );
    let (mut stage, _) = plugins::stage(plugin, FailurePolicy::Refuse, BreakerSettings::default());
    let mut same = batch.clone();
    stage.process(&mut same).unwrap();
    assert_eq!(same, batch);
}
