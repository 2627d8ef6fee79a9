//! The load harness's traffic: the counting sink every gateway exports to, the request template
//! and its numbering, and clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::transport::Channel;

use crate::tls;

/// The receiving backend: counts spans and stamps when each request id arrived.
#[derive(Clone)]
pub(crate) struct Sink {
    /// Spans received.
    pub spans: Arc<AtomicU64>,
    /// Requests seen, and every how many one is refused (0: none).
    seen: Arc<AtomicU64>,
    fail_every: u64,
    /// Arrival in µs since `base`, by request id (0 = not yet).
    pub arrivals: Arc<Vec<AtomicU64>>,
    /// When the sink started: the clock of `arrivals`.
    pub base: Instant,
}

/// Request ids wrap around after this many (the arrival table's size).
pub(crate) const MAX_REQUESTS: usize = 4_000_000;

impl Sink {
    /// A sink that refuses every `fail_every`th request (0: none).
    pub(crate) fn new(fail_every: u64) -> Sink {
        Sink {
            spans: Arc::default(),
            seen: Arc::default(),
            fail_every,
            arrivals: Arc::new((0..MAX_REQUESTS).map(|_| AtomicU64::new(0)).collect()),
            base: Instant::now(),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && seen.is_multiple_of(self.fail_every) {
            return Err(tonic::Status::unavailable(
                "weir-load: failing every --fail-every'th request",
            ));
        }
        let now = self.base.elapsed().as_micros() as u64 + 1;
        let req = r.into_inner();
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                self.spans
                    .fetch_add(ss.spans.len() as u64, Ordering::Relaxed);
                if let Some(id) = ss
                    .spans
                    .first()
                    .and_then(|s| s.name.strip_prefix("req-"))
                    .and_then(|n| n.parse::<usize>().ok())
                    && let Some(slot) = self.arrivals.get(id)
                {
                    slot.store(now, Ordering::Relaxed);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A request of `spans` realistic spans from the shared generator (the shop's services calling
/// each other, semantic-convention attributes, errors, events; about 400 B per span on the wire).
pub(crate) fn template(spans: usize) -> ExportTraceServiceRequest {
    weir_synth::Generator::new(1).traces(spans)
}

/// Adds a secret-bearing attribute to every `1 / share`th span of `t`; returns how many.
pub(crate) fn plant(t: &mut ExportTraceServiceRequest, share: f64) -> usize {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    const SECRETS: [&str; 4] = [
        "contact ada@example.com",
        "paid with 4111 1111 1111 1111",
        "auth Bearer 2YotnFZFEjr1zCsicMWpAA",
        "key AKIAIOSFODNN7EXAMPLE",
    ];
    if share <= 0.0 {
        return 0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a small positive step"
    )]
    let every = (1.0 / share.min(1.0)).round().max(1.0) as usize;
    let spans = t
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans);
    let mut planted = 0;
    for (i, span) in spans.enumerate().filter(|(i, _)| i % every == every / 2) {
        span.attributes.push(KeyValue {
            key: "app.note".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(SECRETS[i % SECRETS.len()].into())),
            }),
            ..Default::default()
        });
        planted += 1;
    }
    planted
}

/// A copy of `t` whose first span is named `req-<id>`, so the sink can tell when it arrived.
pub(crate) fn numbered(t: &ExportTraceServiceRequest, id: usize) -> ExportTraceServiceRequest {
    let mut r = t.clone();
    if let Some(s) = r.resource_spans[0].scope_spans[0].spans.first_mut() {
        s.name = format!("req-{id}");
    }
    r
}

/// A client of `url`; `https://` URLs need `tls`.
pub(crate) async fn client(
    url: &str,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
) -> anyhow::Result<TraceServiceClient<Channel>> {
    match tls {
        Some(tls) if url.starts_with("https://") => tls::client(url, tls.clone()).await,
        _ => Ok(TraceServiceClient::connect(url.to_string()).await?),
    }
}
