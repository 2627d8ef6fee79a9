//! `weir validate` (and `weir run`) on broken config files: each must fail with exactly the
//! message below, naming file, line, column and key, and a valid file must pass.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::process::Command;

use weir_tests::gateway::binary;

/// A valid base the cases break in one place each.
const BASE: &str = r#"[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#;

/// (case, file contents, the exact message on stderr)
fn cases() -> Vec<(&'static str, String, &'static str)> {
    let with = |extra: &str| format!("{BASE}{extra}");
    let replace = |from: &str, to: &str| {
        assert!(BASE.contains(from), "{from}");
        BASE.replace(from, to)
    };
    vec![
        (
            "a tail policy rejects its config",
            format!(
                "{}\n[samplers.tail]\n[[samplers.tail.policies]]\nname = \"errors\"\ntype = \"status_code\"\nconfig = {{ status_codes = [\"BAD\"] }}\n",
                replace("exporters = [\"out\"]\n", "exporters = [\"out\"]\nprocessors = [\"tail\"]\n")
            ),
            "weir.toml:16:28: samplers.tail.policies[0].config.status_codes[0]: plugin tail/errors rejected its config: unknown status code \"BAD\" (one of: OK, ERROR, UNSET)",
        ),
        (
            "an unknown tail policy type",
            format!(
                "{}\n[samplers.tail]\n[[samplers.tail.policies]]\nname = \"slow\"\ntype = \"latency_ms\"\n",
                replace("exporters = [\"out\"]\n", "exporters = [\"out\"]\nprocessors = [\"tail\"]\n")
            ),
            "weir.toml:15:8: samplers.tail.policies[0].type: unknown policy type `latency_ms` (one of: always_sample, latency, status_code, string_attribute, numeric_attribute, boolean_attribute, probabilistic, trace_state, trace_flags, span_count, sampling_priority, condition, and, not, drop, first_match, rate_limiting, bytes_limiting, composite; or set `plugin` to a file)",
        ),
        (
            "misspelt top-level table",
            "[recievers.otlp]\ngrpc = \"127.0.0.1:0\"\n".into(),
            "weir.toml:1:1: pipelines: no pipelines: add at least one [pipelines.<signal>] table\n\
             weir.toml:1:2: recievers: unknown section `recievers`: did you mean `receivers`?",
        ),
        (
            "misspelt exporter key",
            with("\n[exporters.x]\ntype = \"otlp-grpc\"\nendpont = \"http://127.0.0.1:4317\"\n"),
            "weir.toml:13:1: exporters.x.endpont: unknown field `endpont`, expected one of `type`, `endpoint`, `compression`, `timeout`, `headers`, `verbosity`, `path`, `sending_queue`, `retry_on_failure`, `plugin`, `config`, `allowed_hosts`, `memory_limit`, `grants`, `tls`",
        ),
        (
            "wrong type",
            with("queue_size = \"ten\"\n"),
            "weir.toml:10:14: pipelines.traces.queue_size: invalid type: string \"ten\", expected usize",
        ),
        (
            "bad duration",
            replace("type = \"debug\"", "type = \"otlp-grpc\"\nendpoint = \"http://127.0.0.1:4317\"\ntimeout = \"5 parsecs\""),
            "weir.toml:7:11: exporters.out.timeout: invalid duration \"5 parsecs\": write a number and a unit, e.g. \"250ms\", \"10s\", \"5m\"",
        ),
        (
            "address without a port",
            replace("grpc = \"127.0.0.1:0\"", "grpc = \"localhost\""),
            "weir.toml:2:8: receivers.otlp.grpc: invalid listen address \"localhost\": expected IP:PORT such as \"127.0.0.1:4317\" or \"[::1]:4317\"",
        ),
        (
            "bad size",
            replace("grpc = \"127.0.0.1:0\"", "grpc = { endpoint = \"127.0.0.1:0\", max_recv_msg_size = \"4 furlongs\" }"),
            "weir.toml:2:56: receivers.otlp.grpc: invalid size \"4 furlongs\": unknown unit \"furlongs\" (use B, KB, KiB, MB, MiB, GB or GiB)",
        ),
        (
            "unknown exporter type",
            replace("type = \"debug\"", "type = \"kafka\""),
            "weir.toml:5:8: exporters.out.type: unknown variant `kafka`, expected one of `otlp-grpc`, `otlp-http`, `debug`, `file`, `plugin`",
        ),
        (
            "undefined exporter",
            replace("exporters = [\"out\"]", "exporters = [\"out\", \"jaeger\"]"),
            "weir.toml:9:21: pipelines.traces.exporters: `jaeger` is not defined: add a [exporters.jaeger] table (defined: out)",
        ),
        (
            "unused receiver",
            with("\n[receivers.spare]\nhttp = \"127.0.0.1:0\"\n"),
            "weir.toml:11:12: receivers.spare: `spare` is defined but no pipeline uses it",
        ),
        (
            "pipeline without exporters",
            replace("exporters = [\"out\"]", "exporters = []"),
            "weir.toml:4:12: exporters.out: `out` is defined but no pipeline uses it\n\
             weir.toml:7:1: pipelines.traces.exporters: a pipeline needs at least one of its exporters",
        ),
        (
            "unknown signal",
            replace("[pipelines.traces]", "[pipelines.spans]"),
            "weir.toml:1:12: receivers.otlp: `otlp` is defined but no pipeline uses it\n\
             weir.toml:4:12: exporters.out: `out` is defined but no pipeline uses it\n\
             weir.toml:7:12: pipelines.spans: unknown signal `spans`: pipelines are `traces`, `metrics` or `logs` (named ones as [pipelines.traces.<name>])",
        ),
        (
            "misspelt pipeline key",
            with("recievers = [\"otlp\"]\n"),
            "weir.toml:7:1: pipelines.traces: unknown key `recievers`: a pipeline takes receivers, processors, exporters, batch, queue_size, ack or named pipeline tables [pipelines.<signal>.<name>]",
        ),
        (
            "unset environment variable",
            replace("\"127.0.0.1:0\"", "\"127.0.0.1:${WEIR_TEST_UNSET_PORT}\""),
            "weir.toml:2:19: environment variable WEIR_TEST_UNSET_PORT is not set (give a default with ${WEIR_TEST_UNSET_PORT:-value})",
        ),
        (
            "TLS settings on an http endpoint",
            replace("type = \"debug\"", "type = \"otlp-http\"\nendpoint = \"http://collector:4318\"\ntls = { ca_file = \"ca.pem\" }"),
            "weir.toml:7:7: exporters.out.tls: TLS settings need an https:// endpoint, and \"http://collector:4318\" is http://",
        ),
        (
            "a CA file nobody can read",
            replace("type = \"debug\"", "type = \"otlp-http\"\nendpoint = \"https://collector:4318\"\ntls = { ca_file = \"missing-ca.pem\" }"),
            "weir.toml:7:19: exporters.out.tls.ca_file: missing-ca.pem: cannot read: No such file or directory (os error 2)",
        ),
        (
            "a tenant attribute without credentials",
            replace("grpc = \"127.0.0.1:0\"", "grpc = \"127.0.0.1:0\"\ntenant_attribute = \"tenant\""),
            "weir.toml:3:20: receivers.otlp.tenant_attribute: there is no tenant to set: add `auth = { … }` or `tls.client_ca_file` (mTLS) to this receiver",
        ),
        (
            "endpoint on a debug exporter",
            replace("type = \"debug\"", "type = \"debug\"\nendpoint = \"http://127.0.0.1:4317\""),
            "weir.toml:6:12: exporters.out.endpoint: `endpoint` does not apply to exporters of type debug (only to otlp-grpc, otlp-http)",
        ),
        (
            "TOML syntax error",
            with("\n[exporters.y\n"),
            "weir.toml:11:13: unclosed table, expected `]`",
        ),
        (
            "two listeners on one address",
            "[receivers.a]\ngrpc = \"127.0.0.1:4317\"\n[receivers.b]\nhttp = \"127.0.0.1:4317\"\n\
             [exporters.out]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"a\", \"b\"]\nexporters = [\"out\"]\n"
                .into(),
            "weir.toml:3:1: receivers.b.http: address 127.0.0.1:4317 is already used by receivers.a.grpc",
        ),
        (
            "a disk queue without a dir",
            replace("type = \"debug\"", "type = \"debug\"\nsending_queue = { storage = \"disk\" }"),
            "weir.toml:4:1: exporters.out.sending_queue.dir: storage = \"disk\" needs a dir for the queue's files",
        ),
        (
            "two exporters on one disk queue",
            replace("type = \"debug\"", "type = \"debug\"\nsending_queue = { storage = \"disk\", dir = \"q\" }\n[exporters.two]\ntype = \"debug\"\nsending_queue = { storage = \"disk\", dir = \"./q/\" }")
                .replace("exporters = [\"out\"]", "exporters = [\"out\", \"two\"]"),
            "weir.toml:9:43: exporters.two.sending_queue.dir: \"./q/\" is already the disk queue of exporter out: each disk queue needs a dir of its own",
        ),
        (
            "a memory spike as large as the limit",
            format!("[service]\nmemory_limit = \"64MiB\"\nmemory_spike = \"64MiB\"\n\n{BASE}"),
            "weir.toml:3:16: service.memory_spike: must be less than memory_limit",
        ),
        (
            "unknown ack",
            with("ack = \"never\"\n"),
            "weir.toml:10:7: pipelines.traces.ack: unknown variant `never`, expected one of `processed`, `queued`, `received`",
        ),
        (
            "a misspelt part of a plugin timeout",
            replace("exporters = [\"out\"]", "exporters = [\"out\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:noop\"\ntimeout = { base = \"20ms\", per_span = \"1us\" }"),
            "weir.toml:14:28: processors.p.timeout: unknown field `per_span`, expected `base` or `per_item`",
        ),
        (
            "unknown on_error",
            replace("exporters = [\"out\"]", "exporters = [\"out\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:noop\"\non_error = \"ignore\""),
            "weir.toml:14:12: processors.p.on_error: unknown variant `ignore`, expected one of `pass`, `drop`, `refuse`",
        ),
        (
            "unknown built-in plugin",
            replace("exporters = [\"out\"]", "exporters = [\"out\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:redcat\""),
            "weir.toml:13:10: processors.p.plugin: unknown built-in plugin \"builtin:redcat\" (this build has: builtin:noop, builtin:enrich, builtin:redact, builtin:filter, builtin:head-sample)",
        ),
        (
            "a built-in plugin rejecting its config",
            replace("exporters = [\"out\"]", "exporters = [\"out\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:redact\"\nconfig = { detectors = [\"email\", \"phone\"] }"),
            "weir.toml:14:34: processors.p.config.detectors[1]: plugin p rejected its config: unknown detector \"phone\" (one of: credit-card, email, ipv4, ipv6, jwt, bearer-token, aws-access-key, us-ssn; or add it to custom_patterns)",
        ),
        (
            "a built-in plugin missing a key in its config table",
            replace("exporters = [\"out\"]", "exporters = [\"out\"]\nprocessors = [\"p\"]\n\n[processors.p]\nplugin = \"builtin:redact\"\n\n[processors.p.config]\naction = \"hash\""),
            "weir.toml:15:1: processors.p.config: plugin p rejected its config: hash_key: required when action = \"hash\" (at least 16 bytes; keep it secret, e.g. hash_key = \"${REDACT_HASH_KEY}\")",
        ),
    ]
}

fn weir(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_remove("WEIR_TEST_UNSET_PORT")
        .output()
        .unwrap()
}

#[test]
fn each_broken_config_fails_with_its_exact_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (case, text, want) in cases() {
        std::fs::write(dir.path().join("weir.toml"), &text).unwrap();
        let out = weir(dir.path(), &["validate", "--config", "weir.toml"]);
        let got = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        if out.status.code() != Some(1) || got != want {
            failures.push(format!(
                "{case}: exit {:?}\n  want: {want}\n  got:  {got}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn run_refuses_a_broken_config_with_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text, want) = cases()
        .into_iter()
        .find(|c| c.0 == "undefined exporter")
        .unwrap();
    std::fs::write(dir.path().join("weir.toml"), text).unwrap();
    let out = weir(dir.path(), &["run", "--config", "weir.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().any(|l| l == format!("weir: {want}")),
        "{stderr}"
    );
}

#[test]
fn a_valid_config_passes_and_a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weir.toml"), BASE).unwrap();
    let out = weir(dir.path(), &["validate", "--config", "weir.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "weir.toml: ok (1 pipeline(s): traces)\n"
    );
    let out = weir(dir.path(), &["validate", "--config", "nope.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "nope.toml: cannot read config: No such file or directory (os error 2)"
    );
}

#[test]
fn every_example_config_is_valid() {
    let dir = weir_tests::repo_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = weir(&dir, &["validate", "--config", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no example configs found in {}", dir.display());
}

#[test]
fn one_run_reports_config_and_plugin_problems_together() {
    // A policy-type typo (found reading the config), a key builtin:redact does not know (found
    // by the plugin's init) and a dangling exporter: `weir validate` names all three at once.
    let dir = tempfile::tempdir().unwrap();
    let text = BASE.replace(
        "exporters = [\"out\"]\n",
        "exporters = [\"out\", \"backend\"]\nprocessors = [\"scrub\", \"tail\"]\n",
    ) + "\n[processors.scrub]\nplugin = \"builtin:redact\"\nconfig = { detectorz = [] }\n\
         \n[samplers.tail]\n[[samplers.tail.policies]]\nname = \"slow\"\ntype = \"latency_ms\"\n";
    std::fs::write(dir.path().join("weir.toml"), text).unwrap();
    let out = weir(dir.path(), &["validate", "--config", "weir.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("pipelines.traces.exporters: `backend` is not defined")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unknown policy type `latency_ms`")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("scrub") && l.contains("detectorz")),
        "{stderr}"
    );
}

#[test]
fn every_unreadable_certificate_is_named_in_one_run() {
    // Two receivers and the admin listener with certificate files that are not there: each
    // is its own problem, and `weir validate` names all three.
    let dir = tempfile::tempdir().unwrap();
    let text = BASE.replace(
        "receivers = [\"otlp\"]",
        "receivers = [\"otlp\", \"second\"]",
    ) + "\n[receivers.second]\ngrpc = \"127.0.0.1:0\"\ntls = { cert_file = \"second.pem\", key_file = \"second.key\" }\n\
         \n[admin]\nlisten = \"127.0.0.1:0\"\ntls = { cert_file = \"admin.pem\", key_file = \"admin.key\" }\n";
    let text = text.replace(
        "grpc = \"127.0.0.1:0\"\n\n[exporters.out]",
        "grpc = \"127.0.0.1:0\"\ntls = { cert_file = \"first.pem\", key_file = \"first.key\" }\n\n[exporters.out]",
    );
    std::fs::write(dir.path().join("weir.toml"), &text).unwrap();
    let out = weir(dir.path(), &["validate", "--config", "weir.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for file in ["first.pem", "second.pem", "admin.pem"] {
        assert!(stderr.contains(file), "{file} not named:\n{stderr}\n{text}");
    }
}
