//! A recording OTLP backend (gRPC and HTTP) whose answers a test scripts.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response as GrpcResponse, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_core::Batch;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

/// A scripted answer; once the script is empty the backend answers OK.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Ok,
    /// gRPC UNAVAILABLE with RetryInfo / HTTP 503 with Retry-After (whole seconds).
    Unavailable(Option<Duration>),
    /// gRPC INVALID_ARGUMENT / HTTP 400.
    BadRequest,
    /// gRPC UNIMPLEMENTED / HTTP 404: nothing serves OTLP here (a configuration error).
    Unimplemented,
    /// gRPC UNAUTHENTICATED / HTTP 401: missing or wrong credentials.
    Unauthenticated,
}

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub transport: Transport,
    pub at: Instant,
    pub batch: Batch,
    /// The request body as it arrived, decompressed (OTLP/HTTP only).
    pub raw: Option<Vec<u8>>,
    /// The reply it got.
    pub reply: Reply,
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    grpc_script: Mutex<VecDeque<Reply>>,
    http_script: Mutex<VecDeque<Reply>>,
    /// How long each request takes before it is recorded and answered (a slow backend).
    delay: Mutex<Duration>,
}

/// The backend; dropped, it stops serving.
pub struct Backend {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    state: Arc<State>,
    /// While true, every request waits before it is recorded and answered.
    stall: watch::Sender<bool>,
    stop: CancellationToken,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Backend {
    /// Starts both listeners on ephemeral ports.
    pub async fn start() -> Backend {
        let state = Arc::new(State::default());
        let (stall, stall_rx) = watch::channel(false);
        let stop = CancellationToken::new();

        let grpc_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_l.local_addr().unwrap();
        let svc = Svc {
            state: state.clone(),
            stall: stall_rx.clone(),
        };
        let router = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd),
            )
            .add_service(
                MetricsServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd),
            )
            .add_service(
                LogsServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd),
            );
        let s = stop.clone();
        tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_l);
            let _ = router
                .serve_with_incoming_shutdown(incoming, s.cancelled_owned())
                .await;
        });

        let http_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = http_l.local_addr().unwrap();
        let mut app = Router::new();
        for signal in ["traces", "metrics", "logs"] {
            let svc = svc.clone();
            app = app.route(
                &format!("/v1/{signal}"),
                post(move |h: HeaderMap, b: Bytes| {
                    let svc = svc.clone();
                    async move { svc.http(signal, h, b).await }
                }),
            );
        }
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(http_l, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await;
        });
        Backend {
            grpc,
            http,
            state,
            stall,
            stop,
        }
    }

    /// `http://ADDR` of the gRPC listener.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// `http://ADDR` of the HTTP listener.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Queues answers for the next requests on `transport`.
    pub fn script(&self, transport: Transport, replies: &[Reply]) {
        let mut s = match transport {
            Transport::Grpc => self.state.grpc_script.lock().unwrap(),
            Transport::Http => self.state.http_script.lock().unwrap(),
        };
        s.extend(replies.iter().copied());
    }

    /// Makes every request wait until [`Backend::resume`].
    pub fn stall(&self) {
        self.stall.send_replace(true);
    }

    /// Lets waiting and new requests through.
    pub fn resume(&self) {
        self.stall.send_replace(false);
    }

    /// Makes every request take `d` before it is recorded and answered: a slow backend.
    pub fn delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The batches that were answered OK on `transport`.
    pub fn delivered(&self, transport: Transport) -> Vec<Batch> {
        self.seen()
            .into_iter()
            .filter(|s| s.transport == transport && matches!(s.reply, Reply::Ok))
            .map(|s| s.batch)
            .collect()
    }

    /// Items answered OK on `transport`.
    pub fn delivered_items(&self, transport: Transport) -> usize {
        self.delivered(transport)
            .iter()
            .map(Batch::item_count)
            .sum()
    }
}

#[derive(Clone)]
struct Svc {
    state: Arc<State>,
    stall: watch::Receiver<bool>,
}

impl Svc {
    async fn record(&self, transport: Transport, batch: Batch, raw: Option<Vec<u8>>) -> Reply {
        let mut stall = self.stall.clone();
        let _ = stall.wait_for(|s| !*s).await;
        let delay = *self.state.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let reply = match transport {
            Transport::Grpc => self.state.grpc_script.lock().unwrap().pop_front(),
            Transport::Http => self.state.http_script.lock().unwrap().pop_front(),
        }
        .unwrap_or(Reply::Ok);
        self.state.seen.lock().unwrap().push(Seen {
            transport,
            at: Instant::now(),
            batch,
            raw,
            reply,
        });
        reply
    }

    async fn grpc(&self, batch: Batch) -> Result<(), Status> {
        match self.record(Transport::Grpc, batch, None).await {
            Reply::Ok => Ok(()),
            Reply::Unavailable(after) => Err(Status::with_error_details(
                tonic::Code::Unavailable,
                "backend busy",
                ErrorDetails::with_retry_info(after),
            )),
            Reply::BadRequest => Err(Status::invalid_argument("backend says no")),
            Reply::Unimplemented => Err(Status::unimplemented("no such service here")),
            Reply::Unauthenticated => Err(Status::unauthenticated("who are you")),
        }
    }

    async fn http(&self, signal: &str, headers: HeaderMap, body: Bytes) -> Response {
        let raw = match headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
        {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(body.as_ref())
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Some("zstd") => zstd::decode_all(body.as_ref()).unwrap(),
            _ => body.to_vec(),
        };
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        let batch = match signal {
            _ if json => Batch::from_otlp_json(std::str::from_utf8(&raw).unwrap()).unwrap(),
            "traces" => Batch::Traces(ExportTraceServiceRequest::decode(raw.as_slice()).unwrap()),
            "metrics" => {
                Batch::Metrics(ExportMetricsServiceRequest::decode(raw.as_slice()).unwrap())
            }
            _ => Batch::Logs(ExportLogsServiceRequest::decode(raw.as_slice()).unwrap()),
        };
        match self.record(Transport::Http, batch, Some(raw)).await {
            Reply::Ok => (
                StatusCode::OK,
                [("content-type", "application/x-protobuf")],
                Vec::new(),
            )
                .into_response(),
            Reply::Unavailable(after) => {
                let secs = after.map(|d| d.as_secs().max(1).to_string());
                let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
                if let Some(s) = secs {
                    r.headers_mut().insert("retry-after", s.parse().unwrap());
                }
                r
            }
            Reply::BadRequest => StatusCode::BAD_REQUEST.into_response(),
            Reply::Unimplemented => StatusCode::NOT_FOUND.into_response(),
            Reply::Unauthenticated => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        r: Request<ExportTraceServiceRequest>,
    ) -> Result<GrpcResponse<ExportTraceServiceResponse>, Status> {
        self.grpc(Batch::Traces(r.into_inner())).await?;
        Ok(GrpcResponse::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        r: Request<ExportMetricsServiceRequest>,
    ) -> Result<GrpcResponse<ExportMetricsServiceResponse>, Status> {
        self.grpc(Batch::Metrics(r.into_inner())).await?;
        Ok(GrpcResponse::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        r: Request<ExportLogsServiceRequest>,
    ) -> Result<GrpcResponse<ExportLogsServiceResponse>, Status> {
        self.grpc(Batch::Logs(r.into_inner())).await?;
        Ok(GrpcResponse::new(ExportLogsServiceResponse::default()))
    }
}
