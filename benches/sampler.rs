//! The tail sampler at steady state with 10,000 concurrent traces: 1,000 traces/s of 10 spans
//! (8 string attributes each) on a virtual clock, `decision_wait = 10s`, three first-party Wasm
//! policies (`status_code` ERROR, `latency` ≥ 500 ms, `probabilistic` 10%) through the real host.
//!
//! - criterion: one step = ingest a 100-span batch and decide the traces due (10 per step, each
//!   evaluated by 3 Wasm policies); spans/s = 100 / step time;
//! - printed before it: memory per buffered span (resident-set growth while buffering 20,000
//!   traces, against their encoded size) and the p50/p99 time to decide one trace.
//!
//! `cargo bench -p weir-benches --bench sampler`

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the benchmark's failure report"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use weir_core::Batch;
use weir_core::telemetry::Telemetry;
use weir_tail_sampling::{Decision, Policy, Sampler, SamplerSettings};
use weir_tests::fixtures::kv;
use weir_tests::plugins;
use weir_wasm::{BreakerSettings, WasmPolicy};

/// The allocator the `weir` binary uses, so host-side costs match the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_STEP: u64 = 10;
/// Virtual time per step: 10 traces per 10 ms = 1,000 traces/s.
const STEP: Duration = Duration::from_millis(10);
const SERVICES: [&str; 3] = ["frontend", "checkout", "billing-service-python"];

/// The traces of step `k`: ids from `k`, 2% with an error, 5% slow, three services.
fn step_batch(k: u64) -> Batch {
    let mut resource_spans: Vec<ResourceSpans> = SERVICES
        .iter()
        .map(|s| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s), kv("host.name", "node-17.eu-west-1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans::default()],
            ..Default::default()
        })
        .collect();
    for t in 0..TRACES_PER_STEP {
        let n = k * TRACES_PER_STEP + t;
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut trace_id = x.to_be_bytes().to_vec();
        trace_id.extend(x.rotate_left(31).to_be_bytes());
        let start = 1_700_000_000_000_000_000 + n * 1_000_000;
        let slow = n % 20 == 3;
        for s in 0..SPANS_PER_TRACE {
            let span = Span {
                trace_id: trace_id.clone(),
                span_id: (n * 16 + s + 1).to_be_bytes().to_vec(),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    (n * 16 + 1).to_be_bytes().to_vec()
                },
                name: format!("GET /api/items/{}", s % 7),
                start_time_unix_nano: start + s * 1_000_000,
                end_time_unix_nano: start
                    + s * 1_000_000
                    + if slow { 900_000_000 } else { 20_000_000 },
                attributes: (0..8)
                    .map(|a| {
                        kv(
                            &format!("attr.{a}"),
                            &format!("value-{a}-of-span-{s:04}-padding"),
                        )
                    })
                    .collect(),
                status: (n % 50 == 7 && s == 3).then(|| Status {
                    code: 2,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let at = usize::try_from(s % 3).unwrap();
            resource_spans[at].scope_spans[0].spans.push(span);
        }
    }
    Batch::Traces(ExportTraceServiceRequest { resource_spans })
}

fn policy(t: &Telemetry, name: &str, kind: &str, config: &str) -> Policy {
    let plugin = Arc::new(plugins::builtin_policy(kind, config).unwrap());
    let eval = WasmPolicy::new(
        plugin,
        BreakerSettings::default(),
        t.plugin(name, "traces", weir_core::Signal::Traces),
    );
    Policy::leaf(name, Box::new(eval), Decision::NoOpinion)
}

fn sampler(max_traces: usize) -> Sampler {
    let t = Telemetry::new();
    let policies = vec![
        policy(
            &t,
            "errors",
            "status_code",
            r#"{"status_codes": ["ERROR"]}"#,
        ),
        policy(&t, "slow", "latency", r#"{"threshold_ms": 500}"#),
        policy(
            &t,
            "some",
            "probabilistic",
            r#"{"sampling_percentage": 10}"#,
        ),
    ];
    let settings = SamplerSettings {
        decision_wait: Duration::from_secs(10),
        max_traces,
        ..Default::default()
    };
    Sampler::new("tail", settings, policies, t.sampler("tail", "traces"))
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Memory per buffered span, and the time to decide one trace.
fn report() {
    // Memory: buffer 20,000 traces (200,000 spans) and compare the RSS growth with their
    // encoded size. Batches are built and dropped one at a time so only the buffer grows.
    let mut s = sampler(1_000_000);
    let warm = step_batch(1_000_000);
    drop(s.ingest(warm, Duration::ZERO));
    let before = rss();
    for k in 0..2_000 {
        drop(s.ingest(step_batch(k), Duration::ZERO));
    }
    let grown = rss().saturating_sub(before) as f64;
    let spans = s.buffered_spans() as f64;
    let wire = s.buffered_bytes() as f64;
    println!(
        "sampler memory: {spans} spans buffered, wire size {:.0} B/span, resident growth {:.0} B/span ({:.2}x wire)",
        wire / spans,
        grown / spans,
        grown / wire
    );

    // Decision time: steady state with 10,000 buffered traces; each step decides 10 of them.
    let mut s = sampler(1_000_000);
    let mut now = Duration::ZERO;
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for k in 0..3_000u64 {
        drop(s.ingest(step_batch(k), now));
        let started = Instant::now();
        let before = s.buffered_traces();
        drop(s.decide_due(now));
        let decided = before - s.buffered_traces();
        if decided > 0 && k >= 1_000 {
            let per = started.elapsed().as_nanos() / decided as u128;
            hist.record(u64::try_from(per).unwrap_or(u64::MAX)).unwrap();
        }
        now += STEP;
    }
    println!(
        "decision time per trace (3 Wasm policies, 10 spans): p50 {:.1} µs, p99 {:.1} µs, {} traces buffered",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        s.buffered_traces()
    );
}

fn bench(c: &mut Criterion) {
    let s = RefCell::new(sampler(1_000_000));
    let step = Cell::new(0u64);
    // Warm up to steady state: 10 s of traffic = 10,000 buffered traces.
    for _ in 0..1_000 {
        let k = step.get();
        let now = STEP * u32::try_from(k).unwrap();
        drop(s.borrow_mut().ingest(step_batch(k), now));
        drop(s.borrow_mut().decide_due(now));
        step.set(k + 1);
    }
    let mut g = c.benchmark_group("sampler");
    g.throughput(Throughput::Elements(TRACES_PER_STEP * SPANS_PER_TRACE));
    g.bench_function("10k_traces_3_wasm_policies", |b| {
        b.iter_batched(
            || {
                let k = step.get();
                step.set(k + 1);
                (step_batch(k), STEP * u32::try_from(k).unwrap_or(u32::MAX))
            },
            |(batch, now)| {
                let mut s = s.borrow_mut();
                let passed = s.ingest(batch, now);
                (passed, s.decide_due(now))
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
    println!(
        "traces buffered after the run: {}",
        s.borrow().buffered_traces()
    );
}

fn main() {
    report();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
