//! Combinators and budgets, through the sampler.

use std::collections::BTreeMap;

use super::*;

/// Whether a single one-span trace is kept by `policies`, and by which policy.
fn verdict(policies: Vec<Policy>) -> Option<String> {
    let settings = SamplerSettings {
        record_policy: true,
        ..Default::default()
    };
    let mut s = sampler(settings, policies);
    s.ingest(batch("a", vec![span(1, 1, 0, false)]), secs(0.0));
    let out = s.finish(secs(1.0));
    let first = spans(&out).first().map(|sp| (*sp).clone());
    first.map(|sp| {
        sp.attributes
            .iter()
            .find(|kv| kv.key == POLICY_ATTRIBUTE)
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default()
    })
}

use Decision::{Drop as D, Keep as K, NoOpinion as N};

#[test]
fn and_keeps_only_when_all_keep() {
    assert!(
        verdict(vec![Policy::and(
            "both",
            vec![always("a", K), always("b", K)]
        )])
        .is_some()
    );
    assert!(
        verdict(vec![Policy::and(
            "both",
            vec![always("a", K), always("b", N)]
        )])
        .is_none()
    );
    // A drop inside `and` is not a veto: `and` has no opinion, and another policy may keep.
    let kept = verdict(vec![
        Policy::and("both", vec![always("a", K), always("b", D)]),
        always("other", K),
    ]);
    assert!(kept.unwrap().contains("other"));
}

#[test]
fn not_keeps_what_its_policy_does_not() {
    assert!(verdict(vec![Policy::not("n", always("a", K))]).is_none());
    assert!(verdict(vec![Policy::not("n", always("a", N))]).is_some());
    assert!(verdict(vec![Policy::not("n", always("a", D))]).is_some());
}

#[test]
fn drop_vetoes_when_all_its_policies_match() {
    assert!(
        verdict(vec![
            always("k", K),
            Policy::drop_when("d", vec![always("a", K)])
        ])
        .is_none()
    );
    assert!(
        verdict(vec![
            always("k", K),
            Policy::drop_when("d", vec![always("a", N)])
        ])
        .is_some()
    );
}

#[test]
fn first_match_takes_the_first_opinion() {
    let fm = |a, b| Policy::first_match("fm", vec![always("a", a), always("b", b)]);
    assert!(verdict(vec![fm(N, K)]).unwrap().contains('b'));
    assert!(verdict(vec![fm(D, K)]).is_none());
    assert!(verdict(vec![fm(K, D)]).unwrap().contains('a'));
    assert!(verdict(vec![fm(N, N)]).is_none());
}

/// A one-span trace with a unique 16-byte id from `n`.
fn numbered(n: u64, spans_per_trace: u64) -> Vec<Span> {
    (0..spans_per_trace)
        .map(|i| {
            let mut trace_id = vec![0u8; 8];
            trace_id.extend(n.to_be_bytes());
            Span {
                trace_id,
                span_id: (i + 1).to_be_bytes().to_vec(),
                parent_span_id: if i == 0 {
                    Vec::new()
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: format!("{}", n % 2),
                ..Default::default()
            }
        })
        .collect()
}

/// Runs `per_second` traces a second for `seconds` through a sampler with `policies`, and
/// counts the kept spans by the policy recorded on them.
fn kept_by_policy(
    policies: Vec<Policy>,
    per_second: u64,
    spans_per_trace: u64,
    seconds: u64,
) -> BTreeMap<String, u64> {
    let settings = SamplerSettings {
        decision_wait: secs(1.0),
        record_policy: true,
        max_traces: 1_000_000,
        ..Default::default()
    };
    let mut s = sampler(settings, policies);
    let mut counts = BTreeMap::new();
    let mut count = |b: &Batch| {
        for sp in spans(b) {
            let by = sp
                .attributes
                .iter()
                .find(|kv| kv.key == POLICY_ATTRIBUTE)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            *counts.entry(by).or_insert(0) += 1;
        }
    };
    let step = Duration::from_secs(1) / u32::try_from(per_second).unwrap();
    let mut now = Duration::ZERO;
    for n in 0..per_second * seconds {
        count(&s.ingest(batch("a", numbered(n, spans_per_trace)), now));
        count(&s.decide_due(now));
        now += step;
    }
    count(&s.finish(now));
    counts
}

#[test]
fn rate_limiting_keeps_at_most_its_spans_per_second() {
    let kept = kept_by_policy(vec![Policy::rate_limiting("rate", 300)], 500, 2, 30);
    let total = kept.get("rate").copied().unwrap_or(0);
    // 30 decision seconds (plus the partial one at shutdown) of at most 300 spans.
    assert!((30 * 300..=31 * 300).contains(&total), "{kept:?}");
}

#[test]
fn bytes_limiting_keeps_its_bytes_per_second_after_the_burst() {
    let one_trace = {
        let mut probe = sampler(SamplerSettings::default(), Vec::new());
        probe.ingest(batch("a", numbered(1, 2)), secs(0.0));
        probe.buffered_bytes() as u64
    };
    // Room for 50 traces a second, a burst of 100; 200 offered a second for 20 s.
    let policy = Policy::bytes_limiting("bytes", one_trace * 50, one_trace * 100);
    let kept = kept_by_policy(vec![policy], 200, 2, 20);
    let traces = kept.get("bytes").copied().unwrap_or(0) / 2;
    let expected = 100 + 50 * 20;
    let diff = traces.abs_diff(expected);
    assert!(
        diff <= expected / 20,
        "kept {traces} traces, expected ~{expected}"
    );
}

#[test]
fn composite_allocates_its_budget_by_percent_within_five_percent() {
    // Every trace matches `a` and `c`; every other trace matches `b` (span name "0").
    let even = leaf("b", |t| {
        Ok(if spans(t).iter().all(|s| s.name == "0") {
            K
        } else {
            N
        })
    });
    let composite = Policy::composite(
        "composite",
        1_000,
        vec![
            (always("a", K), Some(50.0)),
            (even, Some(30.0)),
            (always("c", K), None),
        ],
    );
    let seconds = 60;
    // 1 000 two-span traces a second: twice the budget.
    let kept = kept_by_policy(vec![composite], 1_000, 2, seconds);
    for (name, share) in [("a", 0.5), ("b", 0.3), ("c", 0.2)] {
        let per_second = kept.get(name).copied().unwrap_or(0) as f64 / seconds as f64;
        let want = 1_000.0 * share;
        assert!(
            (per_second - want).abs() <= want * 0.05,
            "{name}: {per_second} spans/s, want {want} ± 5% ({kept:?})"
        );
    }
}

#[test]
fn not_over_a_failing_policy_has_no_opinion() {
    let failing = Policy::leaf(
        "broken",
        Box::new(Native(|_: &Batch| {
            Err(PolicyError {
                kind: "trap",
                message: "boom".into(),
            })
        })),
        N,
    );
    assert!(verdict(vec![Policy::not("n", failing)]).is_none());
}

#[test]
fn not_sees_a_failure_through_and_drop_and_first_match() {
    let failing = || {
        Policy::leaf(
            "broken",
            Box::new(Native(|_: &Batch| {
                Err(PolicyError {
                    kind: "trap",
                    message: "boom".into(),
                })
            })),
            N,
        )
    };
    let wrapped = [
        Policy::and("a", vec![always("k", K), failing()]),
        Policy::drop_when("d", vec![failing()]),
        Policy::first_match("f", vec![always("n", N), failing()]),
    ];
    for inner in wrapped {
        let name = inner.name().to_string();
        assert!(
            verdict(vec![Policy::not("n", inner)]).is_none(),
            "not({name}(failing)) must not keep"
        );
    }
}
