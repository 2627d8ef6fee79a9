//! An exporter plugin's `https://` request with the exporter's TLS settings (`tls = { ca_file,
//! cert_file, … }`, or the system roots): `wasmtime-wasi-http`'s default sender trusts only
//! its built-in roots and cannot present a client certificate. Connect, TLS and each wait are
//! bounded by the request options (already clamped to the call's budget by the caller).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use wasmtime_wasi_http::{Error, WasiBody};

/// A response and the future that reports how the connection ended.
pub(crate) type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// The three waits of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waits {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

/// Sends `request` (an `https://` URI) over TLS with `config`, checking the certificate
/// against `server_name` or the URI's host.
pub(crate) async fn send_tls(
    mut request: http::Request<WasiBody>,
    waits: Waits,
    config: Arc<ClientConfig>,
    server_name: Option<String>,
) -> Result<Sent, Error> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    // One deadline for the TCP connect, the TLS handshake and the HTTP handshake together.
    let connected = tokio::time::Instant::now() + waits.connect;
    let tcp = tokio::time::timeout_at(connected, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(server_name.unwrap_or(host))?;
    let tls = tokio::time::timeout_at(connected, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Tls)?;
    let (mut sender, conn) = tokio::time::timeout_at(
        connected,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(tls)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries the path only (the authority is in the Host header).
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    // Driven on its own task; its end is reported through the returned future.
    let driver = tokio::spawn(conn);
    let response = tokio::time::timeout(waits.first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let between = waits.between_bytes.max(Duration::from_nanos(1));
    let response = response.map(|incoming| {
        BetweenBytes {
            inner: incoming,
            wait: between,
            timer: Box::pin(tokio::time::sleep(between)),
        }
        .boxed_unsync()
    });
    let ended = async move {
        match driver.await {
            Ok(Ok(())) | Err(_) => Ok(()),
            Ok(Err(e)) => Err(Error::from(e)),
        }
    };
    Ok((response, Box::new(ended)))
}

/// A response body that fails when no frame arrives within `wait` of the previous one.
struct BetweenBytes {
    inner: hyper::body::Incoming,
    wait: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.wait;
                self.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
