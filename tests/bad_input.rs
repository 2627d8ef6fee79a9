//! Malformed, oversized and mislabelled requests each get the status the OTLP spec gives them,
//! and the gateway keeps serving: afterwards a valid request is accepted and delivered, and
//! nothing from the bad ones reached the backend.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_tests::{Backend, Gateway, Transport, eventually};

fn span(trace: u8, id: u8, id_len: usize) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; id_len],
        name: format!("s{id}"),
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A length-prefixed gRPC message frame.
fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![u8::from(compressed)];
    f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const LIMIT: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_request_gets_its_status_and_the_gateway_keeps_serving() {
    let backend = Backend::start().await;
    let gw = Gateway::start(&format!(
        r#"
[receivers.otlp]
grpc = {{ endpoint = "127.0.0.1:0", max_recv_msg_size = "64KiB" }}
http = {{ endpoint = "127.0.0.1:0", max_request_body_size = "64KiB" }}

[exporters.backend]
type = "otlp-grpc"
endpoint = "{}"

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0 }}
"#,
        backend.grpc_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let traces_url = format!("{}/v1/traces", gw.url("otlp", "http"));
    let post = |ct: &'static str, enc: Option<&'static str>, body: Vec<u8>| {
        let mut r = http.post(&traces_url).header("content-type", ct).body(body);
        if let Some(e) = enc {
            r = r.header("content-encoding", e);
        }
        r.send()
    };

    // Malformed protobuf: 400 with a google.rpc.Status body.
    let r = post(
        "application/x-protobuf",
        None,
        b"\xff\xff\xff not protobuf".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let st = tonic_types::pb::Status::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(st.code, tonic::Code::InvalidArgument as i32);
    assert!(
        st.message.contains("invalid OTLP protobuf"),
        "{}",
        st.message
    );

    // Malformed JSON: 400 with a JSON Status.
    let r = post("application/json", None, b"{\"resourceSpans\": [".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let st: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(st["code"], 3);
    // A bad hex id in JSON is malformed input too.
    let bad_hex =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"01"}]}]}]}"#;
    assert_eq!(
        post("application/json", None, bad_hex.to_vec())
            .await
            .unwrap()
            .status(),
        400
    );

    // Wrong content type or encoding: 415.
    assert_eq!(
        post("text/plain", None, b"hello".to_vec())
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        post("application/x-protobuf", Some("br"), b"x".to_vec())
            .await
            .unwrap()
            .status(),
        415
    );

    // Too large, plain and as a gzip bomb (small on the wire, 16 MiB inflated): 413.
    let big = traces((0..2000).map(|i| span(1, (i % 250) as u8 + 1, 8)).collect()).encode_to_vec();
    assert!(big.len() > LIMIT);
    assert_eq!(
        post("application/x-protobuf", None, big.clone())
            .await
            .unwrap()
            .status(),
        413
    );
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < LIMIT);
    assert_eq!(
        post("application/x-protobuf", Some("gzip"), bomb.clone())
            .await
            .unwrap()
            .status(),
        413
    );
    // A corrupt gzip body: 400.
    assert_eq!(
        post(
            "application/x-protobuf",
            Some("gzip"),
            b"\x1f\x8bnot gzip".to_vec()
        )
        .await
        .unwrap()
        .status(),
        400
    );

    // Wrong method and unknown path.
    assert_eq!(http.get(&traces_url).send().await.unwrap().status(), 405);
    let r = http
        .post(format!("{}/v1/profiles", gw.url("otlp", "http")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // gRPC, raw frames over HTTP/2: malformed → INVALID_ARGUMENT, too large → RESOURCE_EXHAUSTED.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let grpc_url = format!(
        "{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        gw.url("otlp", "grpc")
    );
    let grpc = |body: Vec<u8>, gzip: bool| {
        let mut r = h2
            .post(&grpc_url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body);
        if gzip {
            r = r.header("grpc-encoding", "gzip");
        }
        r.send()
    };
    let status = |r: &reqwest::Response| {
        r.headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let r = grpc(frame(false, b"\xff\xff\xff not protobuf"), false)
        .await
        .unwrap();
    assert_eq!(status(&r).as_deref(), Some("3"), "malformed gRPC message");
    let r = grpc(frame(false, &big), false).await.unwrap();
    assert_eq!(status(&r).as_deref(), Some("8"), "oversized gRPC message");
    let r = grpc(frame(true, &bomb), true).await.unwrap();
    assert_eq!(status(&r).as_deref(), Some("8"), "gzip bomb over gRPC");
    let r = grpc(frame(true, b"\x1f\x8bnot gzip"), true).await.unwrap();
    assert_eq!(status(&r).as_deref(), Some("3"), "corrupt gzip over gRPC");
    // A real message's gzip, damaged after a valid header: mid-stream, truncated, wrong CRC.
    let good = gzip(&traces(vec![span(9, 1, 8), span(9, 2, 8)]).encode_to_vec());
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let truncated = good[..good.len() - 9].to_vec();
    let mut bad_crc = good.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0x01;
    for (what, body) in [
        ("flipped", flipped),
        ("truncated", truncated),
        ("crc", bad_crc),
    ] {
        let r = grpc(frame(true, &body), true).await.unwrap();
        assert_eq!(
            status(&r).as_deref(),
            Some("3"),
            "damaged gzip ({what}) over gRPC"
        );
    }

    // Invalid ids: the valid spans are accepted, the rest reported with exact counts.
    let mixed = traces(vec![
        span(7, 1, 8),
        span(7, 2, 4),
        span(0, 3, 8),
        span(7, 4, 8),
    ]);
    let r = post("application/x-protobuf", None, mixed.encode_to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let resp = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(resp.partial_success.map(|p| p.rejected_spans), Some(2));
    let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
        .await
        .unwrap();
    let resp = client
        .export(traces(vec![span(8, 5, 8), span(8, 6, 0)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.partial_success.map(|p| p.rejected_spans), Some(1));

    // Still serving, and only the four valid spans reached the backend.
    let r = http
        .get(format!("http://{}/healthz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let arrived = eventually(Duration::from_secs(30), || async {
        backend.delivered_items(Transport::Grpc) >= 3
    })
    .await;
    assert!(arrived, "valid spans not delivered:\n{}", gw.log_text());
    let names: Vec<String> = backend
        .delivered(Transport::Grpc)
        .iter()
        .flat_map(|b| match b {
            weir_core::Batch::Traces(t) => t
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| s.name.clone())
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["s1", "s4", "s5"]);
    // Over HTTP: 8 malformed requests (counted as one each: their items are unknown) + 2
    // rejected spans; over gRPC: 7 malformed requests + 1 rejected span.
    for (transport, want) in [("http", 10.0), ("grpc", 8.0)] {
        let refused = gw
            .metric(
                "weir_receiver_refused_items_total",
                &[("transport", transport), ("reason", "invalid")],
            )
            .await;
        assert_eq!(refused, want, "refused over {transport}");
    }
}
