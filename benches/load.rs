//! `weir-load`: measures OTLP/gRPC → Weir (pass-through pipeline) → OTLP/gRPC in spans/s, and the
//! latency Weir adds at a fixed request rate. See benches/README.md.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in the load harness is its error report"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use weir_tests::Gateway;

#[path = "load_tls.rs"]
mod tls;

#[derive(Parser)]
#[command(about = "OTLP/gRPC -> weir -> OTLP/gRPC load harness")]
struct Args {
    /// The weir binary to run (build it with `cargo build --release --bin weir`).
    #[arg(long, default_value = "target/release/weir")]
    weir: PathBuf,
    /// Concurrent gRPC clients in the throughput phase.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Spans per request.
    #[arg(long, default_value_t = 100)]
    spans: usize,
    /// The pipeline's send_batch_size (0: every request alone).
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// The pipeline's batch timeout.
    #[arg(long, default_value = "200ms")]
    batch_timeout: String,
    /// The pipeline's `ack`: `processed` (answer after the processors, the default) or
    /// `received` (answer on receipt).
    #[arg(long, default_value = "processed")]
    ack: String,
    /// The exporter's sending queue: `memory`, or `disk` (in a temporary directory).
    #[arg(long, default_value = "memory")]
    queue: String,
    /// With `--queue disk`: `always`, `batch` or `never`.
    #[arg(long, default_value = "batch")]
    fsync: String,
    /// Compression of the exporter to the sink: gzip (the default, as in the Collector), zstd, none.
    #[arg(long, default_value = "gzip")]
    compression: String,
    /// Wasm processor plugins to put in the pipeline, in order: a component file (e.g.
    /// plugins/target/wasm32-wasip2/release/bench.wasm) or a built-in (`builtin:redact`).
    /// Repeat for a chain.
    #[arg(long)]
    plugin: Vec<String>,
    /// Each plugin's config, as a TOML inline table, in the same order as `--plugin`
    /// (missing ones are `{ mode = "noop" }`, the bench plugin's no-op).
    #[arg(long)]
    plugin_config: Vec<String>,
    /// Pin every gateway thread to this CPU (with `taskset`), e.g. 0 for "one core".
    #[arg(long)]
    pin_cpu: Option<usize>,
    /// The latency phases send at this share of the measured throughput.
    #[arg(long, default_value_t = 0.5)]
    rate_share: f64,
    /// TLS on both sides: clients → receiver over TLS, exporter → a TLS-terminating proxy in
    /// front of the sink over `https://`; then a handshake-rate phase.
    #[arg(long)]
    tls: bool,
    /// The sink answers every Nth request UNAVAILABLE (2: half of them), to measure what gets
    /// through to a partly failing backend; 0: none.
    #[arg(long, default_value_t = 0)]
    fail_every: u64,
    /// The exporter's `retry_on_failure.initial_interval` (and `max_interval`, so every retry
    /// waits about this long).
    #[arg(long, default_value = "5s")]
    retry_interval: String,
    /// Share of spans (0 to 1) that carry a secret for `builtin:redact` to find: an email, a
    /// card number, a bearer token or an AWS key in an attribute, in turn (0.01: one span in
    /// a hundred, as in realistic traffic).
    #[arg(long, default_value_t = 0.0)]
    secret_share: f64,
}

/// The config of the `i`th plugin.
fn plugin_config(args: &Args, i: usize) -> &str {
    args.plugin_config
        .get(i)
        .map_or(r#"{ mode = "noop" }"#, String::as_str)
}

/// `[processors.p0]` … for the `--plugin` chain; files are made absolute, built-ins kept.
fn processors_toml(args: &Args) -> String {
    let mut out = String::new();
    for (i, p) in args.plugin.iter().enumerate() {
        let plugin = if p.starts_with("builtin:") {
            p.clone()
        } else {
            std::fs::canonicalize(p).map_or_else(|_| p.clone(), |c| c.display().to_string())
        };
        out.push_str(&format!(
            "[processors.p{i}]\nplugin = \"{plugin}\"\ntimeout = \"5s\"\nconfig = {}\n",
            plugin_config(args, i)
        ));
    }
    out
}

/// The receiving backend: counts spans and stamps when each request id arrived.
#[derive(Clone)]
struct Sink {
    spans: Arc<AtomicU64>,
    /// Requests seen, and every how many one is refused (0: none).
    seen: Arc<AtomicU64>,
    fail_every: u64,
    /// Arrival in µs since `base`, by request id (0 = not yet).
    arrivals: Arc<Vec<AtomicU64>>,
    base: Instant,
}

const MAX_REQUESTS: usize = 4_000_000;

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && seen.is_multiple_of(self.fail_every) {
            return Err(tonic::Status::unavailable(
                "weir-load: failing every --fail-every'th request",
            ));
        }
        let now = self.base.elapsed().as_micros() as u64 + 1;
        let req = r.into_inner();
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                self.spans
                    .fetch_add(ss.spans.len() as u64, Ordering::Relaxed);
                if let Some(id) = ss
                    .spans
                    .first()
                    .and_then(|s| s.name.strip_prefix("req-"))
                    .and_then(|n| n.parse::<usize>().ok())
                    && let Some(slot) = self.arrivals.get(id)
                {
                    slot.store(now, Ordering::Relaxed);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A request of `spans` realistic spans from the shared generator (the shop's services calling
/// each other, semantic-convention attributes, errors, events; about 400 B per span on the wire).
fn template(spans: usize) -> ExportTraceServiceRequest {
    weir_synth::Generator::new(1).traces(spans)
}

/// Adds a secret-bearing attribute to every `1 / share`th span of `t`; returns how many.
fn plant(t: &mut ExportTraceServiceRequest, share: f64) -> usize {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    const SECRETS: [&str; 4] = [
        "contact ada@example.com",
        "paid with 4111 1111 1111 1111",
        "auth Bearer 2YotnFZFEjr1zCsicMWpAA",
        "key AKIAIOSFODNN7EXAMPLE",
    ];
    if share <= 0.0 {
        return 0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a small positive step"
    )]
    let every = (1.0 / share.min(1.0)).round().max(1.0) as usize;
    let spans = t
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans);
    let mut planted = 0;
    for (i, span) in spans.enumerate().filter(|(i, _)| i % every == every / 2) {
        span.attributes.push(KeyValue {
            key: "app.note".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(SECRETS[i % SECRETS.len()].into())),
            }),
            ..Default::default()
        });
        planted += 1;
    }
    planted
}

fn numbered(t: &ExportTraceServiceRequest, id: usize) -> ExportTraceServiceRequest {
    let mut r = t.clone();
    if let Some(s) = r.resource_spans[0].scope_spans[0].spans.first_mut() {
        s.name = format!("req-{id}");
    }
    r
}

/// A client of `url`; `https://` URLs need `tls`.
async fn client(
    url: &str,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
) -> anyhow::Result<TraceServiceClient<Channel>> {
    match tls {
        Some(tls) if url.starts_with("https://") => tls::client(url, tls.clone()).await,
        _ => Ok(TraceServiceClient::connect(url.to_string()).await?),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.weir.exists(),
        "{} not found: run `cargo build --release --bin weir` first",
        args.weir.display()
    );
    let sink = Sink {
        spans: Arc::default(),
        seen: Arc::default(),
        fail_every: args.fail_every,
        arrivals: Arc::new((0..MAX_REQUESTS).map(|_| AtomicU64::new(0)).collect()),
        base: Instant::now(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let listener_addr = listener.local_addr()?;
    let sink_url = format!("http://{listener_addr}");
    let server = tonic::transport::Server::builder().add_service(
        TraceServiceServer::new(sink.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
            .max_decoding_message_size(64 << 20),
    );
    tokio::spawn(server.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));

    let spool = tempfile::tempdir()?;
    let pki = if args.tls {
        Some(tls::Pki::new(spool.path())?)
    } else {
        None
    };
    let (exporter_url, exporter_tls, receiver_tls) = match &pki {
        Some(pki) => {
            let proxy = tls::proxy(pki, listener_addr).await?;
            (
                format!("https://localhost:{}", proxy.port()),
                pki.exporter_toml(),
                pki.receiver_toml(),
            )
        }
        None => (sink_url.clone(), String::new(), String::new()),
    };
    let queue = match args.queue.as_str() {
        "memory" => String::new(),
        "disk" => format!(
            "sending_queue = {{ storage = \"disk\", dir = \"{}\", max_size = \"4GiB\", fsync = \"{}\" }}",
            spool.path().display(),
            args.fsync
        ),
        other => anyhow::bail!("--queue {other}: use memory or disk"),
    };
    let config = format!(
        r#"
[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", max_recv_msg_size = "16MiB" }}
{receiver_tls}
[exporters.sink]
type = "otlp-grpc"
endpoint = "{exporter_url}"
compression = "{}"
retry_on_failure = {{ initial_interval = "{retry}", max_interval = "{retry}" }}
{exporter_tls}
{queue}
{processor}
[pipelines.traces]
receivers = ["otlp"]
exporters = ["sink"]
processors = [{processors}]
queue_size = 256
batch = {{ send_batch_size = {}, timeout = "{}" }}
ack = "{}"
"#,
        args.compression,
        args.batch,
        args.batch_timeout,
        args.ack,
        processor = processors_toml(&args),
        retry = args.retry_interval,
        processors = (0..args.plugin.len())
            .map(|i| format!("\"p{i}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let gw = Gateway::start_binary(&args.weir, &config).await;
    if let Some(cpu) = args.pin_cpu {
        let ok = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", &cpu.to_string(), &gw.pid().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "taskset could not pin the gateway to CPU {cpu}");
        println!("gateway pinned to CPU {cpu}");
    }
    for (i, p) in args.plugin.iter().enumerate() {
        println!("pipeline stage {i}: plugin {p} {}", plugin_config(&args, i));
    }
    let client_tls = pki.as_ref().map(|p| p.client.clone());
    let weir_url = match &client_tls {
        Some(_) => format!("https://localhost:{}", gw.addr("otlp", "grpc").port()),
        None => gw.url("otlp", "grpc"),
    };
    let mut tpl = template(args.spans);
    let planted = plant(&mut tpl, args.secret_share);
    if planted > 0 {
        println!(
            "{planted} of {} spans per request carry a secret",
            args.spans
        );
    }
    let tpl = Arc::new(tpl);
    let next_id = Arc::new(AtomicU64::new(0));

    // Phase 1: closed-loop throughput through weir.
    println!(
        "throughput: {} clients x {} spans/request for {} s …",
        args.clients, args.spans, args.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let before = sink.spans.load(Ordering::Relaxed);
    let cpu_before = cpu_seconds(gw.pid());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (tpl, stop, next_id, refused, acknowledged) = (
            tpl.clone(),
            stop.clone(),
            next_id.clone(),
            refused.clone(),
            acknowledged.clone(),
        );
        let mut c = client(&weir_url, client_tls.as_ref()).await?;
        let spans = args.spans as u64;
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed) as usize % MAX_REQUESTS;
                if c.export(numbered(&tpl, id)).await.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                } else {
                    acknowledged.fetch_add(spans, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let sent_elapsed = start.elapsed();
    // Let in-flight exports land, then count (with a failing sink, retries land a backoff
    // later: wait until all that was acknowledged arrived, or a minute).
    let settle = Instant::now();
    let mut last = u64::MAX;
    let acked_now = acknowledged.load(Ordering::Relaxed);
    while settle.elapsed() < Duration::from_secs(if args.fail_every > 0 { 60 } else { 30 }) {
        let now = sink.spans.load(Ordering::Relaxed);
        if now - before >= acked_now || (now == last && args.fail_every == 0) {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let delivered = sink.spans.load(Ordering::Relaxed) - before;
    let sps = delivered as f64 / sent_elapsed.as_secs_f64();
    println!(
        "  delivered {delivered} spans: {sps:.0} spans/s ({} refused requests retried)",
        refused.load(Ordering::Relaxed)
    );
    // Every span a client saw acknowledged must reach the sink (processors that remove spans
    // aside); a shortfall is data acknowledged and then lost.
    let acked = acknowledged.load(Ordering::Relaxed);
    println!(
        "  acknowledged {acked} spans, delivered {delivered}: {} acknowledged spans missing",
        acked.saturating_sub(delivered)
    );
    // Client, gateway and sink share the machine, so spans/s is bounded by all three; the
    // gateway's own CPU time gives its cost independent of the others.
    if let (Some(a), Some(b)) = (cpu_before, cpu_seconds(gw.pid())) {
        let cpu = b - a;
        println!(
            "  gateway CPU: {cpu:.1} s = {:.0} spans per gateway CPU-second ({:.2} µs/span)",
            delivered as f64 / cpu,
            cpu * 1e6 / delivered as f64
        );
    }

    // Phase 2: fixed-rate latency, direct and through weir.
    let rate = (sps * args.rate_share / args.spans as f64).max(1.0);
    for (label, url) in [
        ("direct to sink", sink_url.clone()),
        ("through weir", weir_url.clone()),
    ] {
        let h = latency(
            &sink,
            &url,
            client_tls.as_ref(),
            &tpl,
            &next_id,
            rate,
            Duration::from_secs(args.seconds),
        )
        .await?;
        println!(
            "latency {label:>15} at {rate:.0} req/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
            h.len()
        );
    }
    if let Some(tls) = &client_tls {
        let addr = gw.addr("otlp", "grpc");
        let cpu_before = cpu_seconds(gw.pid());
        let rate = tls::handshakes(addr, tls.clone(), args.clients, args.seconds).await;
        let cpu = cpu_seconds(gw.pid()).zip(cpu_before).map(|(b, a)| b - a);
        println!(
            "TLS handshakes: {rate:.0}/s from {} dialers (gateway CPU {:.1} s)",
            args.clients,
            cpu.unwrap_or(f64::NAN)
        );
    }
    let dropped = gw.metric("weir_exporter_dropped_items_total", &[]).await;
    println!("weir_exporter_dropped_items_total = {dropped}");
    Ok(())
}

/// User + system CPU seconds of process `pid` (Linux `/proc`; `None` elsewhere).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

/// Sends at `rate` requests/s for `span` and returns send→arrival latencies in µs.
#[allow(clippy::too_many_arguments, reason = "one measurement's settings")]
async fn latency(
    sink: &Sink,
    url: &str,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
    tpl: &Arc<ExportTraceServiceRequest>,
    next_id: &Arc<AtomicU64>,
    rate: f64,
    span: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let c = client(url, tls).await?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = Instant::now() + span;
    let mut sent = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let id = next_id.fetch_add(1, Ordering::Relaxed) as usize % MAX_REQUESTS;
        sink.arrivals[id].store(0, Ordering::Relaxed);
        let at = sink.base.elapsed().as_micros() as u64 + 1;
        let (mut c, req) = (c.clone(), numbered(tpl, id));
        tokio::spawn(async move { c.export(req).await });
        sent.push((id, at));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut h = Histogram::<u64>::new(3).context("histogram")?;
    // When the slow arrivals (over 10 ms) were sent, in seconds into the phase: a cluster tells
    // a stall from a steady tail.
    let start = sent.first().map_or(0, |&(_, at)| at);
    let mut slow = Vec::new();
    for (id, at) in sent {
        let arrived = sink.arrivals[id].load(Ordering::Relaxed);
        if arrived > 0 {
            let us = arrived.saturating_sub(at).max(1);
            h.record(us)?;
            if us > 10_000 {
                slow.push((at - start) as f64 / 1e6);
            }
        }
    }
    if let (Some(first), Some(last)) = (slow.first(), slow.last()) {
        println!(
            "  {} arrivals over 10 ms, sent between {first:.2} s and {last:.2} s into the phase",
            slow.len()
        );
    }
    Ok(h)
}
