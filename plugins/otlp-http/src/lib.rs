//! `builtin:otlp-http`: sends every batch as one OTLP/HTTP request, the way the Collector's
//! `otlphttp` exporter does, as a complete example of an exporter plugin.
//!
//! ```toml
//! [exporters.backend]
//! type = "plugin"
//! plugin = "builtin:otlp-http"
//! config = { endpoint = "http://127.0.0.1:4318", encoding = "proto", compression = "gzip" }
//! ```
//!
//! `endpoint` gets `/v1/traces`, `/v1/metrics` or `/v1/logs` appended unless a
//! `traces_endpoint` / `metrics_endpoint` / `logs_endpoint` is given. A partial success in the
//! response (`rejected_spans`, `rejected_data_points`, `rejected_log_records`) is reported as
//! such; 408, 429, 502, 503 and 504 are retried (honouring `Retry-After`); other statuses are
//! rejected.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Deserialize;
use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, Signal, http};

/// The plugin's config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    metrics_endpoint: Option<String>,
    logs_endpoint: Option<String>,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    compression: Compression,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    Proto,
    Json,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Compression {
    #[default]
    Gzip,
    None,
}

/// The exporter: one URL per signal.
struct OtlpHttp {
    urls: [String; 3],
    settings: Settings,
}

fn url(base: Option<&String>, exact: Option<&String>, path: &str) -> Result<String, String> {
    if let Some(u) = exact {
        return Ok(u.clone());
    }
    let base =
        base.ok_or("endpoint: required (or traces_endpoint, metrics_endpoint and logs_endpoint)")?;
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "endpoint: {base:?} is not an http:// or https:// URL"
        ));
    }
    Ok(format!("{}/v1/{path}", base.trim_end_matches('/')))
}

impl Exporter for OtlpHttp {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        let e = s.endpoint.as_ref();
        let urls = [
            url(e, s.traces_endpoint.as_ref(), "traces")?,
            url(e, s.metrics_endpoint.as_ref(), "metrics")?,
            url(e, s.logs_endpoint.as_ref(), "logs")?,
        ];
        Ok(OtlpHttp { urls, settings: s })
    }

    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
        let (url, partial_key) = match batch.signal() {
            Signal::Traces => (&self.urls[0], "rejectedSpans"),
            Signal::Metrics => (&self.urls[1], "rejectedDataPoints"),
            Signal::Logs => (&self.urls[2], "rejectedLogRecords"),
        };
        let (mut body, content_type) = match self.settings.encoding {
            Encoding::Proto => (batch.otlp(), "application/x-protobuf"),
            Encoding::Json => (batch.otlp_json().into_bytes(), "application/json"),
        };
        let mut headers: Vec<(&str, &str)> = self
            .settings
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push(("content-type", content_type));
        if let Compression::Gzip = self.settings.compression {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body)
                .and_then(|()| gz.finish())
                .map(|b| body = b)
                .map_err(|e| ExportError::Rejected(format!("gzip: {e}")))?;
            headers.push(("content-encoding", "gzip"));
        }
        let response = http::post(url, &headers, &body)?;
        let sent = response.outcome()?;
        // A partial success names how many items the backend rejected. With protobuf the field
        // is the first varint of the response message; JSON spells it out.
        let rejected = match self.settings.encoding {
            Encoding::Json => json_count(&response.body, partial_key),
            Encoding::Proto => proto_rejected(&response.body),
        };
        Ok(match rejected {
            Some(n) if n > 0 => Sent::partial(n, String::from_utf8_lossy(&response.body)),
            _ => sent,
        })
    }
}

/// `"key": N` or `"key": "N"` in a small JSON response.
fn json_count(body: &[u8], key: &str) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The rejected count of an `Export*ServiceResponse`: field 1 (`partial_success`), a message
/// whose field 1 is the count.
fn proto_rejected(body: &[u8]) -> Option<u64> {
    let (tag, rest) = varint(body)?;
    if tag != (1 << 3 | 2) {
        return None;
    }
    let (len, rest) = varint(rest)?;
    let inner = rest.get(..usize::try_from(len).ok()?)?;
    let (tag, rest) = varint(inner)?;
    if tag != (1 << 3) {
        return None;
    }
    varint(rest).map(|(n, _)| n)
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, &bytes[i + 1..]));
        }
    }
    None
}

weir_plugin::export_exporter!(OtlpHttp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_counts_are_read_from_both_encodings() {
        assert_eq!(
            json_count(
                br#"{"partialSuccess":{"rejectedSpans":"3"}}"#,
                "rejectedSpans"
            ),
            Some(3)
        );
        assert_eq!(
            json_count(
                br#"{"partialSuccess":{"rejectedSpans": 7}}"#,
                "rejectedSpans"
            ),
            Some(7)
        );
        assert_eq!(json_count(b"{}", "rejectedSpans"), None);
        // partial_success { rejected_spans: 5, error_message: "x" }
        assert_eq!(
            proto_rejected(&[0x0a, 0x05, 0x08, 0x05, 0x12, 0x01, b'x']),
            Some(5)
        );
        assert_eq!(proto_rejected(&[]), None);
    }
}
