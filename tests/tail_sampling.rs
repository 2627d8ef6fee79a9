//! Tail sampling end to end: the OpenTelemetry Python SDK sends traces that cross several
//! services; a sampler with a first-party policy (`status_code`) and a custom policy written
//! with the Rust SDK (`plugins/keep-service`, loaded from its .wasm path) keeps exactly the
//! traces with an error or that touched `checkout`, whole. Misbehaving policies (trap, endless
//! loop, error, writes) get their fallback without stalling the sampler.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use weir_core::Batch;
use weir_core::telemetry::Telemetry;
use weir_tail_sampling::{Decision, Policy, Sampler, SamplerSettings};
use weir_tests::fixtures::hex;
use weir_tests::{Backend, Gateway, Transport, eventually, plugins, python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_error_traces_and_traces_that_touched_checkout_whole() {
    let backend = Backend::start().await;
    let policy = plugins::wasm("keep-service");
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[samplers.tail]
decision_wait = "2s"
record_policy = true

[[samplers.tail.policies]]
name = "errors"
type = "status_code"
config = {{ status_codes = ["ERROR"] }}

[[samplers.tail.policies]]
name = "checkout"
plugin = "{}"
config = {{ services = ["checkout"] }}

[pipelines.traces]
receivers = ["otlp"]
processors = ["tail"]
exporters = ["backend"]
batch = {{ send_batch_size = 64, timeout = "50ms" }}
"#,
        backend.grpc_url(),
        policy.display()
    );
    let gw = Gateway::start(&config).await;
    let out = python::run_json(
        "emit_services.py",
        &["--endpoint", &gw.url("otlp", "grpc"), "--traces", "60"],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let traces = out["traces"].as_array().unwrap();

    // Expected: trace id -> (span count, the policy that keeps it).
    let mut want: BTreeMap<String, (u64, &str)> = BTreeMap::new();
    for t in traces {
        let services: Vec<&str> = t["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let by = if t["error"].as_bool().unwrap() {
            "errors"
        } else if services.contains(&"checkout") {
            "checkout"
        } else {
            continue;
        };
        want.insert(
            t["trace_id"].as_str().unwrap().to_string(),
            (t["spans"].as_u64().unwrap(), by),
        );
    }
    assert!(
        !want.is_empty() && want.len() < traces.len(),
        "the workload must have traces of both kinds"
    );

    // Every trace gets decided (kept or dropped); then the backend holds exactly the kept ones.
    let decided = gw
        .sampler_decided(
            traces.len(),
            &["errors", "checkout"],
            Duration::from_secs(60),
        )
        .await;
    assert!(
        decided,
        "not every trace was decided:\n{}",
        gw.metrics().await
    );
    let spans_wanted: u64 = want.values().map(|(n, _)| n).sum();
    let arrived = eventually(Duration::from_secs(30), || {
        let b = &backend;
        async move { b.delivered_items(Transport::Grpc) as u64 >= spans_wanted }
    })
    .await;
    assert!(arrived, "kept spans did not all arrive");

    let mut got: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    let mut services_of_kept = BTreeSet::new();
    for b in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = b else { continue };
        for rs in &r.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name");
            if let Some(Value::StringValue(s)) = service
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone())
            {
                services_of_kept.insert(s);
            }
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                let policy = span
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "weir.sampling.policy")
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let e = got.entry(hex(&span.trace_id)).or_default();
                e.0 += 1;
                e.1.insert(policy);
            }
        }
    }
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = want.keys().collect();
    assert_eq!(got_ids, want_ids, "kept the wrong traces");
    for (id, (spans, by)) in &want {
        let (n, policies) = &got[id];
        assert_eq!(n, spans, "trace {id} arrived incomplete or duplicated");
        assert_eq!(
            policies.iter().collect::<Vec<_>>(),
            [by],
            "trace {id}: weir.sampling.policy"
        );
    }
    // Kept traces keep every service's resource, not just the one that matched.
    assert!(
        services_of_kept.contains("frontend"),
        "{services_of_kept:?}"
    );
}

/// `n` one-span traces (ids 1..=n).
fn traces(n: u8) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (1..=n)
                    .map(|t| Span {
                        trace_id: vec![t; 16],
                        span_id: vec![1; 8],
                        name: "op".into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn misbehaving_policies_get_their_fallback_without_stalling_the_sampler() {
    for (mode, kind) in [
        ("trap", "trap"),
        ("loop", "timeout"),
        ("error", "error"),
        ("write", "error"),
    ] {
        let t = Telemetry::new();
        let bad = plugins::wasm_policy(
            "bad-policy",
            "bad",
            &format!(r#"{{"mode": "{mode}"}}"#),
            Duration::from_millis(50),
            &t,
        );
        // The fallback keeps; a second, healthy policy has no opinion.
        let policies = vec![Policy::leaf("bad", Box::new(bad), Decision::Keep)];
        let metrics = t.sampler("tail", "traces");
        let mut s = Sampler::new(
            "tail",
            SamplerSettings::default(),
            policies,
            metrics.clone(),
        );
        s.ingest(traces(20), Duration::ZERO);
        let started = Instant::now();
        let kept = s.finish(Duration::from_secs(1));
        let took = started.elapsed();
        assert_eq!(
            kept.item_count(),
            20,
            "{mode}: every trace gets the fallback (keep)"
        );
        let errors: u64 = [kind, "circuit_open"]
            .iter()
            .map(|k| metrics.policy_errors("bad", k))
            .sum();
        assert_eq!(errors, 20, "{mode}: every failure is counted");
        assert!(
            metrics.policy_errors("bad", kind) >= 1,
            "{mode}: counted as {kind}"
        );
        // The breaker opens after 5 failures: at most 5 calls ran to their 50 ms deadline.
        assert!(
            took < Duration::from_secs(10),
            "{mode}: the sampler stalled for {took:?}"
        );
        if mode == "write" {
            let Batch::Traces(r) = &kept else { panic!() };
            assert!(
                r.resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .all(|s| s.attributes.is_empty()),
                "a policy cannot change the trace"
            );
        }
    }
}

#[test]
fn probabilistic_tail_policy_agrees_with_the_head_sampler() {
    use weir_core::Stage;
    let head = plugins::builtin("head-sample", r#"{"percent": 25}"#).unwrap();
    let (mut stage, _) = plugins::stage(
        head,
        weir_core::FailurePolicy::Pass,
        weir_wasm::BreakerSettings::default(),
    );
    let t = Telemetry::new();
    let plugin = std::sync::Arc::new(
        plugins::builtin_policy("probabilistic", r#"{"sampling_percentage": 25}"#).unwrap(),
    );
    let mut tail = weir_wasm::WasmPolicy::new(
        plugin,
        weir_wasm::BreakerSettings::default(),
        t.plugin("p", "traces", weir_core::Signal::Traces),
    );
    let mut agree = 0;
    let mut kept = 0;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut id = x.to_be_bytes().to_vec();
        id.extend(x.rotate_left(29).to_be_bytes());
        let one = || {
            Batch::Traces(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            trace_id: id.clone(),
                            span_id: vec![1; 8],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
        };
        let mut b = one();
        stage.process(&mut b).unwrap();
        let head_kept = b.item_count() == 1;
        let tail_kept = weir_tail_sampling::Evaluate::evaluate(&mut tail, &mut one())
            .unwrap()
            .decision
            == Decision::Keep;
        agree += usize::from(head_kept == tail_kept);
        kept += usize::from(tail_kept);
    }
    assert_eq!(
        agree, 400,
        "head and tail sampling at the same percent decide alike"
    );
    assert!((60..=140).contains(&kept), "25% of 400 kept: {kept}");
}

/// Two tail samplers in one pipeline (two task stages in a row): the second sees only what the
/// first kept, so the backend holds exactly the traces both keep — with an error *and* through
/// `checkout` — whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_samplers_in_one_pipeline_keep_only_what_both_keep() {
    let backend = Backend::start().await;
    let policy = plugins::wasm("keep-service");
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[samplers.errors]
decision_wait = "1s"
[[samplers.errors.policies]]
name = "error"
type = "status_code"
config = {{ status_codes = ["ERROR"] }}

[processors.between]
plugin = "builtin:noop"

[samplers.checkout]
decision_wait = "1s"
[[samplers.checkout.policies]]
name = "checkout"
plugin = "{}"
config = {{ services = ["checkout"] }}

[pipelines.traces]
receivers = ["otlp"]
processors = ["errors", "between", "checkout"]
exporters = ["backend"]
batch = {{ send_batch_size = 64, timeout = "50ms" }}
"#,
        backend.grpc_url(),
        policy.display()
    );
    let gw = Gateway::start(&config).await;
    let out = python::run_json(
        "emit_services.py",
        &["--endpoint", &gw.url("otlp", "grpc"), "--traces", "60"],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let traces = out["traces"].as_array().unwrap();
    let errors = traces
        .iter()
        .filter(|t| t["error"].as_bool().unwrap())
        .count();
    let want: BTreeMap<String, u64> = traces
        .iter()
        .filter(|t| {
            t["error"].as_bool().unwrap()
                && t["services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == "checkout")
        })
        .map(|t| {
            (
                t["trace_id"].as_str().unwrap().to_string(),
                t["spans"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        !want.is_empty() && want.len() < errors,
        "the workload must have error traces with and without checkout"
    );

    // The first sampler decides every trace; the second every trace the first kept.
    let decided = |sampler: &'static str, n: usize| {
        let gw = &gw;
        async move {
            eventually(Duration::from_secs(60), || async {
                gw.try_metric("weir_sampler_traces_decided_total", &[("sampler", sampler)])
                    .await
                    == Some(n as f64)
            })
            .await
        }
    };
    assert!(
        decided("errors", traces.len()).await,
        "{}",
        gw.metrics().await
    );
    assert!(decided("checkout", errors).await, "{}", gw.metrics().await);
    let spans_wanted: u64 = want.values().sum();
    let arrived = eventually(Duration::from_secs(30), || {
        let b = &backend;
        async move { b.delivered_items(Transport::Grpc) as u64 >= spans_wanted }
    })
    .await;
    assert!(arrived, "kept spans did not all arrive");
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for b in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = b else { continue };
        for span in r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            *got.entry(hex(&span.trace_id)).or_default() += 1;
        }
    }
    assert_eq!(got, want, "kept the wrong traces, or not whole");
}
