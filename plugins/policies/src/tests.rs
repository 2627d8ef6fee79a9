#![allow(clippy::unwrap_used, reason = "tests")]

//! Every policy on hand-built traces: which it keeps, which it drops, which it leaves alone.

use serde_json::{Value, json};
use weir_plugin::testing::{evaluate, parse};
use weir_plugin::{Config, Decision, Policy};

use super::Policies;

/// One span: start and end in ms, status code, attributes, trace state, flags.
#[derive(Clone, Default)]
struct S {
    start: u64,
    end: u64,
    status: i64,
    attrs: Vec<(&'static str, Value)>,
    trace_state: &'static str,
    flags: u32,
    trace_id: &'static str,
}

fn trace(service: &str, spans: &[S]) -> String {
    let spans: Vec<Value> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let attrs: Vec<Value> = s
                .attrs
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            json!({
                "traceId": if s.trace_id.is_empty() { "5b8efff798038103d269b633813fc60c" } else { s.trace_id },
                "spanId": format!("{:016x}", i + 1),
                "name": format!("op{i}"),
                "startTimeUnixNano": (s.start * 1_000_000).to_string(),
                "endTimeUnixNano": (s.end * 1_000_000).to_string(),
                "status": {"code": s.status},
                "attributes": attrs,
                "traceState": s.trace_state,
                "flags": s.flags,
            })
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]
    }]})
    .to_string()
}

fn policy(config: Value) -> Result<Policies, String> {
    Policies::init(Config::new(config.to_string()))
}

fn decide(config: &Value, spans: &[S]) -> Decision {
    let mut p = policy(config.clone()).unwrap();
    evaluate(&mut p, parse(&trace("shop", spans)).unwrap())
        .unwrap()
        .decision
}

fn span(start: u64, end: u64) -> S {
    S {
        start,
        end,
        ..Default::default()
    }
}

fn with(attr: &'static str, v: Value) -> S {
    S {
        attrs: vec![(attr, v)],
        ..span(0, 1)
    }
}

use Decision::{Drop as D, NoOpinion as N, Sample as K};

#[test]
fn always_sample_keeps_everything() {
    assert_eq!(decide(&json!({"type": "always_sample"}), &[span(0, 1)]), K);
}

#[test]
fn latency_uses_the_whole_trace_from_first_start_to_last_end() {
    let c = json!({"type": "latency", "threshold_ms": 500});
    // No single span is 500 ms long, but the trace spans 0..600 ms.
    assert_eq!(decide(&c, &[span(0, 300), span(400, 600)]), K);
    assert_eq!(decide(&c, &[span(0, 300), span(100, 499)]), N);
    let bounded = json!({"type": "latency", "threshold_ms": 500, "upper_threshold_ms": 1000});
    assert_eq!(decide(&bounded, &[span(0, 800)]), K);
    assert_eq!(decide(&bounded, &[span(0, 1500)]), N);
}

#[test]
fn status_code_keeps_traces_with_a_listed_status() {
    let c = json!({"type": "status_code", "status_codes": ["ERROR"]});
    let err = S {
        status: 2,
        ..span(0, 1)
    };
    assert_eq!(decide(&c, &[span(0, 1), err]), K);
    assert_eq!(decide(&c, &[span(0, 1)]), N);
    let ok_or_unset = json!({"type": "status_code", "status_codes": ["ok", "UNSET"]});
    assert_eq!(decide(&ok_or_unset, &[span(0, 1)]), K);
}

#[test]
fn string_attribute_exact_regex_and_inverted() {
    let route = |r: &str| with("http.route", json!({"stringValue": r}));
    let exact = json!({"type": "string_attribute", "key": "http.route", "values": ["/checkout"]});
    assert_eq!(decide(&exact, &[route("/checkout")]), K);
    assert_eq!(decide(&exact, &[route("/checkout/x")]), N);
    let regex = json!({"type": "string_attribute", "key": "http.route", "values": ["^/check"], "enabled_regex_matching": true});
    assert_eq!(decide(&regex, &[route("/checkout/x")]), K);
    let inverted = json!({"type": "string_attribute", "key": "http.route", "values": ["/healthz"], "invert_match": true});
    assert_eq!(decide(&inverted, &[route("/healthz")]), D);
    assert_eq!(decide(&inverted, &[route("/checkout")]), K);
    // Resource attributes count too.
    let svc = json!({"type": "string_attribute", "key": "service.name", "values": ["shop"]});
    assert_eq!(decide(&svc, &[span(0, 1)]), K);
}

#[test]
fn numeric_attribute_ranges_ints_and_doubles() {
    let c = json!({"type": "numeric_attribute", "key": "http.status", "min_value": 500, "max_value": 599});
    assert_eq!(
        decide(&c, &[with("http.status", json!({"intValue": "503"}))]),
        K
    );
    assert_eq!(
        decide(&c, &[with("http.status", json!({"doubleValue": 599.0}))]),
        K
    );
    assert_eq!(
        decide(&c, &[with("http.status", json!({"intValue": "404"}))]),
        N
    );
    assert_eq!(
        decide(&c, &[with("http.status", json!({"stringValue": "503"}))]),
        N
    );
    let inv = json!({"type": "numeric_attribute", "key": "http.status", "min_value": 200, "max_value": 299, "invert_match": true});
    assert_eq!(
        decide(&inv, &[with("http.status", json!({"intValue": "200"}))]),
        D
    );
    assert_eq!(
        decide(&inv, &[with("http.status", json!({"intValue": "500"}))]),
        K
    );
}

#[test]
fn boolean_attribute() {
    let c = json!({"type": "boolean_attribute", "key": "debug", "value": true});
    assert_eq!(decide(&c, &[with("debug", json!({"boolValue": true}))]), K);
    assert_eq!(decide(&c, &[with("debug", json!({"boolValue": false}))]), N);
}

#[test]
fn trace_state_and_trace_flags() {
    let c = json!({"type": "trace_state", "key": "vendor", "values": ["keep"]});
    let ts = |t: &'static str| S {
        trace_state: t,
        ..span(0, 1)
    };
    assert_eq!(decide(&c, &[ts("ot=th:0,vendor=keep")]), K);
    assert_eq!(decide(&c, &[ts("vendor=nope")]), N);
    let flags = json!({"type": "trace_flags"});
    let sampled = S {
        flags: 0x101,
        ..span(0, 1)
    };
    assert_eq!(decide(&flags, &[span(0, 1), sampled]), K);
    assert_eq!(decide(&flags, &[span(0, 1)]), N);
}

#[test]
fn span_count_min_and_max() {
    let c = json!({"type": "span_count", "min_spans": 2, "max_spans": 3});
    assert_eq!(decide(&c, &[span(0, 1)]), N);
    assert_eq!(decide(&c, &[span(0, 1), span(0, 1)]), K);
    assert_eq!(decide(&c, &vec![span(0, 1); 4]), N);
    let unbounded = json!({"type": "span_count", "min_spans": 2, "max_spans": 0});
    assert_eq!(decide(&unbounded, &vec![span(0, 1); 40]), K);
}

#[test]
fn sampling_priority_forces_keep_or_drop() {
    let c = json!({"type": "sampling_priority"});
    assert_eq!(
        decide(&c, &[with("sampling.priority", json!({"intValue": "1"}))]),
        K
    );
    assert_eq!(
        decide(&c, &[with("sampling.priority", json!({"intValue": "0"}))]),
        D
    );
    assert_eq!(
        decide(
            &c,
            &[with("sampling.priority", json!({"stringValue": "0"}))]
        ),
        D
    );
    assert_eq!(decide(&c, &[span(0, 1)]), N);
}

#[test]
fn condition_reuses_the_filter_conditions() {
    let c = json!({"type": "condition", "when": [{"name_regex": "^op1$"}, {"attribute": "x", "exists": true}]});
    assert_eq!(
        decide(&c, &[span(0, 1), span(0, 1)]),
        K,
        "op1 is the second span"
    );
    assert_eq!(decide(&c, &[span(0, 1)]), N);
}

#[test]
fn probabilistic_keeps_its_share_and_uses_the_trace_id_randomness() {
    // The last 7 bytes of the trace id are its randomness: 0x…ff… is high, 0x…00… low.
    let c = json!({"type": "probabilistic", "sampling_percentage": 10});
    let id = |t: &'static str| S {
        trace_id: t,
        ..span(0, 1)
    };
    assert_eq!(decide(&c, &[id("000000000000000000ffffffffffffff")]), K);
    assert_eq!(decide(&c, &[id("ffffffffffffffff0000000000000000")]), N);
    // An explicit rv in the trace state wins over the id, as in the head sampler.
    let rv = S {
        trace_state: "ot=rv:ffffffffffffff",
        ..id("ffffffffffffffff0000000000000000")
    };
    assert_eq!(decide(&c, &[rv]), K);
}

#[test]
fn bad_configs_name_the_key() {
    for (config, want) in [
        (
            json!({"type": "latency", "threshold_ms": 5, "upper_threshold_ms": 1}),
            "upper_threshold_ms:",
        ),
        (
            json!({"type": "status_code", "status_codes": ["BAD"]}),
            "status_codes[0]: unknown status code",
        ),
        (
            json!({"type": "string_attribute", "key": "k", "values": ["("], "enabled_regex_matching": true}),
            "values[0]: invalid regex",
        ),
        (
            json!({"type": "probabilistic", "sampling_percentage": 101}),
            "sampling_percentage:",
        ),
        (
            json!({"type": "span_count", "min_spans": 3, "max_spans": 1}),
            "max_spans:",
        ),
        (
            json!({"type": "latency", "threshold_ms": 5, "bogus": 1}),
            "unknown field `bogus`",
        ),
        (json!({"type": "nope"}), "unknown variant `nope`"),
    ] {
        let err = policy(config).err().unwrap();
        assert!(err.contains(want), "{err} does not contain {want}");
    }
}
