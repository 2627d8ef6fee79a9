//! The first-party plugins on one 1,000-span batch (10 string attributes per span, 1% of spans
//! carrying an email and a card number): `redact` scanning every string with the default
//! detectors, and `enrich` with three rules (a static insert, a rename, a value derived by a
//! pattern). Each runs as the embedded component through the real host, beside the same plugin
//! code run natively through the host's column code (`weir_plugin::testing::process`: what the
//! Wasm boundary costs), and — for redact — beside the redaction logic run natively on the
//! decoded batch (what a native processor would cost).
//!
//! `cargo bench -p weir-benches --bench builtins`; per-span cost = reported time / 1000.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the benchmark's failure report"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::{Batch, FailurePolicy, Stage};
use weir_plugin::{Config, Processor};
use weir_tests::fixtures::{kv, traces};
use weir_wasm::BreakerSettings;

/// The allocator the `weir` binary uses, so host-side costs match the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: usize = 1000;

const REDACT: &str = r#"{}"#;
const ENRICH: &str = r#"{"actions":[
  {"action":"insert","key":"deployment.environment","value":"production"},
  {"action":"rename","key":"attr.1","to":"attr.one"},
  {"action":"insert","key":"span.number","from_attribute":"attr.2","patterns":[{"regex":"^value-2-of-item-(\\d+)-padding$","value":"$1"}]}
]}"#;

/// The workload: `traces(1000, 10)` (realistic spans from the shared generator, 10 padding
/// attributes each) with an email and a card number in 1% of the spans.
fn batch() -> Batch {
    let mut batch = traces(SPANS, 10);
    let Batch::Traces(r) = &mut batch else {
        unreachable!()
    };
    let spans = r
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans);
    for (i, span) in spans.enumerate() {
        if i % 100 == 77 {
            for kv_ in &mut span.attributes {
                match kv_.key.as_str() {
                    "attr.3" => *kv_ = kv("attr.3", "contact ada.lovelace@example.com"),
                    "attr.7" => *kv_ = kv("attr.7", "card 4111 1111 1111 1111"),
                    _ => {}
                }
            }
        }
    }
    batch
}

fn bench_plugin<P: Processor>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    config: &str,
    input: &Batch,
) {
    let mut native = P::init(Config::new(config)).unwrap();
    let plugin = weir_tests::plugins::builtin(name, config).unwrap();
    let (mut wasm, _) =
        weir_tests::plugins::stage(plugin, FailurePolicy::Pass, BreakerSettings::default());
    // Both must do the same thing before they are timed.
    let mut check = input.clone();
    wasm.process(&mut check).unwrap();
    let expect = weir_plugin::testing::process(&mut native, input.clone()).unwrap();
    assert_eq!(check, expect, "{name}: Wasm and native outputs differ");
    assert_ne!(check, *input, "{name}: the workload changed nothing");

    g.bench_function(format!("{name}/native-same-code"), |b| {
        b.iter_batched(
            || input.clone(),
            |x| weir_plugin::testing::process(&mut native, x).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.bench_function(format!("{name}/wasm"), |b| {
        b.iter_batched(
            || input.clone(),
            |mut x| {
                wasm.process(&mut x).unwrap();
                x
            },
            BatchSize::LargeInput,
        )
    });
}

fn builtins(c: &mut Criterion) {
    let input = batch();
    let mut g = c.benchmark_group("builtins-1000-spans");
    g.throughput(Throughput::Elements(SPANS as u64));

    let redactor = redact::Redactor::from_config(REDACT).unwrap();
    g.bench_function("redact/native-on-decoded", |b| {
        b.iter_batched(
            || input.clone(),
            |mut x| {
                let Batch::Traces(r) = &mut x else {
                    unreachable!()
                };
                std::hint::black_box(redactor.redact_traces(r));
                x
            },
            BatchSize::LargeInput,
        )
    });
    // The host kernel alone: Weir's native search of the whole batch for redact's patterns
    // (what a batch with nothing to redact costs, before anything crosses into the plugin).
    if let Some((patterns, cards)) = redactor.kernel() {
        let matcher = weir_columns::Matcher::new(patterns, cards).unwrap();
        let session = weir_columns::Session::new(input.clone());
        assert_eq!(
            session.find(&matcher).items.len(),
            4 * (SPANS / 100),
            "10 spans hold secrets"
        );
        g.bench_function("redact/find-kernel", |b| {
            b.iter(|| std::hint::black_box(session.find(&matcher)))
        });
        // The same search on the load harness's traffic (weir-synth spans, ~400 B each).
        let synth =
            weir_columns::Session::new(Batch::Traces(weir_synth::Generator::new(1).traces(SPANS)));
        g.bench_function("redact/find-kernel-synth", |b| {
            b.iter(|| std::hint::black_box(synth.find(&matcher)))
        });
        // As the gateway runs it: over the request's bytes as received (no decoding). Both
        // paths must report the same items, checked on spans with secrets planted everywhere.
        let planted = weir_synth::Generator::new(1)
            .plant_secrets(0.02)
            .traces(SPANS);
        let found = weir_columns::Session::new(as_bytes(&planted)).find(&matcher);
        assert!(!found.items.is_empty(), "the planted secrets are found");
        let decoded = weir_columns::Session::new(Batch::Traces(planted)).find(&matcher);
        assert_eq!(found, decoded, "bytes and decoded paths agree");
        let request = weir_synth::Generator::new(1).traces(SPANS);
        let wire = weir_columns::Session::new(as_bytes(&request));
        g.bench_function("redact/find-kernel-synth-wire", |b| {
            b.iter(|| std::hint::black_box(wire.find(&matcher)))
        });
    }
    bench_plugin::<redact::Redact>(&mut g, "redact", REDACT, &input);
    bench_plugin::<enrich::Enrich>(&mut g, "enrich", ENRICH, &input);
    g.finish();
}

/// A traces request as a receiver keeps it: bytes (a batch whose ids break the OTLP rules
/// would be decoded instead, and would not measure the bytes path).
fn as_bytes(request: &ExportTraceServiceRequest) -> Batch {
    let bytes = bytes::Bytes::from(prost::Message::encode_to_vec(request));
    let batch = Batch::from_wire(weir_core::Signal::Traces, bytes).unwrap();
    assert!(matches!(batch, Batch::Wire(_)), "kept as bytes");
    batch
}

/// The receiver's validating scan of each request (what every pipeline pays, pass-through
/// included), over the same 1000 spans.
fn receiver(c: &mut Criterion) {
    let mut g = c.benchmark_group("receiver-1000-spans");
    g.throughput(Throughput::Elements(SPANS as u64));
    let request = weir_synth::Generator::new(1).traces(SPANS);
    let bytes = prost::Message::encode_to_vec(&request);
    g.bench_function("scan-synth", |b| {
        b.iter(|| weir_core::wire::scan(weir_core::Signal::Traces, &bytes).unwrap())
    });
    g.finish();
}

criterion_group!(benches, builtins, receiver);
criterion_main!(benches);
