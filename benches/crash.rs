//! `weir-crash`: the durability checks at full scale, which CI runs only small. Numbered
//! requests go at a fixed rate through a `weir` process to a recording backend that is down
//! (stalled) for the first part of the run; the gateway is killed with SIGKILL at random
//! moments and started again on the same disk queue. At the end every span a client saw
//! acknowledged must have reached the backend; duplicates (batches in flight at a kill) are
//! counted. With `--memory-limit` it also samples the gateway's resident memory and reports the
//! peak against the limit. See benches/README.md.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in the load harness is its error report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use weir_tests::fixtures::{numbered_spans, span_numbers};
use weir_tests::{Backend, Gateway, Transport};

#[derive(Parser)]
#[command(about = "kill -9 and backend outages under load: acknowledged spans must all arrive")]
struct Args {
    /// The weir binary to run (build it with `cargo build --release --bin weir`).
    #[arg(long, default_value = "target/release/weir")]
    weir: PathBuf,
    /// Spans in all.
    #[arg(long, default_value_t = 200_000)]
    total: u64,
    /// Spans per request.
    #[arg(long, default_value_t = 100)]
    spans: usize,
    /// Spans per second offered.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// SIGKILLs at random moments of the run (each followed by a restart).
    #[arg(long, default_value_t = 3)]
    kills: u32,
    /// The backend is stalled (answers nothing) for this many seconds from the start.
    #[arg(long, default_value_t = 8)]
    stall_secs: u64,
    /// The exporter's sending queue: `disk` (the default here) or `memory`.
    #[arg(long, default_value = "disk")]
    queue: String,
    /// `[service] memory_limit`, e.g. `256MiB`; the peak resident memory is reported.
    #[arg(long)]
    memory_limit: Option<String>,
    /// Seed of the kill moments.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A small deterministic generator for the kill moments (xorshift).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn config(args: &Args, backend: &Backend, dir: &std::path::Path) -> String {
    let queue = match args.queue.as_str() {
        "disk" => format!(
            ", storage = \"disk\", dir = \"{}\", max_size = \"4GiB\"",
            dir.display()
        ),
        _ => String::new(),
    };
    let service = args
        .memory_limit
        .as_ref()
        .map_or(String::new(), |m| format!("memory_limit = \"{m}\"\n"));
    format!(
        r#"
[service]
shutdown_timeout = "2s"
{service}
[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", max_recv_msg_size = "16MiB" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"
timeout = "2s"
retry_on_failure = {{ initial_interval = "200ms", max_interval = "1s", max_elapsed_time = "3600s" }}
sending_queue = {{ num_consumers = 4, queue_size = 5000{queue} }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
"#,
        backend.grpc_url()
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.weir.exists(),
        "{} not found: run `cargo build --release --bin weir` first",
        args.weir.display()
    );
    let requests = args.total / args.spans as u64;
    let per_second = (args.rate / args.spans as u64).max(1);
    let run_for = Duration::from_secs_f64(requests as f64 / per_second as f64);
    let mut seed = args.seed.max(1);
    let mut kills: Vec<Duration> = (0..args.kills)
        .map(|_| run_for.mul_f64(0.1 + 0.8 * (next(&mut seed) % 1000) as f64 / 1000.0))
        .collect();
    kills.sort();
    println!(
        "{requests} requests of {} spans at {per_second}/s ({:.0} s), backend stalled for {} s, kills at {:?}, {} queue",
        args.spans,
        run_for.as_secs_f64(),
        args.stall_secs,
        kills
            .iter()
            .map(|k| format!("{:.1}s", k.as_secs_f64()))
            .collect::<Vec<_>>(),
        args.queue
    );

    let backend = Backend::start().await;
    backend.stall();
    let dir = tempfile::tempdir()?;
    let queue = dir.path().join("queue");
    let gw = Gateway::start_binary(&args.weir, &config(&args, &backend, &queue)).await;
    let url = Arc::new(Mutex::new(gw.url("otlp", "grpc")));
    let pid = Arc::new(AtomicU64::new(u64::from(gw.pid())));
    let gateway = Arc::new(tokio::sync::Mutex::new(Some(gw)));

    // Memory: the peak resident size of whichever gateway runs, every 100 ms.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, pid, sampling) = (peak.clone(), pid.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let p = u32::try_from(pid.load(Ordering::Relaxed)).unwrap_or(0);
                if let Some(r) = weir_tests::resident_bytes(p) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The sender: request n at its slot in time, through whichever gateway runs.
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let sender = {
        let (acked, refused, failed, url) =
            (acked.clone(), refused.clone(), failed.clone(), url.clone());
        let spans = args.spans;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
            let mut client: Option<(String, TraceServiceClient<tonic::transport::Channel>)> = None;
            for n in 0..requests {
                tick.tick().await;
                let u = url.lock().unwrap().clone();
                if client.as_ref().is_none_or(|(cu, _)| *cu != u) {
                    client = TraceServiceClient::connect(u.clone())
                        .await
                        .ok()
                        .map(|c| (u, c));
                }
                let Some((_, c)) = client.as_mut() else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let mut req = tonic::Request::new(numbered_spans(n as u32, spans));
                req.set_timeout(Duration::from_secs(5));
                match c.export(req).await {
                    Ok(_) => {
                        acked.lock().unwrap().insert(n as u32);
                    }
                    Err(s) if s.code() == tonic::Code::Unavailable => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        client = None;
                    }
                }
            }
        })
    };

    // The backend comes back after `stall_secs`; the gateway dies at each kill moment.
    let mut resumed = false;
    for at in &kills {
        if !resumed && *at >= Duration::from_secs(args.stall_secs) {
            tokio::time::sleep_until((start + Duration::from_secs(args.stall_secs)).into()).await;
            backend.resume();
            resumed = true;
        }
        tokio::time::sleep_until((start + *at).into()).await;
        drop(gateway.lock().await.take()); // SIGKILL: no drain, no flush.
        let gw = Gateway::start_binary(&args.weir, &config(&args, &backend, &queue)).await;
        *url.lock().unwrap() = gw.url("otlp", "grpc");
        pid.store(u64::from(gw.pid()), Ordering::Relaxed);
        *gateway.lock().await = Some(gw);
        println!(
            "  killed and restarted at {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    if !resumed {
        tokio::time::sleep_until((start + Duration::from_secs(args.stall_secs)).into()).await;
        backend.resume();
    }
    sender.await?;
    let sent_for = start.elapsed();

    // Wait (up to 3 minutes) for every acknowledged span to arrive.
    let acked: BTreeSet<u32> = acked.lock().unwrap().clone();
    let count = |backend: &Backend| {
        let mut seen: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        for k in span_numbers(&backend.delivered(Transport::Grpc)) {
            *seen.entry(k).or_default() += 1;
        }
        seen
    };
    let want = acked.len() * args.spans;
    let settle = Instant::now();
    loop {
        let seen = count(&backend);
        let arrived = seen.keys().filter(|(n, _)| acked.contains(n)).count();
        if arrived >= want || settle.elapsed() > Duration::from_secs(180) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    let seen = count(&backend);
    let arrived = seen.keys().filter(|(n, _)| acked.contains(n)).count();
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    let unacked: BTreeSet<u32> = seen
        .keys()
        .map(|(n, _)| *n)
        .filter(|n| !acked.contains(n))
        .collect();
    println!(
        "  sent for {:.1} s: {} requests acknowledged, {} refused (retryable), {} failed (gateway gone)",
        sent_for.as_secs_f64(),
        acked.len(),
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  acknowledged spans {want}, arrived {arrived}: {} lost; {duplicates} duplicate spans; {} requests arrived unacknowledged (in flight at a kill)",
        want - arrived,
        unacked.len()
    );
    let peak_mib = peak.load(Ordering::Relaxed) as f64 / f64::from(1 << 20);
    match &args.memory_limit {
        Some(limit) => println!("  peak resident memory {peak_mib:.0} MiB (memory_limit {limit})"),
        None => println!("  peak resident memory {peak_mib:.0} MiB"),
    }
    drop(gateway.lock().await.take());
    anyhow::ensure!(want == arrived, "acknowledged spans were lost");
    Ok(())
}
