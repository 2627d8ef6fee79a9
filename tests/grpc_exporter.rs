//! The otlp-grpc exporter's requests as a gRPC server sees them: Weir frames and compresses
//! each batch itself (once, for every attempt), so a real tonic server must read them with each
//! compression, get the configured headers as metadata, and Weir must read the server's answer
//! (here a gzip-compressed partial success) and count what it rejected.

#![allow(
    clippy::unwrap_used,
    reason = "in tests and the load harness a failed unwrap is the failure report"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use weir_tests::fixtures::numbered_spans;
use weir_tests::gateway::Gateway;

/// What the server saw of each request: spans, `grpc-encoding`, the `x-tenant` metadata.
type Seen = Arc<Mutex<Vec<(usize, Option<String>, Option<String>)>>>;

struct Server(Seen);

#[tonic::async_trait]
impl TraceService for Server {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let m = request.metadata();
        let get = |k: &str| m.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (encoding, tenant) = (get("grpc-encoding"), get("x-tenant"));
        let spans = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.lock().unwrap().push((spans, encoding, tenant));
        // Every request: 3 spans rejected, said in a gzip-compressed answer.
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "three too many".into(),
            }),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_arrives_with_its_metadata_and_the_answer_is_read() {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(Server(seen.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    for (i, compression) in ["gzip", "zstd", "none"].into_iter().enumerate() {
        let config = format!(
            r#"
[receivers.otlp]
grpc = "127.0.0.1:0"

[exporters.backend]
type = "otlp-grpc"
endpoint = "http://{addr}"
compression = "{compression}"
headers = {{ x-tenant = "acme" }}

[pipelines.traces]
receivers = ["otlp"]
exporters = ["backend"]
batch = {{ send_batch_size = 0, timeout = "10ms" }}
"#
        );
        let gw = Gateway::start(&config).await;
        let mut client = TraceServiceClient::connect(gw.url("otlp", "grpc"))
            .await
            .unwrap();
        client.export(numbered_spans(1, 10)).await.unwrap();
        gw.wait_metric(
            "weir_exporter_dropped_items_total",
            &[("exporter", "backend"), ("reason", "rejected")],
            3.0,
            Duration::from_secs(20),
        )
        .await;
        let sent = gw
            .metric("weir_exporter_sent_items_total", &[("exporter", "backend")])
            .await;
        assert_eq!(sent, 7.0, "{compression}");
        let s = seen.lock().unwrap().clone();
        assert_eq!(s.len(), i + 1, "{compression}: {s:?}");
        let want_encoding = (compression != "none").then(|| compression.to_string());
        assert_eq!(
            s[i],
            (10, want_encoding, Some("acme".to_string())),
            "{compression}"
        );
    }
}
