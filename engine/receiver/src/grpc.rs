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
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_auth::Authenticator;
use weir_auth::Tenant;
use weir_config::GrpcServerConfig;
use weir_core::Batch;
use weir_core::telemetry::Telemetry;
use weir_listen::{Protocol, ServeOptions};
use weir_tls::ServerTls;

use crate::intake::{Accepted, Intake, Refusal};

/// One collector service over one signal's intake.
struct Svc(Intake);

impl Svc {
    /// Accepts a request, or the status that refuses it: UNAVAILABLE with RetryInfo (the OTLP
    /// spec's retryable code) for every refusal, since nothing of the request was kept.
    async fn accept(&self, batch: Batch, tenant: Option<&Tenant>) -> Result<Accepted, Status> {
        self.0.accept(batch, tenant).await.map_err(|r| match r {
            Refusal::Overloaded(after) => Status::with_error_details(
                Code::Unavailable,
                "weir is overloaded: a pipeline queue is full, retry later",
                ErrorDetails::with_retry_info(Some(after)),
            ),
            Refusal::Failed {
                message,
                retry_after,
            } => Status::with_error_details(
                Code::Unavailable,
                format!("{message}; not accepted, retry later"),
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            Refusal::Memory(after) => Status::with_error_details(
                Code::Unavailable,
                "weir is above its memory limit, retry later",
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
        let tenant = request.extensions().get::<Tenant>().cloned();
        let a = self
            .accept(Batch::Traces(request.into_inner()), tenant.as_ref())
            .await?;
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
        let tenant = request.extensions().get::<Tenant>().cloned();
        let a = self
            .accept(Batch::Metrics(request.into_inner()), tenant.as_ref())
            .await?;
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
        let tenant = request.extensions().get::<Tenant>().cloned();
        let a = self
            .accept(Batch::Logs(request.into_inner()), tenant.as_ref())
            .await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: a.rejected,
                error_message: a.message,
            }),
        }))
    }
}

/// The collector services of the signals that have an intake, as tonic routes.
pub(crate) fn routes(config: &GrpcServerConfig, intakes: [Option<Intake>; 3]) -> Routes {
    let max = config.max_recv_msg_size.as_usize();
    let [traces, metrics, logs] = intakes;
    macro_rules! service {
        ($server:ident, $intake:expr) => {
            $intake.map(|i| Counted {
                intake: i.clone(),
                inner: $server::new(Svc(i))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .send_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(max),
            })
        };
    }
    let mut routes = Routes::builder();
    if let Some(s) = service!(TraceServiceServer, traces) {
        routes.add_service(s);
    }
    if let Some(s) = service!(MetricsServiceServer, metrics) {
        routes.add_service(s);
    }
    if let Some(s) = service!(LogsServiceServer, logs) {
        routes.add_service(s);
    }
    routes.routes()
}

/// Serves until `shutdown` fires and in-flight calls are answered.
pub(crate) async fn serve(
    name: String,
    listener: TcpListener,
    config: GrpcServerConfig,
    intakes: [Option<Intake>; 3],
    security: (Option<ServerTls>, Option<Authenticator>),
    telemetry: Telemetry,
    shutdown: CancellationToken,
) {
    let options = ServeOptions {
        name: format!("receiver/{name}/grpc"),
        config: config.connections,
        protocol: Protocol::Http2Only,
        tls: security.0,
        auth: security.1,
    };
    let router = routes(&config, intakes).into_axum_router();
    weir_listen::serve(listener, router, options, &telemetry, shutdown).await;
}

/// A collector service whose requests tonic refuses before they reach [`Svc`] (bodies that do
/// not decode, corrupt compression, messages over the size limit) are answered with the OTLP
/// status ([`otlp_status`]) and counted as `refused_items{reason="invalid"}`, one per request as
/// the HTTP receiver does.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    intake: Intake,
}

impl<S: NamedService> NamedService for Counted<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let call = self.inner.call(req);
        let intake = self.intake.clone();
        Box::pin(async move {
            let mut resp = call.await?;
            if let Some(code) = otlp_status(resp.headers()) {
                intake.count_malformed();
                resp.headers_mut()
                    .insert("grpc-status", http::HeaderValue::from(code as i32));
            }
            Ok(resp)
        })
    }
}

/// The status the OTLP spec and the Collector give a request tonic refused before it reached
/// Weir, so clients do not retry what can never succeed; `None` for every other response:
/// - a body that does not decode (INTERNAL "failed to decode Protobuf message", or a corrupt
///   compressed body) becomes INVALID_ARGUMENT;
/// - a message over `max_recv_msg_size` (OUT_OF_RANGE, which OTLP clients retry) becomes
///   RESOURCE_EXHAUSTED without RetryInfo, which they do not; one that inflates past it while
///   being decompressed already is.
fn otlp_status(headers: &http::HeaderMap) -> Option<Code> {
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok());
    let msg = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match code {
        Some("13")
            if msg.starts_with("failed%20to%20decode")
                || msg.starts_with("Error%20decompressing") =>
        {
            Some(Code::InvalidArgument)
        }
        Some("11") if msg.contains("too%20large") => Some(Code::ResourceExhausted),
        // A compressed message that inflates past the limit: already RESOURCE_EXHAUSTED.
        Some("8") if msg.starts_with("Error%20decompressing") => Some(Code::ResourceExhausted),
        _ => None,
    }
}
