//! A newcomer's first run: `weir run` on the embedded default, its listeners moved with
//! `--grpc/--http/--admin` (ephemeral ports here), serves OTLP; the flags are refused beside a
//! config file; text logs written to a file or pipe carry no colour codes.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weir_tests::gateway::binary;

/// `weir run` on the embedded default with every listener on an ephemeral port.
const RUN_EPHEMERAL: [&str; 7] = [
    "run",
    "--grpc",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
];

/// Starts `weir` with `args`; returns the child and a channel of its stderr lines.
fn spawn(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("WEIR_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Lines until one contains `until` (bounded); panics with what came if it never does.
fn lines_until(rx: &mpsc::Receiver<String>, until: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains(until);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("no line with {until:?}; got:\n{}", seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_listens_where_the_flags_say_and_serves_otlp() {
    let (mut child, rx) = spawn(&[&RUN_EPHEMERAL[..], &["--log-format", "json"]].concat());
    let lines = lines_until(&rx, "weir is ready");
    let logs: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let address = |protocol: &str| {
        logs.iter()
            .find(|l| l["message"] == "listening" && l["protocol"] == protocol)
            .and_then(|l| l["address"].as_str())
            .unwrap_or_else(|| panic!("no {protocol} listener in:\n{}", lines.join("\n")))
            .to_string()
    };
    let (http, grpc) = (address("http"), address("grpc"));
    assert!(
        !http.ends_with(":4318") && !grpc.ends_with(":4317"),
        "{http} {grpc}"
    );
    let body = prost::Message::encode_to_vec(&weir_tests::fixtures::numbered_spans(1, 3));
    let r = reqwest::Client::new()
        .post(format!("http://{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn listener_flags_beside_a_config_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\n[exporters.out]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--grpc",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--grpc set(s) the addresses of the embedded default config")
            && err.contains("set them in the file"),
        "{err}"
    );
    let bad = Command::new(binary())
        .args(["run", "--grpc", "localhost-ish"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "clap refuses a bad address");
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("invalid value 'localhost-ish' for '--grpc <ADDR>'")
    );
}

#[test]
fn text_logs_into_a_pipe_have_no_colour_codes() {
    let (mut child, rx) = spawn(&RUN_EPHEMERAL);
    let lines = lines_until(&rx, "weir is ready");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("INFO")),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in:\n{}",
        lines.join("\n")
    );
}
