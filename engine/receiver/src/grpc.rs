//! OTLP/gRPC: the three collector services, gzip and zstd, a decompressed-size limit.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::util::MapResponseLayer;
use weir_config::GrpcServerConfig;
use weir_core::Batch;

use crate::intake::{Accepted, Intake, Refusal};

/// One collector service over one signal's intake.
struct Svc(Intake);

impl Svc {
    fn accept(&self, batch: Batch) -> Result<Accepted, Status> {
        self.0.accept(batch).map_err(|r| match r {
            Refusal::Overloaded(after) => Status::with_error_details(
                Code::Unavailable,
                "weir is overloaded: a pipeline queue is full, retry later",
                ErrorDetails::with_retry_info(Some(after)),
            ),
            Refusal::ShuttingDown => Status::unavailable("weir is shutting down"),
        })
    }
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let a = self.accept(Batch::Traces(request.into_inner()))?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: a.rejected,
                error_message: a.message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let a = self.accept(Batch::Metrics(request.into_inner()))?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: a.rejected,
                error_message: a.message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let a = self.accept(Batch::Logs(request.into_inner()))?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: a.rejected,
                error_message: a.message,
            }),
        }))
    }
}

/// Serves until `shutdown` fires and in-flight calls are answered.
pub(crate) async fn serve(
    name: String,
    listener: TcpListener,
    config: GrpcServerConfig,
    intakes: [Option<Intake>; 3],
    shutdown: CancellationToken,
) {
    let max = config.max_recv_msg_size.as_usize();
    let [traces, metrics, logs] = intakes;
    macro_rules! service {
        ($server:ident, $intake:expr) => {
            $intake.map(|i| {
                $server::new(Svc(i))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .send_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(max)
            })
        };
    }
    let router = Server::builder()
        .layer(MapResponseLayer::new(otlp_status::<tonic::body::Body>))
        .add_optional_service(service!(TraceServiceServer, traces))
        .add_optional_service(service!(MetricsServiceServer, metrics))
        .add_optional_service(service!(LogsServiceServer, logs));
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    if let Err(e) = router
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
    {
        tracing::error!(receiver = %name, error = %e, "gRPC server failed");
    }
}

/// Rewrites the statuses tonic gives before a request reaches Weir into the ones the OTLP spec
/// and the Collector use, so clients do not retry what can never succeed:
/// - a body that does not decode (INTERNAL "failed to decode Protobuf message", or a corrupt
///   compressed body) becomes INVALID_ARGUMENT;
/// - a message over `max_recv_msg_size` (OUT_OF_RANGE, which OTLP clients retry) becomes
///   RESOURCE_EXHAUSTED without RetryInfo, which they do not.
fn otlp_status<B>(mut resp: http::Response<B>) -> http::Response<B> {
    let headers = resp.headers();
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok());
    let msg = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let fixed = match code {
        Some("13")
            if msg.starts_with("failed%20to%20decode")
                || msg.starts_with("Error%20decompressing") =>
        {
            Some(Code::InvalidArgument)
        }
        Some("11") if msg.contains("too%20large") => Some(Code::ResourceExhausted),
        _ => None,
    };
    if let Some(code) = fixed {
        resp.headers_mut()
            .insert("grpc-status", http::HeaderValue::from(code as i32));
    }
    resp
}
