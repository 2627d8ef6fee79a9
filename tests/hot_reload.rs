//! Hot reload of processor plugins under load: a sender posts a known sequence of spans while a
//! plugin file is replaced 50 times (alternating two versions that tag spans differently) and
//! `POST /-/reload` swaps it in. Every span arrives exactly once, with exactly one version's
//! tag, and the tag changes exactly at the swaps. A file that is not a component or whose init
//! fails leaves the old version running, reported and counted; SIGHUP reloads too, and so does
//! a change to a watched file.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use serde_json::Value;
use weir_core::Batch;
use weir_tests::{Backend, Gateway, Transport, eventually, plugins};

/// Ten realistic spans whose ids encode `n` (the request's number) and their index from 1:
/// span number `n * 10 + index`.
fn request(n: u64) -> Vec<u8> {
    let n = u32::try_from(n).unwrap();
    weir_tests::fixtures::numbered_spans(n, 10).encode_to_vec()
}

/// Delivered spans: span number -> the version tags it carries.
fn delivered(backend: &Backend) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for b in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = b else { continue };
        for s in r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let (request, index) = weir_tests::fixtures::span_number(&s.span_id).unwrap();
            let n = u64::from(request) * 10 + u64::from(index);
            // The versions that processed the span: each writes its own key, so a span that two
            // versions processed carries two.
            let tags: Vec<String> = s
                .attributes
                .iter()
                .filter_map(|kv| kv.key.strip_prefix("weir.test.version."))
                .map(str::to_string)
                .collect();
            // A span delivered twice shows up with two entries; an untagged one with "".
            let entry = out.entry(n).or_default();
            if tags.is_empty() {
                entry.push(String::new());
            }
            entry.extend(tags);
        }
    }
    out
}

fn config(backend: &Backend, plugin: &Path) -> String {
    format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[processors.version]
plugin = "{}"

[pipelines.traces]
receivers = ["otlp"]
processors = ["version"]
exporters = ["backend"]
batch = {{ send_batch_size = 50, timeout = "20ms" }}
"#,
        backend.grpc_url(),
        plugin.display()
    )
}

/// Replaces `target` with `source` the way a deploy tool would: write aside, then rename.
fn install(source: &Path, target: &Path) {
    let aside = target.with_extension("new");
    std::fs::copy(source, &aside).unwrap();
    std::fs::rename(&aside, target).unwrap();
}

async fn reload(gw: &Gateway) -> Value {
    let r = reqwest::Client::new()
        .post(format!("http://{}/-/reload", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["plugins"][0].clone()
}

/// Reloads and expects the plugin's reload to fail with `why`; returns its report.
async fn refused(gw: &Gateway, why: &str) -> Value {
    let r = reload(gw).await;
    assert_eq!(r["outcome"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains(why), "{r}");
    r
}

async fn versions(gw: &Gateway) -> Value {
    let text = reqwest::get(format!("http://{}/-/plugins", gw.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["plugins"][0].clone()
}

/// Waits for the first swap, then sends request `n` and waits for it to arrive tagged `b`.
async fn swapped_to_b(gw: &Gateway, backend: &Backend, n: u64) {
    let swapped = eventually(Duration::from_secs(20), || async {
        versions(gw).await["generation"] == 1
    })
    .await;
    assert!(swapped, "{}", versions(gw).await);
    assert_eq!(
        gw.post_otlp("traces", request(n)).await.unwrap().status(),
        200
    );
    let tagged_b = eventually(Duration::from_secs(10), || async {
        delivered(backend).get(&(n * 10 + 1)) == Some(&vec!["b".to_string()])
    })
    .await;
    assert!(tagged_b, "{:?}", delivered(backend).get(&(n * 10 + 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_load_lose_and_repeat_nothing() {
    let (a, b) = (plugins::wasm("version-a"), plugins::wasm("version-b"));
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("version.wasm");
    install(&a, &plugin);
    let backend = Backend::start().await;
    let gw = Arc::new(Gateway::start(&config(&backend, &plugin)).await);

    // One sender, one request after another: span numbers follow the order Weir sees them in.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (gw, stop) = (gw.clone(), stop.clone());
        tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                let r = gw.post_otlp("traces", request(n)).await.unwrap();
                if r.status() == 200 {
                    accepted.extend((0..10).map(|i| n * 10 + i + 1));
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            accepted
        })
    };

    for swap in 1..=50u64 {
        let next = if swap % 2 == 1 { &b } else { &a };
        let tag = if swap % 2 == 1 { "b" } else { "a" };
        install(next, &plugin);
        let before = delivered(&backend).keys().next_back().copied().unwrap_or(0);
        let r = reload(&gw).await;
        assert_eq!(r["outcome"], "applied", "swap {swap}: {r}");
        assert_eq!(r["generation"], swap, "swap {swap}: {r}");
        // Let the new version tag some traffic sent after the swap before the next one.
        let seen = eventually(Duration::from_secs(20), || {
            let backend = &backend;
            async move {
                delivered(backend)
                    .range(before + 1..)
                    .any(|(_, t)| t.len() == 1 && t[0] == tag)
            }
        })
        .await;
        assert!(seen, "swap {swap}: no span tagged {tag} arrived");
    }
    stop.store(true, Ordering::Release);
    let accepted = sender.await.unwrap();
    let all = eventually(Duration::from_secs(30), || {
        let (backend, want) = (&backend, accepted.len());
        async move { delivered(backend).len() >= want }
    })
    .await;
    assert!(all, "not every accepted span arrived");

    let got = delivered(&backend);
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        accepted,
        "every accepted span, and nothing else, arrives"
    );
    let mut switches = 0;
    let mut last = "a";
    for (n, tags) in &got {
        assert_eq!(
            tags.len(),
            1,
            "span {n} arrived {} times or untagged: {tags:?}",
            tags.len()
        );
        let tag = tags[0].as_str();
        assert!(tag == "a" || tag == "b", "span {n}: {tag:?}");
        if tag != last {
            switches += 1;
            last = if tag == "a" { "a" } else { "b" };
        }
    }
    assert_eq!(switches, 50, "the tag changes exactly at the swaps");
    assert_eq!(versions(&gw).await["generation"], 50);
    assert_eq!(
        gw.metric(
            "weir_reloads_total",
            &[("what", "plugin"), ("outcome", "applied")]
        )
        .await,
        50.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plugin_file_leaves_the_old_version_running() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("version.wasm");
    install(&plugins::wasm("version-a"), &plugin);
    let backend = Backend::start().await;
    let mut gw = Gateway::start(&config(&backend, &plugin)).await;

    // Not a component.
    std::fs::write(&plugin, b"not wasm at all").unwrap();
    refused(&gw, "not a WebAssembly").await;
    // A component whose init fails.
    install(&plugins::wasm("version-broken"), &plugin);
    let r = refused(&gw, "this version refuses to start").await;
    assert_eq!(r["generation"], 0);
    assert_eq!(
        gw.metric(
            "weir_reloads_total",
            &[("what", "plugin"), ("outcome", "failed")]
        )
        .await,
        2.0
    );
    let logged = eventually(Duration::from_secs(10), || async {
        gw.log_text().contains("the previous version keeps running")
    })
    .await;
    assert!(logged);
    // A version that stops handling this pipeline's signal would let its batches through
    // unprocessed: refused.
    install(&plugins::wasm("version-logs-only"), &plugin);
    refused(&gw, "no longer handles traces").await;
    // The old version still tags.
    assert_eq!(
        gw.post_otlp("traces", request(1)).await.unwrap().status(),
        200
    );
    let tagged = eventually(Duration::from_secs(10), || {
        let backend = &backend;
        async move { delivered(backend).values().any(|t| t == &["a".to_string()]) }
    })
    .await;
    assert!(tagged, "{:?}", delivered(&backend));

    // SIGHUP reloads a good file.
    install(&plugins::wasm("version-b"), &plugin);
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    swapped_to_b(&gw, &backend, 2).await;
    assert!(gw.is_running());
    gw.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_plugin_file_reloads_when_it_changes() {
    watched_plugin_file_reloads("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_plugin_file_reloads_when_it_changes() {
    watched_plugin_file_reloads("watch_poll = true\n").await;
}

/// A plugin file watched through file events (or polled, with `extra` = `watch_poll = true`)
/// is reloaded by itself when it changes.
async fn watched_plugin_file_reloads(extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("version.wasm");
    install(&plugins::wasm("version-a"), &plugin);
    let backend = Backend::start().await;
    let config = format!(
        "[service]\nwatch_plugins = \"100ms\"\n{extra}{}",
        config(&backend, &plugin)
    );
    let gw = Gateway::start(&config).await;
    assert_eq!(
        gw.metric(
            "weir_reloads_total",
            &[("what", "plugin"), ("outcome", "failed")]
        )
        .await,
        0.0
    );
    install(&plugins::wasm("version-b"), &plugin);
    swapped_to_b(&gw, &backend, 3).await;
    assert_eq!(
        gw.metric(
            "weir_reloads_total",
            &[("what", "plugin"), ("outcome", "applied")]
        )
        .await,
        1.0
    );
}

/// The output of `weir plugin test PLUGIN --input INPUT` (what the plugin makes of it).
fn plugin_output(plugin: &Path, input: &Path) -> String {
    let out = std::process::Command::new(weir_tests::gateway::binary())
        .args(["plugin", "test"])
        .arg(plugin)
        .arg("--input")
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_its_self_test_is_not_swapped_in() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("version.wasm");
    install(&plugins::wasm("version-a"), &plugin);
    let (input, expect) = (dir.path().join("in.json"), dir.path().join("expect.json"));
    std::fs::write(
        &input,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"work"}]}]}]}"#,
    )
    .unwrap();
    let out_a = plugin_output(&plugin, &input);
    assert!(out_a.contains("weir.test.version.a"), "{out_a}");
    std::fs::write(&expect, &out_a).unwrap();
    let backend = Backend::start().await;
    let config = config(&backend, &plugin).replace(
        "[pipelines.traces]",
        &format!(
            "[processors.version.self_test]\ninput = \"{}\"\nexpect = \"{}\"\n\n[pipelines.traces]",
            input.display(),
            expect.display()
        ),
    );
    let gw = Gateway::start(&config).await;

    // Version b loads fine but tags differently from what the fixture expects: refused.
    install(&plugins::wasm("version-b"), &plugin);
    let r = refused(&gw, "failed its self-test").await;
    assert!(r["error"].as_str().unwrap().contains("differs from"), "{r}");
    assert_eq!(r["generation"], 0);
    // `weir validate` says the same, at the self_test table.
    let validate = std::process::Command::new(weir_tests::gateway::binary())
        .args(["validate", "--config"])
        .arg(gw.config_path())
        .output()
        .unwrap();
    let stderr = String::from_utf8(validate.stderr).unwrap();
    assert!(!validate.status.success());
    assert!(
        stderr.contains("processors.version.self_test: plugin version failed its self-test"),
        "{stderr}"
    );

    // With the fixture updated for b, b is swapped in.
    std::fs::write(&expect, plugin_output(&plugin, &input)).unwrap();
    assert_eq!(reload(&gw).await["outcome"], "applied");
    swapped_to_b(&gw, &backend, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_finds_its_plugins_in_the_compiled_cache() {
    let cache = tempfile::tempdir().unwrap();
    let backend = Backend::start().await;
    let config = config(&backend, &plugins::wasm("version-a"));
    let env = [("XDG_CACHE_HOME", cache.path())];
    let mut loaded = Vec::new();
    for _ in 0..2 {
        let mut gw = Gateway::start_with(&weir_tests::gateway::binary(), &config, &env).await;
        let line = gw
            .logs
            .lock()
            .unwrap()
            .iter()
            .find(|l| l["message"] == "plugins loaded")
            .cloned()
            .unwrap();
        assert!(gw.terminate().await.success());
        loaded.push(line);
    }
    // The first start compiles; the second one (a new process) finds the compiled code.
    assert_eq!(
        (
            loaded[0]["from_cache"].as_u64(),
            loaded[0]["compiled"].as_u64()
        ),
        (Some(0), Some(1)),
        "{loaded:?}"
    );
    assert_eq!(
        (
            loaded[1]["from_cache"].as_u64(),
            loaded[1]["compiled"].as_u64()
        ),
        (Some(1), Some(0)),
        "{loaded:?}"
    );
    eprintln!(
        "plugin loading: first start {}, second start {}",
        loaded[0]["elapsed"], loaded[1]["elapsed"]
    );
}
