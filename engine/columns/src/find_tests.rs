//! The host kernels: what `find` reports, and that `otlp-items` / `replace-items` touch only
//! the listed items.

use prost::Message;
use weir_core::Batch;
use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value as V,
};
use weir_core::otlp::metrics::v1::{
    Exemplar, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
};
use weir_core::otlp::resource::v1::Resource;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};

use crate::{Found, MAX_PASSES, Matcher, Session, push_u32, unpack_u32};

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> V {
    V::StringValue(v.into())
}

fn packed(items: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    items.iter().for_each(|&i| push_u32(&mut out, i));
    out
}

/// `batch` as sessions are lent it: decoded, and kept as the bytes a receiver keeps (which
/// traces and logs sessions search and edit in place).
fn both(batch: Batch) -> [Batch; 2] {
    let wire = Batch::from_wire(batch.signal(), bytes::Bytes::from(batch.encode_to_vec())).unwrap();
    assert!(matches!(wire, Batch::Wire(_)));
    [batch, wire]
}

fn matcher(patterns: &[&str], cards: bool) -> Matcher {
    let p: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Matcher::new(&p, cards).unwrap()
}

/// Eight spans; span `i` hides `secret` in place `i` (0 hides nothing).
fn traces(secret: &str) -> Batch {
    let plain = |name: &str| Span {
        name: name.into(),
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        attributes: vec![kv("http.route", s("/orders"))],
        ..Default::default()
    };
    let mut spans: Vec<Span> = (0..8).map(|i| plain(&format!("op{i}"))).collect();
    spans[1].name = format!("GET {secret}");
    spans[2].attributes.push(kv(
        "deep",
        V::KvlistValue(KeyValueList {
            values: vec![kv(
                "list",
                V::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(V::BytesValue(secret.as_bytes().to_vec())),
                    }],
                }),
            )],
        }),
    ));
    spans[3].events.push(span::Event {
        name: "e".into(),
        attributes: vec![kv(&format!("user:{secret}"), V::BoolValue(true))],
        ..Default::default()
    });
    spans[4].links.push(span::Link {
        trace_state: format!("k={secret}"),
        ..Default::default()
    });
    spans[5].status = Some(Status {
        message: format!("failed for {secret}"),
        code: status::StatusCode::Error as i32,
    });
    spans[6]
        .attributes
        .push(kv("card", V::IntValue(4_111_111_111_111_111)));
    spans[7]
        .attributes
        .push(kv("amount", V::DoubleValue(4_111_111_111_111_111.0)));
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s("shop"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans.drain(..5).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s("pay"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    })
}

#[test]
fn find_reports_the_items_a_pattern_or_a_card_touches_at_any_depth() {
    for b in both(traces("ada@example.com")) {
        find_reports(&Session::new(b));
    }
}

fn find_reports(session: &Session) {
    let email = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]{2,}";
    let found = session.find(&matcher(&[email], false));
    assert_eq!(
        found,
        Found {
            items: packed(&[1, 2, 3, 4, 5]),
            shared: false
        }
    );
    let found = session.find(&matcher(&[email], true));
    assert_eq!(found.items, packed(&[1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(
        session.find(&matcher(&[], true)).items,
        packed(&[6, 7]),
        "cards alone"
    );
    assert_eq!(
        session.find(&matcher(&["nothing-here"], false)),
        Found::default()
    );
    let shared = session.find(&matcher(&["shop"], false));
    assert_eq!(
        shared,
        Found {
            items: Vec::new(),
            shared: true
        },
        "resource attributes are shared by items"
    );
}

#[test]
fn patterns_searched_alone_or_together_find_what_each_finds() {
    // The default redact patterns: JWT (`eyJ`) and bearer (`bearer` in any case) start with
    // literals and share a pass, email (`@` inside) goes alone, the card pattern has no
    // literal and gets the automaton.
    let redact = [
        r"[0-9](?:[ -]?[0-9]){12,}",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        r"(?i)bearer\s+[A-Za-z0-9._~+/-]+=*",
    ];
    assert_eq!(matcher(&redact, true).passes(), 3);
    assert_eq!(
        matcher(&[r"[a-z]{3}[0-9]+", r"[0-9]{16}"], false).passes(),
        1
    );
    let emails: Vec<String> = (0..20).map(|i| format!("[a-z]+@corp{i}")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    assert_eq!(
        matcher(&emails, false).passes(),
        MAX_PASSES - 1,
        "passes are bounded"
    );
    let keys: Vec<String> = (0..200).map(|i| format!("secret-key-{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(matcher(&keys, false).passes(), 1, "literals share one pass");
    assert_eq!(matcher(&[], true).passes(), 0);
    for secret in ["ada@example.com", "4111 1111 1111 1111", "Bearer abc.def"] {
        for b in both(traces(secret)) {
            let session = Session::new(b);
            let mut patterns = redact.to_vec();
            patterns.extend(["shop", r"[a-z]+-[0-9]", "op[0-9]"]);
            let all = session.find(&matcher(&patterns, false));
            let mut items = Vec::new();
            let mut shared = false;
            for p in &patterns {
                let one = session.find(&matcher(&[p], false));
                items.extend(unpack_u32(&one.items).unwrap());
                shared |= one.shared;
            }
            items.sort_unstable();
            items.dedup();
            assert_eq!(
                all,
                Found {
                    items: packed(&items),
                    shared
                },
                "{secret}"
            );
            assert!(!items.is_empty(), "{secret}");
        }
    }
}

#[test]
fn a_match_across_two_strings_reports_every_item_it_touches() {
    // "/orders" ends item 0's text and "GET x" (its name) starts item 1's; a pattern that can
    // span the newline between them reports both (never neither).
    for b in both(traces("x")) {
        let found = Session::new(b).find(&matcher(&[r"/orders\s+GET"], false));
        assert_eq!(found.items, packed(&[0, 1]));
    }
}

#[test]
fn patterns_find_cannot_honour_are_refused_with_their_index() {
    let err = |p: &[&str]| {
        let p: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        Matcher::new(&p, false).unwrap_err()
    };
    assert!(
        err(&["ok", r"\bword\b"]).starts_with("patterns[1]: "),
        "{}",
        err(&["ok", r"\bx"])
    );
    assert!(err(&["^abc"]).contains("anchor or word boundary"));
    assert!(err(&["a*"]).contains("matches the empty string"));
    assert!(err(&["(unclosed"]).starts_with("patterns[0]: "));
    let many: Vec<&str> = vec!["x"; 257];
    assert!(err(&many).contains("at most 256 patterns"));
    let long = "y".repeat(70_000);
    assert!(err(&[long.as_str()]).contains("65536 bytes in all"));
    // Patterns are compiled as given, not joined as text: a `(?x)` comment ends at its line.
    let m = matcher(&["(?x) ada # the name", "bob"], false);
    let session = Session::new(traces("bob"));
    assert_eq!(session.find(&m).items, packed(&[1, 2, 3, 4, 5]));
}

#[test]
fn replaced_items_go_back_to_their_places_and_nothing_else_changes() {
    for b in both(traces("ada@example.com")) {
        replaced_items_go_back(b);
    }
}

fn replaced_items_go_back(lent_batch: Batch) {
    let original = lent_batch.typed().into_owned();
    let mut session = Session::new(lent_batch);
    let list = packed(&[2, 6]);
    let lent = session.otlp_items(&list);
    let mut req = ExportTraceServiceRequest::decode(lent.as_slice()).unwrap();
    assert_eq!(req.resource_spans.len(), 2, "each item keeps its resource");
    assert_eq!(req.resource_spans[0].scope_spans[0].spans[0].name, "op2");
    assert_eq!(req.resource_spans[1].scope_spans[0].spans[0].name, "op6");
    req.resource_spans[0].scope_spans[0].spans[0].name = "changed-2".into();
    req.resource_spans[1].scope_spans[0].spans[0]
        .attributes
        .clear();
    session.replace_items(&list, &req.encode_to_vec()).unwrap();
    let Batch::Traces(after) = session.finish().unwrap().typed().into_owned() else {
        panic!()
    };
    let Batch::Traces(mut expected) = original else {
        panic!()
    };
    expected.resource_spans[0].scope_spans[0].spans[2].name = "changed-2".into();
    expected.resource_spans[1].scope_spans[0].spans[1]
        .attributes
        .clear();
    assert_eq!(after, expected);
}

#[test]
fn a_nan_in_a_shared_resource_does_not_stop_items_coming_back() {
    let mut batch = traces("ada@example.com");
    if let Batch::Traces(r) = &mut batch {
        let res = r.resource_spans[0].resource.as_mut().unwrap();
        res.attributes.push(kv("load", V::DoubleValue(f64::NAN)));
    }
    for b in both(batch) {
        let mut session = Session::new(b);
        let list = packed(&[1]);
        let lent = session.otlp_items(&list);
        session.replace_items(&list, &lent).unwrap();
        assert!(session.finish().is_ok());
    }
}

#[test]
fn bad_ids_in_handed_back_items_are_named_by_their_place_in_the_batch() {
    for b in both(traces("x")) {
        let mut session = Session::new(b);
        let list = packed(&[6]);
        let mut req =
            ExportTraceServiceRequest::decode(session.otlp_items(&list).as_slice()).unwrap();
        req.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2];
        assert!(session.replace_items(&list, &req.encode_to_vec()).is_err());
        let e = session.finish().unwrap_err().1;
        assert!(e.message.starts_with("item 6: "), "{e}");
    }
}

#[test]
fn replace_items_refuses_what_it_cannot_put_back() {
    for b in both(traces("x")) {
        replace_items_refuses(b);
    }
}

fn replace_items_refuses(batch: Batch) {
    let list = packed(&[1, 3]);
    let lent = |s: &mut Session| {
        ExportTraceServiceRequest::decode(s.otlp_items(&list).as_slice()).unwrap()
    };
    // A changed resource (shared with other items).
    let mut s = Session::new(batch.clone());
    let mut req = lent(&mut s);
    req.resource_spans[0].resource = None;
    assert!(s.replace_items(&list, &req.encode_to_vec()).is_err());
    assert!(
        s.finish()
            .unwrap_err()
            .1
            .message
            .contains("unchanged and in the same order")
    );
    // An item fewer.
    let mut s = Session::new(batch.clone());
    let mut req = lent(&mut s);
    req.resource_spans[0].scope_spans[0].spans.pop();
    assert!(s.replace_items(&list, &req.encode_to_vec()).is_err());
    // Lists out of order or out of range, and mixing with other writes.
    let mut s = Session::new(batch.clone());
    let req = lent(&mut s).encode_to_vec();
    assert!(s.replace_items(&packed(&[3, 1]), &req).is_err());
    let mut s = Session::new(batch.clone());
    assert!(s.otlp_items(&packed(&[8])).is_empty());
    let e = s.finish().unwrap_err().1;
    assert!(e.message.starts_with("index 8 is out of range"), "{e}");
    assert_eq!(e.call, "otlp-items");
    let mut s = Session::new(batch.clone());
    let req = lent(&mut s).encode_to_vec();
    s.drop_items(&packed(&[0]));
    assert!(s.replace_items(&list, &req).is_err());
    let mut s = Session::new(batch);
    let req = lent(&mut s).encode_to_vec();
    s.replace_items(&list, &req).unwrap();
    s.drop_items(&packed(&[0]));
    assert!(s.finish().is_err(), "no other write after replace-items");
}

#[test]
fn metric_points_are_found_lent_and_replaced_one_by_one() {
    let point = |v: &str| NumberDataPoint {
        attributes: vec![kv("user", s(v))],
        exemplars: vec![Exemplar {
            filtered_attributes: vec![kv("note", s(&format!("{v}-ex")))],
            ..Default::default()
        }],
        ..Default::default()
    };
    let batch = Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    metadata: vec![kv("owner", s("team-a"))],
                    data: Some(Data::Sum(Sum {
                        data_points: vec![point("a"), point("secret"), point("c")],
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut session = Session::new(batch);
    assert_eq!(session.find(&matcher(&["c-ex"], false)).items, packed(&[2]));
    assert!(
        session.find(&matcher(&["team-a"], false)).shared,
        "metadata is shared"
    );
    let list = packed(&[1]);
    let mut req =
        ExportMetricsServiceRequest::decode(session.otlp_items(&list).as_slice()).unwrap();
    let Some(Data::Sum(sum)) = &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    assert_eq!((sum.data_points.len(), sum.is_monotonic), (1, true));
    sum.data_points[0].attributes[0].value = Some(AnyValue {
        value: Some(s("****")),
    });
    session.replace_items(&list, &req.encode_to_vec()).unwrap();
    let Batch::Metrics(after) = session.finish().unwrap() else {
        panic!()
    };
    let Some(Data::Sum(sum)) = &after.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    let users: Vec<_> = sum
        .data_points
        .iter()
        .map(|p| p.attributes[0].value.clone().unwrap().value.unwrap())
        .collect();
    assert_eq!(users, [s("a"), s("****"), s("c")]);
}

#[test]
fn find_searches_every_string_of_spans_and_log_records_decoded_or_as_bytes() {
    use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let secret = "s3cr3t";
    let record = |i: usize| LogRecord {
        event_name: if i == 1 {
            format!("e-{secret}")
        } else {
            "e".into()
        },
        severity_text: if i == 2 { secret.into() } else { "INFO".into() },
        body: Some(AnyValue {
            value: Some(match i {
                3 => s(secret),
                4 => V::KvlistValue(KeyValueList {
                    values: vec![kv(
                        "k",
                        V::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(s(secret)),
                            }],
                        }),
                    )],
                }),
                _ => s("body"),
            }),
        }),
        attributes: if i == 5 {
            vec![kv(secret, V::BoolValue(true))]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let logs = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..6).map(record).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut spans = traces("x");
    if let Batch::Traces(r) = &mut spans {
        r.resource_spans[0].scope_spans[0].spans[0].trace_state = format!("k={secret}");
        r.resource_spans[1].scope_spans[0].scope =
            Some(weir_core::otlp::common::v1::InstrumentationScope {
                attributes: vec![kv("in.scope", s(secret))],
                ..Default::default()
            });
    }
    for b in both(logs) {
        let found = Session::new(b).find(&matcher(&[secret], false));
        assert_eq!(found.items, packed(&[1, 2, 3, 4, 5]));
        assert!(!found.shared);
    }
    for b in both(spans) {
        let found = Session::new(b).find(&matcher(&[secret], false));
        assert_eq!(found.items, packed(&[0]));
        assert!(found.shared, "scope attributes are shared by items");
    }
}
