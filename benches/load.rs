//! `weir-load`: measures OTLP/gRPC → Weir (pass-through pipeline) → OTLP/gRPC in spans/s, and the
//! latency Weir adds at a fixed request rate. See benches/README.md.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in the load harness is its error report"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use clap::Parser;
use tokio::net::TcpListener;
use weir_tests::Gateway;

#[path = "load_measure.rs"]
mod measure;
#[path = "load_peer.rs"]
mod peer;
#[path = "load_sink.rs"]
mod sink;
#[path = "load_tls.rs"]
mod tls;

use measure::{Load, Measured, cpu_seconds};
use sink::{Sink, plant, template};

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
    /// With `--queue memory`: the queue's `queue_size` in batches (Weir's default is 1000).
    /// At saturation the queue fills, so it bounds the memory the gateway holds under load.
    #[arg(long, default_value_t = 1000)]
    queue_size: usize,
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
    /// The latency phases send this many spans per second instead (e.g. 50000, the rate of the
    /// p99 goal), the same for every gateway measured in the run; overrides `--rate-share`.
    #[arg(long)]
    rate: Option<f64>,
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
    /// A peer gateway to measure first, on the same traffic and sink: a shell command with
    /// `{listen}` (its OTLP/gRPC receiver's `127.0.0.1:port`), `{sink_url}` (where it exports
    /// OTLP/gRPC) and optionally `{listen_http}` and `{sink}`; e.g.
    /// `--peer "rotel start --otlp-grpc-endpoint {listen} --otlp-http-endpoint {listen_http}
    /// --exporter otlp --otlp-exporter-endpoint {sink_url}"`. Prints Weir's ratios to it.
    #[arg(long)]
    peer: Option<String>,
    /// The peer's name in the comparison.
    #[arg(long, default_value = "peer")]
    peer_name: String,
}

/// Pins every thread of process `pid` to `cpu`, if asked.
fn pin(cpu: Option<usize>, pid: u32, what: &str) -> anyhow::Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    let ok = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    anyhow::ensure!(ok, "taskset could not pin the {what} to CPU {cpu}");
    println!("{what} pinned to CPU {cpu}");
    Ok(())
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(rate) = args.rate {
        anyhow::ensure!(
            rate.is_finite() && rate >= 1.0,
            "--rate {rate}: give spans per second, at least 1"
        );
    }
    anyhow::ensure!(
        args.weir.exists(),
        "{} not found: run `cargo build --release --bin weir` first",
        args.weir.display()
    );
    let sink = Sink::new(args.fail_every);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let listener_addr = listener.local_addr()?;
    let sink_url = format!("http://{listener_addr}");
    let server = tonic::transport::Server::builder().add_service(sink.clone());
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
        "memory" => format!("sending_queue = {{ queue_size = {} }}", args.queue_size),
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
    let mut tpl = template(args.spans);
    let planted = plant(&mut tpl, args.secret_share);
    if planted > 0 {
        println!(
            "{planted} of {} spans per request carry a secret",
            args.spans
        );
    }
    let tpl = Arc::new(sink::Template::new(tpl)?);
    let next_id = Arc::new(AtomicU64::new(0));
    let client_tls = pki.as_ref().map(|p| p.client.clone());
    let load = |url: String| Load {
        url,
        tls: client_tls.as_ref(),
        tpl: &tpl,
        next_id: &next_id,
        clients: args.clients,
        spans: args.spans,
        seconds: args.seconds,
        rate_share: args.rate_share,
        rate: args.rate,
        failing: args.fail_every > 0,
    };

    let mut results: Vec<(String, Measured)> = Vec::new();
    if let Some(command) = &args.peer {
        anyhow::ensure!(!args.tls, "--peer runs without --tls");
        println!("== {}", args.peer_name);
        let peer = peer::Peer::start(command, listener_addr).await?;
        pin(args.pin_cpu, peer.pid(), &args.peer_name)?;
        let m = measure::phases(
            &sink,
            &sink_url,
            &load(format!("http://{}", peer.listen)),
            peer.pid(),
        )
        .await?;
        results.push((args.peer_name.clone(), m));
        drop(peer);
        println!("== weir");
    }

    // The test gateway clears WEIR_WASM_PERFMAP; a profiling run sets it on purpose, so it
    // is passed on (docs/plugins/README.md: profiling plugins with perf).
    let perfmap = std::env::var_os(weir_wasm::engine::PERFMAP_ENV).map(std::path::PathBuf::from);
    let env: Vec<(&str, &std::path::Path)> = perfmap
        .iter()
        .map(|v| (weir_wasm::engine::PERFMAP_ENV, v.as_path()))
        .collect();
    let gw = Gateway::start_with(&args.weir, &config, &env).await;
    pin(args.pin_cpu, gw.pid(), "gateway")?;
    for (i, p) in args.plugin.iter().enumerate() {
        println!("pipeline stage {i}: plugin {p} {}", plugin_config(&args, i));
    }
    let weir_url = match &client_tls {
        Some(_) => format!("https://localhost:{}", gw.addr("otlp", "grpc").port()),
        None => gw.url("otlp", "grpc"),
    };
    let m = measure::phases(&sink, &sink_url, &load(weir_url), gw.pid()).await?;
    results.push(("weir".to_string(), m));
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
    if !args.plugin.is_empty() {
        // What of the resident memory is the plugins' linear memory (all their instances).
        let linear = gw.try_metric("weir_plugin_memory_bytes", &[]).await;
        let held = gw.try_metric("weir_memory_held_bytes", &[]).await;
        println!(
            "plugin linear memory {:.1} MiB, telemetry held {:.1} MiB (after the load)",
            linear.unwrap_or(0.0) / 1048576.0,
            held.unwrap_or(0.0) / 1048576.0
        );
    }
    if let [(peer, p), (_, w)] = results.as_slice() {
        compare(peer, p, w);
    }
    Ok(())
}

/// The side-by-side table: each gateway's numbers and Weir's ratio to the peer.
fn compare(peer: &str, p: &Measured, w: &Measured) {
    let cpu = |m: &Measured| {
        m.cpu_us_per_span
            .map_or("—".to_string(), |c| format!("{c:.2} µs"))
    };
    println!();
    let rss = |m: &Measured| {
        m.rss_mib.map_or("—".to_string(), |r| {
            format!("{:.0} / {:.0} MiB", r.idle, r.saturated)
        })
    };
    println!(
        "| gateway | spans/s | CPU/span | p99 at the latency phase's rate | acknowledged, not delivered | RSS idle / under load |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, m) in [(peer, p), ("weir", w)] {
        println!(
            "| {name} | {:.0} | {} | {:.2} ms | {} | {} |",
            m.spans_per_s,
            cpu(m),
            m.p99_ms,
            m.missing,
            rss(m)
        );
    }
    let per_core = |m: &Measured| m.cpu_us_per_span.map(|c| 1e6 / c);
    println!(
        "weir / {peer}: {:.2}x spans/s, {} spans per CPU-second",
        w.spans_per_s / p.spans_per_s,
        per_core(w)
            .zip(per_core(p))
            .map_or("—".to_string(), |(a, b)| format!("{:.2}x", a / b))
    );
    if let (Some(a), Some(b)) = (w.rss_mib, p.rss_mib) {
        println!(
            "weir / {peer}: {:.2}x resident memory under load",
            a.saturated / b.saturated
        );
    }
}
