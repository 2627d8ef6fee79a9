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
        failures.extend(silently_dropped(&yaml, &toml, &stderr));
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

/// Every component a Collector pipeline lists that the Weir config does not carry (as a
/// component of that name, as the pipeline's `batch` or as `[service]` memory limits) and that
/// `weir convert` did not list as not converted: what was dropped silently.
fn silently_dropped(yaml: &Path, toml: &str, stderr: &str) -> Vec<String> {
    let text = std::fs::read_to_string(yaml).unwrap();
    let root = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    let doc: toml::Table = toml.parse().unwrap();
    let listed = |path: &str| {
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("  {path}:")) || l.starts_with(&format!("  {path}.")))
    };
    let name = |y: &yaml_rust2::Yaml| y.as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    let Some(pipelines) = root["service"]["pipelines"].as_hash() else {
        return out;
    };
    for (id, p) in pipelines {
        let (signal, named) = match name(id).split_once('/') {
            Some((s, n)) => (s.to_string(), Some(n.to_string())),
            None => (name(id), None),
        };
        let group = doc.get("pipelines").and_then(|t| t.get(&signal));
        let pipeline = match &named {
            Some(n) => group.and_then(|g| g.get(n)),
            None => group,
        };
        for section in ["receivers", "processors", "exporters"] {
            for c in p[section].as_vec().into_iter().flatten().map(name) {
                let kind = c.split('/').next().unwrap_or_default();
                let carried = doc.get(section).is_some_and(|t| {
                    t.get(&c).is_some()
                        || t.get(format!("{c}-grpc")).is_some()
                        || t.get(format!("{c}-http")).is_some()
                }) || doc.get("samplers").is_some_and(|t| t.get(&c).is_some())
                    || (kind == "batch" && pipeline.is_some_and(|p| p.get("batch").is_some()))
                    || (kind == "memory_limiter"
                        && doc
                            .get("service")
                            .is_some_and(|s| s.get("memory_limit").is_some()));
                if !carried && !listed(&format!("{section}.{c}")) {
                    out.push(format!(
                        "{}: {section}.{c} of pipeline {} vanished without a NOT CONVERTED line\n{stderr}",
                        yaml.display(),
                        name(id)
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn a_gateway_config_keeps_its_limits_batching_sampling_and_backend() {
    let data = weir_tests::repo_root().join("tests/data/otelcol/full-gateway.yaml");
    let dir = tempfile::tempdir().unwrap();
    let (code, toml, stderr) = convert(&data, dir.path());
    assert_eq!(code, Some(3), "{stderr}");
    // The four settings Weir does not carry out, and nothing else.
    assert!(
        stderr.contains("processors.batch/large.send_batch_max_size"),
        "{stderr}"
    );
    assert!(
        stderr.contains("processors.attributes/env.actions[2].action"),
        "{stderr}"
    );
    // Where health checks and Weir's own logs are set now: said, as nothing carries them.
    assert!(stderr.contains("extensions.health_check"), "{stderr}");
    assert!(stderr.contains("service.telemetry.logs"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("  ")).count(),
        4,
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
    let (code, toml, stderr) = convert(&data, dir.path());
    // Not converted: a string policy's cache size, and the ottl_condition policy whose span
    // event condition has no Weir form.
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("  ")).count(),
        3,
        "{stderr}"
    );
    assert!(
        stderr.contains("policies[12]: policy `test-policy-13`"),
        "{stderr}"
    );
    let doc: toml::Table = toml.parse().unwrap();
    // The composite keeps its budget, its policy order and each share.
    let composite = doc["samplers"]["tail_sampling"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"].as_str() == Some("composite"))
        .unwrap();
    assert_eq!(
        composite["max_total_spans_per_second"].as_integer(),
        Some(1000)
    );
    let shares: Vec<(&str, Option<f64>)> = composite["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p.get("percent").and_then(toml::Value::as_float),
            )
        })
        .collect();
    assert_eq!(
        shares,
        [
            ("test-composite-policy-1", Some(50.0)),
            ("test-composite-policy-2", Some(25.0)),
            ("test-composite-policy-3", None),
        ]
    );
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
