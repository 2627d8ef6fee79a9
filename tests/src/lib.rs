//! Test harness for Weir's end-to-end tests: start the real gateway process on ephemeral ports
//! ([`Gateway`]), run a recording OTLP backend whose answers a test scripts ([`Backend`]), and run
//! the OpenTelemetry Python SDK ([`python`]) and a real Prometheus ([`prometheus`]).
//!
//! Nothing here sleeps to wait for a server: the gateway reports its bound addresses in its JSON
//! logs and the harness then polls `/readyz`; every wait has a deadline.
#![allow(
    missing_docs,
    reason = "test support; each item is documented where it is not obvious"
)]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod backend;
pub mod clickhouse;
pub mod fixtures;
pub mod gateway;
pub mod goaway;
pub mod golden;
pub mod plugins;
pub mod prometheus;
pub mod python;
pub mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use backend::{Backend, Reply, Transport};
pub use gateway::Gateway;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The resident memory of process `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`); `None`
/// once it is gone.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
