#![allow(clippy::unwrap_used, reason = "tests")]

//! Metric correctness on workloads where the right answer is known exactly.

use std::time::Duration;

use weir_core::Batch;
use weir_core::telemetry::Telemetry;
use weir_tail_sampling::{
    Decision, Evaluate, Policy, PolicyError, Sampler, SamplerSettings, Verdict,
};

use crate::*;

mod report;

/// A native policy over the whole trace.
struct Native(fn(&Batch) -> bool);

impl Evaluate for Native {
    fn evaluate(&mut self, trace: &mut Batch) -> Result<Verdict, PolicyError> {
        Ok(Verdict {
            decision: if (self.0)(trace) {
                Decision::Keep
            } else {
                Decision::NoOpinion
            },
            reason: String::new(),
        })
    }
}

fn spans(b: &Batch) -> impl Iterator<Item = &weir_core::otlp::trace::v1::Span> {
    let Batch::Traces(r) = b else {
        panic!("traces")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

fn always(_: &Batch) -> bool {
    true
}

fn has_error(b: &Batch) -> bool {
    spans(b).any(|s| s.status.as_ref().is_some_and(|st| st.code == 2))
}

/// 10% by the trace id's first byte… of 16 bits, for a share close to 10%.
fn ten_percent(b: &Batch) -> bool {
    spans(b)
        .next()
        .is_some_and(|s| u16::from_be_bytes([s.trace_id[0], s.trace_id[1]]) < 6554)
}

fn candidate(name: &str, f: fn(&Batch) -> bool, wait: Duration) -> Candidate {
    let t = Telemetry::new();
    let metrics = t.sampler(name, "lab");
    let settings = SamplerSettings {
        decision_wait: wait,
        max_traces: 10_000_000,
        max_buffered_bytes: 1 << 34,
        ..Default::default()
    };
    let policy = Policy::leaf(name, Box::new(Native(f)), Decision::NoOpinion);
    Candidate {
        name: name.into(),
        sampler: Sampler::new(name, settings, vec![policy], metrics.clone()),
        metrics,
        definition: Definition {
            summary: format!("native {name}"),
            toml: String::new(),
        },
    }
}

const SHOP: &str = r#"
name = "shop"
seed = 7
duration = "60s"
traces_per_second = 40
export_delay = "1s"

[[operations]]
name = "GET /"
service = "frontend"
root_weight = 10
latency = { median = "20ms", p99 = "500ms" }
error_rate = 0.02
calls = [{ operation = "cart", probability = 0.5 }, { operation = "charge", count = 2, parallel = true, probability = 0.3 }]

[[operations]]
name = "GET /admin"
service = "frontend"
root_weight = 0.1
latency = { median = "50ms", p99 = "2s" }

[[operations]]
name = "cart"
service = "cart"
latency = { median = "5ms", p99 = "80ms" }
error_rate = 0.05

[[operations]]
name = "charge"
service = "billing-service-python"
latency = { median = "100ms", p99 = "3s" }
error_rate = 0.1
"#;

fn lab(scenario: &str, candidates: Vec<Candidate>) -> Report {
    let s = Scenario::parse("shop.toml", scenario).unwrap();
    let mut source = Synthetic::new(&s);
    let options = Options {
        no_timing: true,
        ..Default::default()
    };
    run(&s.name, &mut source, candidates, &options, &mut |_, _| {})
}

#[test]
fn always_sample_keeps_everything_and_error_policy_keeps_exactly_the_errors() {
    let wait = Duration::from_secs(30);
    let r = lab(
        SHOP,
        vec![
            candidate("all", always, wait),
            candidate("errors", has_error, wait),
        ],
    );
    let w = &r.workload;
    assert!(w.traces > 1_500 && w.error_traces > 50, "{w:?}");
    let all = &r.configs[0];
    assert_eq!(all.kept_traces, w.traces);
    assert_eq!(all.kept_spans, w.spans);
    for v in [
        all.kept_traces_share,
        all.kept_spans_share,
        all.kept_bytes_share,
        all.error_recall,
        all.slow_recall,
        all.operation_coverage,
        all.complete_share,
    ] {
        assert_eq!(v, 1.0, "{all:?}");
    }
    let errors = &r.configs[1];
    assert_eq!(errors.error_recall, 1.0);
    assert_eq!(
        errors.kept_traces, w.error_traces,
        "exactly the error traces"
    );
    assert_eq!(
        errors.kept_traces_share,
        (w.error_traces as f64 / w.traces as f64 * 1e6).round() / 1e6
    );
    assert!(errors.operation_coverage < 1.0, "GET /admin never fails");
    assert_eq!(errors.complete_share, 1.0);
    assert!(all.peak_buffered_traces > 0 && all.memory.len() >= 60);
}

#[test]
fn ten_percent_keeps_ten_percent_of_100k_traces() {
    let scenario = r#"
name = "flat"
seed = 3
duration = "100s"
traces_per_second = 1000
[[operations]]
name = "op"
service = "svc"
root_weight = 1
latency = { median = "1ms", p99 = "10ms" }
"#;
    let r = lab(
        scenario,
        vec![candidate("ten", ten_percent, Duration::from_secs(5))],
    );
    assert!(
        (98_000..=102_000).contains(&r.workload.traces),
        "{:?}",
        r.workload
    );
    let share = r.configs[0].kept_traces_share;
    assert!((share - 0.1).abs() < 0.005, "kept {share}");
}

#[test]
fn completeness_drops_when_the_wait_is_shorter_than_the_arrival_spread() {
    let spread = SHOP.replace("export_delay = \"1s\"", "export_delay = \"8s\"");
    let r = lab(
        &spread,
        vec![
            candidate("short", always, Duration::from_secs(1)),
            candidate("long", always, Duration::from_secs(30)),
        ],
    );
    let (short, long) = (&r.configs[0], &r.configs[1]);
    assert_eq!(long.complete_share, 1.0);
    assert!(short.complete_share < 0.8, "{}", short.complete_share);
    // Every span is still delivered: late ones follow the cached decision.
    assert_eq!(short.kept_spans, r.workload.spans);
    assert_eq!(short.delivered_complete_share, 1.0);
}

#[test]
fn the_same_seed_gives_a_byte_identical_report() {
    let one = || {
        lab(
            SHOP,
            vec![
                candidate("errors", has_error, Duration::from_secs(10)),
                candidate("ten", ten_percent, Duration::from_secs(10)),
            ],
        )
        .to_json()
    };
    let a = one();
    assert_eq!(a, one());
    let other = lab(
        &SHOP.replace("seed = 7", "seed = 8"),
        vec![candidate("errors", has_error, Duration::from_secs(10))],
    )
    .to_json();
    assert_ne!(a, other);
}

#[test]
fn the_html_report_is_self_contained_with_both_charts() {
    let r = lab(
        SHOP,
        vec![candidate("errors", has_error, Duration::from_secs(10))],
    );
    let html = render_html(&r);
    assert!(html.contains("<svg id=\"recall\"") && html.contains("<svg id=\"memory\""));
    assert!(html.contains("<polyline class=\"series\""));
    assert!(!html.contains("<script"), "no scripts");
    // The only URL is the SVG namespace: nothing is fetched.
    let urls = html.matches("http").count();
    assert_eq!(urls, html.matches("http://www.w3.org/2000/svg").count());
}

#[test]
fn bad_scenarios_name_the_key() {
    for (from, to, want) in [
        (
            "traces_per_second = 40",
            "traces_per_second = 0",
            "traces_per_second: must be above 0",
        ),
        (
            "operation = \"cart\"",
            "operation = \"kart\"",
            "operations[0].calls[0].operation: no operation is called `kart`",
        ),
        (
            "error_rate = 0.1",
            "error_rate = 2",
            "operations[3].error_rate: must be between 0 and 1",
        ),
        (
            "p99 = \"80ms\"",
            "p99 = \"1ms\"",
            "operations[2].latency: median must be above 0",
        ),
        (
            "name = \"cart\"\nservice = \"cart\"\nlatency = { median = \"5ms\", p99 = \"80ms\" }\nerror_rate = 0.05",
            "name = \"cart\"\nservice = \"cart\"\nlatency = { median = \"5ms\", p99 = \"80ms\" }\ncalls = [{ operation = \"GET /\" }]",
            "its calls form a cycle",
        ),
    ] {
        assert!(SHOP.contains(from), "{from}");
        let err = Scenario::parse("shop.toml", &SHOP.replace(from, to))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("shop.toml: ") && err.contains(want),
            "{err}"
        );
    }
}

#[test]
fn protobuf_recordings_replay_in_both_framings() {
    use prost::Message;
    use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

    let request = |t: u8, error: bool| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (1..=3u8)
                    .map(|s| Span {
                        trace_id: vec![t; 16],
                        span_id: vec![s; 8],
                        name: format!("op{s}"),
                        start_time_unix_nano: 1_000_000_000 * u64::from(t),
                        end_time_unix_nano: 1_000_000_000 * u64::from(t) + 5_000_000,
                        status: (error && s == 2).then(|| Status {
                            code: 2,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    // The Collector's framing: 4-byte big-endian length, message, repeated.
    let mut framed = Vec::new();
    for (t, e) in [(1, false), (2, true), (3, false)] {
        let m = request(t, e).encode_to_vec();
        framed.extend(u32::try_from(m.len()).unwrap().to_be_bytes());
        framed.extend(m);
    }
    // A single request.
    let mut one = request(1, false);
    one.resource_spans.extend(request(2, true).resource_spans);
    let single = one.encode_to_vec();
    for (bytes, traces) in [(framed, 3), (single, 2)] {
        let mut source = Recorded::load("rec.pb", &bytes).unwrap();
        let options = Options {
            no_timing: true,
            ..Default::default()
        };
        let r = run(
            "rec",
            &mut source,
            vec![candidate("errors", has_error, Duration::from_secs(5))],
            &options,
            &mut |_, _| {},
        );
        assert_eq!(r.workload.traces, traces);
        assert_eq!(r.workload.spans, traces * 3);
        assert_eq!(r.workload.error_traces, 1);
        assert_eq!(r.configs[0].kept_traces, 1);
        assert_eq!(r.configs[0].error_recall, 1.0);
    }
    let err = Recorded::load("junk.pb", b"\x00\x01junk")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("junk.pb: neither OTLP/JSON lines nor OTLP protobuf"),
        "{err}"
    );
}

#[test]
fn gaps_in_time_are_jumped_not_walked() {
    use prost::Message;
    use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    // Two spans a year apart, and one without timestamps.
    let span = |t: u8, at: u64| Span {
        trace_id: vec![t; 16],
        span_id: vec![t; 8],
        start_time_unix_nano: at,
        end_time_unix_nano: at,
        ..Default::default()
    };
    let r = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(1, 1_000_000_000),
                    span(2, 1_000_000_000 + 365 * 86_400 * 1_000_000_000),
                    span(3, 0),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut source = Recorded::load("gap.pb", &r.encode_to_vec()).unwrap();
    let started = std::time::Instant::now();
    let report = run(
        "gap",
        &mut source,
        vec![candidate("all", always, Duration::from_secs(5))],
        &Options::default(),
        &mut |_, _| {},
    );
    assert_eq!(report.configs[0].kept_spans, 3);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "walked the gap"
    );
    let huge = SHOP.replace("traces_per_second = 40", "traces_per_second = 1e12");
    let err = Scenario::parse("s.toml", &huge).unwrap_err().to_string();
    assert!(
        err.contains("traces_per_second: with this duration"),
        "{err}"
    );
}
