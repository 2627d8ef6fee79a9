//! The example plugins in `examples/plugins/` — the same processor (`env-mask`: tag
//! `deployment.environment`, mask `user.email`) and the same tail-sampling policy (`tier-policy`:
//! keep traces with an error or an enterprise customer) in Rust, Python, JavaScript and C. For
//! each language both build from source with that language's toolchain, pass the shared
//! fixtures through `weir plugin test`, and run in a gateway that the OpenTelemetry Python SDK
//! sends to: every span is tagged and masked, and exactly the right traces arrive, whole.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use weir_core::Batch;
use weir_tests::fixtures::{hex, string_attribute};
use weir_tests::{Backend, Gateway, Transport, eventually, gateway, plugins, python, repo_root};

/// Builds `examples/plugins/<lang>-<kind>` and returns its component.
fn build(lang: &str, kind: &str) -> PathBuf {
    let dir = repo_root()
        .join("examples/plugins")
        .join(format!("{lang}-{kind}"));
    let file = if kind == "processor" {
        "env_mask"
    } else {
        "tier_policy"
    };
    plugins::build_project(
        &dir,
        lang,
        file,
        &repo_root().join("target/example-plugins"),
    )
}

/// `weir plugin test` on the example's fixtures must report a match.
fn passes_fixture(wasm: &Path, kind: &str) {
    let fixture = |f: &str| {
        repo_root()
            .join("examples/plugins/fixtures")
            .join(format!("{kind}-{f}.json"))
    };
    let out = Command::new(gateway::binary())
        .args(["plugin", "test"])
        .arg(wasm)
        .arg("--input")
        .arg(fixture("in"))
        .arg("--config")
        .arg(fixture("config"))
        .arg("--expect")
        .arg(fixture("out"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ok: the output matches"),
        "{}: {text}",
        wasm.display()
    );
}

/// `weir validate` on a config that gives the processor an empty `environment`: every language's
/// init error must let Weir point at that key's line.
fn points_at_the_bad_key(processor: &Path, lang: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weir.toml");
    let config = format!(
        "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\n\n[exporters.out]\ntype = \"debug\"\n\n\
         [processors.env-mask]\nplugin = \"{}\"\n[processors.env-mask.config]\nenvironment = \"\"\n\n\
         [pipelines.traces]\nreceivers = [\"otlp\"]\nprocessors = [\"env-mask\"]\nexporters = [\"out\"]\n",
        processor.display()
    );
    std::fs::write(&file, config).unwrap();
    let out = Command::new(gateway::binary())
        .args(["validate", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "{}:10:15: processors.env-mask.config.environment: plugin env-mask rejected its config:",
        file.display()
    );
    assert!(
        !out.status.success() && text.contains(&want),
        "{lang}: want {want:?} in:\n{text}"
    );
}

/// Builds both examples of `lang`, checks their fixtures and config errors, then runs them in
/// a gateway.
async fn language(lang: &str) {
    let processor = build(lang, "processor");
    passes_fixture(&processor, "processor");
    points_at_the_bad_key(&processor, lang);
    let policy = build(lang, "sampler");
    passes_fixture(&policy, "sampler");

    let backend = Backend::start().await;
    let environment = format!("staging-{lang}");
    let config = format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[processors.env-mask]
plugin = "{}"
config = {{ environment = "{environment}" }}
# Interpreted guests on a busy 2-core machine: a generous deadline, so that only a real failure
# (not a slow call) leaves a span untagged.
timeout = "5s"

[samplers.tail]
decision_wait = "1s"
record_policy = true

[[samplers.tail.policies]]
name = "tier"
plugin = "{}"
config = {{ values = ["enterprise"] }}
timeout = "5s"

[pipelines.traces]
receivers = ["otlp"]
processors = ["env-mask", "tail"]
exporters = ["backend"]
batch = {{ send_batch_size = 64, timeout = "50ms" }}
"#,
        backend.grpc_url(),
        processor.display(),
        policy.display()
    );
    let gw = Gateway::start(&config).await;
    let out = python::run_json(
        "emit_users.py",
        &["--endpoint", &gw.url("otlp", "grpc"), "--traces", "30"],
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let traces = out["traces"].as_array().unwrap();

    // Expected: trace id -> (has an email, the reasons the policy may give).
    let mut want: BTreeMap<String, (bool, BTreeSet<&str>)> = BTreeMap::new();
    for t in traces {
        let mut reasons = BTreeSet::new();
        if t["error"].as_bool().unwrap() {
            reasons.insert("error");
        }
        if t["tier"] == "enterprise" {
            reasons.insert("customer.tier=enterprise");
        }
        if !reasons.is_empty() {
            let id = t["trace_id"].as_str().unwrap().to_string();
            want.insert(id, (t["email"].as_bool().unwrap(), reasons));
        }
    }
    let emails = traces.iter().filter(|t| t["email"] == true).count();
    assert!(!want.is_empty() && want.len() < traces.len());

    let decided = gw
        .sampler_decided(traces.len(), &["tier"], Duration::from_secs(60))
        .await;
    assert!(
        decided,
        "{lang}: not every trace was decided:\n{}",
        gw.metrics().await
    );
    let spans_wanted = 2 * want.len();
    let arrived = eventually(Duration::from_secs(30), || {
        let b = &backend;
        async move { b.delivered_items(Transport::Grpc) >= spans_wanted }
    })
    .await;
    assert!(arrived, "{lang}: kept spans did not all arrive");

    // trace id -> (spans, masked emails seen, reasons)
    let mut got: BTreeMap<String, (usize, usize, BTreeSet<String>)> = BTreeMap::new();
    for b in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = b else { continue };
        for span in r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let id = hex(&span.trace_id);
            assert_eq!(
                string_attribute(&span.attributes, "deployment.environment"),
                Some(environment.as_str()),
                "{lang}: span {} of {id} is not tagged",
                span.name
            );
            let email = string_attribute(&span.attributes, "user.email");
            assert!(
                email.is_none() || email == Some("***"),
                "{lang}: an email leaked: {email:?}"
            );
            let e = got.entry(id).or_default();
            e.0 += 1;
            e.1 += usize::from(email.is_some());
            if let Some(r) = string_attribute(&span.attributes, "weir.sampling.reason") {
                e.2.insert(r.to_string());
            }
        }
    }
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = want.keys().collect();
    assert_eq!(
        got_ids, want_ids,
        "{lang}: the policy kept the wrong traces"
    );
    for (id, (email, reasons)) in &want {
        let (spans, masked, got_reasons) = &got[id];
        assert_eq!(*spans, 2, "{lang}: trace {id} arrived incomplete or twice");
        assert_eq!(
            *masked,
            usize::from(*email),
            "{lang}: trace {id}: masked emails"
        );
        assert_eq!(got_reasons.len(), 1, "{lang}: trace {id}: {got_reasons:?}");
        let reason = got_reasons.iter().next().unwrap();
        assert!(
            reasons.contains(reason.as_str()),
            "{lang}: trace {id} kept for {reason:?}, expected one of {reasons:?}"
        );
    }
    // The processor saw every trace before the sampler and counted each email it masked.
    let masked = gateway::expect_sample(
        &gw.metrics().await,
        "weir_plugin_counter_total",
        &[("counter", "masked"), ("label", "user.email")],
    );
    assert_eq!(masked, emails as f64, "{lang}: the plugin's own counter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_examples() {
    language("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_examples() {
    language("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_examples() {
    language("js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_examples() {
    language("c").await;
}
