//! `weir convert` on the example configs of the OpenTelemetry Collector's and contrib's READMEs
//! (`tests/data/otelcol/`, each naming its source): every one converts, exits 0 or 3 as
//! documented, and the Weir config it writes passes `weir validate` (compiling every plugin and
//! running its `init`), apart from certificate files the examples name on machines we do not
//! have. A few conversions are checked key by key.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::gateway::binary;

fn weir(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        // What converted hash actions and redaction hash functions need.
        .env("ENRICH_HASH_KEY", "converted-config-test-key")
        .env("REDACT_HASH_KEY", "converted-config-test-key")
        .output()
        .unwrap()
}

/// Converts `yaml` into `dir`; returns the exit code, the TOML and stderr.
fn convert(yaml: &Path, dir: &Path) -> (Option<i32>, String, String) {
    let out = dir.join(yaml.file_stem().unwrap()).with_extension("toml");
    let o = weir(&[
        "convert",
        yaml.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let toml = std::fs::read_to_string(&out).unwrap_or_default();
    (
        o.status.code(),
        toml,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_collector_example_converts_into_a_config_that_validates() {
    let data = weir_tests::repo_root().join("tests/data/otelcol");
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let yaml = entry.unwrap().path();
        if yaml.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        checked += 1;
        let name = yaml.file_name().unwrap().to_string_lossy().into_owned();
        let (code, toml, stderr) = convert(&yaml, dir.path());
        let listed = stderr.lines().filter(|l| l.starts_with("  ")).count();
        let commented = toml
            .lines()
            .filter(|l| l.starts_with("#   ") && l.contains(": "))
            .count();
        match code {
            Some(0) if listed == 0 => {}
            Some(3) if listed > 0 && commented >= listed => {}
            other => failures.push(format!(
                "{name}: exit {other:?} with {listed} listed and {commented} commented\n{stderr}"
            )),
        }
        let path = dir
            .path()
            .join(yaml.file_stem().unwrap())
            .with_extension("toml");
        let v = weir(&["validate", "--config", path.to_str().unwrap()]);
        let problems: Vec<String> = String::from_utf8_lossy(&v.stderr)
            .lines()
            .filter(|l| l.contains(": ") && !l.starts_with("warning:"))
            // Certificates the examples name (/etc/otelcol/tls/server.crt …) are not here.
            .filter(|l| !(l.contains(".tls.") && l.contains("No such file or directory")))
            .map(str::to_string)
            .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: weir validate:\n{}\n{toml}",
                problems.join("\n")
            ));
        }
    }
    assert!(
        checked >= 20,
        "only {checked} example configs in {}",
        data.display()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn a_gateway_config_keeps_its_limits_batching_sampling_and_backend() {
    let data = weir_tests::repo_root().join("tests/data/otelcol/full-gateway.yaml");
    let dir = tempfile::tempdir().unwrap();
    let (code, toml, stderr) = convert(&data, dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    // The two settings Weir does not carry out, and nothing else.
    assert!(
        stderr.contains("processors.batch/large.send_batch_max_size"),
        "{stderr}"
    );
    assert!(
        stderr.contains("processors.attributes/env.actions[2].action"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("  ")).count(),
        2,
        "{stderr}"
    );
    let doc: toml::Table = toml.parse().unwrap();
    assert_eq!(doc["service"]["memory_limit"].as_str(), Some("4000MiB"));
    assert_eq!(doc["service"]["memory_spike"].as_str(), Some("800MiB"));
    // Only the gRPC listener had TLS: two receivers, both listed by every pipeline.
    assert!(doc["receivers"]["otlp-grpc"].get("tls").is_some());
    assert!(doc["receivers"]["otlp-http"].get("tls").is_none());
    let traces = &doc["pipelines"]["traces"];
    assert_eq!(traces["receivers"].as_array().unwrap().len(), 2);
    assert_eq!(
        traces["processors"].as_array().unwrap(),
        &vec![
            toml::Value::from("attributes/env"),
            toml::Value::from("tail_sampling")
        ]
    );
    assert_eq!(
        doc["pipelines"]["metrics"]["batch"]["send_batch_size"].as_integer(),
        Some(10000)
    );
    let sampler = &doc["samplers"]["tail_sampling"];
    assert_eq!(sampler["decision_wait"].as_str(), Some("10s"));
    assert_eq!(sampler["policies"].as_array().unwrap().len(), 4);
    let backend = &doc["exporters"]["otlp/backend"];
    assert_eq!(backend["type"].as_str(), Some("otlp-grpc"));
    // The Collector's otlp exporter uses TLS unless told otherwise.
    assert_eq!(
        backend["endpoint"].as_str(),
        Some("https://otel-backend.example.com:4317")
    );
    assert_eq!(
        backend["sending_queue"]["queue_size"].as_integer(),
        Some(5000)
    );
}

#[test]
fn every_tail_sampling_policy_type_of_the_readme_converts() {
    let data = weir_tests::repo_root().join("tests/data/otelcol/tail_sampling.yaml");
    let dir = tempfile::tempdir().unwrap();
    let (_, toml, stderr) = convert(&data, dir.path());
    let doc: toml::Table = toml.parse().unwrap();
    let mut types = Vec::new();
    fn walk(policies: &toml::Value, types: &mut Vec<String>) {
        for p in policies.as_array().into_iter().flatten() {
            types.push(p["type"].as_str().unwrap().to_string());
            if let Some(sub) = p.get("policies") {
                walk(sub, types);
            }
        }
    }
    walk(&doc["samplers"]["tail_sampling"]["policies"], &mut types);
    for t in [
        "always_sample",
        "latency",
        "numeric_attribute",
        "probabilistic",
        "status_code",
        "string_attribute",
        "rate_limiting",
        "bytes_limiting",
        "span_count",
        "trace_state",
        "boolean_attribute",
        "and",
        "composite",
        "drop",
    ] {
        assert!(
            types.iter().any(|x| x == t),
            "{t} missing from {types:?}\n{stderr}"
        );
    }
}

#[test]
fn what_is_not_yaml_or_not_a_collector_config_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "receivers:\n  otlp: [\n").unwrap();
    let o = weir(&["convert", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("bad.yaml:") && stderr.contains("not valid YAML"),
        "{stderr}"
    );
    std::fs::write(&bad, "receivers:\n  otlp:\n").unwrap();
    let o = weir(&["convert", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no service.pipelines"));
    let o = weir(&["convert", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(1));
}
