//! `type = "otlp-grpc"`: OTLP over gRPC with gzip or zstd, per-request timeout and headers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use weir_config::{Compression, OtlpExporter};

use crate::settings::OtlpSettings;
use crate::tls::TlsDial;
use tokio_rustls::rustls::ClientConfig;
use weir_core::{Batch, Signal};

use crate::attempt::Attempt;
use crate::{ExportError, unary};

/// An OTLP/gRPC client for all three signals over one lazily connected channel. A batch is
/// encoded, compressed and framed once ([`GrpcSink::encode`]); every attempt sends the same
/// bytes ([`crate::unary`]).
pub(crate) struct GrpcSink {
    channel: Channel,
    /// The configured headers, as gRPC metadata.
    headers: http::HeaderMap,
    compression: Compression,
    timeout: Duration,
}

/// The OTLP export method of each signal, indexed like [`Signal::ALL`].
const PATHS: [&str; 3] = [
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
];

impl GrpcSink {
    /// A client of `config`'s endpoint; `tls` is the client config for an `https://` one.
    pub(crate) fn new(
        name: &str,
        config: &OtlpExporter,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<GrpcSink, ExportError> {
        let OtlpSettings {
            endpoint: url,
            timeout,
            compression,
            headers,
        } = OtlpSettings::new(name, config)?;
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| ExportError::Endpoint {
                exporter: name.to_string(),
                endpoint: url.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(timeout);
        let channel = match tls {
            Some(tls) if url.starts_with("https://") => {
                let server_name = config
                    .tls
                    .as_ref()
                    .and_then(|t| t.get_ref().server_name.as_ref())
                    .map(|n| n.get_ref().clone());
                endpoint.connect_with_connector_lazy(TlsDial::new(tls, server_name))
            }
            Some(_) | None if url.starts_with("https://") => {
                return Err(ExportError::Endpoint {
                    exporter: name.to_string(),
                    endpoint: url,
                    reason: "an https endpoint needs a TLS client config".into(),
                });
            }
            _ => endpoint.connect_lazy(),
        };
        Ok(GrpcSink {
            channel,
            headers: MetadataMap::from_headers(headers).into_headers(),
            compression,
            timeout,
        })
    }

    /// `batch`'s export request as one gRPC frame, compressed: made once per batch, sent by
    /// every attempt.
    pub(crate) fn encode(&self, batch: &Batch) -> Result<Bytes, String> {
        unary::frame(&batch.to_bytes(), self.compression)
            .map_err(|e| format!("cannot compress the request: {e}"))
    }

    /// One export call of `encoded` (from [`GrpcSink::encode`]) for `signal`.
    pub(crate) async fn send(&self, signal: Signal, encoded: Bytes) -> Attempt {
        let result = match signal {
            Signal::Traces => self
                .call::<ExportTraceServiceResponse>(signal, encoded)
                .await
                .map(|r| {
                    r.partial_success
                        .map(|p| (p.rejected_spans, p.error_message))
                }),
            Signal::Metrics => self
                .call::<ExportMetricsServiceResponse>(signal, encoded)
                .await
                .map(|r| {
                    r.partial_success
                        .map(|p| (p.rejected_data_points, p.error_message))
                }),
            Signal::Logs => self
                .call::<ExportLogsServiceResponse>(signal, encoded)
                .await
                .map(|r| {
                    r.partial_success
                        .map(|p| (p.rejected_log_records, p.error_message))
                }),
        };
        match result {
            Ok(partial) => {
                let (rejected, message) = partial.unwrap_or_default();
                Attempt::Delivered {
                    rejected: u64::try_from(rejected).unwrap_or(0),
                    message,
                }
            }
            Err(status) => classify(&status),
        }
    }

    /// One call of `signal`'s export method with `framed`, the response decoded as `U`.
    async fn call<U: Message + Default>(&self, signal: Signal, framed: Bytes) -> Result<U, Status> {
        let msg = unary::call(
            &self.channel,
            PATHS[signal.index()],
            &self.headers,
            crate::compress::encoding_name(self.compression),
            self.timeout,
            framed,
        )
        .await?;
        U::decode(msg).map_err(|e| Status::internal(format!("cannot decode the response: {e}")))
    }
}

/// Maps a gRPC status to what it means for the batch.
///
/// A status tonic made from a transport failure (connection refused or reset, an HTTP/2 GOAWAY
/// or RST_STREAM, a keep-alive timeout) carries that error as its `source`: the backend never
/// judged the data, so it is retried on a new connection whatever code tonic chose (a GOAWAY
/// `ENHANCE_YOUR_CALM` becomes RESOURCE_EXHAUSTED, which the backend itself would only mean as
/// retryable with RetryInfo). A status the backend sent has no source and is read as the OTLP
/// spec lists the codes; the codes a configuration change fixes (UNIMPLEMENTED: no such service
/// or compression; UNAUTHENTICATED, PERMISSION_DENIED) mark the exporter failed.
pub(crate) fn classify(status: &Status) -> Attempt {
    let throttle = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let message = format!("gRPC {:?}: {}", status.code(), status.message());
    if let Some(source) = std::error::Error::source(status) {
        return Attempt::Retryable {
            message: format!("{message} (connection error: {source})"),
            throttle,
        };
    }
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        // Only when the server says when to come back.
        Code::ResourceExhausted => throttle.is_some(),
        Code::Unimplemented => {
            return Attempt::Misconfigured {
                message,
                hint: "the backend does not serve this signal over OTLP/gRPC or does not accept \
                       the compression: check the endpoint and `compression`",
            };
        }
        Code::Unauthenticated | Code::PermissionDenied => {
            return Attempt::Misconfigured {
                message,
                hint: "the backend refuses the credentials: check `headers` (e.g. authorization)",
            };
        }
        _ => false,
    };
    if retryable {
        Attempt::Retryable { message, throttle }
    } else {
        Attempt::Permanent { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn classifies_codes_as_the_spec_lists_them() {
        let unavailable = Status::with_error_details(
            Code::Unavailable,
            "busy",
            ErrorDetails::with_retry_info(Some(Duration::from_millis(300))),
        );
        assert_eq!(
            classify(&unavailable),
            Attempt::Retryable {
                message: "gRPC Unavailable: busy".into(),
                throttle: Some(Duration::from_millis(300))
            }
        );
        assert!(matches!(
            classify(&Status::invalid_argument("bad")),
            Attempt::Permanent { .. }
        ));
        assert!(matches!(
            classify(&Status::resource_exhausted("no hint")),
            Attempt::Permanent { .. }
        ));
        assert!(matches!(
            classify(&Status::unimplemented("no zstd")),
            Attempt::Misconfigured { .. }
        ));
        assert!(matches!(
            classify(&Status::unauthenticated("who are you")),
            Attempt::Misconfigured { .. }
        ));
    }

    #[test]
    fn transport_failures_are_retried_whatever_the_code() {
        // What tonic makes of an HTTP/2 GOAWAY ENHANCE_YOUR_CALM "too_many_resets": the h2
        // error as the source of a RESOURCE_EXHAUSTED status without RetryInfo.
        let goaway = h2::Error::from(h2::Reason::ENHANCE_YOUR_CALM);
        let status = Status::from_error(Box::new(goaway));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            matches!(classify(&status), Attempt::Retryable { throttle: None, .. }),
            "{:?}",
            classify(&status)
        );
        let reset = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(matches!(classify(&reset), Attempt::Retryable { .. }));
    }
}
