//! Connection hygiene on the listeners: idle and slow clients are closed within their
//! timeouts, `max_connections` refuses the surplus cleanly, and running out of file
//! descriptors makes the gateway back off and report not-ready instead of spinning silently —
//! and it recovers once descriptors are free again.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_tests::{Gateway, eventually};

/// Reads until the peer closes the connection (or resets it); returns what was read, or
/// `None` if it stayed open for `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn config(connections: &str) -> String {
    format!(
        r#"
[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", connections = {{ {connections} }} }}
http = {{ endpoint = "127.0.0.1:0", connections = {{ {connections} }} }}

[exporters.out]
type = "debug"
verbosity = "basic"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#
    )
}

async fn valid_post(gw: &Gateway) -> u16 {
    let body = prost::Message::encode_to_vec(&weir_tests::fixtures::numbered_spans(1, 3));
    gw.post_otlp("traces", body)
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_within_their_timeouts() {
    let gw = Gateway::start(&config(
        r#"idle_timeout = "5s", header_read_timeout = "1s", body_read_timeout = "1s""#,
    ))
    .await;
    let (grpc, http) = (gw.addr("otlp", "grpc"), gw.addr("otlp", "http"));
    let limit = Duration::from_secs(20);

    // Connections that never send a byte, on both listeners.
    let mut idle_grpc = TcpStream::connect(grpc).await.unwrap();
    let mut idle_http = TcpStream::connect(http).await.unwrap();
    // A request whose headers dribble in, a byte pair every 200 ms, never finishing.
    let mut slow_headers = TcpStream::connect(http).await.unwrap();
    slow_headers
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: weir\r\n")
        .await
        .unwrap();
    let dribble = tokio::spawn(async move {
        for _ in 0..100 {
            if slow_headers.write_all(b"X").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    });
    // A request whose body stops after 10 of its 1000 bytes.
    let mut slow_body = TcpStream::connect(http).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nHost: weir\r\nContent-Type: application/x-protobuf\r\n\
              Content-Length: 1000\r\n\r\n0123456789",
        )
        .await
        .unwrap();

    assert!(
        read_until_closed(&mut idle_grpc, limit).await.is_some(),
        "idle gRPC connection stayed open"
    );
    assert!(
        read_until_closed(&mut idle_http, limit).await.is_some(),
        "idle HTTP connection stayed open"
    );
    let answer = read_until_closed(&mut slow_body, limit)
        .await
        .expect("slow body: the connection stayed open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "slow body answered: {answer}"
    );
    let closed = tokio::time::timeout(limit, dribble).await.unwrap().unwrap();
    assert!(closed, "the slow-header connection was never closed");

    let slow = gw
        .metric(
            "weir_listener_connections_closed_total",
            &[
                ("listener", "receiver/otlp/http"),
                ("reason", "slow_request"),
            ],
        )
        .await;
    assert!(slow >= 2.0, "slow header and slow body: {slow}");
    let idle_grpc = gw
        .metric(
            "weir_listener_connections_closed_total",
            &[("listener", "receiver/otlp/grpc"), ("reason", "idle")],
        )
        .await;
    assert_eq!(idle_grpc, 1.0);
    // The listener still serves.
    assert_eq!(valid_post(&gw).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_closes_the_surplus_and_recovers() {
    let gw = Gateway::start(&config(r#"max_connections = 4"#)).await;
    let http = gw.addr("otlp", "http");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(http).await.unwrap());
    }
    let open = eventually(Duration::from_secs(20), || async {
        gw.try_metric(
            "weir_listener_connections",
            &[("listener", "receiver/otlp/http")],
        )
        .await
            == Some(4.0)
    })
    .await;
    assert!(open, "the four connections were not all accepted");
    let mut surplus = TcpStream::connect(http).await.unwrap();
    assert!(
        read_until_closed(&mut surplus, Duration::from_secs(20))
            .await
            .is_some(),
        "the fifth connection was not closed"
    );
    assert_eq!(
        gw.metric(
            "weir_listener_connections_closed_total",
            &[
                ("listener", "receiver/otlp/http"),
                ("reason", "max_connections")
            ],
        )
        .await,
        1.0
    );
    drop(held);
    let served = eventually(Duration::from_secs(20), || async {
        valid_post(&gw).await == 200
    })
    .await;
    assert!(served, "not serving after the held connections closed");
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// CPU seconds process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and
    // 13th of them, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

async fn get(stream: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: weir\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_backs_off_reports_not_ready_and_recovers() {
    let gw = Gateway::start(&config(r#"idle_timeout = "600s""#)).await;
    let http = gw.addr("otlp", "http");
    let pid = gw.pid();
    // An admin connection opened now, to ask /readyz while no new connection can be accepted.
    let mut admin = TcpStream::connect(gw.admin).await.unwrap();
    assert!(get(&mut admin, "/readyz").await.starts_with("HTTP/1.1 200"));

    // Leave the gateway 10 spare descriptors (soft limit), then open 40 connections.
    let limit = open_fds(pid) + 10;
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={limit}:")])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit failed");
    let mut flood = Vec::new();
    for _ in 0..40 {
        flood.push(TcpStream::connect(http).await.unwrap());
    }
    let logged = gw
        .wait_logged(
            "cannot accept connections (out of file descriptors or memory); backing off, not ready until it can",
            1,
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(logged[0]["listener"], "receiver/otlp/http");

    // Backing off, not spinning: over 2 s the process uses well under a core.
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 1.0,
        "{used} CPU seconds in 2 s: the accept loop spins"
    );
    let readyz = get(&mut admin, "/readyz").await;
    assert!(
        readyz.starts_with("HTTP/1.1 503")
            && readyz.contains("receiver/otlp/http: cannot accept connections"),
        "{readyz}"
    );
    assert_eq!(
        gw.logged("cannot accept connections (out of file descriptors or memory); backing off, not ready until it can")
            .len(),
        1,
        "logged once, not per failed accept"
    );

    // Descriptors free again: the gateway accepts, says so, and is ready.
    drop(flood);
    let served = eventually(Duration::from_secs(30), || async {
        valid_post(&gw).await == 200
    })
    .await;
    assert!(
        served,
        "not serving after descriptors were freed:\n{}",
        gw.log_text()
    );
    gw.wait_logged("accepting connections again", 1, Duration::from_secs(10))
        .await;
    // The backlog still holds flood connections the clients have closed; accepting them can
    // briefly run out of descriptors again (and be not ready again) before all are gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut readyz = get(&mut admin, "/readyz").await;
    while !readyz.starts_with("HTTP/1.1 200") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        readyz = get(&mut admin, "/readyz").await;
    }
    assert!(readyz.starts_with("HTTP/1.1 200"), "{readyz}");
    assert!(
        gw.metric(
            "weir_listener_accept_errors_total",
            &[("listener", "receiver/otlp/http")]
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_body_that_stops_arriving_gets_deadline_exceeded() {
    let gw = Gateway::start(&config(r#"body_read_timeout = "1s""#)).await;
    let tcp = TcpStream::connect(gw.addr("otlp", "grpc")).await.unwrap();
    let (mut h2, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            gw.addr("otlp", "grpc")
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut body) = h2.send_request(request, false).unwrap();
    // A message frame announcing 1,000 bytes, of which 3 ever come.
    body.send_data(
        bytes::Bytes::from_static(&[0, 0, 0, 3, 232, 1, 2, 3]),
        false,
    )
    .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), response)
        .await
        .expect("answered within the body timeout")
        .unwrap();
    let status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(status.as_deref(), Some("4"), "{:?}", response.headers());
    assert_eq!(
        gw.metric(
            "weir_listener_connections_closed_total",
            &[
                ("listener", "receiver/otlp/grpc"),
                ("reason", "slow_request")
            ],
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_peer_that_never_answers_pings_is_closed() {
    let gw = Gateway::start(&config(
        r#"idle_timeout = "0s", keepalive_interval = "1s", keepalive_timeout = "1s""#,
    ))
    .await;
    // An HTTP/2 client preface and empty SETTINGS, then silence: no SETTINGS ack, no PING ack.
    let mut raw = TcpStream::connect(gw.addr("otlp", "grpc")).await.unwrap();
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a peer that never answers PINGs stayed connected"
    );
}
