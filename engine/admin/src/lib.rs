//! The admin listener (default `127.0.0.1:8888`):
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 once every receiver listens, 503 before that and while shutting down;
//! - `GET /metrics`: Weir's own metrics in the Prometheus text format.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
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
}

/// Serves the admin routes on `listener` until `shutdown` fires.
pub async fn serve(listener: TcpListener, state: AdminState, shutdown: CancellationToken) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "admin listener failed");
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
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
