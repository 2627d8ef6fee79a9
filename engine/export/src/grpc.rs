//! `type = "otlp-grpc"`: OTLP over gRPC with gzip or zstd, per-request timeout and headers.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use weir_config::{Compression, OtlpExporter};

use crate::settings::OtlpSettings;
use crate::tls::TlsDial;
use tokio_rustls::rustls::ClientConfig;
use weir_core::Batch;

use crate::ExportError;
use crate::attempt::Attempt;

/// Largest response Weir reads from a backend.
const MAX_RESPONSE: usize = 4 << 20;

/// An OTLP/gRPC client for all three signals over one lazily connected channel.
pub(crate) struct GrpcSink {
    traces: TraceServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
    headers: MetadataMap,
    timeout: Duration,
}

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
        let headers = MetadataMap::from_headers(headers);
        let encoding = match compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
        };
        macro_rules! client {
            ($ty:ident) => {{
                let mut c = $ty::new(channel.clone())
                    .max_decoding_message_size(MAX_RESPONSE)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd);
                if let Some(enc) = encoding {
                    c = c.send_compressed(enc);
                }
                c
            }};
        }
        Ok(GrpcSink {
            traces: client!(TraceServiceClient),
            metrics: client!(MetricsServiceClient),
            logs: client!(LogsServiceClient),
            headers,
            timeout,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        *req.metadata_mut() = self.headers.clone();
        req.set_timeout(self.timeout);
        req
    }

    pub(crate) async fn send(&self, batch: &Batch) -> Attempt {
        // One export call per signal; the request is cloned because a retry needs it again.
        macro_rules! export {
            ($client:ident, $request:expr, $rejected:ident) => {
                self.$client
                    .clone()
                    .export(self.request($request.clone()))
                    .await
                    .map(|resp| {
                        resp.into_inner()
                            .partial_success
                            .map(|p| (p.$rejected, p.error_message))
                    })
            };
        }
        let result = match batch {
            Batch::Traces(r) => export!(traces, r, rejected_spans),
            Batch::Metrics(r) => export!(metrics, r, rejected_data_points),
            Batch::Logs(r) => export!(logs, r, rejected_log_records),
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
