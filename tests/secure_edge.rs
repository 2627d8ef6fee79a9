//! The secure edge at the receivers, end to end with real clients: the unmodified OpenTelemetry
//! Python SDK sends over TLS, mTLS and with bearer tokens (configured only through its standard
//! environment variables); wrong CAs, missing client certificates and wrong tokens are refused
//! with nothing kept; certificates rotate under load. (Exporters and the admin listener:
//! `secure_exporters_admin.rs`.) Certificates are generated per test (`weir_tls::pki`), never
//! checked in.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use weir_core::Batch;
use weir_tests::tls::{client_tls, grpc_export, p, pki, probe};
use weir_tests::{Backend, Gateway, Transport, eventually, python};
use weir_tls::pki::{Issued, TestPki};

/// The resource attribute `key` of every span, log record and data point delivered with
/// `run.id = run`, by transport; panics if an item has none.
fn tenants(backend: &Backend, run: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in [Transport::Grpc, Transport::Http] {
        for batch in backend.delivered(t) {
            let resources: Vec<_> = match &batch {
                Batch::Traces(r) => r
                    .resource_spans
                    .iter()
                    .map(|x| x.resource.clone())
                    .collect(),
                Batch::Metrics(r) => r
                    .resource_metrics
                    .iter()
                    .map(|x| x.resource.clone())
                    .collect(),
                Batch::Logs(r) => r.resource_logs.iter().map(|x| x.resource.clone()).collect(),
                Batch::Wire(_) => panic!("the test backend decodes what it receives"),
            };
            for res in resources.into_iter().flatten() {
                let get = |k: &str| {
                    res.attributes.iter().find(|kv| kv.key == k).and_then(|kv| {
                        match kv.value.as_ref()?.value.as_ref()? {
                            Value::StringValue(s) => Some(s.clone()),
                            _ => None,
                        }
                    })
                };
                if get("run.id").as_deref() == Some(run) {
                    out.push(get(key).unwrap_or_else(|| panic!("run {run}: no {key} attribute")));
                }
            }
        }
    }
    out
}

/// Two TLS receivers: `token` (bearer tokens from `tokens`) and `mtls` (client certificates
/// signed by the test CA), both stamping the tenant as `tenant`, every signal exported to
/// `backend`.
fn edge_config(pki: &TestPki, server: &Issued, tokens: &Path, backend: &Backend) -> String {
    format!(
        r#"
[receivers.token]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}" }}
auth = {{ bearer_tokens_file = "{tokens}" }}
tenant_attribute = "tenant"

[receivers.mtls]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}", client_ca_file = "{ca}" }}
tenant_attribute = "tenant"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["token", "mtls"]
exporters = ["backend"]
[pipelines.metrics]
receivers = ["token", "mtls"]
exporters = ["backend"]
[pipelines.logs]
receivers = ["token", "mtls"]
exporters = ["backend"]
"#,
        cert = p(&server.cert),
        key = p(&server.key),
        ca = p(&pki.ca_file("edge")),
        tokens = p(tokens),
        backend = backend.grpc_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_tls_mtls_and_tokens_arrives_with_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, client) = pki(dir.path());
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[tokens]]\ntenant = \"team-a\"\ntoken = \"s3cret-a\"\n",
    )
    .unwrap();
    let backend = Backend::start().await;
    let config = edge_config(&pki, &server, &tokens, &backend);
    let gw = Gateway::start(&config).await;
    let ca = p(&pki.ca_file("edge"));
    let (ck, cc) = (p(&client.key), p(&client.cert));
    let mut total = 0;
    for protocol in ["grpc", "http"] {
        let url = |r: &str| format!("https://{}", gw.addr(r, protocol));
        let run = format!("token-{protocol}");
        let sent = python::emit_env(
            protocol,
            &url("token"),
            &run,
            &[
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20s3cret-a",
                ),
            ],
        )
        .await;
        let want = python::emitted_items(&sent);
        let run_m = format!("mtls-{protocol}");
        let sent = python::emit_env(
            protocol,
            &url("mtls"),
            &run_m,
            &[
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &ck),
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cc),
            ],
        )
        .await;
        let want_m = python::emitted_items(&sent);
        let arrived = eventually(Duration::from_secs(30), || {
            let ok = !tenants(&backend, &run, "tenant").is_empty()
                && !tenants(&backend, &run_m, "tenant").is_empty();
            async move { ok }
        })
        .await;
        assert!(arrived, "{protocol}: nothing arrived");
        // Every resource of the run carries the tenant its credentials name.
        let t = tenants(&backend, &run, "tenant");
        assert!(t.iter().all(|t| t == "team-a"), "{protocol}: {t:?}");
        let t = tenants(&backend, &run_m, "tenant");
        assert!(t.iter().all(|t| t == "tenant-mtls"), "{protocol}: {t:?}");
        assert!(want > 0 && want_m > 0);
        total += want + want_m;
    }
    // Every item the SDK reported sending arrived, once.
    let all = eventually(Duration::from_secs(30), || {
        let n = backend.delivered_items(Transport::Grpc);
        async move { n >= total }
    })
    .await;
    assert!(
        all,
        "{} of {total} items arrived",
        backend.delivered_items(Transport::Grpc)
    );
    assert_eq!(backend.delivered_items(Transport::Grpc), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, client) = pki(dir.path());
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[tokens]]\ntenant = \"team-a\"\ntoken = \"s3cret-a\"\n",
    )
    .unwrap();
    let backend = Backend::start().await;
    let config = edge_config(&pki, &server, &tokens, &backend);
    let gw = Gateway::start(&config).await;
    let ca = p(&pki.ca_file("edge"));
    // The SDK with a wrong token and with none: 401 / UNAUTHENTICATED, which it does not retry.
    for protocol in ["grpc", "http"] {
        let url = format!("https://{}", gw.addr("token", protocol));
        for (run, headers) in [
            (format!("wrong-{protocol}"), "authorization=Bearer%20guess"),
            (format!("none-{protocol}"), "x-other=1"),
        ] {
            let env = [
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()),
                ("OTEL_EXPORTER_OTLP_HEADERS", headers),
            ];
            let args = [
                "--protocol",
                protocol,
                "--endpoint",
                &url,
                "--run-id",
                &run,
                "--spans",
                "3",
                "--logs",
                "0",
            ];
            python::run_json_env("emit.py", &args, &env).await;
        }
    }
    // What a client sees, read off the wire: 401 with a challenge over HTTP, UNAUTHENTICATED
    // over gRPC.
    let https = reqwest::Client::builder()
        .use_preconfigured_tls(
            (*client_tls(&pki.ca_file("edge"), None, weir_tls::ALPN_HTTP)).clone(),
        )
        .build()
        .unwrap();
    let body = weir_tests::fixtures::numbered_spans(1, 3).encode_to_vec();
    let r = https
        .post(format!(
            "https://localhost:{}/v1/traces",
            gw.addr("token", "http").port()
        ))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let grpc = gw.addr("token", "grpc");
    let h2 = || client_tls(&pki.ca_file("edge"), None, weir_tls::ALPN_H2);
    let status = grpc_export(grpc, h2(), Some("Bearer guess")).await;
    assert_eq!(
        status.map_err(|s| s.code()),
        Err(tonic::Code::Unauthenticated)
    );
    let status = grpc_export(grpc, h2(), None).await;
    assert_eq!(
        status.map_err(|s| s.code()),
        Err(tonic::Code::Unauthenticated)
    );
    let status = grpc_export(grpc, h2(), Some("Bearer s3cret-a")).await;
    assert!(status.is_ok(), "the right token over gRPC: {status:?}");

    let listener = [("listener", "receiver/token")];
    let invalid = gw
        .metric(
            "weir_auth_failures_total",
            &[listener[0], ("reason", "invalid")],
        )
        .await;
    let missing = gw
        .metric(
            "weir_auth_failures_total",
            &[listener[0], ("reason", "missing")],
        )
        .await;
    assert!(
        invalid >= 2.0 && missing >= 2.0,
        "invalid {invalid}, missing {missing}"
    );

    // Wrong CA: the client refuses Weir's certificate. No client certificate under mTLS, or one
    // from another CA: Weir refuses the client.
    let other = TestPki::new(dir.path(), "other").unwrap();
    let stranger = other.client("stranger", "tenant-x").unwrap();
    for protocol in ["grpc", "http"] {
        let alpn: &[&[u8]] = if protocol == "grpc" {
            weir_tls::ALPN_H2
        } else {
            weir_tls::ALPN_HTTP
        };
        let token_addr = gw.addr("token", protocol);
        let mtls_addr = gw.addr("mtls", protocol);
        let wrong_ca = probe(token_addr, client_tls(&other.ca_file("other"), None, alpn)).await;
        assert!(
            wrong_ca.is_err(),
            "{protocol}: a client trusting another CA connected"
        );
        let no_cert = probe(mtls_addr, client_tls(&pki.ca_file("edge"), None, alpn)).await;
        assert!(
            no_cert.is_err(),
            "{protocol}: mTLS let a client without a certificate in"
        );
        let foreign = probe(
            mtls_addr,
            client_tls(&pki.ca_file("edge"), Some(&stranger), alpn),
        )
        .await;
        assert!(
            foreign.is_err(),
            "{protocol}: mTLS let another CA's client in"
        );
        let good = probe(
            mtls_addr,
            client_tls(&pki.ca_file("edge"), Some(&client), alpn),
        )
        .await;
        assert!(
            good.is_ok(),
            "{protocol}: the right client certificate was refused: {good:?}"
        );
    }
    let failed = gw
        .metric(
            "weir_tls_handshake_failures_total",
            &[("listener", "receiver/mtls/http")],
        )
        .await;
    assert!(failed >= 2.0, "handshake failures counted: {failed}");
    // Nothing of the refused requests was kept or exported: only the one request sent with
    // the right token (3 spans) arrives.
    let arrived = eventually(Duration::from_secs(10), || {
        let n = backend.delivered_items(Transport::Grpc);
        async move { n >= 3 }
    })
    .await;
    assert!(arrived, "the accepted request was not exported");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(backend.delivered_items(Transport::Grpc), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_to_new_connections_without_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, _) = pki(dir.path());
    let backend = Backend::start().await;
    let config = format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}", reload_interval = "200ms" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
"#,
        cert = p(&server.cert),
        key = p(&server.key),
        backend = backend.grpc_url(),
    );
    let gw = Gateway::start(&config).await;
    let addr = gw.addr("otlp", "http");
    let ca = pki.ca_file("edge");
    let first = probe(addr, client_tls(&ca, None, weir_tls::ALPN_HTTP))
        .await
        .unwrap();

    // A client that keeps sending over one connection while the certificate changes.
    let https = reqwest::Client::builder()
        .use_preconfigured_tls((*client_tls(&ca, None, weir_tls::ALPN_HTTP)).clone())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/v1/traces", addr.port());
    let body = weir_tests::fixtures::numbered_spans(1, 10).encode_to_vec();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        let https = https.clone();
        let url = url.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let r = https
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Replaced the way cert-manager does it: new files renamed into place.
    let next = pki.server("next").unwrap();
    std::fs::copy(&next.key, dir.path().join("key.tmp")).unwrap();
    std::fs::copy(&next.cert, dir.path().join("cert.tmp")).unwrap();
    std::fs::rename(dir.path().join("cert.tmp"), &server.cert).unwrap();
    std::fs::rename(dir.path().join("key.tmp"), &server.key).unwrap();
    gw.wait_logged(
        "TLS certificate reloaded; new connections get it",
        1,
        Duration::from_secs(30),
    )
    .await;
    let served = probe(addr, client_tls(&ca, None, weir_tls::ALPN_HTTP))
        .await
        .unwrap();
    assert_ne!(
        served, first,
        "new connections still get the old certificate"
    );

    // A broken certificate file: the last good one stays in force, counted.
    let failures = [("listener", "receiver/otlp/http"), ("result", "failed")];
    let before = gw
        .try_metric("weir_tls_certificate_reloads_total", &failures)
        .await
        .unwrap_or(0.0);
    std::fs::write(&server.cert, "not a certificate\n").unwrap();
    let failed = eventually(Duration::from_secs(30), || {
        let gw = &gw;
        async move {
            gw.try_metric("weir_tls_certificate_reloads_total", &failures)
                .await
                .is_some_and(|v| v > before)
        }
    })
    .await;
    assert!(failed, "a broken certificate file was not counted");
    let still = probe(addr, client_tls(&ca, None, weir_tls::ALPN_HTTP))
        .await
        .unwrap();
    assert_eq!(still, served, "the last good certificate stays in force");
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, std::sync::atomic::Ordering::Release);
    let (ok, failed) = sender.await.unwrap();
    assert!(
        failed.is_empty(),
        "requests failed during rotation: {failed:?}"
    );
    assert!(ok >= 5, "the client kept sending ({ok} requests)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_with_basic_auth_arrives_as_its_user_and_a_wrong_password_is_challenged() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, _) = pki(dir.path());
    let users = dir.path().join("users.htpasswd");
    let hash = bcrypt::hash("hunter2", 4).unwrap();
    std::fs::write(&users, format!("alice:{hash}\n")).unwrap();
    let backend = Backend::start().await;
    let mut config = format!(
        r#"
[receivers.basic]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}" }}
auth = {{ basic = {{ htpasswd_file = "{users}" }} }}
tenant_attribute = "tenant"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"
"#,
        cert = p(&server.cert),
        key = p(&server.key),
        users = p(&users),
        backend = backend.grpc_url(),
    );
    for signal in ["traces", "metrics", "logs"] {
        config.push_str(&format!(
            "[pipelines.{signal}]\nreceivers = [\"basic\"]\nexporters = [\"backend\"]\n"
        ));
    }
    let gw = Gateway::start(&config).await;
    let ca = p(&pki.ca_file("edge"));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let good = format!("authorization=Basic%20{}", b64("alice:hunter2"));
    for protocol in ["grpc", "http"] {
        let url = format!("https://{}", gw.addr("basic", protocol));
        let run = format!("basic-{protocol}");
        let sent = python::emit_env(
            protocol,
            &url,
            &run,
            &[
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
                ("OTEL_EXPORTER_OTLP_HEADERS", &good),
            ],
        )
        .await;
        assert!(python::emitted_items(&sent) > 0);
        let arrived = eventually(Duration::from_secs(30), || {
            let ok = !tenants(&backend, &run, "tenant").is_empty();
            async move { ok }
        })
        .await;
        assert!(arrived, "{protocol}: nothing arrived:\n{}", gw.log_text());
        let t = tenants(&backend, &run, "tenant");
        assert!(t.iter().all(|t| t == "alice"), "{protocol}: {t:?}");
    }

    // A wrong password, read off the wire: 401 with the Basic challenge, UNAUTHENTICATED.
    let https = reqwest::Client::builder()
        .use_preconfigured_tls(
            (*client_tls(&pki.ca_file("edge"), None, weir_tls::ALPN_HTTP)).clone(),
        )
        .build()
        .unwrap();
    let r = https
        .post(format!(
            "https://localhost:{}/v1/traces",
            gw.addr("basic", "http").port()
        ))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Basic {}", b64("alice:guess")))
        .body(weir_tests::fixtures::numbered_spans(1, 3).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"weir\"");
    let h2 = client_tls(&pki.ca_file("edge"), None, weir_tls::ALPN_H2);
    let wrong = format!("Basic {}", b64("mallory:hunter2"));
    let status = grpc_export(gw.addr("basic", "grpc"), h2, Some(&wrong)).await;
    assert_eq!(
        status.map_err(|s| s.code()),
        Err(tonic::Code::Unauthenticated)
    );
    assert!(
        gw.metric(
            "weir_auth_failures_total",
            &[("listener", "receiver/basic"), ("reason", "invalid")]
        )
        .await
            >= 2.0
    );
}
