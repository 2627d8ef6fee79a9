//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with protobuf or JSON bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use weir_auth::{Authenticator, Tenant};
use weir_config::HttpServerConfig;
use weir_core::Signal;
use weir_core::otlp::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use weir_core::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use weir_core::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use weir_core::telemetry::Telemetry;
use weir_listen::{Protocol, ServeOptions};
use weir_tls::ServerTls;

use crate::decode::{self, BodyError, Format};
use crate::intake::{Accepted, Intake, Refusal};

/// One route's state.
struct Route {
    signal: Signal,
    intake: Intake,
    limit: usize,
}

/// The `/v1/<signal>` routes of the signals that have an intake, with CORS if configured.
pub(crate) fn router(config: &HttpServerConfig, intakes: [Option<Intake>; 3]) -> Router {
    let limit = config.max_request_body_size.as_usize();
    let mut router = Router::new();
    for (signal, intake) in Signal::ALL.into_iter().zip(intakes) {
        let Some(intake) = intake else { continue };
        let route = Arc::new(Route {
            signal,
            intake,
            limit,
        });
        router = router.route(
            &format!("/v1/{}", signal.as_str()),
            post(
                move |tenant: Option<Extension<Tenant>>, headers: HeaderMap, body: Body| {
                    handle(route.clone(), tenant.map(|Extension(t)| t), headers, body)
                },
            ),
        );
    }
    if let Some(cors) = cors(&config.cors_allowed_origins) {
        router = router.layer(cors);
    }
    router
}

/// Serves until `shutdown` fires and in-flight requests are answered.
pub(crate) async fn serve(
    name: String,
    listener: TcpListener,
    config: HttpServerConfig,
    intakes: [Option<Intake>; 3],
    security: (Option<ServerTls>, Option<Authenticator>),
    telemetry: Telemetry,
    shutdown: CancellationToken,
) {
    let options = ServeOptions {
        name: format!("receiver/{name}/http"),
        config: config.connections,
        protocol: Protocol::Http1And2,
        tls: security.0,
        auth: security.1,
    };
    weir_listen::serve(
        listener,
        router(&config, intakes),
        options,
        &telemetry,
        shutdown,
    )
    .await;
}

/// CORS for browser SDKs; off unless origins are configured.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([http::Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::AUTHORIZATION,
            ])
            .max_age(Duration::from_secs(7200)),
    )
}

async fn handle(
    route: Arc<Route>,
    tenant: Option<Tenant>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let format = match decode::format(text(header::CONTENT_TYPE)) {
        Ok(f) => f,
        Err(e) => return refuse_body(&route, Format::Json, e),
    };
    let raw = match axum::body::to_bytes(body, route.limit).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let err = if too_large {
                BodyError::TooLarge(route.limit)
            } else {
                BodyError::Malformed(format!("cannot read the request body: {e}"))
            };
            return refuse_body(&route, format, err);
        }
    };
    let batch = decode::decompress(text(header::CONTENT_ENCODING), raw, route.limit)
        .and_then(|body| decode::batch(route.signal, format, body, route.intake.wire()));
    let batch = match batch {
        Ok(b) => b,
        Err(e) => return refuse_body(&route, format, e),
    };
    // Every refusal is 503 + Retry-After: nothing of the request was kept.
    let (message, after) = match route.intake.accept(batch, tenant.as_ref()).await {
        Ok(accepted) => return success(route.signal, format, accepted),
        Err(Refusal::Overloaded(after)) => (
            "weir is overloaded: a pipeline queue is full, retry later".to_string(),
            after,
        ),
        Err(Refusal::Failed {
            message,
            retry_after,
        }) => (format!("{message}; not accepted, retry later"), retry_after),
        Err(Refusal::Memory(after)) => (
            "weir is above its memory limit, retry later".to_string(),
            after,
        ),
        Err(Refusal::ShuttingDown) => (
            "weir is shutting down".to_string(),
            std::time::Duration::from_secs(1),
        ),
    };
    let mut resp = status(
        StatusCode::SERVICE_UNAVAILABLE,
        tonic::Code::Unavailable,
        &message,
        format,
    );
    let secs = after.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Answers a body that could not be read or decoded.
fn refuse_body(route: &Route, format: Format, err: BodyError) -> Response {
    route.intake.count_malformed();
    let (code, grpc, msg) = match err {
        BodyError::UnsupportedMediaType(m) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            m,
        ),
        BodyError::TooLarge(limit) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::InvalidArgument,
            format!(
                "request body is larger than max_request_body_size ({limit} bytes, after decompression)"
            ),
        ),
        BodyError::Malformed(m) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument, m),
    };
    tracing::debug!(signal = %route.signal, status = %code, error = %msg, "refused an OTLP/HTTP request");
    status(code, grpc, &msg, format)
}

/// An error response with a `google.rpc.Status` body in the request's encoding.
fn status(code: StatusCode, grpc: tonic::Code, message: &str, format: Format) -> Response {
    let body = tonic_types::pb::Status {
        code: grpc as i32,
        message: message.to_string(),
        details: Vec::new(),
    };
    match format {
        Format::Proto => encoded(code, format, body.encode_to_vec()),
        Format::Json => {
            let json = serde_json::json!({ "code": grpc as i32, "message": message });
            encoded(code, format, json.to_string().into_bytes())
        }
    }
}

fn encoded(code: StatusCode, format: Format, body: Vec<u8>) -> Response {
    let ct = match format {
        Format::Proto => "application/x-protobuf",
        Format::Json => "application/json",
    };
    (code, [(header::CONTENT_TYPE, ct)], body).into_response()
}

/// The export response, with a partial success when items were rejected.
fn success(signal: Signal, format: Format, a: Accepted) -> Response {
    let partial = a.rejected > 0;
    macro_rules! respond {
        ($resp:ident, $partial:ident, $field:ident) => {{
            let r = $resp {
                partial_success: partial.then(|| $partial {
                    $field: a.rejected,
                    error_message: a.message.clone(),
                }),
            };
            match format {
                Format::Proto => r.encode_to_vec(),
                Format::Json => serde_json::to_vec(&r).unwrap_or_else(|_| b"{}".to_vec()),
            }
        }};
    }
    let body = match signal {
        Signal::Traces => respond!(
            ExportTraceServiceResponse,
            ExportTracePartialSuccess,
            rejected_spans
        ),
        Signal::Metrics => respond!(
            ExportMetricsServiceResponse,
            ExportMetricsPartialSuccess,
            rejected_data_points
        ),
        Signal::Logs => respond!(
            ExportLogsServiceResponse,
            ExportLogsPartialSuccess,
            rejected_log_records
        ),
    };
    encoded(StatusCode::OK, format, body)
}
