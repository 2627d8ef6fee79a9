//! Body wrappers: a request body with a deadline, a response body that marks its request done.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::conn::ActiveGuard;

/// A request body that fails once `deadline` passes before it has been read to the end, and
/// says so in `missed` (the connection then answers 408 and closes).
pub(crate) struct DeadlineBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    missed: Arc<AtomicBool>,
}

impl DeadlineBody {
    pub(crate) fn new(inner: Incoming, deadline: Instant, missed: Arc<AtomicBool>) -> DeadlineBody {
        DeadlineBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            missed,
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.missed.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(
                "request body not received within body_read_timeout".into(),
            )));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is sent (or dropped).
pub(crate) struct ActiveBody {
    inner: axum::body::Body,
    _guard: ActiveGuard,
}

impl ActiveBody {
    pub(crate) fn new(inner: axum::body::Body, guard: ActiveGuard) -> ActiveBody {
        ActiveBody {
            inner,
            _guard: guard,
        }
    }
}

impl Body for ActiveBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body missed its deadline: 408 with `Connection: close`, or
/// for gRPC a trailers-only DEADLINE_EXCEEDED.
pub(crate) fn timed_out_response(grpc: bool, limit: Duration) -> axum::response::Response {
    let message = format!("request body not received within body_read_timeout ({limit:?})");
    let mut b = http::Response::builder();
    if grpc {
        b = b
            .status(http::StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header("grpc-status", "4")
            .header("grpc-message", message.replace(' ', "%20"));
        b.body(axum::body::Body::empty())
    } else {
        b = b
            .status(http::StatusCode::REQUEST_TIMEOUT)
            .header(http::header::CONNECTION, "close")
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
        b.body(axum::body::Body::from(format!("{message}\n")))
    }
    .unwrap_or_else(|_| http::StatusCode::REQUEST_TIMEOUT.into_response())
}
