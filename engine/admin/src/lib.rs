//! The admin listener (default `127.0.0.1:8888`):
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once every receiver listens, 503 before that, while shutting down, and
//!   while a component reports itself failed (the body names it and why);
//! - `GET /metrics`: Weir's own metrics in the Prometheus text format;
//! - `GET /sampling?service=NAME`: Jaeger remote sampling, when `[admin.jaeger_sampling]` is set;
//! - `POST /-/reload`: reload changed plugin files now (from loopback addresses only), answered
//!   with what each did; `GET /-/plugins`: the plugin versions in force.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_core::telemetry::Telemetry;

/// What the admin handlers read.
#[derive(Clone)]
pub struct AdminState {
    /// The process's metrics.
    pub telemetry: Telemetry,
    /// Set by the runtime once all receivers listen; cleared when shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// The Jaeger sampling strategies in force, if configured.
    pub jaeger_sampling: Option<Arc<weir_jaeger_sampling::Store>>,
    /// Plugin reloads; set by the runtime once the pipelines exist.
    pub reloads: Arc<OnceLock<Arc<dyn Reloads>>>,
}

/// A boxed future of a JSON answer.
pub type JsonFuture<'a> = Pin<Box<dyn Future<Output = serde_json::Value> + Send + 'a>>;

/// What `POST /-/reload` and `GET /-/plugins` call.
pub trait Reloads: Send + Sync {
    /// Reloads what changed; the answer says what each plugin did.
    fn reload(&self) -> JsonFuture<'_>;
    /// The plugin versions in force.
    fn versions(&self) -> JsonFuture<'_>;
}

/// Serves the admin routes on `listener` until `shutdown` fires, with `connections`' limits.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    connections: weir_config::ConnectionConfig,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sampling", get(sampling))
        .route("/-/reload", post(reload))
        .route("/-/plugins", get(plugins))
        .with_state(state.clone());
    let options = weir_listen::ServeOptions {
        name: "admin".into(),
        config: connections,
        protocol: weir_listen::Protocol::Http1And2,
    };
    // The listener puts each connection's peer address in its requests (`ConnectInfo`).
    weir_listen::serve(listener, app, options, &state.telemetry, shutdown).await;
}

/// 200 once every receiver listens, while no component reports itself failed; 503 otherwise,
/// with one line per failed component saying why.
async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if !s.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string());
    }
    let failures = s.telemetry.failures();
    if failures.is_empty() {
        return (StatusCode::OK, "ready\n".to_string());
    }
    let mut body = String::from("not ready\n");
    for (component, why) in failures {
        body.push_str(&format!("{component}: {why}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.telemetry.render(),
    )
}

/// The query of `GET /sampling`.
#[derive(serde::Deserialize)]
struct SamplingQuery {
    service: Option<String>,
}

/// Jaeger remote sampling: the strategy for `service`, as the Jaeger agent answers it.
async fn sampling(
    State(s): State<AdminState>,
    Query(q): Query<SamplingQuery>,
) -> axum::response::Response {
    let Some(store) = &s.jaeger_sampling else {
        return (
            StatusCode::NOT_FOUND,
            "jaeger remote sampling is not configured: set [admin.jaeger_sampling] file\n",
        )
            .into_response();
    };
    let Some(service) = q.service.filter(|s| !s.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            "'service' parameter must be provided\n",
        )
            .into_response();
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        store.current().response(&service).to_string(),
    )
        .into_response()
}

/// `POST /-/reload`: reloads changed plugin files now. Only from loopback addresses: the admin
/// listener may be bound wider for `/metrics`, but a reload is an operator's action.
async fn reload(
    State(s): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> axum::response::Response {
    // `to_canonical`: on a dual-stack listener 127.0.0.1 arrives as ::ffff:127.0.0.1.
    if !peer.ip().to_canonical().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            "reloads are accepted from loopback addresses only\n",
        )
            .into_response();
    }
    let Some(r) = s.reloads.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "still starting\n").into_response();
    };
    let answer = r.reload().await;
    tracing::info!(%peer, "reload requested through the admin listener");
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

/// `GET /-/plugins`: the plugin versions in force.
async fn plugins(State(s): State<AdminState>) -> axum::response::Response {
    let Some(r) = s.reloads.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "still starting\n").into_response();
    };
    let answer = r.versions().await;
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}
