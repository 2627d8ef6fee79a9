//! A listener that ran out of file descriptors reports itself not ready, and is ready again
//! once descriptors are free, even when no client is waiting to be accepted.
//!
//! The case this guards: an accept succeeds with the process's last free descriptor, the loop
//! asks for the next connection at once (the listener still reads as ready) and that accept
//! fails for lack of a descriptor although no connection is waiting. The accept then waits for
//! a new client; without one, `/readyz` would say "not ready" forever, and an orchestrator
//! that routes by readiness never sends the client that would clear it.
//!
//! This binary holds a single test: it lowers its own limit on open files.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    reason = "in tests a failed unwrap is the failure report"
)]

use std::fs::File;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_util::sync::CancellationToken;
use weir_config::ConnectionConfig;
use weir_core::telemetry::Telemetry;
use weir_listen::{Protocol, ServeOptions};

/// Waits (bounded) until the failures `/readyz` would list satisfy `cond`.
async fn wait_failures(telemetry: &Telemetry, cond: impl Fn(&[(String, String)]) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if cond(&telemetry.failures()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_with_no_client_waiting_recovers_once_they_are_free() {
    let telemetry = Telemetry::new();
    let listener = weir_listen::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "served" }));
    let options = ServeOptions::plain(
        "receiver/test/http".into(),
        ConnectionConfig::default(),
        Protocol::Http1And2,
    );
    let shutdown = CancellationToken::new();
    let server = tokio::spawn({
        let telemetry = telemetry.clone();
        let shutdown = shutdown.clone();
        async move { weir_listen::serve(listener, router, options, &telemetry, shutdown).await }
    });
    // The client's socket exists before descriptors run out: connecting it needs no new one.
    let client = TcpSocket::new_v4().unwrap();

    // Leave this process exactly one free descriptor.
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    rlimit::Resource::NOFILE.set(open + 32, hard).unwrap();
    let mut hogs = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => hogs.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("opening /dev/null: {e}"),
        }
    }
    hogs.pop();

    // The listener accepts the client with that descriptor, then fails the next accept with
    // nobody waiting: not ready.
    let mut stream = client.connect(addr).await.unwrap();
    let failed = wait_failures(&telemetry, |f| {
        f.iter().any(|(c, why)| {
            c == "receiver/test/http" && why.starts_with("cannot accept connections")
        })
    })
    .await;
    assert!(failed, "not reported failed: {:?}", telemetry.failures());

    // Descriptors free again, and no new client: ready again all the same.
    drop(hogs);
    let ready = wait_failures(&telemetry, <[_]>::is_empty).await;
    rlimit::Resource::NOFILE.set(soft, hard).unwrap();
    assert!(ready, "still not ready: {:?}", telemetry.failures());

    // And the connection accepted with the last descriptor is served.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("served"), "{answer}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}
