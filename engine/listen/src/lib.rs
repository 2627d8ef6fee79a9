//! Every listener Weir opens (the receivers' gRPC and HTTP, the admin API) accepts and serves
//! connections here, with the hygiene a gateway at a network edge needs:
//! - at most `max_connections` open; a new one beyond that is closed at once and counted;
//! - a connection with no request in flight for `idle_timeout` is closed (HTTP/2 GOAWAY);
//! - HTTP/1 headers must arrive within `header_read_timeout`, a request body within
//!   `body_read_timeout` (else 408, or DEADLINE_EXCEEDED for gRPC, and the connection closes);
//! - HTTP/2 keep-alive PINGs find dead peers;
//! - when `accept` fails for lack of file descriptors (EMFILE/ENFILE), the loop backs off
//!   instead of spinning, logs once, counts, and reports the listener failed (`/readyz` 503)
//!   until an accept succeeds again, or, with no client waiting, until a descriptor can be
//!   had again;
//! - the listen backlog is configurable, and [`raise_fd_limit`] lifts the soft limit on open
//!   files to the hard one at start;
//! - with `tls`, connections are TLS (the handshake must finish within
//!   `header_read_timeout`), and an mTLS client's certificate names its tenant;
//! - with `auth`, every request must carry valid credentials, else it is answered 401 /
//!   UNAUTHENTICATED before its body is read; the tenant goes into the request's extensions
//!   as a [`weir_auth::Tenant`].

mod body;
mod conn;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_config::ConnectionConfig;
use weir_core::telemetry::{ListenerMetrics, Telemetry};

/// Which HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 and HTTP/2 (h2c), told apart by the connection preface.
    Http1And2,
    /// HTTP/2 only (gRPC).
    Http2Only,
}

/// How one listener serves: its name in metrics and logs, its limits, its protocol.
#[derive(Clone)]
pub struct ServeOptions {
    /// The listener's name (`receiver/otlp/grpc`, `admin`), in metrics, logs and `/readyz`.
    pub name: String,
    /// Limits and timeouts.
    pub config: ConnectionConfig,
    /// HTTP versions.
    pub protocol: Protocol,
    /// Serve TLS with this (reloading) config.
    pub tls: Option<weir_tls::ServerTls>,
    /// Require credentials on every request.
    pub auth: Option<weir_auth::Authenticator>,
}

impl ServeOptions {
    /// Plaintext, no credentials: what a listener without `tls` and `auth` serves.
    pub fn plain(name: String, config: ConnectionConfig, protocol: Protocol) -> ServeOptions {
        ServeOptions {
            name,
            config,
            protocol,
            tls: None,
            auth: None,
        }
    }
}

/// Binds `addr` with `backlog` pending connections (and SO_REUSEADDR, so a restarted Weir can
/// bind while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog.max(1))
}

/// The limit on open files: what it was and what it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit Weir started with.
    pub before: u64,
    /// The soft limit now (the hard limit if raising worked).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit: a gateway holds a descriptor per
/// connection, and the common default of 1024 is far below what one instance can serve.
#[cfg(unix)]
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    use rlimit::Resource;
    let (before, hard) = Resource::NOFILE.get()?;
    if before < hard {
        Resource::NOFILE.set(hard, hard)?;
    }
    let (soft, hard) = Resource::NOFILE.get()?;
    Ok(FdLimit { before, soft, hard })
}

/// Not on this platform: nothing to raise.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    Err(io::Error::other("not supported on this platform"))
}

/// True for accept errors that mean the process or system is out of a resource (descriptors,
/// memory): retrying at once would spin.
fn out_of_resources(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// True for EMFILE/ENFILE: no descriptor to accept with (as opposed to no memory).
fn is_out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The shortest and longest wait after an accept failed for lack of resources.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How often a listener that ran out of descriptors, with no connection waiting, looks whether
/// it could accept again.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// True if the process can open one more descriptor now (a duplicate of the listener's,
/// closed at once): what an accept needs besides a waiting connection.
#[cfg(unix)]
fn descriptor_available(listener: &TcpListener) -> bool {
    use std::os::fd::AsFd;
    listener.as_fd().try_clone_to_owned().is_ok()
}

/// Elsewhere there is no cheap probe: a listener recovers with its next accepted connection.
#[cfg(not(unix))]
fn descriptor_available(_listener: &TcpListener) -> bool {
    false
}

/// Serves `router` on `listener` until `shutdown` fires, then closes connections gracefully
/// (in-flight requests are answered) and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    options: ServeOptions,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) {
    let metrics = telemetry.listener(&options.name);
    let tls_metrics = options.tls.as_ref().map(|_| telemetry.tls(&options.name));
    let health = telemetry.health_handle(&options.name);
    let open = Arc::new(AtomicUsize::new(0));
    let tasks = TaskTracker::new();
    let max = options.config.max_connections.max(1);
    let mut backoff = BACKOFF_MIN;
    // Set while the last accept failed for lack of descriptors: then a free descriptor is
    // what it takes to accept again, and the loop looks for one.
    let mut out_of_fds = false;
    // Set while this listener reports itself failed (so a healthy accept takes no lock).
    let mut failed = false;
    loop {
        let accepted = tokio::select! {
            biased;
            // Weir is stopping (or this receiver is being replaced): accept no more.
            () = shutdown.cancelled() => break,
            // The next connection, or why there is none.
            r = listener.accept() => r,
            // Not ready since an accept ran out of descriptors, and no connection has come to
            // prove otherwise: the failed accept may have found the queue empty (readiness
            // outlives the last connection), so wait for no client and look whether a
            // descriptor can be had now.
            () = tokio::time::sleep(PROBE_EVERY), if out_of_fds => {
                if descriptor_available(&listener) {
                    out_of_fds = false;
                    failed = false;
                    if health.recover() {
                        tracing::info!(listener = %options.name, "accepting connections again");
                    }
                }
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                metrics.accept_errors.inc();
                if out_of_resources(&e) {
                    out_of_fds = is_out_of_descriptors(&e);
                    failed = true;
                    if health.fail(&format!("cannot accept connections: {e}")) {
                        tracing::error!(listener = %options.name, error = %e,
                            "cannot accept connections (out of file descriptors or memory); backing off, not ready until it can");
                    }
                    accept_backoff(&shutdown, backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                } else {
                    // The client went away between connect and accept (ECONNABORTED …).
                    tracing::debug!(listener = %options.name, error = %e, "accept failed");
                }
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        out_of_fds = false;
        if std::mem::take(&mut failed) && health.recover() {
            tracing::info!(listener = %options.name, "accepting connections again");
        }
        if open.load(Ordering::Acquire) >= max {
            metrics.refused_full.inc();
            tracing::debug!(listener = %options.name, %peer, max, "max_connections reached; closing a new connection");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let guard = OpenGuard::new(open.clone(), &metrics);
        let conn = conn::Conn {
            peer,
            router: router.clone(),
            options: options.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            open: guard,
        };
        match (&options.tls, &tls_metrics) {
            (Some(tls), Some(m)) => {
                tasks.spawn(conn::serve_tls(stream, tls.config(), conn, m.clone()));
            }
            _ => {
                tasks.spawn(conn.serve(stream, None));
            }
        }
    }
    // The listener stops: a failure it reported no longer applies (the handle withdraws it).
    drop(health);
    tasks.close();
    tasks.wait().await;
}

/// Waits `d` after a failed accept, or less if shutdown fires.
async fn accept_backoff(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}

/// Counts one open connection while it lives.
pub(crate) struct OpenGuard {
    open: Arc<AtomicUsize>,
    gauge: weir_core::telemetry::Gauge,
}

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>, metrics: &ListenerMetrics) -> OpenGuard {
        open.fetch_add(1, Ordering::AcqRel);
        metrics.open.inc();
        OpenGuard {
            open,
            gauge: metrics.open.clone(),
        }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}
