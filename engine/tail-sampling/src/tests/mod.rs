#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use weir_core::Batch;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use weir_core::otlp::resource::v1::Resource;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use weir_core::telemetry::{SamplerMetrics, Telemetry};

use crate::*;

/// A native leaf policy over the whole trace; its reason is `native`.
struct Native<F>(F);

impl<F: FnMut(&Batch) -> Result<Decision, PolicyError> + Send> Evaluate for Native<F> {
    fn evaluate(&mut self, trace: &mut Batch) -> Result<Verdict, PolicyError> {
        (self.0)(trace).map(|decision| Verdict {
            decision,
            reason: "native".into(),
        })
    }
}

fn leaf(
    name: &str,
    f: impl FnMut(&Batch) -> Result<Decision, PolicyError> + Send + 'static,
) -> Policy {
    Policy::leaf(name, Box::new(Native(f)), Decision::NoOpinion)
}

fn spans(b: &Batch) -> Vec<&Span> {
    match b {
        Batch::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect(),
        _ => Vec::new(),
    }
}

/// Keeps traces with an error span.
fn errors() -> Policy {
    leaf("errors", |b| {
        Ok(
            if spans(b)
                .iter()
                .any(|s| s.status.as_ref().is_some_and(|st| st.code == 2))
            {
                Decision::Keep
            } else {
                Decision::NoOpinion
            },
        )
    })
}

fn always(name: &str, d: Decision) -> Policy {
    leaf(name, move |_| Ok(d))
}

/// One span of trace `t`: span id `s`, parent `p` (0 for a root), an error if `error`.
fn span(t: u8, s: u8, p: u8, error: bool) -> Span {
    Span {
        trace_id: vec![t; 16],
        span_id: vec![s; 8],
        parent_span_id: if p == 0 { Vec::new() } else { vec![p; 8] },
        name: format!("op-{t}-{s}"),
        status: error.then(|| Status {
            code: 2,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A request with `spans` under one resource of `service`.
fn batch(service: &str, spans: Vec<Span>) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// (trace byte, span byte) of every span in a batch, sorted.
fn ids(b: &Batch) -> Vec<(u8, u8)> {
    let mut v: Vec<(u8, u8)> = spans(b)
        .iter()
        .map(|s| (s.trace_id[0], s.span_id[0]))
        .collect();
    v.sort_unstable();
    v
}

fn sampler(settings: SamplerSettings, policies: Vec<Policy>) -> Sampler {
    observed(settings, policies).0
}

/// A sampler and the metrics it reports into.
fn observed(settings: SamplerSettings, policies: Vec<Policy>) -> (Sampler, SamplerMetrics) {
    let metrics = Telemetry::new().sampler("tail", "traces");
    let s = Sampler::new("tail", settings, policies, metrics.clone());
    (s, metrics)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn decides_decision_wait_after_the_first_span() {
    let settings = SamplerSettings {
        decision_wait: secs(10.0),
        ..Default::default()
    };
    let mut s = sampler(settings, vec![errors()]);
    assert!(
        s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0))
            .is_empty()
    );
    assert!(
        s.ingest(batch("a", vec![span(1, 2, 1, true)]), secs(5.0))
            .is_empty()
    );
    assert!(
        s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(6.0))
            .is_empty()
    );
    assert_eq!(s.next_deadline(), Some(secs(10.0)));
    assert!(s.decide_due(secs(9.999)).is_empty());
    // Trace 1 is due at 10 s and kept (it has an error); trace 2 is still waiting.
    assert_eq!(ids(&s.decide_due(secs(10.0))), [(1, 1), (1, 2)]);
    assert_eq!(s.buffered_traces(), 1);
    assert_eq!(s.next_deadline(), Some(secs(16.0)));
    assert!(s.decide_due(secs(16.0)).is_empty());
    assert_eq!(s.buffered_traces(), 0);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn root_span_shortens_the_wait_when_configured() {
    let settings = SamplerSettings {
        decision_wait: secs(30.0),
        decision_wait_after_root: Some(secs(2.0)),
        ..Default::default()
    };
    let keep_all = always("all", Decision::Keep);
    let mut s = sampler(settings, vec![keep_all]);
    // Trace 1: children first, root at 5 s → due at 7 s. Trace 2: no root → due at 31 s.
    s.ingest(batch("a", vec![span(1, 2, 1, false)]), secs(0.0));
    s.ingest(batch("a", vec![span(2, 2, 1, false)]), secs(1.0));
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(5.0));
    assert_eq!(s.next_deadline(), Some(secs(7.0)));
    assert!(s.decide_due(secs(6.9)).is_empty());
    assert_eq!(ids(&s.decide_due(secs(7.0))), [(1, 1), (1, 2)]);
    assert_eq!(s.next_deadline(), Some(secs(31.0)));
    assert_eq!(ids(&s.decide_due(secs(31.0))), [(2, 2)]);
}

#[test]
fn late_spans_follow_the_cached_decision() {
    let mut s = sampler(
        SamplerSettings {
            decision_wait: secs(1.0),
            record_policy: true,
            ..Default::default()
        },
        vec![errors()],
    );
    s.ingest(
        batch("a", vec![span(1, 1, 0, true), span(2, 1, 0, false)]),
        secs(0.0),
    );
    s.decide_due(secs(1.0));
    // Late spans: trace 1 was kept, trace 2 dropped; trace 3 is new.
    let out = s.ingest(
        batch(
            "a",
            vec![
                span(1, 2, 1, false),
                span(2, 2, 1, true),
                span(3, 1, 0, false),
            ],
        ),
        secs(2.0),
    );
    assert_eq!(ids(&out), [(1, 2)]);
    let late = spans(&out)[0];
    assert!(late.attributes.iter().any(|kv| kv.key == POLICY_ATTRIBUTE));
    assert!(
        late.attributes.iter().any(|kv| kv.key == REASON_ATTRIBUTE),
        "late spans carry the reason too"
    );
    assert_eq!(s.buffered_traces(), 1, "only trace 3 is buffered");
}

#[test]
fn max_traces_evicts_the_oldest_and_decides_it() {
    let settings = SamplerSettings {
        max_traces: 2,
        ..Default::default()
    };
    let (mut s, metrics) = observed(settings, vec![always("all", Decision::Keep)]);
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
    s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(1.0));
    let out = s.ingest(batch("a", vec![span(3, 1, 0, false)]), secs(2.0));
    assert_eq!(ids(&out), [(1, 1)], "the oldest trace is decided early");
    assert_eq!(s.buffered_traces(), 2);
    assert_eq!(metrics.traces_evicted("max_traces"), 1);
}

#[test]
fn max_buffered_bytes_evicts_until_it_fits() {
    let telemetry = Telemetry::new();
    let metrics = telemetry.sampler("tail", "traces");
    let one = {
        let mut probe = sampler(SamplerSettings::default(), Vec::new());
        probe.ingest(batch("a", vec![span(9, 1, 0, false)]), secs(0.0));
        probe.buffered_bytes()
    };
    let settings = SamplerSettings {
        max_buffered_bytes: one * 3,
        ..Default::default()
    };
    let first = leaf("first", |b| {
        Ok(if spans(b)[0].trace_id[0] == 1 {
            Decision::Keep
        } else {
            Decision::NoOpinion
        })
    });
    let mut s = Sampler::new("tail", settings, vec![first], metrics.clone());
    for t in 1..=3 {
        s.ingest(batch("a", vec![span(t, 1, 0, false)]), secs(f64::from(t)));
    }
    assert_eq!(s.buffered_traces(), 3);
    // Two more spans of the same size: the two oldest traces go, and trace 1 is kept.
    let out = s.ingest(
        batch("a", vec![span(4, 1, 0, false), span(5, 1, 0, false)]),
        secs(4.0),
    );
    assert_eq!(ids(&out), [(1, 1)]);
    assert_eq!(s.buffered_traces(), 3);
    assert!(s.buffered_bytes() <= one * 3);
    assert_eq!(metrics.traces_evicted("max_buffered_bytes"), 2);
}

#[test]
fn a_huge_trace_is_decided_early_and_the_rest_still_waits() {
    let settings = SamplerSettings {
        max_trace_bytes: 2_000,
        decision_wait: secs(10.0),
        ..Default::default()
    };
    let (mut s, metrics) = observed(settings, vec![always("all", Decision::Keep)]);
    s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(0.0));
    let mut out = Vec::new();
    for i in 1..=100u8 {
        let b = s.ingest(batch("a", vec![span(1, i, 0, false)]), secs(1.0));
        out.extend(ids(&b));
    }
    // The big trace left as soon as it passed 2 000 bytes; its later spans follow the decision.
    assert_eq!(out.len(), 100);
    assert!(out.iter().all(|(t, _)| *t == 1));
    assert_eq!(metrics.traces_evicted("max_trace_bytes"), 1);
    assert!(metrics.late_spans("keep") > 0);
    // Trace 2 is untouched and decided on time.
    assert_eq!(s.buffered_traces(), 1);
    assert_eq!(ids(&s.decide_due(secs(10.0))), [(2, 1)]);
}

#[test]
fn block_on_overflow_reports_full_instead_of_evicting() {
    let settings = SamplerSettings {
        max_traces: 2,
        block_on_overflow: true,
        decision_wait: secs(5.0),
        ..Default::default()
    };
    let mut s = sampler(settings, vec![always("all", Decision::Keep)]);
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
    assert!(!s.is_full());
    assert!(
        s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(1.0))
            .is_empty()
    );
    assert!(s.is_full());
    s.decide_due(secs(5.0));
    assert!(!s.is_full());
}

#[test]
fn shutdown_decides_or_drops_what_is_buffered() {
    for (mode, kept) in [
        (OnShutdown::Decide, vec![(1, 1)]),
        (OnShutdown::Drop, vec![]),
    ] {
        let settings = SamplerSettings {
            on_shutdown: mode,
            ..Default::default()
        };
        let mut s = sampler(settings, vec![errors()]);
        s.ingest(
            batch("a", vec![span(1, 1, 0, true), span(2, 1, 0, false)]),
            secs(0.0),
        );
        assert_eq!(ids(&s.finish(secs(1.0))), kept, "{mode:?}");
        assert_eq!(s.buffered_spans(), 0);
        assert_eq!(s.buffered_bytes(), 0);
    }
}

#[test]
fn kept_traces_keep_their_resources_and_scopes() {
    let mut s = sampler(
        SamplerSettings::default(),
        vec![always("all", Decision::Keep)],
    );
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
    s.ingest(batch("b", vec![span(1, 2, 1, false)]), secs(0.1));
    s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(0.2));
    let Batch::Traces(out) = s.finish(secs(1.0)) else {
        panic!("traces")
    };
    let services: Vec<String> = out
        .resource_spans
        .iter()
        .map(|rs| format!("{:?}", rs.resource.as_ref().unwrap().attributes[0].value))
        .collect();
    assert_eq!(out.resource_spans.len(), 3, "{services:?}");
    assert!(
        out.resource_spans
            .iter()
            .all(|rs| rs.scope_spans[0].scope.as_ref().unwrap().name == "test")
    );
}

#[test]
fn any_drop_wins_then_any_keep_then_drop() {
    let trace = || batch("a", vec![span(1, 1, 0, false)]);
    let run = |policies: Vec<Policy>| {
        let mut s = sampler(SamplerSettings::default(), policies);
        s.ingest(trace(), secs(0.0));
        !s.finish(secs(1.0)).is_empty()
    };
    assert!(run(vec![always("k", Decision::Keep)]));
    assert!(!run(vec![always("n", Decision::NoOpinion)]));
    assert!(!run(vec![
        always("k", Decision::Keep),
        always("d", Decision::Drop)
    ]));
    assert!(run(vec![
        always("n", Decision::NoOpinion),
        always("k", Decision::Keep)
    ]));
}

#[test]
fn a_failing_policy_gets_its_fallback_and_is_counted() {
    let telemetry = Telemetry::new();
    let metrics = telemetry.sampler("tail", "traces");
    let failing = |fallback| {
        Policy::leaf(
            "broken",
            Box::new(Native(|_: &Batch| {
                Err(PolicyError {
                    kind: "trap",
                    message: "unreachable".into(),
                })
            })),
            fallback,
        )
    };
    for (fallback, kept) in [(Decision::NoOpinion, false), (Decision::Keep, true)] {
        let mut s = Sampler::new(
            "tail",
            SamplerSettings::default(),
            vec![failing(fallback)],
            metrics.clone(),
        );
        s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
        assert_eq!(!s.finish(secs(1.0)).is_empty(), kept);
    }
    assert_eq!(metrics.policy_errors("broken", "trap"), 2);
}

mod combinators;

#[test]
fn a_clock_running_backwards_counts_as_the_latest_time() {
    let settings = SamplerSettings {
        decision_wait: secs(10.0),
        ..Default::default()
    };
    let mut s = sampler(settings, vec![always("all", Decision::Keep)]);
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(5.0));
    // An earlier time: trace 2 is due at 15 s too, not 11 s, and the queue stays in order.
    s.ingest(batch("a", vec![span(2, 1, 0, false)]), secs(1.0));
    assert_eq!(s.next_deadline(), Some(secs(15.0)));
    assert_eq!(ids(&s.decide_due(secs(15.0))), [(1, 1), (2, 1)]);
}

#[test]
fn resources_and_scopes_count_toward_the_byte_bound() {
    let mut s = sampler(SamplerSettings::default(), Vec::new());
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
    let small = s.buffered_bytes();
    let mut big = sampler(SamplerSettings::default(), Vec::new());
    big.ingest(
        batch(&"x".repeat(10_000), vec![span(1, 1, 0, false)]),
        secs(0.0),
    );
    assert!(big.buffered_bytes() >= small + 10_000);
}

#[test]
fn adopting_new_policies_keeps_buffered_traces_and_decided_ids() {
    let settings = SamplerSettings {
        decision_wait: secs(10.0),
        ..Default::default()
    };
    let mut s = sampler(settings.clone(), vec![errors()]);
    // Trace 1 (an error) is decided and kept under the old policies; 2 and 3 wait.
    s.ingest(batch("a", vec![span(1, 1, 0, true)]), secs(0.0));
    assert_eq!(ids(&s.decide_due(secs(10.0))), vec![(1, 1)]);
    s.ingest(batch("a", vec![span(2, 1, 0, true)]), secs(11.0));
    s.ingest(batch("a", vec![span(3, 1, 0, false)]), secs(11.0));
    assert_eq!(s.buffered_traces(), 2);

    // The new policies keep everything but errors.
    let new = sampler(
        settings,
        vec![
            Policy::not("not-errors", errors()),
            always("x", Decision::NoOpinion),
        ],
    );
    s.adopt(new);
    assert_eq!(s.buffered_traces(), 2, "adopting lost buffered traces");
    // The buffered traces are decided by the new policies ...
    assert_eq!(ids(&s.decide_due(secs(21.0))), vec![(3, 1)]);
    // ... and a late span of trace 1 still follows its cached decision (kept).
    let late = s.ingest(batch("a", vec![span(1, 2, 1, true)]), secs(22.0));
    assert_eq!(ids(&late), vec![(1, 2)]);
}
