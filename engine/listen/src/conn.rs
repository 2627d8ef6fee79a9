//! One connection: HTTP/1 or HTTP/2 through hyper, with the idle watchdog, the body deadline
//! and a graceful close on shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use weir_auth::{Refused, Tenant};
use weir_core::telemetry::{ListenerMetrics, TlsMetrics};

use crate::body::{ActiveBody, DeadlineBody, timed_out_response};
use crate::{OpenGuard, Protocol, ServeOptions};

/// How long a connection being closed with nothing in flight may take to let go.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Requests in flight on one connection and when the last one started or ended, for the idle
/// watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    active: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            active: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// A request started; the returned guard ends it (when its response body is done).
    pub(crate) fn start(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.touch();
        ActiveGuard(self.clone())
    }

    /// When the connection counts as idle, if no request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(
            *self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// One request in flight; dropped when its response has been sent (or abandoned).
#[derive(Debug)]
pub(crate) struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection and what serving it needs.
pub(crate) struct Conn {
    pub peer: SocketAddr,
    pub router: axum::Router,
    pub options: ServeOptions,
    pub metrics: ListenerMetrics,
    pub shutdown: CancellationToken,
    pub open: OpenGuard,
}

/// Completes the TLS handshake (within `header_read_timeout`, counted when it fails), then
/// serves the connection with the client certificate's identity, if any.
pub(crate) async fn serve_tls(
    stream: TcpStream,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    conn: Conn,
    tls: TlsMetrics,
) {
    let limit = conn.options.config.header_read_timeout.0;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshake = tokio::select! {
        // Weir is stopping: a connection still shaking hands is simply closed.
        () = conn.shutdown.cancelled() => return,
        r = tokio::time::timeout(limit, acceptor.accept(stream)) => r,
    };
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tls.handshake_failures.inc();
            tracing::debug!(listener = %conn.options.name, peer = %conn.peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tls.handshake_failures.inc();
            conn.metrics.closed_slow.inc();
            tracing::debug!(listener = %conn.options.name, peer = %conn.peer, "TLS handshake not finished within header_read_timeout");
            return;
        }
    };
    let identity = weir_tls::peer_identity(stream.get_ref().1).map(|s| Tenant(s.into()));
    conn.serve(stream, identity).await;
}

/// The answer to a request without valid credentials: 401 with a challenge, or for gRPC a
/// trailers-only UNAUTHENTICATED. Nothing of the request is read.
fn unauthenticated(grpc: bool, challenge: &str, why: Refused) -> axum::response::Response {
    let message = why.message();
    let b = http::Response::builder();
    let built = if grpc {
        b.status(http::StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header("grpc-status", "16")
            .header("grpc-message", message.replace(' ', "%20"))
            .body(axum::body::Body::empty())
    } else {
        b.status(http::StatusCode::UNAUTHORIZED)
            .header(http::header::WWW_AUTHENTICATE, challenge)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(axum::body::Body::from(format!("{message}\n")))
    };
    built.unwrap_or_else(|_| http::StatusCode::UNAUTHORIZED.into_response())
}

impl Conn {
    /// Serves the connection until the peer closes it, a timeout closes it, or shutdown closes
    /// it gracefully. `identity` is the mTLS client's, the tenant of its requests unless their
    /// credentials name one.
    pub(crate) async fn serve<S>(self, stream: S, identity: Option<Tenant>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            peer,
            router,
            options,
            metrics,
            shutdown,
            open: _open,
        } = self;
        let cfg = options.config;
        let activity = Activity::new();
        // Notified by a request whose body missed its deadline: the connection is then closed.
        let slow = Arc::new(Notify::new());
        let service = {
            let activity = activity.clone();
            let slow = slow.clone();
            let body_timeout = cfg.body_read_timeout.0;
            let auth = options.auth.clone();
            let closed_slow = metrics.closed_slow.clone();
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let router = router.clone();
                let guard = activity.start();
                let slow = slow.clone();
                let closed_slow = closed_slow.clone();
                let auth = auth.clone();
                let identity = identity.clone();
                async move {
                    let grpc = req
                        .headers()
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|c| c.starts_with("application/grpc"));
                    // A CORS preflight (OPTIONS) carries no data and, by the browser's rules,
                    // no credentials: it goes to the router, which answers it.
                    let preflight = req.method() == http::Method::OPTIONS;
                    let tenant = match &auth {
                        Some(_) if preflight => None,
                        Some(auth) => match auth.check(req.headers()).await {
                            Ok(t) => Some(t),
                            Err(why) => {
                                let resp = unauthenticated(grpc, auth.challenge(), why);
                                return Ok(
                                    resp.map(|b| axum::body::Body::new(ActiveBody::new(b, guard)))
                                );
                            }
                        },
                        None => identity,
                    };
                    let missed = Arc::new(AtomicBool::new(false));
                    let deadline = Instant::now() + body_timeout;
                    let mut req = req.map(|b| {
                        axum::body::Body::new(DeadlineBody::new(b, deadline, missed.clone()))
                    });
                    req.extensions_mut().insert(ConnectInfo(peer));
                    if let Some(t) = tenant {
                        req.extensions_mut().insert(t);
                    }
                    let resp = match router.oneshot(req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    let resp = if missed.load(Ordering::Acquire) {
                        // Counted here, not where the connection loop closes it: after a 408
                        // with `Connection: close` the connection may end first.
                        closed_slow.inc();
                        slow.notify_one();
                        timed_out_response(grpc, body_timeout)
                    } else {
                        resp
                    };
                    Ok::<_, Infallible>(
                        resp.map(|b| axum::body::Body::new(ActiveBody::new(b, guard))),
                    )
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(cfg.header_read_timeout.0)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(
                (!cfg.keepalive_interval.0.is_zero()).then_some(cfg.keepalive_interval.0),
            )
            .keep_alive_timeout(cfg.keepalive_timeout.0);
        let builder = match options.protocol {
            Protocol::Http1And2 => builder,
            Protocol::Http2Only => builder.http2_only(),
        };
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let idle_timeout = cfg.idle_timeout.0;
        let mut closing = false;
        loop {
            tokio::select! {
                // The connection ended: the peer closed it, it failed, or a close we asked for
                // finished.
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        if is_header_timeout(&*e) {
                            metrics.closed_slow.inc();
                            tracing::debug!(listener = %options.name, %peer, "request headers not received within header_read_timeout; connection closed");
                        } else {
                            tracing::debug!(listener = %options.name, %peer, error = %e, "connection ended with an error");
                        }
                    }
                    return;
                }
                // Weir is stopping: finish what is in flight, then close.
                () = shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                // A request's body missed its deadline (it was answered 408): close.
                () = slow.notified(), if !closing => {
                    tracing::debug!(listener = %options.name, %peer, "request body not received within body_read_timeout; closing the connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                // Closing, and nothing in flight: a peer that has not let go within the grace
                // (an HTTP/2 client that never finished its preface, one that ignores GOAWAY) is
                // dropped.
                () = tokio::time::sleep(CLOSE_GRACE), if closing => {
                    if activity.idle_since().is_some() {
                        tracing::debug!(listener = %options.name, %peer, "connection did not close gracefully; dropping it");
                        return;
                    }
                }
                // The idle deadline as of the last request passed: close if still idle.
                () = tokio::time::sleep(until_idle(&activity, idle_timeout)), if !closing && !idle_timeout.is_zero() => {
                    if activity.idle_since().is_some_and(|t| t.elapsed() >= idle_timeout) {
                        metrics.closed_idle.inc();
                        tracing::debug!(listener = %options.name, %peer, ?idle_timeout, "idle connection closed");
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// How long until the connection would have been idle for `idle_timeout` (a full timeout
/// while a request is in flight: it is looked at again then).
fn until_idle(activity: &Activity, idle_timeout: Duration) -> Duration {
    match activity.idle_since() {
        Some(t) => (t + idle_timeout).saturating_duration_since(Instant::now()),
        None => idle_timeout,
    }
    .max(Duration::from_millis(1))
}

/// True if hyper closed the connection because request headers took too long.
fn is_header_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return h.is_timeout();
        }
        source = err.source();
    }
    false
}
