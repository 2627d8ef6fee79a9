//! `builtin:head-sample` keeps the configured share of traces, decides the same way for the same
//! trace id in every Weir instance, honours `sampling.priority` both ways and records its
//! threshold in `tracestate` (but not on spans it kept because of `sampling.priority`).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_core::{Batch, FailurePolicy, Stage};
use weir_tests::{Gateway, eventually, plugins};
use weir_wasm::{BreakerSettings, ProcessorStage};

/// A small deterministic generator (xorshift64*), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn priority(p: i64) -> KeyValue {
    KeyValue {
        key: "sampling.priority".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(p)),
        }),
        ..Default::default()
    }
}

/// `n` spans, one per trace, with random trace ids from `seed`; span ids count from 1.
fn spans(n: u64, seed: u64, attrs: impl Fn(u64) -> Vec<KeyValue>) -> ExportTraceServiceRequest {
    let mut rng = Rng(seed);
    let spans = (1..=n)
        .map(|i| {
            let mut trace_id = rng.next().to_be_bytes().to_vec();
            trace_id.extend_from_slice(&rng.next().to_be_bytes());
            Span {
                trace_id,
                span_id: i.to_be_bytes().to_vec(),
                name: "op".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_001_000_000,
                attributes: attrs(i),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn stage(config: &str) -> ProcessorStage {
    let plugin = plugins::builtin("head-sample", config).unwrap();
    plugins::stage(plugin, FailurePolicy::Refuse, BreakerSettings::default()).0
}

#[test]
fn ten_percent_of_100k_traces_is_ten_percent_plus_minus_one() {
    let mut s = stage(r#"{"percent": 10}"#);
    let mut kept = 0;
    for chunk in 0..10 {
        let mut batch = Batch::Traces(spans(10_000, 0x5eed + chunk, |_| Vec::new()));
        s.process(&mut batch).unwrap();
        kept += batch.item_count();
        let Batch::Traces(r) = &batch else { panic!() };
        for span in &r.resource_spans[0].scope_spans[0].spans {
            assert_eq!(
                span.trace_state, "ot=th:e666",
                "kept spans carry the threshold"
            );
        }
    }
    assert!((9_000..=11_000).contains(&kept), "kept {kept} of 100000");
}

fn gateway_config(out: &Path) -> String {
    format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[processors.sample]
plugin = "builtin:head-sample"
config = {{ percent = 10 }}

[exporters.out]
type = "file"
path = "{}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["sample"]
exporters = ["out"]
batch = {{ timeout = "50ms" }}
"#,
        out.display()
    )
}

/// (span id, tracestate) of every span in a file exporter's output.
fn kept(path: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    out.insert((
                        s["spanId"].as_str().unwrap().to_string(),
                        s["traceState"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_agree_and_sampling_priority_overrides_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let (config_a, config_b) = (gateway_config(&out_a), gateway_config(&out_b));
    let (a, b) = tokio::join!(Gateway::start(&config_a), Gateway::start(&config_b));
    // Spans 1..=100 say "keep me" and 101..=200 "drop me"; the rest are up to the ratio.
    let request = spans(5_000, 42, |i| match i {
        1..=100 => vec![priority(1)],
        101..=200 => vec![priority(0)],
        _ => Vec::new(),
    })
    .encode_to_vec();
    for gw in [&a, &b] {
        let r = gw.post_otlp("traces", request.clone()).await.unwrap();
        assert!(r.status().is_success(), "{r:?}");
    }
    // Both instances have written once their counts agree and stop changing.
    let mut last = 0;
    let settled = eventually(Duration::from_secs(30), || {
        let n = kept(&out_a).len();
        let same = n > 0 && n == kept(&out_b).len() && n == last;
        last = n;
        async move { same }
    })
    .await;
    assert!(settled, "the gateways did not write the same amount");
    let (ka, kb) = (kept(&out_a), kept(&out_b));
    assert_eq!(ka, kb, "two instances decided differently");

    let id = |i: u64| {
        i.to_be_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let has = |i: u64| ka.iter().any(|(s, _)| *s == id(i));
    assert!((1..=100).all(has), "sampling.priority = 1 must keep");
    assert!(!(101..=200).any(has), "sampling.priority = 0 must drop");
    let by_ratio = ka.len() - 100;
    assert!(
        (300..=700).contains(&by_ratio),
        "{by_ratio} of 4800 kept by a 10% ratio"
    );
    for (span, ts) in &ka {
        let forced = (1..=100).any(|i| id(i) == *span);
        // A forced keep leaves tracestate alone (it says nothing about probability).
        let want = if forced { "" } else { "ot=th:e666" };
        assert_eq!(ts, want, "span {span}");
    }
}
