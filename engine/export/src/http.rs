//! `type = "otlp-http"`: OTLP/HTTP protobuf to `<endpoint>/v1/<signal>`, gzip by default.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use weir_config::{Compression, OtlpExporter};

use crate::settings::OtlpSettings;
use tokio_rustls::rustls::ClientConfig;
use weir_core::{Batch, Signal};

use crate::ExportError;
use crate::attempt::Attempt;
use crate::compress::{compress, encoding_name};

/// An OTLP/HTTP protobuf client.
pub(crate) struct HttpSink {
    client: reqwest::Client,
    /// Indexed like [`Signal::ALL`].
    urls: [String; 3],
    compression: Compression,
}

impl HttpSink {
    /// A client of `config`'s endpoint; `tls` is the client config for an `https://` one.
    pub(crate) fn new(
        name: &str,
        config: &OtlpExporter,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<HttpSink, ExportError> {
        let OtlpSettings {
            endpoint: base,
            timeout,
            compression,
            headers,
        } = OtlpSettings::new(name, config)?;
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .default_headers(headers);
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls((*tls).clone());
        }
        let client = builder.build().map_err(|e| ExportError::Endpoint {
            exporter: name.to_string(),
            endpoint: base.clone(),
            reason: e.to_string(),
        })?;
        let urls = Signal::ALL.map(|s| format!("{base}/v1/{}", s.as_str()));
        for url in &urls {
            reqwest::Url::parse(url).map_err(|e| ExportError::Endpoint {
                exporter: name.to_string(),
                endpoint: base.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(HttpSink {
            client,
            urls,
            compression,
        })
    }

    /// `batch`'s request body, encoded and compressed: made once per batch (on a blocking-safe
    /// thread, see [`crate::worker`]) and sent by every attempt.
    pub(crate) fn encode(&self, batch: &Batch) -> Result<Bytes, String> {
        let raw = batch.to_bytes();
        match compress(self.compression, &raw) {
            Ok(body) => Ok(body.map_or(raw, Bytes::from)),
            Err(e) => Err(format!("cannot compress the request: {e}")),
        }
    }

    /// One POST of `body` (from [`HttpSink::encode`]) for `signal`.
    pub(crate) async fn send(&self, signal: Signal, body: Bytes) -> Attempt {
        let encoding = encoding_name(self.compression);
        let url = &self.urls[signal.index()];
        let mut req = self
            .client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body);
        if let Some(enc) = encoding {
            req = req.header(http::header::CONTENT_ENCODING, enc);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // Connection refused, reset, timeout: the backend may come back.
            Err(e) => {
                return Attempt::Retryable {
                    message: format!("POST {url}: {e}"),
                    throttle: None,
                };
            }
        };
        let status = resp.status();
        let throttle = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.unwrap_or_default();
        classify(url, status, throttle, signal, &body)
    }
}

/// Maps an OTLP/HTTP response to an attempt outcome, as the OTLP spec lists the retryable codes.
fn classify(
    url: &str,
    status: StatusCode,
    throttle: Option<Duration>,
    signal: Signal,
    body: &Bytes,
) -> Attempt {
    if status.is_success() {
        let partial = match signal {
            Signal::Traces => ExportTraceServiceResponse::decode(body.as_ref())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_spans, p.error_message)),
            Signal::Metrics => ExportMetricsServiceResponse::decode(body.as_ref())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_data_points, p.error_message)),
            Signal::Logs => ExportLogsServiceResponse::decode(body.as_ref())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_log_records, p.error_message)),
        };
        let (rejected, message) = partial.unwrap_or_default();
        return Attempt::Delivered {
            rejected: u64::try_from(rejected).unwrap_or(0),
            message,
        };
    }
    let message = format!("POST {url}: HTTP {status}");
    match status.as_u16() {
        // 408: the request took too long to arrive (Weir's own listeners answer it when a
        // body misses `body_read_timeout`); HTTP says it may be repeated.
        408 | 429 | 502 | 503 | 504 => Attempt::Retryable { message, throttle },
        code => match config_refusal_hint(code) {
            Some(hint) => Attempt::Misconfigured { message, hint },
            None => Attempt::Permanent { message },
        },
    }
}

/// For an HTTP status by which a backend refuses an exporter's configuration rather than the
/// data (credentials, URL, encoding), what to change; `None` for any other status. Used for
/// native exporters and for the responses exporter plugins got.
pub fn config_refusal_hint(status: u16) -> Option<&'static str> {
    match status {
        401 | 403 => {
            Some("the backend refuses the credentials: check `headers` (e.g. authorization)")
        }
        404 | 405 => Some(
            "nothing takes data at this URL: check `endpoint` (for OTLP the signal path is \
             added to it, e.g. /v1/traces)",
        ),
        415 => Some("the backend does not accept this encoding: check `compression`"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_the_listed_statuses() {
        let b = Bytes::new();
        let s = Some(Duration::from_secs(2));
        for code in [408, 429, 502, 503, 504] {
            let st = StatusCode::from_u16(code).expect("valid");
            assert!(
                matches!(classify("u", st, s, Signal::Logs, &b), Attempt::Retryable { throttle, .. } if throttle == s)
            );
        }
        for code in [400, 413, 500] {
            let st = StatusCode::from_u16(code).expect("valid");
            assert!(matches!(
                classify("u", st, None, Signal::Logs, &b),
                Attempt::Permanent { .. }
            ));
        }
        for code in [401, 403, 404, 405, 415] {
            let st = StatusCode::from_u16(code).expect("valid");
            assert!(matches!(
                classify("u", st, None, Signal::Logs, &b),
                Attempt::Misconfigured { .. }
            ));
        }
        assert_eq!(
            classify("u", StatusCode::OK, None, Signal::Logs, &b),
            Attempt::Delivered {
                rejected: 0,
                message: String::new()
            }
        );
    }
}
