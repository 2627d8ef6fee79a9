//! The column view over each signal: what reads return, that writes wait for `finish`, and that
//! an invalid request discards every write.

use prost::Message;
use weir_core::Batch;
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value};
use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_core::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::{Edit, IdField, Level, Session, TextField, Value, kind};

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn str_kv(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn spans() -> Batch {
    let span = |name: &str, attrs: Vec<KeyValue>| Span {
        name: name.into(),
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        attributes: attrs,
        ..Default::default()
    };
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(
                            "a",
                            vec![str_kv("k", "v1"), kv("n", any_value::Value::IntValue(-3))],
                        ),
                        span("b", vec![]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("c", vec![str_kv("k", "v3")])],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    })
}

fn u32s(b: &[u8]) -> Vec<u32> {
    crate::unpack_u32(b).unwrap()
}

#[test]
fn reads_columns_across_resources() {
    let s = Session::new(spans());
    assert_eq!((s.len(), s.resource_count()), (3, 2));
    assert_eq!(u32s(&s.item_resources()), vec![0, 0, 1]);
    let names = s.text(TextField::Name);
    assert_eq!(names.data, b"abc");
    assert_eq!(u32s(&names.offsets), vec![0, 1, 2, 3]);
    assert_eq!(s.ids(IdField::TraceId).len(), 48);
    let t = s.attributes(Level::Item);
    assert_eq!(u32s(&t.owners), vec![0, 0, 2]);
    assert_eq!(t.keys, vec!["k", "n"]);
    assert_eq!(u32s(&t.key_ids), vec![0, 1, 0]);
    assert_eq!(t.values.kinds, vec![kind::STR, kind::INT, kind::STR]);
    assert_eq!(
        i64::from_le_bytes(t.values.numbers[8..16].try_into().unwrap()),
        -3
    );
    let col = s.attribute(Level::Item, "k");
    assert_eq!(col.kinds, vec![kind::STR, kind::ABSENT, kind::STR]);
    assert_eq!(col.text.data, b"v1v3");
}

#[test]
fn writes_apply_in_order_only_at_finish() {
    let mut s = Session::new(spans());
    s.set_attribute(Level::Item, "team".into(), Value::Str("x".into()), None);
    s.remove_attribute(Level::Item, "k".into(), Some(&2u32.to_le_bytes()));
    s.apply(vec![Edit::SetText {
        item: 1,
        field: TextField::Name,
        value: "renamed".into(),
    }]);
    s.set_attribute(
        Level::Resource,
        "env".into(),
        Value::Bool(true),
        Some(&1u32.to_le_bytes()),
    );
    assert_eq!(
        s.text(TextField::Name).data,
        b"abc",
        "reads see the batch as lent"
    );
    let Batch::Traces(r) = s.finish().unwrap() else {
        panic!()
    };
    let all: Vec<&Span> = r
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    assert_eq!(all[1].name, "renamed");
    assert!(
        all.iter()
            .all(|sp| sp.attributes.iter().any(|a| a.key == "team"))
    );
    assert!(
        all[2].attributes.iter().all(|a| a.key != "k"),
        "removed from item 2 only"
    );
    assert!(all[0].attributes.iter().any(|a| a.key == "k"));
    assert!(
        r.resource_spans[0]
            .resource
            .as_ref()
            .is_none_or(|res| res.attributes.is_empty())
    );
    assert_eq!(
        r.resource_spans[1].resource.as_ref().unwrap().attributes[0].key,
        "env"
    );
}

#[test]
fn an_invalid_request_discards_every_write() {
    let original = spans();
    let mut s = Session::new(original.clone());
    s.set_attribute(Level::Item, "team".into(), Value::Str("x".into()), None);
    s.drop_items(&9u32.to_le_bytes());
    let (back, e) = s.finish().unwrap_err();
    assert_eq!(back, original);
    assert_eq!(
        e.to_string(),
        "drop-items: index 9 is out of range (the batch has 3 spans)"
    );

    let mut s = Session::new(spans());
    s.apply(vec![Edit::SetText {
        item: 0,
        field: TextField::Unit,
        value: "ms".into(),
    }]);
    assert!(
        s.finish()
            .unwrap_err()
            .1
            .message
            .contains("cannot be set on spans")
    );

    let mut s = Session::new(spans());
    s.set_attribute(
        Level::Item,
        "j".into(),
        Value::Json("{\"stringValue\":\"x\"}".into()),
        None,
    );
    assert!(
        s.finish()
            .unwrap_err()
            .1
            .message
            .contains("arrayValue or a kvlistValue")
    );
}

#[test]
fn dropping_items_removes_emptied_resources() {
    let mut s = Session::new(spans());
    s.drop_items(&[2u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
    let b = s.finish().unwrap();
    assert_eq!(b.item_count(), 1);
    assert_eq!(b.resource_count(), 1, "the second resource had only item 2");
}

#[test]
fn metrics_items_are_data_points_and_names_belong_to_the_metric() {
    let points = (0..3)
        .map(|i| NumberDataPoint {
            attributes: vec![str_kv("i", &i.to_string())],
            ..Default::default()
        })
        .collect();
    let batch = Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut s = Session::new(batch);
    assert_eq!(s.len(), 3);
    assert_eq!(s.text(TextField::Name).data, b"mmm");
    s.apply(vec![Edit::SetText {
        item: 2,
        field: TextField::Name,
        value: "renamed".into(),
    }]);
    s.drop_items(&1u32.to_le_bytes());
    let Batch::Metrics(r) = s.finish().unwrap() else {
        panic!()
    };
    let m = &r.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(m.name, "renamed");
    assert_eq!(weir_core::data_point_count(m.data.as_ref()), 2);
}

#[test]
fn log_bodies_read_as_text_and_replace_otlp_checks_ids() {
    let log = |body: any_value::Value| LogRecord {
        body: Some(AnyValue { value: Some(body) }),
        ..Default::default()
    };
    let batch = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    log(any_value::Value::StringValue("hi".into())),
                    log(any_value::Value::IntValue(5)),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut s = Session::new(batch.clone());
    let bodies = s.text(TextField::Body);
    let offsets = u32s(&bodies.offsets);
    assert_eq!(&bodies.data[..offsets[1] as usize], b"hi");
    let json: serde_json::Value =
        serde_json::from_slice(&bodies.data[offsets[1] as usize..]).unwrap();
    assert_eq!(
        json["intValue"], "5",
        "a non-string body reads as OTLP/JSON: {json}"
    );
    assert!(
        s.replace_otlp(b"\xff\xff").is_err(),
        "malformed bytes are the plugin's error"
    );
    let mut bad = batch;
    if let Batch::Logs(r) = &mut bad {
        r.resource_logs[0].scope_logs[0].log_records[0].trace_id = vec![1, 2, 3];
    }
    let Batch::Logs(req) = &bad else { panic!() };
    let _ = s.replace_otlp(&req.encode_to_vec());
    assert!(
        s.finish()
            .unwrap_err()
            .1
            .message
            .contains("trace_id must be empty or 16 bytes")
    );
}

/// `set-attribute-values` refuses a column that does not fit its owner list or is malformed,
/// naming the call, and then nothing is written.
#[test]
fn a_malformed_column_of_values_discards_every_write() {
    use crate::{Strings, ValueColumn};
    let one_string = || ValueColumn {
        kinds: vec![kind::STR],
        numbers: vec![0; 8],
        text: Strings {
            data: b"x".to_vec(),
            offsets: [0u32, 1].iter().flat_map(|o| o.to_le_bytes()).collect(),
        },
    };
    let two_owners: Vec<u8> = [0u32, 2].iter().flat_map(|o| o.to_le_bytes()).collect();
    let cases: Vec<(Vec<u8>, ValueColumn, &str)> = vec![
        (
            two_owners,
            one_string(),
            "2 owners but 1 values: the list and the column need one row each",
        ),
        (
            9u32.to_le_bytes().to_vec(),
            one_string(),
            "index 9 is out of range (the batch has 3 spans)",
        ),
        (
            0u32.to_le_bytes().to_vec(),
            ValueColumn {
                numbers: vec![],
                ..one_string()
            },
            "numbers holds 0 bytes, not 8 (8 per row)",
        ),
        (
            0u32.to_le_bytes().to_vec(),
            ValueColumn {
                text: Strings {
                    data: b"x".to_vec(),
                    offsets: [0u32, 5].iter().flat_map(|o| o.to_le_bytes()).collect(),
                },
                ..one_string()
            },
            "row 0: text offsets out of order or range",
        ),
        (
            0u32.to_le_bytes().to_vec(),
            ValueColumn {
                kinds: vec![42],
                ..one_string()
            },
            "row 0: unknown kind 42",
        ),
        (
            0u32.to_le_bytes().to_vec(),
            ValueColumn {
                text: Strings {
                    data: vec![0xff],
                    offsets: [0u32, 1].iter().flat_map(|o| o.to_le_bytes()).collect(),
                },
                ..one_string()
            },
            "row 0: text is not UTF-8",
        ),
    ];
    for (owners, column, message) in cases {
        let original = spans();
        let mut s = Session::new(original.clone());
        s.set_attribute(Level::Item, "team".into(), Value::Str("x".into()), None);
        s.set_attribute_values(Level::Item, "k".into(), &owners, &column);
        let (back, e) = s.finish().unwrap_err();
        assert_eq!(back, original);
        assert_eq!(e.call, "set-attribute-values");
        assert_eq!(e.message, message);
    }

    // The same column on a fitting list writes row by row.
    let mut s = Session::new(spans());
    s.set_attribute_values(Level::Item, "k".into(), &2u32.to_le_bytes(), &one_string());
    let Batch::Traces(r) = s.finish().unwrap() else {
        panic!()
    };
    let k = &r.resource_spans[1].scope_spans[0].spans[0].attributes[0];
    assert_eq!(
        (k.key.as_str(), k.value.clone()),
        ("k", str_kv("k", "x").value)
    );
}
