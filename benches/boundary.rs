//! The Wasm boundary, measured through the SDKs on the workload wasm-boundary.md used: one
//! 1,000-span batch (~500 B/span, 10 string attributes per span). For each workload — no-op,
//! add one attribute to every span, scan every string value and mask the matches — the plugin
//! runs through the real host (`ProcessorStage`, deadline and memory cap on) beside the same
//! logic written natively against the host's structs.
//!
//! `cargo bench -p weir-benches --bench boundary`; per-span cost = reported time / 1000.
//! Python plugins are included when `plugins/python/build.sh` has built them.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the benchmark's failure report"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use regex::Regex;
use weir_core::telemetry::Telemetry;
use weir_core::{Batch, FailurePolicy, Signal, Stage};
use weir_tests::fixtures::traces;
use weir_wasm::{
    BreakerSettings, EngineSettings, PluginSettings, ProcessorPlugin, ProcessorStage, WasmEngine,
};

/// The allocator the `weir` binary uses, so host-side costs match the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: usize = 1000;
/// Matches the values of spans whose index ends in 77: 1% of the spans, all their attributes.
/// (It is pasted into the plugin's JSON config, so it holds nothing JSON would escape.)
const PATTERN: &str = r"span-[0-9]{6}77-";

fn spans_mut(
    batch: &mut Batch,
) -> impl Iterator<Item = &mut opentelemetry_proto::tonic::trace::v1::Span> {
    let Batch::Traces(r) = batch else {
        panic!("traces only")
    };
    r.resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
}

fn native_add(batch: &mut Batch) {
    for s in spans_mut(batch) {
        let v = Some(AnyValue {
            value: Some(any_value::Value::StringValue("yes".into())),
        });
        match s.attributes.iter_mut().find(|kv| kv.key == "bench.added") {
            Some(kv) => kv.value = v,
            None => s.attributes.push(KeyValue {
                key: "bench.added".into(),
                value: v,
                ..Default::default()
            }),
        }
    }
}

fn native_mask(batch: &mut Batch, re: &Regex) {
    for s in spans_mut(batch) {
        for kv in &mut s.attributes {
            if let Some(AnyValue {
                value: Some(any_value::Value::StringValue(v)),
            }) = &mut kv.value
                && re.is_match(v)
            {
                *v = "***".into();
            }
        }
    }
}

fn stage(engine: &WasmEngine, path: &std::path::Path, config: String) -> ProcessorStage {
    let settings = PluginSettings {
        timeout: std::time::Duration::from_secs(10),
        ..PluginSettings::default()
    };
    let plugin = Arc::new(ProcessorPlugin::load(engine, "bench", path, config, settings).unwrap());
    let metrics = Telemetry::new().plugin("bench", "traces", Signal::Traces);
    ProcessorStage::new(
        plugin,
        Signal::Traces,
        FailurePolicy::Pass,
        BreakerSettings::default(),
        metrics,
    )
}

fn workloads() -> [(&'static str, String); 3] {
    [
        ("noop", r#"{"mode":"noop"}"#.to_string()),
        ("add", r#"{"mode":"add"}"#.to_string()),
        (
            "mask",
            format!(r#"{{"mode":"mask","pattern":"{PATTERN}"}}"#),
        ),
    ]
}

fn boundary(c: &mut Criterion) {
    let batch = traces(SPANS, 10);
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    let re = Regex::new(PATTERN).unwrap();
    let mut g = c.benchmark_group("boundary-1000-spans");
    g.throughput(Throughput::Elements(SPANS as u64));

    g.bench_function("native/noop", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut x| {
                std::hint::black_box(&mut x);
                x
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("native/add", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut x| {
                native_add(&mut x);
                x
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("native/mask", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut x| {
                native_mask(&mut x, &re);
                x
            },
            BatchSize::LargeInput,
        )
    });

    // The host's side of a scan: building the attribute table the guest reads.
    g.bench_function("host/attribute-table", |b| {
        b.iter_batched(
            || weir_columns::Session::new(batch.clone()),
            |s| {
                std::hint::black_box(s.attributes(weir_columns::Level::Item));
                s
            },
            BatchSize::LargeInput,
        )
    });

    let mut guests = vec![("rust", weir_tests::plugins::wasm("bench"))];
    let python = weir_tests::plugins::workspace().join("python/target/bench.wasm");
    if python.exists() {
        guests.push(("python", python));
    } else {
        eprintln!(
            "python bench plugin not built ({}); run plugins/python/build.sh",
            python.display()
        );
    }
    for (lang, path) in &guests {
        for (name, config) in workloads() {
            let mut s = stage(&engine, path, config);
            // Check the workload does what it says before timing it.
            let mut check = batch.clone();
            s.process(&mut check).unwrap();
            let mut expect = batch.clone();
            match name {
                "add" => native_add(&mut expect),
                "mask" => native_mask(&mut expect, &re),
                _ => {}
            }
            assert_eq!(
                check, expect,
                "{lang}/{name} differs from the native version"
            );
            g.bench_function(format!("{lang}/{name}"), |b| {
                b.iter_batched(
                    || batch.clone(),
                    |mut x| {
                        s.process(&mut x).unwrap();
                        x
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
