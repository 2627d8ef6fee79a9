//! `https://` for the OTLP/gRPC exporter: a connector that dials TCP and completes a rustls
//! handshake with the exporter's client config (its CA or the system roots, its client
//! certificate, ALPN h2), for tonic's channel.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// Dials `https://host:port` URIs over TLS.
#[derive(Clone)]
pub(crate) struct TlsDial {
    config: Arc<ClientConfig>,
    /// The name the certificate must carry, when not the URI's host.
    server_name: Option<String>,
}

impl TlsDial {
    pub(crate) fn new(config: Arc<ClientConfig>, server_name: Option<String>) -> TlsDial {
        TlsDial {
            config,
            server_name,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Uri> for TlsDial {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let config = self.config.clone();
        let name = self.server_name.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("endpoint has no host")?;
            // `[::1]` in a URI is `::1` to the resolver and the certificate check.
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let server_name = ServerName::try_from(name.unwrap_or(host))?;
            let tls = TlsConnector::from(config).connect(server_name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}
