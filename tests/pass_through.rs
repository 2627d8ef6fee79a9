//! A pipeline without processors passes requests on as the bytes they arrived in: nothing is
//! decoded and encoded again, so a backend gets exactly what the client sent (fields from a
//! newer OTLP version included), batched requests are joined as they are, and the receiver's
//! checks still hold (malformed requests refused, items with bad ids dropped and reported).
//! Plugin processors read and edit traces requests where they lie, so what they leave alone
//! still arrives as sent; a native processor (`builtin:noop`), or a request with fields this
//! OTLP version does not know, decodes as before.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use weir_tests::fixtures::{numbered_spans, span_numbers};
use weir_tests::{Backend, Gateway, Transport, eventually};

/// A gateway whose traces pipeline (with `processors`, and `batch`) exports over OTLP/HTTP to
/// `backend`, which records the bodies it gets.
async fn gateway(backend: &Backend, processors: &str, batch: &str) -> Gateway {
    let (defs, list) = if processors.is_empty() {
        (String::new(), "")
    } else {
        (processors.to_string(), r#"processors = ["p"]"#)
    };
    Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"

{defs}

[exporters.backend]
type = "otlp-http"
endpoint = "{}"

[pipelines.traces]
receivers = ["otlp"]
{list}
exporters = ["backend"]
batch = {batch}
"#,
        backend.http_url()
    ))
    .await
}

/// A request of `n` numbered spans with a field this OTLP version does not know (tag 1000, a
/// string), as a newer client would send.
fn from_a_newer_client(request: u32, n: usize) -> Vec<u8> {
    let mut body = numbered_spans(request, n).encode_to_vec();
    prost::encoding::string::encode(1000, &"a field from a newer OTLP".to_string(), &mut body);
    body
}

async fn post(gw: &Gateway, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/traces", gw.url("otlp", "http")))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The bodies the backend accepted, in order.
fn bodies(backend: &Backend) -> Vec<Vec<u8>> {
    backend
        .seen()
        .into_iter()
        .filter(|s| s.transport == Transport::Http)
        .filter_map(|s| s.raw)
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_request_reaches_the_backend_byte_for_byte() {
    let backend = Backend::start().await;
    let gw = gateway(&backend, "", "{ send_batch_size = 0 }").await;

    let sent = from_a_newer_client(1, 5);
    let r = post(&gw, sent.clone()).await;
    assert_eq!(r.status(), 200);
    // Over gRPC too.
    let typed = numbered_spans(2, 3);
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    client.export(typed.clone()).await.unwrap();

    assert!(
        eventually(Duration::from_secs(10), || async {
            bodies(&backend).len() >= 2
        })
        .await,
        "the backend got {} requests",
        bodies(&backend).len()
    );
    let got = bodies(&backend);
    assert!(got.contains(&sent), "the HTTP request changed on the way");
    assert!(
        got.contains(&typed.encode_to_vec()),
        "the gRPC request changed on the way"
    );
}

#[tokio::test]
async fn batched_requests_are_joined_as_they_came() {
    let backend = Backend::start().await;
    // Acknowledged on receipt, so that the batcher waits for all three (with `processed` it
    // passes on whatever waits as soon as its queue is empty).
    let gw = gateway(
        &backend,
        "",
        r#"{ send_batch_size = 12, timeout = "10s" }
ack = "received""#,
    )
    .await;

    let sent: Vec<Vec<u8>> = (1..=3).map(|n| from_a_newer_client(n, 4)).collect();
    let posts = sent.iter().map(|b| post(&gw, b.clone()));
    for r in futures::future::join_all(posts).await {
        assert_eq!(r.status(), 200);
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            !bodies(&backend).is_empty()
        })
        .await
    );
    let got = bodies(&backend);
    assert_eq!(
        got.len(),
        1,
        "12 spans make one batch of send_batch_size 12"
    );
    // One request holding the three, in some order, each unchanged.
    let joined = &got[0];
    assert_eq!(joined.len(), sent.iter().map(Vec::len).sum::<usize>());
    assert!(sent.iter().all(|b| contains(joined, b)));
    let mut spans = span_numbers(&backend.delivered(Transport::Http));
    spans.sort_unstable();
    assert_eq!(spans.len(), 12);
}

#[tokio::test]
async fn spans_with_bad_ids_are_dropped_and_reported_on_the_way_through() {
    let backend = Backend::start().await;
    let gw = gateway(&backend, "", "{ send_batch_size = 0 }").await;

    let mut req = numbered_spans(1, 3);
    let second = req
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
        .nth(1)
        .unwrap();
    second.trace_id = vec![0; 16];
    let r = post(&gw, req.encode_to_vec()).await;
    assert_eq!(r.status(), 200);
    let answer = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1, "{}", partial.error_message);

    assert!(
        eventually(Duration::from_secs(10), || async {
            backend.delivered_items(Transport::Http) >= 2
        })
        .await
    );
    let mut spans = span_numbers(&backend.delivered(Transport::Http));
    spans.sort_unstable();
    assert_eq!(spans, vec![(1, 1), (1, 3)]);
}

#[tokio::test]
async fn malformed_requests_are_refused_before_they_are_kept() {
    let backend = Backend::start().await;
    let gw = gateway(&backend, "", "{ send_batch_size = 0 }").await;
    let good = numbered_spans(1, 2).encode_to_vec();
    // Cut inside a span; and a string that is not UTF-8.
    let cut = good[..good.len() - 3].to_vec();
    let mut bad_utf8 = good.clone();
    prost::encoding::bytes::encode(3, &vec![0xff, 0xfe], &mut bad_utf8);
    let resource = ExportTraceServiceRequest {
        resource_spans: vec![Default::default()],
    }
    .encode_to_vec();
    let bad_utf8_inside = [resource.as_slice(), &[0x0a, 0x04, 0x1a, 0x02, 0xff, 0xfe]].concat();
    for body in [cut, bad_utf8_inside] {
        let r = post(&gw, body).await;
        assert_eq!(r.status(), 400);
        let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).to_string();
        assert!(text.contains("invalid OTLP protobuf"), "{text}");
    }
    // A field the schema does not know at the top is skipped, as decoding does.
    assert_eq!(post(&gw, bad_utf8).await.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || async {
            bodies(&backend).len() == 1
        })
        .await
    );
}

#[tokio::test]
async fn a_pipeline_with_a_processor_decodes_and_drops_unknown_fields() {
    let backend = Backend::start().await;
    let gw = gateway(
        &backend,
        "[processors.p]\nplugin = \"builtin:noop\"",
        "{ send_batch_size = 0 }",
    )
    .await;
    let sent = from_a_newer_client(1, 5);
    assert_eq!(post(&gw, sent.clone()).await.status(), 200);
    assert!(
        eventually(Duration::from_secs(20), || async {
            !bodies(&backend).is_empty()
        })
        .await
    );
    let got = &bodies(&backend)[0];
    assert!(!contains(got, b"a field from a newer OTLP"));
    assert_eq!(span_numbers(&backend.delivered(Transport::Http)).len(), 5);
}

#[tokio::test]
async fn a_reload_that_adds_or_removes_a_processor_switches_the_path() {
    let backend = Backend::start().await;
    let gw = gateway(&backend, "", "{ send_batch_size = 0 }").await;
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    let with_noop = config.replace(
        "[exporters.backend]",
        "[processors.p]\nplugin = \"builtin:noop\"\n\n[exporters.backend]",
    );
    let with_noop = with_noop.replace(
        "exporters = [\"backend\"]\nbatch",
        "processors = [\"p\"]\nexporters = [\"backend\"]\nbatch",
    );
    assert_ne!(with_noop, config);
    let marker: &[u8] = b"a field from a newer OTLP";
    let mut round = 0;
    for (text, kept) in [(&with_noop, false), (&config, true)] {
        gw.rewrite_config(text);
        gw.reload().await;
        round += 1;
        assert_eq!(post(&gw, from_a_newer_client(round, 2)).await.status(), 200);
        assert!(
            eventually(Duration::from_secs(20), || async {
                bodies(&backend).len() == round as usize
            })
            .await
        );
        let last = bodies(&backend).pop().unwrap();
        assert_eq!(contains(&last, marker), kept, "round {round}");
    }
}

/// A pipeline of plugins reads and edits requests where they lie: a request `builtin:redact`
/// finds nothing in reaches the backend byte for byte, one with a secret arrives redacted and
/// otherwise the same, `builtin:enrich` adds its attribute to every span, and a request with a
/// field this OTLP version does not know is decoded as before (the field dropped).
#[tokio::test]
async fn a_plugin_pipeline_edits_requests_in_place() {
    let backend = Backend::start().await;
    let gw = gateway(
        &backend,
        r#"[processors.p]
plugin = "builtin:redact"
on_error = "refuse""#,
        "{ send_batch_size = 0 }",
    )
    .await;
    // Written with a longer length prefix than prost writes, so that a request decoded and
    // encoded again would not arrive byte for byte.
    let clean = padded(&numbered_spans(1, 5).encode_to_vec());
    assert_eq!(post(&gw, clean.clone()).await.status(), 200);
    let mut secret = numbered_spans(2, 5);
    let card = "4111 1111 1111 1111";
    *name(&mut secret) = format!("pay {card}");
    assert_eq!(post(&gw, secret.encode_to_vec()).await.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || async {
            bodies(&backend).len() >= 2
        })
        .await
    );
    let got = bodies(&backend);
    assert!(
        got.contains(&clean),
        "a request with nothing to redact changed on the way"
    );
    let redacted = got
        .iter()
        .find(|b| **b != clean)
        .map(|b| ExportTraceServiceRequest::decode(b.as_slice()).unwrap())
        .unwrap();
    assert!(
        !contains(&redacted.encode_to_vec(), card.as_bytes()),
        "the card number reached the backend"
    );
    let mut expected = secret.clone();
    let mut got_back = redacted.clone();
    assert_ne!(
        name(&mut got_back).as_str(),
        name(&mut expected).as_str(),
        "the span holding the card was changed"
    );
    *name(&mut expected) = name(&mut got_back).clone();
    assert_eq!(
        redacted, expected,
        "only the span holding the card was changed"
    );

    let backend = Backend::start().await;
    let gw = gateway(
        &backend,
        r#"[processors.p]
plugin = "builtin:enrich"
config = { actions = [ { action = "insert", key = "deployment.environment", value = "production" } ] }"#,
        "{ send_batch_size = 0 }",
    )
    .await;
    assert_eq!(
        post(&gw, numbered_spans(3, 4).encode_to_vec())
            .await
            .status(),
        200
    );
    assert_eq!(post(&gw, from_a_newer_client(4, 4)).await.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || async {
            bodies(&backend).len() >= 2
        })
        .await
    );
    for body in bodies(&backend) {
        assert!(
            !contains(&body, b"a field from a newer OTLP"),
            "an unknown field passed a processor"
        );
        let r = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let spans: Vec<_> = r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 4);
        for s in spans {
            let env = s
                .attributes
                .iter()
                .find(|kv| kv.key == "deployment.environment");
            assert!(
                env.is_some(),
                "span {} lacks the enriched attribute",
                s.name
            );
        }
    }
}

/// The name of the first span of `r`.
fn name(r: &mut ExportTraceServiceRequest) -> &mut String {
    &mut r
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
        .next()
        .unwrap()
        .name
}

/// `request` with its first resource entry's length written one byte longer than it need be
/// (a varint may carry a redundant zero group; decoders accept it, encoders never write it).
fn padded(request: &[u8]) -> Vec<u8> {
    assert_eq!(
        request[0], 0x0a,
        "a request starts with its first resource entry"
    );
    let mut at = 1;
    let mut len = 0u64;
    for shift in (0..).step_by(7) {
        let b = request[at];
        at += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
    }
    let mut out = vec![0x0a];
    let mut v = len;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.extend([(v as u8) | 0x80, 0x00]);
    out.extend_from_slice(&request[at..]);
    assert_eq!(
        ExportTraceServiceRequest::decode(out.as_slice()).unwrap(),
        ExportTraceServiceRequest::decode(request).unwrap()
    );
    out
}
