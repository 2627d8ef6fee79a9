//! One OTLP/gRPC unary call whose request Weir framed and compressed itself, over tonic's
//! `Channel` (its connections, TLS and HTTP/2). tonic's client compresses every attempt again,
//! at a fixed gzip level 6; framing here lets a batch be encoded and compressed once, at the
//! fast level (as the HTTP exporter does), and every retry send the same bytes.

use std::io::Read;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tower::{Service, ServiceExt};
use weir_config::Compression;

/// Largest response message read from a backend.
const MAX_RESPONSE: usize = 4 << 20;

/// `encoded` protobuf as one gRPC message frame (flag, length, message), compressed with
/// `compression` ([`crate::compress`]).
pub(crate) fn frame(encoded: &[u8], compression: Compression) -> std::io::Result<Bytes> {
    let compressed = crate::compress::compress(compression, encoded)?;
    let payload = compressed.as_deref().unwrap_or(encoded);
    let len = u32::try_from(payload.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "request larger than 4GiB")
    })?;
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(u8::from(compressed.is_some()));
    out.put_u32(len);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// One call of `path` with `framed` (from [`frame`], whose `grpc-encoding` is
/// `grpc_encoding`); returns the response message's bytes.
/// Transport failures keep their error as the status's source (so they are retried); a status
/// the server sent has none.
pub(crate) async fn call(
    channel: &Channel,
    path: &'static str,
    metadata: &HeaderMap,
    grpc_encoding: Option<&'static str>,
    timeout: Duration,
    framed: Bytes,
) -> Result<Bytes, Status> {
    let mut req = Request::post(Uri::from_static(path))
        .body(Body::new(Full::new(framed)))
        .map_err(|e| Status::internal(format!("building the request: {e}")))?;
    let h = req.headers_mut();
    h.extend(metadata.clone());
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    h.insert(
        "grpc-accept-encoding",
        HeaderValue::from_static("gzip,zstd"),
    );
    if let Some(e) = grpc_encoding {
        h.insert("grpc-encoding", HeaderValue::from_static(e));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{}m", timeout.as_millis().max(1))) {
        h.insert("grpc-timeout", v);
    }
    let exchange = async {
        let mut channel = channel.clone();
        let svc = channel
            .ready()
            .await
            .map_err(|e| Status::from_error(Box::new(e)))?;
        let resp = svc
            .call(req)
            .await
            .map_err(|e| Status::from_error(Box::new(e)))?;
        let (parts, body) = resp.into_parts();
        // A trailers-only response carries its status in the headers.
        if let Some(s) = Status::from_header_map(&parts.headers)
            && s.code() != Code::Ok
        {
            return Err(s);
        }
        if parts.status != http::StatusCode::OK {
            return Err(from_http(parts.status));
        }
        let collected = body
            .collect()
            .await
            .map_err(|e| Status::from_error(Box::new(e)))?;
        let status = collected
            .trailers()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&parts.headers));
        match status {
            Some(s) if s.code() == Code::Ok => {}
            Some(s) => return Err(s),
            None => return Err(Status::internal("the response has no grpc-status")),
        }
        message(&collected.to_bytes(), &parts.headers)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {}ms",
            timeout.as_millis()
        ))),
    }
}

/// The first message of a response body, decompressed as its `grpc-encoding` says. An empty
/// body is an empty message.
fn message(body: &[u8], headers: &HeaderMap) -> Result<Bytes, Status> {
    let Some((head, rest)) = body.split_first_chunk::<5>() else {
        return Ok(Bytes::new());
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let msg = rest
        .get(..len)
        .ok_or_else(|| Status::internal("truncated response message"))?;
    if head[0] == 0 {
        return Ok(Bytes::copy_from_slice(msg));
    }
    let enc = headers
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut out = Vec::new();
    let read = match enc {
        "gzip" => flate2::read::GzDecoder::new(msg)
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut out),
        "zstd" => zstd::stream::read::Decoder::new(msg)
            .and_then(|d| d.take(MAX_RESPONSE as u64 + 1).read_to_end(&mut out)),
        other => {
            return Err(Status::internal(format!(
                "the response is compressed with {other:?}, which Weir did not ask for"
            )));
        }
    };
    read.map_err(|e| Status::internal(format!("cannot decompress the response: {e}")))?;
    if out.len() > MAX_RESPONSE {
        return Err(Status::internal("response message larger than 4MiB"));
    }
    Ok(Bytes::from(out))
}

/// The gRPC code of a non-200 HTTP answer without a grpc-status, as gRPC's HTTP mapping says.
fn from_http(status: http::StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("HTTP {status} without a gRPC status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_compressed_and_plain_messages() {
        let msg = vec![7u8; 1000];
        let plain = frame(&msg, Compression::None).expect("frame");
        assert_eq!(plain[0], 0);
        assert_eq!(&plain[1..5], &1000u32.to_be_bytes());
        assert_eq!(&plain[5..], &msg[..]);
        let gz = frame(&msg, Compression::Gzip).expect("frame");
        assert_eq!(gz[0], 1);
        let len = u32::from_be_bytes([gz[1], gz[2], gz[3], gz[4]]) as usize;
        assert_eq!(len, gz.len() - 5);
        let mut headers = HeaderMap::new();
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        assert_eq!(message(&gz, &headers).expect("decoded"), Bytes::from(msg));
    }

    #[test]
    fn http_answers_without_a_grpc_status_map_as_grpc_says() {
        assert_eq!(
            from_http(http::StatusCode::SERVICE_UNAVAILABLE).code(),
            Code::Unavailable
        );
        assert_eq!(
            from_http(http::StatusCode::NOT_FOUND).code(),
            Code::Unimplemented
        );
        assert!(message(&[1, 0, 0, 0, 9, 1], &HeaderMap::new()).is_err());
    }
}
