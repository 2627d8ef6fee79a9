//! The OTLP id rules, in one place: receivers drop items that break them, and the plugin host
//! refuses a batch a plugin hands back that breaks them.

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

fn id_ok(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

fn optional_id_ok(id: &[u8], len: usize) -> bool {
    id.is_empty() || id.len() == len
}

/// What is wrong with a span's ids, if anything: the trace id must be 16 bytes and the span id
/// 8 bytes, neither all zero; the parent span id empty or 8 bytes.
pub fn span_id_problem(s: &Span) -> Option<&'static str> {
    if !id_ok(&s.trace_id, 16) {
        Some("trace_id must be 16 bytes, not all zero")
    } else if !id_ok(&s.span_id, 8) {
        Some("span_id must be 8 bytes, not all zero")
    } else if !optional_id_ok(&s.parent_span_id, 8) {
        Some("parent_span_id must be empty or 8 bytes")
    } else {
        None
    }
}

/// What is wrong with a log record's ids, if anything: the trace id empty or 16 bytes, the span
/// id empty or 8 bytes.
pub fn log_id_problem(l: &LogRecord) -> Option<&'static str> {
    if !optional_id_ok(&l.trace_id, 16) {
        Some("trace_id must be empty or 16 bytes")
    } else if !optional_id_ok(&l.span_id, 8) {
        Some("span_id must be empty or 8 bytes")
    } else {
        None
    }
}
