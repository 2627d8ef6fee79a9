//! OTLP/JSON for whole batches: the export-request JSON that the `file` exporter writes, that
//! fixtures and `weir plugin test` read, and that `weir lab` replays.

use crate::Batch;
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;

impl Batch {
    /// Parses an OTLP/JSON export request; the signal comes from its top-level key
    /// (`resourceSpans`, `resourceMetrics` or `resourceLogs`).
    pub fn from_otlp_json(json: &str) -> Result<Batch, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        Batch::from_otlp_value(v)
    }

    /// Like [`Batch::from_otlp_json`] for JSON already parsed.
    pub fn from_otlp_value(v: serde_json::Value) -> Result<Batch, String> {
        let err = |e: serde_json::Error| format!("not OTLP/JSON: {e}");
        if v.get("resourceSpans").is_some() {
            serde_json::from_value::<ExportTraceServiceRequest>(v)
                .map(Batch::Traces)
                .map_err(err)
        } else if v.get("resourceMetrics").is_some() {
            serde_json::from_value::<ExportMetricsServiceRequest>(v)
                .map(Batch::Metrics)
                .map_err(err)
        } else if v.get("resourceLogs").is_some() {
            serde_json::from_value::<ExportLogsServiceRequest>(v)
                .map(Batch::Logs)
                .map_err(err)
        } else {
            Err("none of resourceSpans, resourceMetrics, resourceLogs: not an OTLP/JSON export request".into())
        }
    }

    /// The batch as an OTLP/JSON export request value.
    pub fn to_otlp_value(&self) -> serde_json::Value {
        let v = match &*self.typed() {
            Batch::Traces(r) => serde_json::to_value(r),
            Batch::Metrics(r) => serde_json::to_value(r),
            Batch::Logs(r) => serde_json::to_value(r),
            // `typed` decoded it.
            Batch::Wire(_) => Ok(serde_json::Value::Null),
        };
        v.unwrap_or(serde_json::Value::Null)
    }

    /// The batch as one line of OTLP/JSON (no intermediate value: the file exporter's path).
    pub fn to_otlp_json(&self) -> serde_json::Result<String> {
        match &*self.typed() {
            Batch::Traces(r) => serde_json::to_string(r),
            Batch::Metrics(r) => serde_json::to_string(r),
            Batch::Logs(r) => serde_json::to_string(r),
            // `typed` decoded it.
            Batch::Wire(_) => Ok("{}".to_string()),
        }
    }
}
