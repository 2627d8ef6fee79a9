//! The secure edge, end to end with real clients: the unmodified OpenTelemetry Python SDK sends
//! over TLS, mTLS and with bearer tokens (configured only through its standard environment
//! variables); wrong CAs, missing client certificates and wrong tokens are refused with nothing
//! kept; certificates rotate under load; one Weir exports to another over mTLS with every
//! exporter kind; the admin listener serves TLS and guards reloads with a token. Certificates
//! are generated per test (`weir_tls::pki`), never checked in.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_core::Batch;
use weir_tests::{Backend, Gateway, Transport, eventually, python};
use weir_tls::pki::{Issued, TestPki};

/// A client TLS config trusting `ca` and presenting `identity`, speaking `alpn`.
fn client_tls(
    ca: &Path,
    identity: Option<&Issued>,
    alpn: &[&[u8]],
) -> Arc<tokio_rustls::rustls::ClientConfig> {
    let s = |p: &Path| Some(toml::Spanned::new(0..0, p.display().to_string()));
    let cfg = weir_config::ClientTlsConfig {
        ca_file: s(ca),
        cert_file: identity.and_then(|i| s(&i.cert)),
        key_file: identity.and_then(|i| s(&i.key)),
        ..Default::default()
    };
    weir_tls::client_config(Some(&cfg), &|p| PathBuf::from(p), alpn).unwrap()
}

/// A TLS handshake with `addr`, then a byte written and a read, so that a server that refuses
/// the client's certificate after the handshake (TLS 1.3) is seen too. Ok(served certificate)
/// if the server kept the connection.
async fn probe(
    addr: std::net::SocketAddr,
    config: Arc<tokio_rustls::rustls::ClientConfig>,
) -> Result<Vec<u8>, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    // Something the server answers: the HTTP/2 preface and an empty SETTINGS frame (it
    // answers with its SETTINGS), or an HTTP/1.1 request.
    let hello: &[u8] = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    } else {
        b"GET /v1/traces HTTP/1.1\r\nhost: x\r\n\r\n"
    };
    tls.write_all(hello).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Ok(served),
        Ok(Ok(_)) => Err("closed".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer".into()),
    }
}

/// One OTLP/gRPC export of 3 spans to `addr` over TLS, with an `authorization` header.
async fn grpc_export(
    addr: std::net::SocketAddr,
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    authorization: Option<&str>,
) -> Result<(), tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let connector = tower::service_fn(move |_: http::Uri| {
        let tls = tls.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")
                .map_err(std::io::Error::other)?;
            let s = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    });
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
            .unwrap()
            .connect_with_connector(connector)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(weir_tests::fixtures::numbered_spans(2, 3));
    if let Some(a) = authorization {
        req.metadata_mut()
            .insert("authorization", a.parse().unwrap());
    }
    TraceServiceClient::new(channel)
        .export(req)
        .await
        .map(|_| ())
}

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

/// A CA, a server certificate and a client certificate (CN `tenant-mtls`) in `dir`.
fn pki(dir: &Path) -> (TestPki, Issued, Issued) {
    let pki = TestPki::new(dir, "edge").unwrap();
    let server = pki.server("server").unwrap();
    let client = pki.client("client", "tenant-mtls").unwrap();
    (pki, server, client)
}

fn p(path: &Path) -> String {
    path.display().to_string()
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
    }
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

/// A Weir whose `edge` receiver (gRPC and HTTP) takes only clients with a certificate from
/// the test CA and stamps their CN as `tenant`, exporting traces to `backend`.
fn mtls_edge(pki: &TestPki, server: &Issued, backend: &Backend) -> String {
    format!(
        r#"
[receivers.edge]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}", client_ca_file = "{ca}" }}
tenant_attribute = "tenant"

[exporters.backend]
type = "otlp-grpc"
endpoint = "{backend}"

[pipelines.traces]
receivers = ["edge"]
exporters = ["backend"]
"#,
        cert = p(&server.cert),
        key = p(&server.key),
        ca = p(&pki.ca_file("edge")),
        backend = backend.grpc_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_exports_to_weir_over_mtls_with_every_exporter_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, client) = pki(dir.path());
    let backend = Backend::start().await;
    let inner = Gateway::start(&mtls_edge(&pki, &server, &backend)).await;
    let tls = format!(
        "{{ ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\" }}",
        p(&pki.ca_file("edge")),
        p(&client.cert),
        p(&client.key)
    );
    let grpc = inner.addr("edge", "grpc");
    let http = inner.addr("edge", "http");
    let outer = Gateway::start(&format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.grpc]
type = "otlp-grpc"
endpoint = "https://localhost:{grpc_port}"
tls = {tls}

[exporters.http]
type = "otlp-http"
endpoint = "https://127.0.0.1:{http_port}"
tls = {tls}

[exporters.plugin]
type = "plugin"
plugin = "builtin:otlp-http"
config = {{ endpoint = "https://localhost:{http_port}" }}
tls = {tls}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["grpc", "http", "plugin"]
"#,
        grpc_port = grpc.port(),
        http_port = http.port(),
    ))
    .await;
    let r = outer
        .post_otlp(
            "traces",
            weir_tests::fixtures::numbered_spans(1, 25).encode_to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // One copy per exporter kind, each through mTLS, each stamped with the client's identity.
    let all = eventually(Duration::from_secs(30), || {
        let n = backend.delivered_items(Transport::Grpc);
        async move { n >= 75 }
    })
    .await;
    assert!(
        all,
        "delivered {} of 75 spans",
        backend.delivered_items(Transport::Grpc)
    );
    for batch in backend.delivered(Transport::Grpc) {
        let Batch::Traces(r) = batch else { continue };
        for rs in r.resource_spans {
            let tenant = rs
                .resource
                .unwrap()
                .attributes
                .into_iter()
                .find(|kv| kv.key == "tenant");
            let v = tenant.and_then(|kv| kv.value).and_then(|v| v.value);
            assert_eq!(v, Some(Value::StringValue("tenant-mtls".into())));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        backend.delivered_items(Transport::Grpc),
        75,
        "each span exactly once per exporter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_tls_and_reloads_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, _) = pki(dir.path());
    let config = format!(
        r#"
[admin]
listen = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}" }}
bearer_token = "admin-s3cret"

[receivers.otlp]
http = "127.0.0.1:0"

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#,
        cert = p(&server.cert),
        key = p(&server.key),
    );
    let gw = Gateway::start(&config).await;
    assert_eq!(gw.admin_scheme, "https");
    let https = reqwest::Client::builder()
        .use_preconfigured_tls(
            (*client_tls(&pki.ca_file("edge"), None, weir_tls::ALPN_HTTP)).clone(),
        )
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", gw.admin.port());
    let metrics = https.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200, "reads stay open");
    let refused = https.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = https
        .post(format!("{base}/-/reload"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = https
        .post(format!("{base}/-/reload"))
        .bearer_auth("admin-s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Plaintext to a TLS listener gets nowhere.
    assert!(
        reqwest::get(format!("http://{}/metrics", gw.admin))
            .await
            .is_err()
    );
}

/// `weir validate` on configs whose TLS files are wrong: each error names the setting's line.
#[test]
fn validate_names_the_line_of_an_unusable_tls_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "edge").unwrap();
    pki.server("server").unwrap();
    let other = pki.server("other").unwrap();
    pki.expired_server("expired").unwrap();
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let config = |tls: &str| {
        format!(
            "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\ntls = {tls}\n[exporters.out]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\n"
        )
    };
    let validate = |text: String| {
        std::fs::write(dir.path().join("weir.toml"), text).unwrap();
        let out = std::process::Command::new(weir_tests::gateway::binary())
            .args(["validate", "--config", "weir.toml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    let (code, err) = validate(config(&format!(
        "{{ cert_file = \"server.pem\", key_file = \"{}\" }}",
        p(&other.key)
    )));
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("weir.toml:3:")
            && err.contains("receivers.otlp.tls.key_file: ")
            && err.ends_with("the private key does not belong to the certificate (key_file and cert_file do not match)"),
        "{err}"
    );
    let (code, err) = validate(config(
        "{ cert_file = \"server.pem\", key_file = \"server-key.pem\", client_ca_file = \"empty.pem\" }",
    ));
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "weir.toml:3:81: receivers.otlp.tls.client_ca_file: empty.pem: contains no certificates (expected PEM blocks `-----BEGIN CERTIFICATE-----`)"
    );
    let (code, err) = validate(config(
        "{ cert_file = \"missing.pem\", key_file = \"server-key.pem\" }",
    ));
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("weir.toml:3:21: receivers.otlp.tls.cert_file: missing.pem: cannot read:"),
        "{err}"
    );
    let (code, err) = validate(config(
        "{ cert_file = \"expired.pem\", key_file = \"expired-key.pem\" }",
    ));
    assert_eq!(code, Some(0), "an expired certificate is a warning: {err}");
    assert!(
        err.contains("expired.pem: the certificate of receiver/otlp/grpc expired on 2020-01-01"),
        "{err}"
    );
    let insecure = "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\n[exporters.out]\ntype = \"otlp-grpc\"\nendpoint = \"https://collector:4317\"\ntls = { insecure_skip_verify = true }\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\n";
    let (code, err) = validate(insecure.to_string());
    assert_eq!(code, Some(0), "insecure_skip_verify is a warning: {err}");
    assert_eq!(
        err,
        "warning: weir.toml:6:32: exporters.out.tls.insecure_skip_verify: accepts any server certificate: anyone on the path can read and change this exporter's data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_presents_a_rotated_client_certificate_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, server, _) = pki(dir.path());
    let backend = Backend::start().await;
    let inner = Gateway::start(&mtls_edge(&pki, &server, &backend)).await;
    // The outer Weir's client certificate, in files a cert-manager would rewrite.
    let one = pki.client("one", "tenant-one").unwrap();
    let config = format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"

[exporters.grpc]
type = "otlp-grpc"
endpoint = "https://localhost:{port}"
tls = {{ ca_file = "{ca}", cert_file = "{cert}", key_file = "{key}" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["grpc"]
"#,
        port = inner.addr("edge", "grpc").port(),
        ca = p(&pki.ca_file("edge")),
        cert = p(&one.cert),
        key = p(&one.key),
    );
    let outer = Gateway::start(&config).await;
    // The tenants stamped on each request's spans, by request number.
    let tenants_seen = |backend: &Backend| -> BTreeMap<u32, BTreeSet<String>> {
        let mut by_request: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for b in backend.delivered(Transport::Grpc) {
            let Batch::Traces(r) = b else { continue };
            for rs in r.resource_spans {
                let tenant = rs
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "tenant")
                    .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                        Value::StringValue(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    if let Some((request, _)) = weir_tests::fixtures::span_number(&span.span_id) {
                        by_request
                            .entry(request)
                            .or_default()
                            .insert(tenant.clone());
                    }
                }
            }
        }
        by_request
    };
    let send = |n: u32| {
        let outer = &outer;
        async move {
            let body = weir_tests::fixtures::numbered_spans(n, 5).encode_to_vec();
            assert_eq!(outer.post_otlp("traces", body).await.unwrap().status(), 200);
        }
    };
    let one_tenant = |t: &str| BTreeSet::from([t.to_string()]);
    send(1).await;
    let first = eventually(Duration::from_secs(20), || {
        let n = tenants_seen(&backend).len();
        async move { n == 1 }
    })
    .await;
    assert!(first, "the first request did not arrive");
    assert_eq!(tenants_seen(&backend)[&1], one_tenant("tenant-one"));

    // A new certificate for the same files; a reload restarts the exporter with it.
    let two = pki.client("two", "tenant-two").unwrap();
    std::fs::copy(&two.cert, &one.cert).unwrap();
    std::fs::copy(&two.key, &one.key).unwrap();
    let answer = outer.reload().await;
    let changes = answer["config"]["changes"].to_string();
    assert!(changes.contains("exporter grpc"), "{answer}");
    send(2).await;
    let second = eventually(Duration::from_secs(20), || {
        let n = tenants_seen(&backend).len();
        async move { n == 2 }
    })
    .await;
    assert!(second, "the request after the reload did not arrive");
    let seen = tenants_seen(&backend);
    assert_eq!(seen[&1], one_tenant("tenant-one"));
    assert_eq!(
        seen[&2],
        one_tenant("tenant-two"),
        "the exporter kept its old certificate"
    );
}
