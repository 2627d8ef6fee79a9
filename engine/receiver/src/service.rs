//! The OTLP/gRPC `Export` method of one signal, receiving the request as bytes.
//!
//! tonic's generated collector servers decode every request into structs before Weir sees it.
//! This service takes the message bytes instead (after tonic's framing, decompression and size
//! limit), so that a request for pipelines that read no fields is only checked and passed on
//! as it came ([`weir_core::wire`]); otherwise it is decoded here, as before.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use weir_auth::Tenant;
use weir_core::Signal;

use crate::decode::{self, BodyError, Format};
use crate::intake::{Accepted, Intake};

/// One signal's collector service: its gRPC name, and how its answer is built.
pub(crate) trait Otlp: Send + Sync + 'static {
    /// The service name (`opentelemetry.proto.collector.trace.v1.TraceService`).
    const NAME: &'static str;
    /// The signal it carries.
    const SIGNAL: Signal;
    /// `Export<Signal>ServiceResponse`.
    type Response: Message + Default + Send + 'static;
    /// The answer to an accepted request, with its partial success if items were rejected.
    fn response(a: Accepted) -> Self::Response;
}

/// `TraceService`.
pub(crate) struct Traces;
/// `MetricsService`.
pub(crate) struct Metrics;
/// `LogsService`.
pub(crate) struct Logs;

impl Otlp for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
    type Response = ExportTraceServiceResponse;
    fn response(a: Accepted) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: a.rejected,
                error_message: a.message,
            }),
        }
    }
}

impl Otlp for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
    type Response = ExportMetricsServiceResponse;
    fn response(a: Accepted) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: a.rejected,
                error_message: a.message,
            }),
        }
    }
}

impl Otlp for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
    type Response = ExportLogsServiceResponse;
    fn response(a: Accepted) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (a.rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: a.rejected,
                error_message: a.message,
            }),
        }
    }
}

/// The service of signal `S` over one intake: accepts gzip and zstd, answers gzip when the
/// client accepts it, and refuses messages over `max` bytes (decompressed).
pub(crate) struct Export<S> {
    intake: Intake,
    max: usize,
    signal: PhantomData<S>,
}

impl<S> Clone for Export<S> {
    fn clone(&self) -> Self {
        Export {
            intake: self.intake.clone(),
            max: self.max,
            signal: PhantomData,
        }
    }
}

impl<S: Otlp> Export<S> {
    /// The service of `intake`, refusing messages over `max` bytes.
    pub(crate) fn new(intake: Intake, max: usize) -> Export<S> {
        Export {
            intake,
            max,
            signal: PhantomData,
        }
    }
}

impl<S: Otlp> NamedService for Export<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S: Otlp> tower::Service<http::Request<tonic::body::Body>> for Export<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let method = req.uri().path().strip_prefix('/').unwrap_or_default();
            if method.strip_prefix(S::NAME) != Some("/Export") {
                return Ok(Status::unimplemented(format!("no method {method}")).into_http());
            }
            let mut grpc = Grpc::new(WireCodec::<S::Response>(PhantomData))
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(this.max);
            Ok(grpc.unary(Handler::<S>(this), req).await)
        })
    }
}

/// The `Export` call itself: decode (or keep the bytes), hand over, answer.
struct Handler<S>(Export<S>);

impl<S: Otlp> UnaryService<Bytes> for Handler<S> {
    type Response = S::Response;
    type Future = BoxFuture<Result<Response<S::Response>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let intake = self.0.intake.clone();
        Box::pin(async move {
            let tenant = request.extensions().get::<Tenant>().cloned();
            let body = request.into_inner();
            let batch = match decode::batch(S::SIGNAL, Format::Proto, body, intake.wire()) {
                Ok(b) => b,
                Err(BodyError::Malformed(m) | BodyError::UnsupportedMediaType(m)) => {
                    intake.count_malformed();
                    return Err(Status::invalid_argument(m));
                }
                Err(BodyError::TooLarge(limit)) => {
                    intake.count_malformed();
                    return Err(Status::resource_exhausted(format!(
                        "message larger than {limit} bytes"
                    )));
                }
            };
            let accepted = crate::grpc::accept(&intake, batch, tenant.as_ref()).await?;
            Ok(Response::new(S::response(accepted)))
        })
    }
}

/// Messages in as bytes, answers out as protobuf.
struct WireCodec<R>(PhantomData<R>);

impl<R: Message + Send + 'static> Codec for WireCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProtoEncoder<R>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProtoEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

/// Encodes an answer.
struct ProtoEncoder<R>(PhantomData<R>);

impl<R: Message> Encoder for ProtoEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the answer: {e}")))
    }
}

/// Takes a message's bytes as they are (tonic has already unframed and decompressed them).
struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
