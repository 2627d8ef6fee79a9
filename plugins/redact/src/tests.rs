//! The plugin's own tests: the prefilters, the host kernel and what is lent.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn one_span(value: V) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "op".into(),
                    attributes: vec![KeyValue {
                        key: "k".into(),
                        value: Some(AnyValue { value: Some(value) }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Weir's `find` kernel accepts the patterns of every built-in detector and blocked keys
/// (else the plugin would read whole batches), and configs it cannot serve have none.
#[test]
fn the_host_kernel_takes_every_builtin_detectors_patterns() {
    let all = format!(
        r#"{{"detectors": {:?}, "blocked_keys": ["password", "a.b*c"], "custom_patterns": [{{"name": "order", "regex": "ORD-[0-9]{{6}}"}}]}}"#,
        detect::BUILTIN
    );
    let r = Redactor::from_config(&all).unwrap();
    let (patterns, cards) = r.kernel().unwrap();
    assert!(cards);
    assert_eq!(patterns.len(), detect::BUILTIN.len() + 3);
    weir_columns::Matcher::new(patterns, cards).unwrap();
    for no_kernel in [
        r#"{"allowed_keys": ["x"]}"#,
        r#"{"blocked_key_patterns": ["^secret"]}"#,
        r#"{"custom_patterns": [{"name": "n", "regex": "^ORD"}]}"#,
    ] {
        assert!(
            Redactor::from_config(no_kernel).unwrap().kernel().is_none(),
            "{no_kernel}"
        );
    }
}

/// Through the SDK's native host: only the item holding a secret is lent and rewritten;
/// the others come back untouched.
#[test]
fn only_items_holding_something_are_rewritten() {
    let span = |i: usize, value: &str| {
        format!(
            r#"{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b716920333{i}","name":"op{i}","attributes":[{{"key":"k","value":{{"stringValue":"{value}"}}}}]}}"#
        )
    };
    let mut spans: Vec<String> = (0..6)
        .map(|i| {
            span(
                i,
                if i == 3 {
                    "mail ada@example.com"
                } else {
                    "GET /orders"
                },
            )
        })
        .collect();
    // Span 0 carries a span id Weir would refuse on the way back. Only a plugin that hands
    // back the whole batch has it checked; one that hands back just span 3 does not.
    spans[0] = spans[0].replace("b7ad6b7169203330", "b7ad");
    let fixture = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    );
    let whole = r#"{"blocked_key_patterns": ["^never$"]}"#;
    let refused = weir_plugin::testing::run::<Redact>(whole, &fixture).unwrap_err();
    assert!(refused.contains("invalid ids"), "{refused}");
    let out = weir_plugin::testing::run::<Redact>("{}", &fixture).unwrap();
    let spans = &out["resourceSpans"][0]["scopeSpans"][0]["spans"];
    let value = |i: usize| spans[i]["attributes"][0]["value"]["stringValue"].clone();
    assert_eq!(value(3), "mail ****");
    for i in [0, 1, 2, 4, 5] {
        assert_eq!(value(i), "GET /orders", "span {i}");
        assert_eq!(spans[i]["name"], format!("op{i}"));
    }
}

#[test]
fn the_encoded_request_prefilter_misses_no_single_secret() {
    let r = Redactor::from_config(r#"{"blocked_keys":["password"]}"#).unwrap();
    // A 49-byte value has length prefix b'1', a digit and a word character.
    let ssn = format!("123-45-6789{}", " ".repeat(38));
    assert_eq!(ssn.len(), 0x31);
    let secrets = [
        V::StringValue(ssn),
        V::StringValue("4111 1111 1111 1111".into()),
        V::StringValue("mail ada@example.com".into()),
        V::StringValue("AKIAIOSFODNN7EXAMPLE".into()),
        V::StringValue("bearer abc".into()),
        V::StringValue("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x".into()),
        V::IntValue(4_111_111_111_111_111),
        V::IntValue(-4_111_111_111_111_111),
        V::DoubleValue(4_111_111_111_111_111.0),
        V::BytesValue(b"mail ada@example.com".to_vec()),
    ];
    for s in secrets {
        let blob = one_span(s.clone());
        assert!(r.may_need_redaction(&blob), "{s:?}");
        let (out, pass) = r.redact_otlp(Signal::Traces, &blob).unwrap();
        assert!(out.is_some() && pass.changed(), "{s:?}");
    }
    // A secret in a key is redacted in the key, and the count's label is the redacted key.
    let mut req = ExportTraceServiceRequest::decode(one_span(V::IntValue(1)).as_slice()).unwrap();
    req.resource_spans[0].scope_spans[0].spans[0].attributes[0].key = "user:ada@example.com".into();
    let counts = r.redact_traces(&mut req);
    assert_eq!(
        req.resource_spans[0].scope_spans[0].spans[0].attributes[0].key,
        "user:****"
    );
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["user:****"]);
    let clean = one_span(V::StringValue("GET /api/v1/orders/42?page=7".into()));
    assert!(
        !r.may_need_redaction(&clean),
        "nothing to redact, nothing to decode"
    );
    let key = Redactor::from_config(r#"{"blocked_keys":["k"]}"#).unwrap();
    assert!(key.may_need_redaction(&clean), "a blocked key is seen");
    let allow = Redactor::from_config(r#"{"allowed_keys":["x"]}"#).unwrap();
    assert!(
        allow.may_need_redaction(&clean),
        "allow-lists always decode"
    );
}
