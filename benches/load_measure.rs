//! The two phases every gateway under test goes through: closed-loop throughput (spans/s, the
//! gateway's CPU per span, acknowledged against delivered) and fixed-rate latency (direct to the
//! sink, then through the gateway).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sink::{MAX_REQUESTS, Sink, Template, client};
use anyhow::Context;
use hdrhistogram::Histogram;

/// What one gateway measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Spans delivered to the sink per second of the throughput phase.
    pub spans_per_s: f64,
    /// The gateway's CPU time per delivered span, in µs (`None` without `/proc`).
    pub cpu_us_per_span: Option<f64>,
    /// Acknowledged spans that did not reach the sink.
    pub missing: u64,
    /// p99 latency through the gateway at the latency phase's rate, in ms.
    pub p99_ms: f64,
    /// Resident memory before the load, the highest reading during the throughput phase, and
    /// the reading after the latency phases, in MiB (`None` without `/proc`).
    pub rss_mib: Option<Rss>,
}

/// A gateway's resident memory (VmRSS) around the load, in MiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rss {
    /// Just before the throughput phase: the gateway started and idle.
    pub idle: f64,
    /// The highest of the readings every 100 ms during the throughput phase.
    pub saturated: f64,
    /// After both latency phases, the load over.
    pub after: f64,
}

/// Where and how to send: the gateway's URL, the clients' TLS, the load's shape.
pub(crate) struct Load<'a> {
    pub url: String,
    pub tls: Option<&'a Arc<tokio_rustls::rustls::ClientConfig>>,
    pub tpl: &'a Arc<Template>,
    pub next_id: &'a Arc<AtomicU64>,
    pub clients: usize,
    pub spans: usize,
    pub seconds: u64,
    pub rate_share: f64,
    /// A fixed latency-phase rate in spans/s, instead of `rate_share` of the throughput.
    pub rate: Option<f64>,
    /// The sink fails some requests: wait longer for retries to land.
    pub failing: bool,
}

/// Runs both phases against the gateway with process id `pid`, printing as it goes.
pub(crate) async fn phases(
    sink: &Sink,
    sink_url: &str,
    load: &Load<'_>,
    pid: u32,
) -> anyhow::Result<Measured> {
    // Phase 1: closed-loop throughput through the gateway.
    println!(
        "throughput: {} clients x {} spans/request for {} s …",
        load.clients, load.spans, load.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let before = sink.spans.load(Ordering::Relaxed);
    let cpu_before = cpu_seconds(pid);
    let idle_rss = rss_mib(pid);
    // Samples the gateway's resident memory until the clients stop; its peak is the memory at
    // saturation (VmHWM would also count start-up, e.g. compiling plugins).
    let peak = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0f64;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid).unwrap_or(0.0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..load.clients {
        let (tpl, stop, next_id, refused, acknowledged) = (
            load.tpl.clone(),
            stop.clone(),
            load.next_id.clone(),
            refused.clone(),
            acknowledged.clone(),
        );
        let mut c = client(&load.url, load.tls).await?;
        let spans = load.spans as u64;
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed) as usize % MAX_REQUESTS;
                if c.export(tpl.numbered(id)).await.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                } else {
                    acknowledged.fetch_add(spans, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(load.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let sent_elapsed = start.elapsed();
    let saturated_rss = peak.await?;
    // Let in-flight exports land, then count (with a failing sink, retries land a backoff
    // later: wait until all that was acknowledged arrived, or a minute).
    let settle = Instant::now();
    let mut last = u64::MAX;
    let acked_now = acknowledged.load(Ordering::Relaxed);
    while settle.elapsed() < Duration::from_secs(if load.failing { 60 } else { 30 }) {
        let now = sink.spans.load(Ordering::Relaxed);
        if now - before >= acked_now || (now == last && !load.failing) {
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
    let missing = acked.saturating_sub(delivered);
    println!(
        "  acknowledged {acked} spans, delivered {delivered}: {missing} acknowledged spans missing"
    );
    // Client, gateway and sink share the machine, so spans/s is bounded by all three; the
    // gateway's own CPU time gives its cost independent of the others.
    let cpu_us_per_span = cpu_before.zip(cpu_seconds(pid)).map(|(a, b)| {
        let cpu = b - a;
        println!(
            "  gateway CPU: {cpu:.1} s = {:.0} spans per gateway CPU-second ({:.2} µs/span)",
            delivered as f64 / cpu,
            cpu * 1e6 / delivered as f64
        );
        cpu * 1e6 / delivered as f64
    });

    // Phase 2: fixed-rate latency, direct and through the gateway.
    let rate = (load.rate.unwrap_or(sps * load.rate_share) / load.spans as f64).max(1.0);
    let mut p99_ms = f64::NAN;
    for (label, url, tls) in [
        ("direct to sink", sink_url, None),
        ("through gateway", load.url.as_str(), load.tls),
    ] {
        let h = latency(
            sink,
            url,
            tls,
            load.tpl,
            load.next_id,
            rate,
            Duration::from_secs(load.seconds),
        )
        .await?;
        let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
        println!(
            "latency {label:>15} at {rate:.0} req/s: p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms ({} samples)",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
            h.len()
        );
        p99_ms = p99;
    }
    let rss = idle_rss.zip(rss_mib(pid)).map(|(idle, after)| Rss {
        idle,
        saturated: saturated_rss.max(idle),
        after,
    });
    if let Some(r) = rss {
        println!(
            "  gateway RSS: {:.1} MiB idle, {:.1} MiB at most under load, {:.1} MiB after",
            r.idle, r.saturated, r.after
        );
    }
    Ok(Measured {
        spans_per_s: sps,
        cpu_us_per_span,
        missing,
        p99_ms,
        rss_mib: rss,
    })
}

/// Resident memory (VmRSS) of process `pid` in MiB (Linux `/proc`; `None` elsewhere).
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    weir_tests::resident_bytes(pid).map(|b| b as f64 / 1048576.0)
}

/// User + system CPU seconds of process `pid` (Linux `/proc`; `None` elsewhere).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

/// How long each latency phase sends before it starts counting. On this machine (a VM) a core
/// that sat idle for a few seconds answers its first ~50–100 ms of work slowly, whatever runs
/// on it (a one-line Python gRPC server shows the same 20 ms first request after 3 s idle); the
/// phases report that warm-up's p99 apart instead of mixing it into the gateway's.
const WARMUP: Duration = Duration::from_millis(500);

/// Sends at `rate` requests/s for [`WARMUP`] and then `span`, and returns the send→arrival
/// latencies in µs of the requests sent after the warm-up.
#[allow(clippy::too_many_arguments, reason = "one measurement's settings")]
pub(crate) async fn latency(
    sink: &Sink,
    url: &str,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
    tpl: &Arc<Template>,
    next_id: &Arc<AtomicU64>,
    rate: f64,
    span: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let c = client(url, tls).await?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let begin = Instant::now();
    let end = begin + WARMUP + span;
    let mut sent = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let id = next_id.fetch_add(1, Ordering::Relaxed) as usize % MAX_REQUESTS;
        sink.arrivals[id].store(0, Ordering::Relaxed);
        let at = sink.base.elapsed().as_micros() as u64 + 1;
        let (mut c, req) = (c.clone(), tpl.numbered(id));
        tokio::spawn(async move { c.export(req).await });
        sent.push((id, at, begin.elapsed() < WARMUP));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut h = Histogram::<u64>::new(3).context("histogram")?;
    let mut warm = Histogram::<u64>::new(3).context("histogram")?;
    // When the slow arrivals (over 10 ms) were sent, in seconds into the counted phase: a
    // cluster tells a stall from a steady tail.
    let start = sent.iter().find(|s| !s.2).map_or(0, |&(_, at, _)| at);
    let mut slow = Vec::new();
    for (id, at, warming) in sent {
        let arrived = sink.arrivals[id].load(Ordering::Relaxed);
        if arrived > 0 {
            let us = arrived.saturating_sub(at).max(1);
            if warming {
                warm.record(us)?;
                continue;
            }
            h.record(us)?;
            if us > 10_000 {
                slow.push((at - start) as f64 / 1e6);
            }
        }
    }
    println!(
        "  warm-up ({} ms, not counted): p99 {:.2} ms, max {:.2} ms",
        WARMUP.as_millis(),
        warm.value_at_quantile(0.99) as f64 / 1000.0,
        warm.max() as f64 / 1000.0
    );
    if let (Some(first), Some(last)) = (slow.first(), slow.last()) {
        println!(
            "  {} arrivals over 10 ms, sent between {first:.2} s and {last:.2} s into the phase",
            slow.len()
        );
    }
    Ok(h)
}
