//! The admin listener (default `127.0.0.1:8888`):
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once every receiver listens, 503 before that, while shutting down, and
//!   while a component reports itself failed (the body names it and why);
//! - `GET /metrics`: Weir's own metrics in the Prometheus text format;
//! - `GET /sampling?service=NAME`: Jaeger remote sampling, when `[admin.jaeger_sampling]` is set;
//! - `POST /-/reload`: reload changed plugin files now, answered with what each did: with
//!   `bearer_token` set, from anywhere with the token; without it, from loopback addresses
//!   only; `GET /-/plugins`: the plugin versions in force.
//!
//! With `tls`, the listener serves TLS (mTLS with `client_ca_file`); with `token_for_reads`,
//! every endpoint needs the token.

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
use sha2::Digest;
use subtle::ConstantTimeEq;
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
    /// SHA-256 of the bearer token requests that change state must carry (`bearer_token`).
    pub token: Option<[u8; 32]>,
    /// Whether reads need the token too.
    pub token_for_reads: bool,
}

impl AdminState {
    /// The SHA-256 of `token`, for [`AdminState::token`].
    pub fn hash_token(token: &str) -> [u8; 32] {
        sha2::Sha256::digest(token.as_bytes()).into()
    }
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

/// Serves the admin routes on `listener` until `shutdown` fires, with `connections`' limits,
/// over TLS if `tls` is set.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    connections: weir_config::ConnectionConfig,
    tls: Option<weir_tls::ServerTls>,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/sampling", get(sampling))
        .route("/-/reload", post(reload))
        .route("/-/plugins", get(plugins))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state.clone());
    let options = weir_listen::ServeOptions {
        tls,
        ..weir_listen::ServeOptions::plain(
            "admin".into(),
            connections,
            weir_listen::Protocol::Http1And2,
        )
    };
    // The listener puts each connection's peer address in its requests (`ConnectInfo`).
    weir_listen::serve(listener, app, options, &state.telemetry, shutdown).await;
}

/// Refuses (401) a request without the admin token where one is needed: requests that change
/// state (POST) when `bearer_token` is set, and every request with `token_for_reads`.
async fn require_token(
    State(s): State<AdminState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(want) = &s.token else {
        return next.run(req).await;
    };
    if req.method() != axum::http::Method::POST && !s.token_for_reads {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| AdminState::hash_token(t.trim()));
    match given {
        Some(h) if bool::from(h[..].ct_eq(&want[..])) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this endpoint needs the admin token: send Authorization: Bearer <token>\n",
        )
            .into_response(),
    }
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

/// `POST /-/reload`: reloads changed plugin files now. With a `bearer_token`, from any address
/// that sends it (checked by [`require_token`]); without one, only from loopback addresses: the
/// admin listener may be bound wider for `/metrics`, but a reload is an operator's action.
async fn reload(
    State(s): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> axum::response::Response {
    // `to_canonical`: on a dual-stack listener 127.0.0.1 arrives as ::ffff:127.0.0.1.
    if s.token.is_none() && !peer.ip().to_canonical().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            "reloads are accepted from loopback addresses only (set [admin] bearer_token to allow them from elsewhere)\n",
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
