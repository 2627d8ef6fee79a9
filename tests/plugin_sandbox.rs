//! The sandbox, through the real host and real components: a plugin that loops forever is
//! interrupted at its deadline, one that allocates without bound hits its memory cap, panics in
//! init stop loading with the panic message, panics and errors in process give the batch the
//! on_error policy, nonsense writes are plugin errors, and repeated failures open the circuit
//! breaker. After each failure a fresh instance serves the next batch; nothing kills the process.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_core::telemetry::Telemetry;
use weir_core::{Batch, FailurePolicy, Stage};
use weir_tests::fixtures::{span_attribute, traces};
use weir_tests::gateway::expect_sample;
use weir_tests::plugins;
use weir_wasm::{BreakerSettings, Grants, PluginSettings, ProcessorPlugin};

fn load(
    name: &str,
    config: &str,
    settings: PluginSettings,
) -> Result<Arc<ProcessorPlugin>, String> {
    ProcessorPlugin::load(
        plugins::engine(),
        name,
        &plugins::wasm(name),
        config.into(),
        settings,
    )
    .map(Arc::new)
    .map_err(|e| e.to_string())
}

/// The value of a plugin metric of this test's registry, optionally for one error kind.
fn metric(t: &Telemetry, name: &str, kind: Option<&str>) -> f64 {
    let labels: Vec<(&str, &str)> = kind.map(|k| ("kind", k)).into_iter().collect();
    expect_sample(&t.render(), name, &labels)
}

#[test]
fn the_tag_plugin_sets_attributes_on_items_and_resources() {
    let p = load(
        "tag",
        r#"{"attributes":{"team":"payments"},"resource":{"env":"prod"}}"#,
        PluginSettings::default(),
    )
    .unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Pass, BreakerSettings::default());
    let mut batch = traces(50, 3);
    s.process(&mut batch).unwrap();
    assert_eq!(
        span_attribute(&batch, "team"),
        vec![Some("payments".to_string()); 50]
    );
    assert_eq!(
        span_attribute(&batch, "attr.1").iter().flatten().count(),
        50,
        "existing attributes stay"
    );
    let Batch::Traces(r) = &batch else { panic!() };
    let res = r.resource_spans[0].resource.as_ref().unwrap();
    assert!(
        res.attributes.iter().any(|kv| kv.key == "env"),
        "resource attribute set"
    );
    assert_eq!(metric(&t, "weir_plugin_calls_total", None), 1.0);
    assert_eq!(metric(&t, "weir_plugin_items_out_total", None), 50.0);
}

#[test]
fn an_infinite_loop_is_interrupted_and_a_fresh_instance_takes_the_next_batch() {
    let settings = PluginSettings {
        timeout: Duration::from_millis(20),
        ..PluginSettings::default()
    };
    let p = load("misbehave", r#"{"mode":"spin","after":1}"#, settings).unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Pass, BreakerSettings::default());

    let mut first = traces(10, 2);
    s.process(&mut first).unwrap();
    assert_eq!(
        span_attribute(&first, "misbehave")[0].as_deref(),
        Some("ok")
    );

    let original = traces(10, 2);
    let mut second = original.clone();
    let started = Instant::now();
    let err = s.process(&mut second).unwrap_err();
    let took = started.elapsed();
    assert!(
        err.source
            .to_string()
            .contains("ran past its 20ms deadline"),
        "{err}"
    );
    assert_eq!(err.kind, weir_core::FailureKind::Deadline);
    // The plugin spins forever: that the call returned at all shows it was interrupted. It ran
    // for its whole deadline first (a loaded machine can only make the call longer, so there is
    // no upper bound to assert).
    assert!(
        took >= Duration::from_millis(20),
        "interrupted before its deadline, after {took:?}"
    );
    assert_eq!(second, original, "a failed call leaves the batch as it was");
    assert_eq!(metric(&t, "weir_plugin_errors_total", Some("timeout")), 1.0);

    // A fresh instance (its batch counter restarted) serves the next batch normally.
    let mut third = traces(10, 2);
    s.process(&mut third).unwrap();
    assert_eq!(
        span_attribute(&third, "misbehave")[0].as_deref(),
        Some("ok")
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let settings = PluginSettings {
        memory_limit: 32 << 20,
        timeout: Duration::from_secs(5),
        ..PluginSettings::default()
    };
    let p = load("misbehave", r#"{"mode":"hog","after":1}"#, settings).unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Drop, BreakerSettings::default());
    s.process(&mut traces(5, 1)).unwrap();
    let err = s.process(&mut traces(5, 1)).unwrap_err();
    assert!(
        err.source.to_string().contains("hit the memory limit"),
        "{err}"
    );
    assert_eq!(err.kind, weir_core::FailureKind::Memory);
    assert_eq!(s.failure_policy(), FailurePolicy::Drop);
    assert_eq!(metric(&t, "weir_plugin_errors_total", Some("memory")), 1.0);
    let mut next = traces(5, 1);
    s.process(&mut next).unwrap();
    assert_eq!(
        span_attribute(&next, "misbehave")[0].as_deref(),
        Some("ok"),
        "fresh instance after the cap"
    );
}

#[test]
fn a_panic_in_init_stops_loading_with_the_panic_message() {
    let e = load(
        "misbehave",
        r#"{"mode":"panic-init"}"#,
        PluginSettings::default(),
    )
    .unwrap_err();
    assert!(e.starts_with("plugin misbehave: trapped in init"), "{e}");
    assert!(
        e.contains("panicking in init as configured"),
        "the panic message reaches the user: {e}"
    );
}

#[test]
fn a_rejected_config_stops_loading_with_the_plugins_message() {
    let e = load(
        "misbehave",
        r#"{"mode":"reject"}"#,
        PluginSettings::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "plugin misbehave: init rejected its config: misbehave: rejecting this config as asked"
    );
    let e = load(
        "tag",
        r#"{"attributes":{"a":"b"},"colour":"red"}"#,
        PluginSettings::default(),
    )
    .unwrap_err();
    assert!(e.contains("unknown field `colour`"), "{e}");
}

#[test]
fn a_panic_in_process_is_a_trap_with_the_panic_message() {
    let p = load(
        "misbehave",
        r#"{"mode":"panic"}"#,
        PluginSettings::default(),
    )
    .unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Drop, BreakerSettings::default());
    let original = traces(3, 1);
    let mut batch = original.clone();
    let err = s.process(&mut batch).unwrap_err();
    assert!(
        err.source.to_string().contains("trapped in process"),
        "{err}"
    );
    assert_eq!(err.kind, weir_core::FailureKind::Trap);
    assert!(
        err.source
            .to_string()
            .contains("panicking in process as configured"),
        "{err}"
    );
    assert_eq!(batch, original);
    assert_eq!(metric(&t, "weir_plugin_errors_total", Some("trap")), 1.0);
}

#[test]
fn a_write_to_a_nonexistent_item_is_a_plugin_error_and_nothing_is_applied() {
    let p = load(
        "misbehave",
        r#"{"mode":"invalid"}"#,
        PluginSettings::default(),
    )
    .unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Pass, BreakerSettings::default());
    let original = traces(4, 1);
    let mut batch = original.clone();
    let err = s.process(&mut batch).unwrap_err();
    assert!(
        err.source
            .to_string()
            .contains("index 14 is out of range (the batch has 4 spans)"),
        "{err}"
    );
    assert_eq!(err.kind, weir_core::FailureKind::InvalidWrite);
    assert_eq!(batch, original);
    assert_eq!(metric(&t, "weir_plugin_errors_total", Some("invalid")), 1.0);
}

#[test]
fn repeated_failures_open_the_circuit_breaker() {
    let p = load(
        "misbehave",
        r#"{"mode":"error"}"#,
        PluginSettings::default(),
    )
    .unwrap();
    let breaker = BreakerSettings {
        failures: 3,
        initial_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
    };
    let (mut s, t) = plugins::stage(p, FailurePolicy::Pass, breaker);
    for call in 0..5 {
        let err = s.process(&mut traces(2, 1)).unwrap_err();
        let (want, kind) = if call < 3 {
            (
                "misbehave: failing this batch as configured",
                weir_core::FailureKind::Error,
            )
        } else {
            (
                "circuit breaker open after repeated failures; not calling the plugin",
                weir_core::FailureKind::Skipped,
            )
        };
        assert!(err.source.to_string().contains(want), "call {call}: {err}");
        assert_eq!(err.kind, kind, "call {call}");
    }
    assert_eq!(
        metric(&t, "weir_plugin_calls_total", None),
        3.0,
        "no calls while open"
    );
    assert_eq!(metric(&t, "weir_plugin_errors_total", Some("error")), 3.0);
    assert_eq!(
        metric(&t, "weir_plugin_errors_total", Some("circuit_open")),
        2.0
    );
    // The breaker's state and what went past it unprocessed: 2 skipped batches of 2 spans.
    assert_eq!(metric(&t, "weir_processor_circuit_open", None), 1.0);
    assert_eq!(
        metric(&t, "weir_processor_circuit_skipped_items_total", None),
        4.0
    );
}

#[test]
fn clocks_and_environment_are_hidden_unless_granted() {
    let sense = |grants: Grants| {
        let settings = PluginSettings {
            grants,
            ..PluginSettings::default()
        };
        let p = load("misbehave", r#"{"mode":"sense"}"#, settings).unwrap();
        let (mut s, _) = plugins::stage(p, FailurePolicy::Pass, BreakerSettings::default());
        let mut b = traces(1, 1);
        s.process(&mut b).unwrap();
        (
            span_attribute(&b, "clock")[0].clone().unwrap(),
            span_attribute(&b, "secret")[0].clone().unwrap(),
        )
    };
    let (clock, env) = sense(Grants::default());
    assert_eq!(clock, "0", "the wall clock reads zero without a grant");
    assert_eq!(env, "unset", "the environment is empty without a grant");

    let granted = Grants {
        clocks: true,
        env: vec![("WEIR_TEST_SECRET".into(), "s3cret".into())],
    };
    let (clock, env) = sense(granted);
    assert!(
        clock.parse::<u64>().unwrap() > 1_700_000_000,
        "real clock with the grant: {clock}"
    );
    assert_eq!(env, "s3cret");
}

/// A processor stage asks to leave the runtime's worker before its first call (it instantiates)
/// and for batches over 512 items; and a call made directly on a runtime worker, as the
/// pipeline makes quick ones, works even when the plugin prints on every batch: WASI's blocking
/// write leaves the worker from inside the call instead of panicking on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_called_on_a_runtime_worker_may_print() {
    let p = load(
        "misbehave",
        r#"{"mode":"print"}"#,
        PluginSettings::default(),
    )
    .unwrap();
    let (mut s, t) = plugins::stage(p, FailurePolicy::Refuse, BreakerSettings::default());
    assert!(s.is_blocking(10), "the first call instantiates the plugin");
    let on_worker = tokio::spawn(async move {
        for _ in 0..3 {
            let mut batch = traces(10, 1);
            s.process(&mut batch).unwrap();
            assert_eq!(
                span_attribute(&batch, "misbehave"),
                vec![Some("ok".to_string()); 10]
            );
        }
        s
    });
    let s = on_worker.await.expect("no call panicked on the worker");
    assert!(s.is_blocking(513), "large batches leave the worker");
    assert_eq!(metric(&t, "weir_plugin_calls_total", None), 3.0);
}
