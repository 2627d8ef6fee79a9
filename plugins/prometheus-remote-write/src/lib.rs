//! `builtin:prometheus-remote-write`: metrics as Prometheus remote-write 1.0 requests
//! (protobuf `WriteRequest`, snappy block compression), converted as the OpenTelemetry
//! Prometheus compatibility specification says.
//!
//! ```toml
//! [exporters.prometheus]
//! type = "plugin"
//! plugin = "builtin:prometheus-remote-write"
//! config = { endpoint = "http://127.0.0.1:9090/api/v1/write" }
//! ```
//!
//! Gauges and sums become samples (monotonic cumulative sums get `_total`); histograms become
//! `_bucket{le}`, `_sum` and `_count`; summaries become `{quantile}`, `_sum` and `_count`. The
//! unit is added to the name (`ms` → `_milliseconds`, `s` → `_seconds`, `By` → `_bytes` …).
//! `service.namespace/service.name` becomes `job` and `service.instance.id` `instance`; every
//! other resource attribute goes on a `target_info` sample. Delta sums and histograms and
//! exponential histograms cannot be written as Prometheus series: their points are reported as
//! rejected (dropped and counted), the rest of the batch is sent.

mod convert;
mod proto;

use std::collections::BTreeMap;

use serde::Deserialize;
use weir_plugin::{Batch, Config, ExportError, Exporter, Sent, Signal, http};

/// The plugin's config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The remote-write URL, e.g. `http://127.0.0.1:9090/api/v1/write`.
    endpoint: String,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Add the unit to metric names (the specification's default).
    #[serde(default = "yes")]
    add_unit_suffix: bool,
}

fn yes() -> bool {
    true
}

struct RemoteWrite(Settings);

impl Exporter for RemoteWrite {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        if !(s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://")) {
            return Err(format!(
                "endpoint: {:?} is not an http:// or https:// URL",
                s.endpoint
            ));
        }
        Ok(RemoteWrite(s))
    }

    fn send(&mut self, batch: &Batch) -> Result<Sent, ExportError> {
        if batch.signal() != Signal::Metrics {
            return Err(ExportError::Rejected(format!(
                "prometheus-remote-write exports metrics only; list it in metrics pipelines (got {:?})",
                batch.signal()
            )));
        }
        let json: serde_json::Value = serde_json::from_str(&batch.otlp_json())
            .map_err(|e| ExportError::Rejected(format!("reading the batch: {e}")))?;
        let converted = convert::convert(&json, self.0.add_unit_suffix);
        let mut sent = if converted.rejected > 0 {
            Sent::partial(converted.rejected, converted.why.join("; "))
        } else {
            Sent::all()
        };
        if converted.series.is_empty() {
            return Ok(sent);
        }
        let body = snap::raw::Encoder::new()
            .compress_vec(&proto::write_request(&converted.series))
            .map_err(|e| ExportError::Rejected(format!("snappy: {e}")))?;
        let mut headers: Vec<(&str, &str)> = self
            .0
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.extend([
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "snappy"),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ]);
        let response = http::post(&self.0.endpoint, &headers, &body)?;
        // Remote write: 5xx and 429 are retried, other 4xx (out-of-order samples …) are not.
        response.outcome_retrying_5xx()?;
        if sent.rejected == 0 {
            sent = Sent::all();
        }
        Ok(sent)
    }
}

weir_plugin::export_exporter!(RemoteWrite);
