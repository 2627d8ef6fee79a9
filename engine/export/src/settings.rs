//! The settings both OTLP exporters read from their config, parsed and checked once.

use std::time::Duration;

use weir_config::{Compression, ExporterConfig};

use crate::ExportError;

/// Endpoint, timeout, compression and headers of an otlp-grpc or otlp-http exporter.
pub(crate) struct OtlpSettings {
    /// The configured URL, without a trailing `/`.
    pub endpoint: String,
    /// Time limit of one attempt (default 5 s).
    pub timeout: Duration,
    /// Request compression (default gzip).
    pub compression: Compression,
    /// Extra headers; gRPC sends them as metadata.
    pub headers: http::HeaderMap,
}

impl OtlpSettings {
    pub(crate) fn new(name: &str, config: &ExporterConfig) -> Result<OtlpSettings, ExportError> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in config.headers.iter().flat_map(|h| h.get_ref()) {
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
            endpoint: config
                .endpoint
                .as_ref()
                .map(|e| e.get_ref().trim_end_matches('/').to_string())
                .unwrap_or_default(),
            timeout: config
                .timeout
                .as_ref()
                .map_or(Duration::from_secs(5), |t| t.get_ref().0),
            compression: config
                .compression
                .as_ref()
                .map(|c| *c.get_ref())
                .unwrap_or_default(),
            headers,
        })
    }
}
