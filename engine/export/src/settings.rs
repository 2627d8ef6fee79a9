//! The settings both OTLP exporters read from their config, parsed and checked once.

use std::time::Duration;

use weir_config::{Compression, OtlpExporter};

use crate::ExportError;

/// Endpoint, timeout, compression and headers of an otlp-grpc or otlp-http exporter.
pub(crate) struct OtlpSettings {
    /// The configured URL, without a trailing `/`.
    pub endpoint: String,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// Request compression.
    pub compression: Compression,
    /// Extra headers; gRPC sends them as metadata.
    pub headers: http::HeaderMap,
}

impl OtlpSettings {
    pub(crate) fn new(name: &str, config: &OtlpExporter) -> Result<OtlpSettings, ExportError> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &config.headers {
            let bad = |reason: String| ExportError::Header {
                exporter: name.to_string(),
                header: k.clone(),
                reason,
            };
            let key = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let value = http::HeaderValue::from_str(v).map_err(|e| bad(e.to_string()))?;
            headers.insert(key, value);
        }
        Ok(OtlpSettings {
            endpoint: config.endpoint.get_ref().trim_end_matches('/').to_string(),
            timeout: config.timeout.0,
            compression: config.compression,
            headers,
        })
    }
}
