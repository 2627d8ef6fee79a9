//! Config reload under a running gateway: only what changed is rebuilt. An invalid config is
//! refused as a whole with `weir validate`'s message and nothing changes; a new exporter
//! endpoint (picked up by the config file watcher) keeps the clients' connections to the
//! receivers open; a changed tail-sampling policy (reloaded on SIGHUP) decides the traces that
//! were already buffered, none lost.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_core::Batch;
use weir_core::otlp::trace::v1::Span;
use weir_tests::fixtures::{kv, string_attribute};
use weir_tests::{Backend, Gateway, Transport, eventually};

const LIMIT: Duration = Duration::from_secs(30);

/// One request holding `spans` spans of each trace in `traces`: (trace number, tier).
fn request(traces: &[(u8, &str)], spans: u8) -> Vec<u8> {
    let spans = traces
        .iter()
        .flat_map(|&(t, tier)| {
            (0..spans).map(move |i| Span {
                trace_id: vec![t + 1; 16],
                span_id: vec![t + 1, i + 1, 0, 0, 0, 0, 0, 1],
                name: "work".into(),
                attributes: vec![kv("tier", tier)],
                ..Default::default()
            })
        })
        .collect();
    weir_tests::fixtures::encode_spans(spans)
}

/// Delivered spans per trace number (first trace id byte - 1), with their tier.
fn delivered(backend: &Backend) -> BTreeMap<u8, Vec<String>> {
    let mut out: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for b in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = b else { continue };
        for s in r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let tier = string_attribute(&s.attributes, "tier")
                .unwrap_or("")
                .to_string();
            out.entry(s.trace_id[0] - 1).or_default().push(tier);
        }
    }
    out
}

fn exporter_config(backend: &Backend, extra: &str) -> String {
    format!(
        r#"
{extra}
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 1, timeout = "10ms" }}
"#,
        backend.grpc_url()
    )
}

async fn reloads(gw: &Gateway, outcome: &str) -> f64 {
    gw.metric(
        "weir_reloads_total",
        &[("what", "config"), ("outcome", outcome)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_whole_with_the_validate_message() {
    let (first, second) = (Backend::start().await, Backend::start().await);
    let gw = Gateway::start(&exporter_config(&first, "")).await;

    // The exporter moves to `second`, but the pipeline names an exporter that does not exist,
    // or a processor's plugin rejects its config (found only by running its `init`).
    let moved = exporter_config(&second, "");
    let broken = [
        moved.replace(
            r#"exporters = ["backend"]"#,
            r#"exporters = ["backend", "nowhere"]"#,
        ),
        moved.replace(
            r#"exporters = ["backend"]"#,
            "exporters = [\"backend\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:redact\"\nconfig = { detectors = [\"email\", \"phone\"] }",
        ),
    ];
    for (i, text) in broken.iter().enumerate() {
        gw.rewrite_config(text);
        let answer = gw.reload().await;
        let config = &answer["config"];
        assert_eq!(config["outcome"], "failed", "{answer}");
        let error = config["error"].as_str().unwrap();
        let validate = Command::new(weir_tests::gateway::binary())
            .args(["validate", "--config"])
            .arg(gw.config_path())
            .output()
            .unwrap();
        assert!(!validate.status.success());
        let expected = String::from_utf8(validate.stderr).unwrap();
        assert_eq!(
            error.trim(),
            expected.trim(),
            "reload and validate disagree"
        );
        assert!(error.contains("weir.toml:"), "{error}");
        assert_eq!(reloads(&gw, "failed").await, (i + 1) as f64);
    }

    // Changes that need a restart are refused too, naming what.
    gw.rewrite_config(&exporter_config(&second, "[service]\nwatch_poll = true\n"));
    let answer = gw.reload().await;
    assert_eq!(answer["config"]["outcome"], "failed", "{answer}");
    assert!(
        answer["config"]["error"]
            .as_str()
            .unwrap()
            .contains("restart Weir"),
        "{answer}"
    );

    // Nothing changed: data still goes to `first`.
    let r = gw
        .post_otlp("traces", request(&[(0, "gold")], 2))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        eventually(LIMIT, || async {
            first.delivered_items(Transport::Grpc) == 2
        })
        .await
    );
    assert_eq!(second.delivered_items(Transport::Grpc), 0);

    // A valid config is then applied, and says what changed.
    gw.rewrite_config(&exporter_config(&second, ""));
    let answer = gw.reload().await;
    assert_eq!(answer["config"]["outcome"], "applied", "{answer}");
    assert_eq!(
        answer["config"]["changes"],
        serde_json::json!(["exporter backend", "pipeline traces"]),
        "{answer}"
    );
    let r = gw
        .post_otlp("traces", request(&[(1, "gold")], 3))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        eventually(LIMIT, || async {
            second.delivered_items(Transport::Grpc) == 3
        })
        .await
    );
    assert_eq!(first.delivered_items(Transport::Grpc), 2);
    // The same file again changes nothing.
    assert_eq!(gw.reload().await["config"]["outcome"], "unchanged");
}

/// Sends one OTLP/HTTP request on an open HTTP/1.1 connection and returns the status code.
async fn post_on(conn: &mut TcpStream, body: &[u8]) -> u16 {
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: weir\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head, then as many body bytes as it announces.
    loop {
        let n = tokio::time::timeout(LIMIT, conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the gateway closed the connection");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if got.len() >= end + 4 + length {
            return text[9..12].parse().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_exporter_endpoint_keeps_the_receivers_connections() {
    let (first, second) = (Backend::start().await, Backend::start().await);
    let watch = "[service]\nwatch_config = \"200ms\"\n";
    let gw = Gateway::start(&exporter_config(&first, watch)).await;
    let listening = |gw: &Gateway| {
        gw.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"] == "listening")
            .count()
    };
    let before = listening(&gw);

    let mut conn = TcpStream::connect(gw.addr("otlp", "http")).await.unwrap();
    assert_eq!(post_on(&mut conn, &request(&[(0, "gold")], 2)).await, 200);
    assert!(
        eventually(LIMIT, || async {
            first.delivered_items(Transport::Grpc) == 2
        })
        .await
    );

    // Only the endpoint changes; the watcher sees the new file and reloads it.
    gw.rewrite_config(&exporter_config(&second, watch));
    assert!(eventually(LIMIT, || async { reloads(&gw, "applied").await == 1.0 }).await);

    // The same connection is still served, and its requests now reach `second`.
    assert_eq!(post_on(&mut conn, &request(&[(1, "gold")], 3)).await, 200);
    assert!(
        eventually(LIMIT, || async {
            second.delivered_items(Transport::Grpc) == 3
        })
        .await
    );
    assert_eq!(first.delivered_items(Transport::Grpc), 2);
    assert_eq!(listening(&gw), before, "the receiver was restarted");
    // Reading the files (as a reload does) is no change: the watcher does not reload again. A
    // new file beside the config wakes the watcher after every event of the reload's own reads
    // (events arrive in order); once the look it woke is logged, the one rewrite must be the
    // only look that found a change, so no further reload can have been scheduled.
    let looked = "watched files looked at";
    let marker = gw.config_path().with_file_name("marker");
    std::fs::write(&marker, "wake up").unwrap();
    let marker = marker.display().to_string();
    let woke = eventually(LIMIT, || async {
        gw.logged(looked)
            .iter()
            .any(|l| l["paths"].as_str().is_some_and(|p| p.contains(&marker)))
    })
    .await;
    assert!(woke, "the watcher never looked:\n{}", gw.log_text());
    // The rewrite's events may wake the watcher more than once before the reload (a busy
    // machine delivers them in several batches), each look finding the new file; after the
    // reload, no look may find a change.
    let looks = gw.logged(looked);
    let reloaded = gw.logged("config reloaded");
    assert_eq!(reloaded.len(), 1, "{}", gw.log_text());
    let at = |l: &serde_json::Value| l["timestamp"].as_str().unwrap_or_default().to_string();
    let reload_at = at(&reloaded[0]);
    let changed = |what: &str, after: bool| {
        looks
            .iter()
            .filter(|l| l[what] == true && (at(l) > reload_at) == after)
            .count()
    };
    assert!(
        changed("config", false) >= 1,
        "the rewrite was seen: {looks:#?}"
    );
    assert_eq!(
        changed("config", true),
        0,
        "the reload's own reads were taken for a change: {looks:#?}"
    );
    assert_eq!(
        changed("plugins", false) + changed("plugins", true),
        0,
        "{looks:#?}"
    );
    assert_eq!(reloads(&gw, "unchanged").await, 0.0);
    assert_eq!(reloads(&gw, "applied").await, 1.0);
}

async fn buffered(gw: &Gateway) -> f64 {
    gw.metric("weir_sampler_traces_buffered", &[("sampler", "tail")])
        .await
}

fn sampler_config(backend: &Backend, tier: &str) -> String {
    format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[samplers.tail]
decision_wait = "1h"

[[samplers.tail.policies]]
name = "tier"
type = "string_attribute"
config = {{ key = "tier", values = ["{tier}"] }}

[pipelines.traces]
receivers = ["otlp"]
processors = ["tail"]
exporters = ["backend"]
batch = {{ send_batch_size = 1, timeout = "10ms" }}
"#,
        backend.grpc_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tail_policy_decides_the_traces_already_buffered() {
    let backend = Backend::start().await;
    let mut gw = Gateway::start(&sampler_config(&backend, "gold")).await;

    // Ten traces of three spans, half gold and half silver, wait for an hour-long decision.
    let before: Vec<(u8, &str)> = (0..10)
        .map(|t| (t, if t < 5 { "gold" } else { "silver" }))
        .collect();
    let r = gw.post_otlp("traces", request(&before, 3)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(eventually(LIMIT, || async { buffered(&gw).await == 10.0 }).await);

    // The policy now keeps silver instead of gold; SIGHUP reloads the file.
    gw.rewrite_config(&sampler_config(&backend, "silver"));
    let hup = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(eventually(LIMIT, || async { reloads(&gw, "applied").await == 1.0 }).await);
    assert_eq!(buffered(&gw).await, 10.0, "the reload lost buffered traces");

    // Traces arriving after the swap are buffered with them.
    let after = [(10, "gold"), (11, "gold"), (12, "silver"), (13, "silver")];
    let r = gw.post_otlp("traces", request(&after, 3)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(eventually(LIMIT, || async { buffered(&gw).await == 14.0 }).await);
    assert_eq!(backend.delivered_items(Transport::Grpc), 0);

    // Shutdown decides every buffered trace, with the policy in force: silver ones, whole.
    assert!(gw.terminate().await.success());
    let got = delivered(&backend);
    let silver: Vec<u8> = vec![5, 6, 7, 8, 9, 12, 13];
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), silver, "{got:?}");
    for (t, tiers) in &got {
        assert_eq!(tiers, &vec!["silver".to_string(); 3], "trace {t}");
    }
}

fn logs_request() -> Vec<u8> {
    use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 4],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_and_pipelines_come_and_go() {
    let backend = Backend::start().await;
    let base = exporter_config(&backend, "");
    let gw = Gateway::start(&base).await;
    let otlp = gw.url("otlp", "http");
    let http = reqwest::Client::new();
    let post = |url: String, signal: &str, body: Vec<u8>| {
        let req = http
            .post(format!("{url}/v1/{signal}"))
            .header("content-type", "application/x-protobuf")
            .body(body);
        async move { req.send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(
        post(otlp.clone(), "logs", logs_request()).await.unwrap(),
        404
    );

    // A second receiver and a logs pipeline fed by both receivers.
    let more = format!(
        "{base}\n[receivers.extra]\nhttp = \"127.0.0.1:0\"\n\n[pipelines.logs]\nreceivers = [\"otlp\", \"extra\"]\nexporters = [\"backend\"]\n"
    );
    gw.rewrite_config(&more);
    let answer = gw.reload().await;
    assert_eq!(
        answer["config"]["changes"],
        serde_json::json!(["pipeline logs", "receiver extra", "receiver otlp"]),
        "{answer}"
    );
    // The line is written before the reload is answered, but the harness reads the log on a
    // thread of its own: wait for it.
    let listening = |gw: &Gateway| {
        gw.logs
            .lock()
            .unwrap()
            .iter()
            .find(|l| l["message"] == "listening" && l["receiver"] == "extra")
            .map(|l| format!("http://{}", l["address"].as_str().unwrap()))
    };
    let logged = eventually(Duration::from_secs(10), || {
        let seen = listening(&gw).is_some();
        async move { seen }
    })
    .await;
    assert!(logged, "the new receiver's address was not logged");
    let extra = listening(&gw).unwrap();
    // `otlp` now serves logs too, on the same address (it took over its socket).
    assert_eq!(
        post(otlp.clone(), "logs", logs_request()).await.unwrap(),
        200
    );
    assert_eq!(
        post(extra.clone(), "logs", logs_request()).await.unwrap(),
        200
    );
    assert_eq!(
        post(otlp.clone(), "traces", request(&[(0, "gold")], 2))
            .await
            .unwrap(),
        200
    );
    let arrived = || async {
        let logs = backend
            .delivered(Transport::Grpc)
            .iter()
            .filter(|b| matches!(b, Batch::Logs(_)))
            .map(Batch::item_count)
            .sum::<usize>();
        logs == 8 && delivered(&backend).len() == 1
    };
    assert!(eventually(LIMIT, arrived).await);

    // Back to the first config: `extra` stops listening and `otlp` stops taking logs.
    gw.rewrite_config(&base);
    let answer = gw.reload().await;
    assert_eq!(answer["config"]["outcome"], "applied", "{answer}");
    let gone = eventually(LIMIT, || {
        let url = extra.clone();
        let post = &post;
        async move { post(url, "logs", logs_request()).await.is_err() }
    })
    .await;
    assert!(gone, "the removed receiver still answers");
    assert_eq!(
        post(otlp.clone(), "logs", logs_request()).await.unwrap(),
        404
    );
    assert_eq!(
        post(otlp, "traces", request(&[(1, "gold")], 2))
            .await
            .unwrap(),
        200
    );
    assert!(eventually(LIMIT, || async { delivered(&backend).len() == 2 }).await);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_style_symlink_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let (first, second) = (Backend::start().await, Backend::start().await);
    let watch = "[service]\nwatch_config = \"200ms\"\n";
    let gw = Gateway::start(&exporter_config(&first, watch)).await;
    // Lay the file out as a ConfigMap volume does: weir.toml -> ..data/weir.toml, with ..data a
    // link to a timestamped directory (same content, so nothing changes yet).
    let dir = gw.config_path().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(gw.config_path()).unwrap();
    std::fs::create_dir(dir.join("ts1")).unwrap();
    std::fs::write(dir.join("ts1/weir.toml"), &text).unwrap();
    symlink("ts1", dir.join("..data")).unwrap();
    symlink("..data/weir.toml", dir.join("weir.toml.link")).unwrap();
    std::fs::rename(dir.join("weir.toml.link"), gw.config_path()).unwrap();
    assert!(eventually(LIMIT, || async { reloads(&gw, "unchanged").await == 1.0 }).await);

    // The update: a new timestamped directory, and ..data swapped to it by a rename.
    let moved = text.replace(&first.grpc_url(), &second.grpc_url());
    std::fs::create_dir(dir.join("ts2")).unwrap();
    std::fs::write(dir.join("ts2/weir.toml"), moved).unwrap();
    symlink("ts2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    assert!(eventually(LIMIT, || async { reloads(&gw, "applied").await == 1.0 }).await);
    let r = gw
        .post_otlp("traces", request(&[(0, "gold")], 2))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        eventually(LIMIT, || async {
            second.delivered_items(Transport::Grpc) == 2
        })
        .await
    );
    assert_eq!(first.delivered_items(Transport::Grpc), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_policy_file_rebuilds_its_sampler_keeping_buffered_traces() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("keep-service.wasm");
    std::fs::copy(weir_tests::plugins::wasm("keep-service"), &policy).unwrap();
    let config = sampler_config(&backend, "gold").replace(
        "type = \"string_attribute\"\nconfig = { key = \"tier\", values = [\"gold\"] }",
        &format!(
            "plugin = \"{}\"\nconfig = {{ services = [\"checkout\"] }}",
            policy.display()
        ),
    );
    assert!(config.contains("keep-service.wasm"), "{config}");
    let gw = Gateway::start(&config).await;
    let r = gw
        .post_otlp("traces", request(&[(0, "a"), (1, "b"), (2, "c")], 2))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(eventually(LIMIT, || async { buffered(&gw).await == 3.0 }).await);

    // A new build of the policy (here: the same code with a custom section appended, so the
    // bytes differ) rebuilds the sampler from an unchanged config, keeping what it holds.
    let mut bytes = std::fs::read(&policy).unwrap();
    bytes.extend_from_slice(&[0x00, 0x0c, 0x09]);
    bytes.extend_from_slice(b"weir-testv2");
    std::fs::write(&policy, &bytes).unwrap();
    let answer = gw.reload().await;
    assert_eq!(
        answer["config"]["changes"],
        serde_json::json!(["sampler tail", "pipeline traces"]),
        "{answer}"
    );
    assert_eq!(buffered(&gw).await, 3.0);

    // A broken build is refused, naming the file, and the sampler keeps running.
    std::fs::write(&policy, b"not wasm").unwrap();
    let answer = gw.reload().await;
    assert_eq!(answer["config"]["outcome"], "failed", "{answer}");
    assert!(
        answer["config"]["error"]
            .as_str()
            .unwrap()
            .contains("samplers.tail.policies[0].plugin"),
        "{answer}"
    );
    assert_eq!(buffered(&gw).await, 3.0);
}
