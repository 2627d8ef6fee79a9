//! OTLP batches for tests and benches: realistic ones from the shared generator
//! ([`weir_synth`]), and helpers to read them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use weir_core::Batch;
use weir_synth::{Generator, Shape};

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// The seed of the fixtures' telemetry: the same batches in every test and bench.
const SEED: u64 = 0x5eed_f1c5;

/// A traces batch of exactly `spans` realistic spans from [`weir_synth`] (the shop's services
/// calling each other, grouped by service replica and instrumentation scope), each with
/// `attrs` extra string attributes `attr.0` … of about 30 bytes.
pub fn traces(spans: usize, attrs: usize) -> Batch {
    let shape = Shape {
        extra_attributes: attrs,
        ..Shape::default()
    };
    Batch::Traces(Generator::new(SEED).with_shape(shape).traces(spans))
}

/// A metrics batch of exactly `points` realistic data points of every metric type.
pub fn metrics(points: usize) -> Batch {
    Batch::Metrics(Generator::new(SEED).metrics(points))
}

/// A logs batch of exactly `records` realistic log records.
pub fn logs(records: usize) -> Batch {
    Batch::Logs(Generator::new(SEED).logs(records))
}

/// A traces request of `n` realistic spans (seeded by `request`) whose span ids encode the
/// request's number and each span's index from 1 (`request` in the high 32 bits, big-endian),
/// parents renumbered to match, so a test can tell which accepted span reached a backend.
pub fn numbered_spans(request: u32, n: usize) -> ExportTraceServiceRequest {
    let mut r = Generator::new(SEED ^ u64::from(request)).traces(n);
    let mut renamed = std::collections::HashMap::new();
    let spans = r
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans);
    for (i, span) in (1u32..).zip(spans) {
        let id = ((u64::from(request) << 32) | u64::from(i))
            .to_be_bytes()
            .to_vec();
        renamed.insert(std::mem::replace(&mut span.span_id, id.clone()), id);
    }
    for span in r
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        if let Some(id) = renamed.get(&span.parent_span_id) {
            span.parent_span_id = id.clone();
        }
    }
    r
}

/// The (request, index) of every span [`numbered_spans`] made in `batches`, in batch order.
pub fn span_numbers<'a>(batches: impl IntoIterator<Item = &'a Batch>) -> Vec<(u32, u32)> {
    batches
        .into_iter()
        .flat_map(|b| match b {
            Batch::Traces(t) => t
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .filter_map(|s| span_number(&s.span_id))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The (request, index) a span id made by [`numbered_spans`] encodes.
pub fn span_number(span_id: &[u8]) -> Option<(u32, u32)> {
    let id = u64::from_be_bytes(span_id.try_into().ok()?);
    Some(((id >> 32) as u32, id as u32))
}

/// The string value of attribute `key` on every span, in order.
pub fn span_attribute(batch: &Batch, key: &str) -> Vec<Option<String>> {
    let Batch::Traces(r) = batch else {
        return Vec::new();
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| {
            s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
                match &kv.value.as_ref()?.value {
                    Some(any_value::Value::StringValue(v)) => Some(v.clone()),
                    _ => None,
                }
            })
        })
        .collect()
}

/// Lower-case hex of an id (trace ids in test output and in the Python SDK's reports).
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The string value of attribute `key`, if it is there and a string.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value.as_ref()?.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// An OTLP/protobuf `ExportTraceServiceRequest` body holding `spans` under one resource and
/// scope, as a client would POST it.
pub fn encode_spans(spans: Vec<Span>) -> Vec<u8> {
    use prost::Message;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}
