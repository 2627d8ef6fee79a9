//! OTLP/gRPC: the three collector services, gzip and zstd, a decompressed-size limit.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weir_auth::Authenticator;
use weir_auth::Tenant;
use weir_config::GrpcServerConfig;
use weir_core::Batch;
use weir_core::telemetry::Telemetry;
use weir_listen::{Protocol, ServeOptions};
use weir_tls::ServerTls;

use crate::intake::{Accepted, Intake, Refusal};
use crate::service::{self, Export};

/// Hands `batch` to `intake` and answers as OTLP/gRPC: UNAVAILABLE with RetryInfo (the OTLP
/// spec's retryable code) for every refusal, since nothing of the request was kept.
pub(crate) async fn accept(
    intake: &Intake,
    batch: Batch,
    tenant: Option<&Tenant>,
) -> Result<Accepted, Status> {
    intake.accept(batch, tenant).await.map_err(|r| match r {
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

/// The collector services of the signals that have an intake, as tonic routes.
pub(crate) fn routes(config: &GrpcServerConfig, intakes: [Option<Intake>; 3]) -> Routes {
    let max = config.max_recv_msg_size.as_usize();
    let [traces, metrics, logs] = intakes;
    fn counted<S: service::Otlp>(intake: Intake, max: usize) -> Counted<Export<S>> {
        Counted {
            inner: Export::new(intake.clone(), max),
            intake,
        }
    }
    let mut routes = Routes::builder();
    if let Some(i) = traces {
        routes.add_service(counted::<service::Traces>(i, max));
    }
    if let Some(i) = metrics {
        routes.add_service(counted::<service::Metrics>(i, max));
    }
    if let Some(i) = logs {
        routes.add_service(counted::<service::Logs>(i, max));
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
