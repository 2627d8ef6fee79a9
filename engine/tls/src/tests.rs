use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toml::Spanned;
use weir_config::ClientTlsConfig;
use weir_core::telemetry::Telemetry;

use super::*;
use crate::pki::{Issued, TestPki};

fn files(issued: &Issued, client_ca: Option<PathBuf>) -> ServerFiles {
    ServerFiles {
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        client_ca,
        min_version: TlsVersion::V1_2,
        alpn: vec![b"h2".to_vec()],
        reload_interval: Duration::ZERO,
    }
}

fn spanned(p: &Path) -> Option<Spanned<String>> {
    Some(Spanned::new(0..0, p.display().to_string()))
}

fn client(ca: &Path, identity: Option<&Issued>) -> Arc<rustls::ClientConfig> {
    let cfg = ClientTlsConfig {
        ca_file: spanned(ca),
        cert_file: identity.and_then(|i| spanned(&i.cert)),
        key_file: identity.and_then(|i| spanned(&i.key)),
        ..Default::default()
    };
    client_config(Some(&cfg), &|p| PathBuf::from(p), ALPN_H2).expect("client config")
}

/// A handshake over an in-memory pipe; the server's view of the client's identity, or the
/// error either side saw.
async fn handshake(
    server: &ServerTls,
    client: Arc<rustls::ClientConfig>,
) -> Result<Option<String>, String> {
    let (a, b) = tokio::io::duplex(64 << 10);
    let acceptor = tokio_rustls::TlsAcceptor::from(server.config());
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let serve = async move {
        let mut s = acceptor.accept(a).await.map_err(|e| e.to_string())?;
        let id = peer_identity(s.get_ref().1);
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(id)
    };
    let dial = async move {
        let mut c = connector
            .connect(name, b)
            .await
            .map_err(|e| e.to_string())?;
        c.write_all(b"ping").await.map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(c)
    };
    let (served, dialed) = tokio::join!(serve, dial);
    let _conn = dialed?;
    served
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_signed_by_the_client_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new(dir.path(), "edge").expect("pki");
    let server_cert = pki.server("server").expect("server cert");
    let t = Telemetry::new();
    let tls = ServerTls::load(
        files(&server_cert, Some(pki.ca_file("edge"))),
        "l",
        t.tls("l"),
    )
    .expect("loads");
    assert_eq!(tls.info().expect("info").subject, "localhost");

    let alice = pki.client("alice", "tenant-alice").expect("client cert");
    let ca = pki.ca_file("edge");
    assert_eq!(
        handshake(&tls, client(&ca, Some(&alice))).await,
        Ok(Some("tenant-alice".to_string()))
    );
    let refused = handshake(&tls, client(&ca, None)).await;
    assert!(
        refused.is_err(),
        "no client certificate must be refused: {refused:?}"
    );

    let other = TestPki::new(dir.path(), "other").expect("pki");
    let mallory = other
        .client("mallory", "tenant-mallory")
        .expect("client cert");
    let refused = handshake(&tls, client(&ca, Some(&mallory))).await;
    assert!(
        refused.is_err(),
        "a client certificate from another CA must be refused: {refused:?}"
    );
    let wrong_ca = handshake(&tls, client(&other.ca_file("other"), None)).await;
    assert!(
        wrong_ca.is_err(),
        "a client trusting another CA must not connect: {wrong_ca:?}"
    );
}

#[tokio::test]
async fn a_changed_certificate_is_served_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new(dir.path(), "edge").expect("pki");
    let first = pki.server("server").expect("cert");
    let t = Telemetry::new();
    let metrics = t.tls("l");
    let tls = ServerTls::load(files(&first, None), "l", metrics.clone()).expect("loads");
    let before = tls.config();
    assert!(!tls.reload().expect("unchanged"));

    // A new certificate and key (the files are replaced, as a cert-manager does).
    let next = pki.server("next").expect("cert");
    std::fs::copy(&next.cert, &first.cert).expect("copy");
    std::fs::copy(&next.key, &first.key).expect("copy");
    assert!(tls.reload().expect("reloads"));
    assert!(
        !Arc::ptr_eq(&before, &tls.config()),
        "new connections get the new config"
    );
    assert_eq!(metrics.reloaded.get(), 1);
    let ca = pki.ca_file("edge");
    assert_eq!(handshake(&tls, client(&ca, None)).await, Ok(None));

    // A key that does not belong to the certificate: refused, the previous one stays.
    let serving = tls.config();
    let stray = pki.server("stray").expect("cert");
    std::fs::copy(&stray.key, &first.key).expect("copy");
    let e = tls.reload().expect_err("mismatched key");
    assert!(
        e.problem.contains("does not belong to the certificate"),
        "{e}"
    );
    assert_eq!(e.field, "key_file");
    assert!(Arc::ptr_eq(&serving, &tls.config()));
    assert_eq!(metrics.reload_failed.get(), 1);
    assert_eq!(handshake(&tls, client(&ca, None)).await, Ok(None));
}

#[test]
fn unusable_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new(dir.path(), "edge").expect("pki");
    let good = pki.server("server").expect("cert");
    let t = Telemetry::new();
    let load = |f: ServerFiles| ServerTls::load(f, "l", t.tls("l")).map(|_| ());

    let missing = Issued {
        cert: dir.path().join("nope.pem"),
        key: good.key.clone(),
    };
    let e = load(files(&missing, None)).expect_err("missing");
    assert_eq!(e.field, "cert_file");
    assert!(e.to_string().contains("nope.pem: cannot read"), "{e}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "# nothing here\n").expect("write");
    let e = load(files(&good, Some(empty.clone()))).expect_err("empty CA");
    assert_eq!(e.field, "client_ca_file");
    assert!(e.problem.contains("contains no certificates"), "{e}");

    let keyless = Issued {
        cert: good.cert.clone(),
        key: good.cert.clone(),
    };
    let e = load(files(&keyless, None)).expect_err("no key");
    assert_eq!(e.field, "key_file");
    assert!(e.problem.contains("no usable private key"), "{e}");

    let expired = pki.expired_server("old").expect("cert");
    let tls = ServerTls::load(files(&expired, None), "l", t.tls("l")).expect("loads (warned)");
    let w = tls.warnings();
    assert!(
        w.len() == 1 && w[0].contains("expired on 2020-01-01"),
        "{w:?}"
    );

    let e = client_config(
        Some(&ClientTlsConfig {
            ca_file: spanned(&empty),
            ..Default::default()
        }),
        &|p| PathBuf::from(p),
        ALPN_H2,
    )
    .expect_err("empty CA");
    assert_eq!(e.field, "ca_file");
}

#[tokio::test]
async fn min_version_1_3_refuses_a_tls_1_2_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new(dir.path(), "edge").expect("pki");
    let server_cert = pki.server("server").expect("server cert");
    let t = Telemetry::new();
    let mut f = files(&server_cert, None);
    f.min_version = TlsVersion::V1_3;
    let tls = ServerTls::load(f, "l", t.tls("l")).expect("loads");
    let ca = pki.ca_file("edge");
    let roots = Arc::new(files::roots("ca_file", &ca).expect("roots"));
    let only_1_2 = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let refused = handshake(&tls, Arc::new(only_1_2)).await;
    assert!(refused.is_err(), "a TLS 1.2 client got in: {refused:?}");
    assert_eq!(handshake(&tls, client(&ca, None)).await, Ok(None));
}

#[tokio::test]
async fn server_name_replaces_the_host_certificates_are_checked_against() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new(dir.path(), "edge").expect("pki");
    let server_cert = pki.server("server").expect("server cert for localhost");
    let t = Telemetry::new();
    let tls = ServerTls::load(files(&server_cert, None), "l", t.tls("l")).expect("loads");
    let ca = pki.ca_file("edge");
    let named = |name: &str| {
        let cfg = ClientTlsConfig {
            ca_file: spanned(&ca),
            server_name: Some(Spanned::new(0..0, name.to_string())),
            ..Default::default()
        };
        client_config(Some(&cfg), &|p| PathBuf::from(p), ALPN_H2).expect("client config")
    };
    // The dial says "localhost"; the certificate is checked against server_name instead.
    assert_eq!(handshake(&tls, named("localhost")).await, Ok(None));
    let refused = handshake(&tls, named("collector.example")).await;
    assert!(
        refused.is_err(),
        "a certificate not for server_name was accepted: {refused:?}"
    );
}
