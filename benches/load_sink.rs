//! The load harness's traffic: the counting sink every gateway exports to, the request template
//! and its numbering, and clients.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use weir_core::Signal;

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

const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";

impl NamedService for Sink {
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The sink takes requests as bytes: it counts spans with Weir's wire scan and finds the id in
/// the first span's name, so that it costs little of the core it shares with the clients.
impl tower::Service<http::Request<tonic::body::Body>> for Sink {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let sink = self.clone();
        Box::pin(async move {
            let mut grpc = Grpc::new(Raw)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(64 << 20);
            Ok(grpc.unary(sink, req).await)
        })
    }
}

impl UnaryService<Bytes> for Sink {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, r: Request<Bytes>) -> Self::Future {
        let sink = self.clone();
        Box::pin(async move {
            let seen = sink.seen.fetch_add(1, Ordering::Relaxed) + 1;
            if sink.fail_every > 0 && seen.is_multiple_of(sink.fail_every) {
                return Err(Status::unavailable(
                    "weir-load: failing every --fail-every'th request",
                ));
            }
            let now = sink.base.elapsed().as_micros() as u64 + 1;
            let body = r.into_inner();
            let scan = weir_core::wire::scan(Signal::Traces, &body)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            sink.spans.fetch_add(scan.items as u64, Ordering::Relaxed);
            // Every request id a batch holds (a gateway may join requests).
            for at in memchr::memmem::find_iter(&body, b"req-") {
                let digits = body.get(at + 4..at + 4 + ID_DIGITS).unwrap_or_default();
                if let Some(slot) = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<usize>().ok())
                    .and_then(|id| sink.arrivals.get(id))
                {
                    slot.store(now, Ordering::Relaxed);
                }
            }
            Ok(Response::new(Bytes::new()))
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// gRPC messages as bytes, both ways.
#[derive(Clone, Copy)]
pub(crate) struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
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

/// Digits of a request id in its first span's name (`req-00000042`): ids stay below
/// [`MAX_REQUESTS`].
const ID_DIGITS: usize = 8;

/// The request every client sends, encoded once; each copy gets its id written into the first
/// span's name (`req-<id>`, fixed width), so the sink can tell when it arrived. Sending bytes
/// keeps the clients' cost low: they share a core with the sink, and the gateway under test
/// should be what limits spans/s.
pub(crate) struct Template {
    bytes: Vec<u8>,
    id_at: usize,
}

impl Template {
    /// The template of request `t`.
    pub(crate) fn new(mut t: ExportTraceServiceRequest) -> anyhow::Result<Template> {
        let marker = format!("req-{}", "0".repeat(ID_DIGITS));
        let first = t
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
            .next()
            .ok_or_else(|| anyhow::anyhow!("the template has no span"))?;
        first.name.clone_from(&marker);
        let bytes = t.encode_to_vec();
        let id_at = find(&bytes, marker.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("the id marker is not in the encoded template"))?
            + 4;
        Ok(Template { bytes, id_at })
    }

    /// Request number `id`.
    pub(crate) fn numbered(&self, id: usize) -> Bytes {
        let mut b = self.bytes.clone();
        let digits = format!("{:0width$}", id % MAX_REQUESTS, width = ID_DIGITS);
        b[self.id_at..self.id_at + ID_DIGITS].copy_from_slice(digits.as_bytes());
        Bytes::from(b)
    }
}

/// An OTLP/gRPC traces client that sends encoded requests.
#[derive(Clone)]
pub(crate) struct Client(tonic::client::Grpc<Channel>);

impl Client {
    /// Sends one export request; OK or the status.
    pub(crate) async fn export(&mut self, body: Bytes) -> Result<(), Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        self.0
            .unary(Request::new(body), path, Raw)
            .await
            .map(|_| ())
    }
}

/// A client of `url`; `https://` URLs need `tls`.
pub(crate) async fn client(
    url: &str,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
) -> anyhow::Result<Client> {
    let channel = match tls {
        Some(tls) if url.starts_with("https://") => tls::channel(url, tls.clone()).await?,
        _ => Channel::from_shared(url.to_string())?.connect().await?,
    };
    Ok(Client(tonic::client::Grpc::new(channel)))
}
