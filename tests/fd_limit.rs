//! A gateway started with the common soft limit of 1,024 open files and 1,100 idle clients:
//! where the hard limit allows, Weir raises its soft limit at start and keeps serving; where it
//! does not, it reports not-ready while descriptors are exhausted and recovers once the idle
//! connections are closed — with the flood's clients still holding their sockets.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::net::TcpStream;
use weir_tests::fixtures::numbered_spans;
use weir_tests::{Gateway, eventually};

/// A script that runs the gateway binary under `prlimit --nofile=SOFT:HARD`.
fn limited(dir: &tempfile::TempDir, soft: u32, hard: u32) -> PathBuf {
    let script = dir.path().join("weir-limited");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec prlimit --nofile={soft}:{hard} {} \"$@\"\n",
            weir_tests::gateway::binary().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn config(idle_timeout: &str) -> String {
    format!(
        r#"
[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", connections = {{ idle_timeout = "{idle_timeout}" }} }}

[exporters.out]
type = "debug"
verbosity = "basic"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#
    )
}

/// Opens `n` connections that never send a byte (a connect that does not complete within 5 s
/// is left out).
async fn idle_flood(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
        {
            held.push(s);
        }
    }
    held
}

/// One gRPC export with a 3 s budget; true if it was accepted.
async fn export(url: String, n: u32) -> bool {
    let attempt = async move {
        let mut c = TraceServiceClient::connect(url).await.ok()?;
        c.export(numbered_spans(n, 3)).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Some(_))
    )
}

async fn readyz(gw: &Gateway) -> u16 {
    reqwest::get(format!("{}/readyz", gw.admin_url()))
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_limit_of_1024_is_raised_at_start_and_1100_idle_clients_do_not_stop_service() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_binary(&limited(&dir, 1024, 4096), &config("600s")).await;
    let raised = gw.logged("raised the limit on open files (connections) to the hard limit");
    assert_eq!(raised.len(), 1, "{}", gw.log_text());
    assert_eq!(raised[0]["before"], 1024);
    assert_eq!(raised[0]["soft"], 4096);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", gw.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files.split_whitespace().nth(3) == Some("4096"),
        "{open_files}"
    );

    let held = idle_flood(gw.addr("otlp", "grpc"), 1100).await;
    assert_eq!(held.len(), 1100);
    assert!(
        export(gw.url("otlp", "grpc"), 1).await,
        "a valid export failed"
    );
    assert_eq!(readyz(&gw).await, 200);
    assert!(gw
        .logged("cannot accept connections (out of file descriptors or memory); backing off, not ready until it can")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_hard_limit_of_1024_1100_idle_clients_make_it_not_ready_until_they_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_binary(&limited(&dir, 1024, 1024), &config("10s")).await;
    let held = idle_flood(gw.addr("otlp", "grpc"), 1100).await;
    assert!(held.len() >= 1024, "only {} connections", held.len());
    gw.wait_logged(
        "cannot accept connections (out of file descriptors or memory); backing off, not ready until it can",
        1,
        Duration::from_secs(20),
    )
    .await;

    // The idle connections are closed after 10 s (the clients still hold theirs): descriptors
    // come back, the gateway is ready and serves again.
    let recovered = eventually(Duration::from_secs(90), || async {
        readyz(&gw).await == 200 && export(gw.url("otlp", "grpc"), 2).await
    })
    .await;
    assert!(recovered, "did not recover:\n{}", gw.log_text());
    let idle_closed = gw
        .metric(
            "weir_listener_connections_closed_total",
            &[("listener", "receiver/otlp/grpc"), ("reason", "idle")],
        )
        .await;
    assert!(
        idle_closed >= 900.0,
        "{idle_closed} idle connections closed"
    );
    drop(held);
}
