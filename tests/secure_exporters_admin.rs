//! The secure edge beyond the receivers: one Weir exporting to another over mTLS with every
//! exporter kind, an exporter picking up a rotated client certificate on reload, the admin
//! listener over TLS with its token, and `weir validate` on unusable TLS files. Certificates
//! are generated per test (`weir_tls::pki`), never checked in.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use weir_core::Batch;
use weir_tests::tls::{client_tls, p, pki};
use weir_tests::{Backend, Gateway, Transport, eventually};
use weir_tls::pki::{Issued, TestPki};

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
    // An exporter's client certificate past its expiry: a warning naming file and exporter.
    let expired_client = "[receivers.otlp]\ngrpc = \"127.0.0.1:0\"\n[exporters.out]\ntype = \"otlp-grpc\"\nendpoint = \"https://collector:4317\"\ntls = { cert_file = \"expired.pem\", key_file = \"expired-key.pem\" }\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\n";
    let (code, err) = validate(expired_client.to_string());
    assert_eq!(
        code,
        Some(0),
        "an expired client certificate is a warning: {err}"
    );
    assert!(
        err.contains("expired.pem: the client certificate \"localhost\" of exporter out expired on 2020-01-01")
            && err.contains("the backend will refuse it"),
        "{err}"
    );
    // Credentials others can read or do without, beyond loopback (validate binds nothing).
    std::fs::write(
        dir.path().join("tokens.toml"),
        "[[tokens]]\ntenant = \"a\"\ntoken = \"t0ken\"\n",
    )
    .unwrap();
    let exposed = "[admin]\nlisten = \"0.0.0.0:9901\"\n[receivers.otlp]\nhttp = \"0.0.0.0:4318\"\nauth = { bearer_tokens_file = \"tokens.toml\" }\n[exporters.out]\ntype = \"debug\"\n[pipelines.traces]\nreceivers = [\"otlp\"]\nexporters = [\"out\"]\n";
    let (code, err) = validate(exposed.to_string());
    assert_eq!(code, Some(0), "exposure is a warning: {err}");
    assert!(
        err.contains("warning: admin.listen 0.0.0.0:9901: the admin listener is reachable beyond this host and has no bearer_token")
            && err.contains("warning: receivers.otlp: this receiver checks credentials without TLS"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_token_for_reads_every_admin_endpoint_needs_the_token() {
    let gw = Gateway::start(
        r#"
[admin]
listen = "127.0.0.1:0"
bearer_token = "admin-s3cret"
token_for_reads = true

[receivers.otlp]
http = "127.0.0.1:0"

[exporters.out]
type = "debug"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["out"]
"#,
    )
    .await;
    let c = reqwest::Client::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let url = format!("http://{}{path}", gw.admin);
        let none = c.get(&url).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path} without the token");
        let wrong = c.get(&url).bearer_auth("guess").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let right = c
            .get(&url)
            .bearer_auth("admin-s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path} with the token");
    }
}
