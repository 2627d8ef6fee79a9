//! A gRPC OTLP trace backend written on raw HTTP/2 that ends every connection the way a
//! server that counted too many resets does: at the `per_connection`-th stream it sends GOAWAY
//! with ENHANCE_YOUR_CALM and drops that stream unanswered. Every other export is answered OK
//! and recorded. Tonic reports such a GOAWAY as RESOURCE_EXHAUSTED without RetryInfo, which an
//! exporter must retry on a new connection rather than drop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::net::TcpListener;

/// A running GOAWAY backend; it stops with the test's runtime.
pub struct GoawayBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    goaways: Arc<AtomicUsize>,
}

impl GoawayBackend {
    /// Starts the backend on an ephemeral loopback port.
    pub async fn start(per_connection: usize) -> GoawayBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let goaways = Arc::new(AtomicUsize::new(0));
        let (r, g) = (received.clone(), goaways.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, per_connection, r.clone(), g.clone()));
            }
        });
        GoawayBackend {
            addr,
            received,
            goaways,
        }
    }

    /// `http://ADDR`, for an otlp-grpc exporter's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The export requests answered OK so far.
    pub fn received(&self) -> Vec<ExportTraceServiceRequest> {
        self.received.lock().unwrap().clone()
    }

    /// Connections ended with GOAWAY so far.
    pub fn goaways(&self) -> usize {
        self.goaways.load(Ordering::Relaxed)
    }
}

/// Serves one connection until its GOAWAY has been sent and its streams are done.
async fn serve(
    socket: tokio::net::TcpStream,
    per_connection: usize,
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    goaways: Arc<AtomicUsize>,
) {
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    let mut streams = 0;
    while let Some(accepted) = conn.accept().await {
        let Ok((request, respond)) = accepted else {
            return;
        };
        streams += 1;
        if streams == per_connection {
            goaways.fetch_add(1, Ordering::Relaxed);
            conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
            drop((request, respond));
            continue;
        }
        tokio::spawn(answer(request, respond, received.clone()));
    }
}

/// Reads one export, records it and answers OK (an empty ExportTraceServiceResponse).
async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
) {
    let mut body = request.into_body();
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    // One gRPC message: a compression flag (gzip when set), a 4-byte length, the protobuf.
    let Some(message) = buf.get(5..) else { return };
    let mut raw = Vec::new();
    let message = if buf[0] == 1 {
        use std::io::Read;
        if flate2::read::GzDecoder::new(message)
            .read_to_end(&mut raw)
            .is_err()
        {
            return;
        }
        &raw[..]
    } else {
        message
    };
    let Ok(export) = ExportTraceServiceRequest::decode(message) else {
        return;
    };
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    if send
        .send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false)
        .is_err()
    {
        return;
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    if send.send_trailers(trailers).is_ok() {
        received.lock().unwrap().push(export);
    }
}
