//! Synthetic OTLP batches for plugin tests and benches.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use weir_core::Batch;

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

/// A traces batch of `spans` spans under one resource, each with `attrs` string attributes
/// (`attr.0` … ) of about 30 bytes, valid ids and a name.
pub fn traces(spans: usize, attrs: usize) -> Batch {
    let spans = (0..spans)
        .map(|i| {
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (i as u64 + 1).to_le_bytes().to_vec(),
                name: format!("GET /api/items/{}", i % 17),
                start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                end_time_unix_nano: 1_700_000_000_000_500_000 + i as u64,
                attributes: (0..attrs)
                    .map(|a| {
                        kv(
                            &format!("attr.{a}"),
                            &format!("value-{a}-of-span-{i:08}-padding"),
                        )
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
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
