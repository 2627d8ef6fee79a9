//! TLS helpers for the secure-edge tests: client configs, handshake probes, a gRPC export over
//! TLS, and a generated PKI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_tls::pki::{Issued, TestPki};

/// A client TLS config trusting `ca` and presenting `identity`, speaking `alpn`.
pub fn client_tls(
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
pub async fn probe(
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
pub async fn grpc_export(
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
    let mut req = tonic::Request::new(crate::fixtures::numbered_spans(2, 3));
    if let Some(a) = authorization {
        req.metadata_mut()
            .insert("authorization", a.parse().unwrap());
    }
    TraceServiceClient::new(channel)
        .export(req)
        .await
        .map(|_| ())
}

/// A CA, a server certificate and a client certificate (CN `tenant-mtls`) in `dir`.
pub fn pki(dir: &Path) -> (TestPki, Issued, Issued) {
    let pki = TestPki::new(dir, "edge").unwrap();
    let server = pki.server("server").unwrap();
    let client = pki.client("client", "tenant-mtls").unwrap();
    (pki, server, client)
}

/// A path as it goes into a TOML string.
pub fn p(path: &Path) -> String {
    path.display().to_string()
}
