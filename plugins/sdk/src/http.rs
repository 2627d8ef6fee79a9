//! Outgoing HTTP for exporters, over `wasi:http`. Weir lets requests reach only the hosts in
//! the exporter's `allowed_hosts` (and its `config.endpoint`); anything else fails with
//! [`HttpError::denied`]. Each call blocks until the whole response has arrived.

use crate::exporter::{ExportError, Sent};

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The usual mapping of a response to an export outcome, as OTLP/HTTP defines it: 2xx is
    /// sent; 429, 502, 503 and 504 are retryable (honouring `Retry-After` in seconds), and so
    /// is 408 (the request took too long to arrive; HTTP says it may be repeated); any other
    /// status is rejected.
    pub fn outcome(&self) -> Result<Sent, ExportError> {
        self.outcome_with(|status| matches!(status, 408 | 429 | 502 | 503 | 504))
    }

    /// Like [`Response::outcome`] with every 5xx retryable, as Prometheus remote write and
    /// Elasticsearch ask of their clients.
    pub fn outcome_retrying_5xx(&self) -> Result<Sent, ExportError> {
        self.outcome_with(|status| matches!(status, 408 | 429) || status >= 500)
    }

    /// 2xx is sent; statuses `retryable` accepts are retryable (honouring `Retry-After` in
    /// seconds); any other status is rejected.
    pub fn outcome_with(&self, retryable: impl Fn(u16) -> bool) -> Result<Sent, ExportError> {
        let text = || String::from_utf8_lossy(&self.body[..self.body.len().min(512)]).into_owned();
        match self.status {
            200..=299 => Ok(Sent::all()),
            s if retryable(s) => Err(ExportError::Retryable {
                message: format!("HTTP {}: {}", self.status, text()),
                retry_after_ms: self
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| s.saturating_mul(1000)),
            }),
            s => Err(ExportError::Rejected(format!("HTTP {s}: {}", text()))),
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone)]
pub struct HttpError {
    /// What happened.
    pub message: String,
    /// Weir refused the request: its host is not in the exporter's `allowed_hosts`.
    pub denied: bool,
}

impl From<HttpError> for ExportError {
    /// A refused host cannot succeed on retry (the batch is dropped and counted); everything
    /// else (connection refused, timeouts, resets) is retryable.
    fn from(e: HttpError) -> ExportError {
        if e.denied {
            ExportError::Rejected(e.message)
        } else {
            ExportError::retryable(e.message)
        }
    }
}

fn err(message: impl Into<String>) -> HttpError {
    HttpError {
        message: message.into(),
        denied: false,
    }
}

/// Waits `ms` milliseconds (an exporter pacing its own retries within one call).
pub fn sleep_ms(ms: u64) {
    #[cfg(target_arch = "wasm32")]
    wasip2::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// POSTs `body` to `url` (`http://` or `https://`) with `headers`.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, HttpError> {
    send("POST", url, headers, body)
}

/// Sends one request (`method` such as `GET`, `POST`, `PUT`) and reads the whole response.
/// Outside Weir (a native test build) every request fails.
#[cfg(not(target_arch = "wasm32"))]
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, HttpError> {
    let _ = (headers, body);
    Err(err(format!(
        "{method} {url}: wasi:http is only available to plugins running in Weir"
    )))
}

/// Sends one request (`method` such as `GET`, `POST`, `PUT`) and reads the whole response.
#[cfg(target_arch = "wasm32")]
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, HttpError> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasip2::io::streams::StreamError;

    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| err(format!("{url}: not an absolute URL")))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(err(format!("{url}: unsupported scheme {other}"))),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&list).map_err(|e| err(format!("invalid header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let bad = |what: &str| err(format!("{url}: invalid {what}"));
    request.set_method(&method).map_err(|()| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;
    let outgoing = request
        .body()
        .map_err(|()| err("request body unavailable"))?;
    // Sent first, so that the body streams out instead of filling a buffer.
    let response = outgoing_handler::handle(request, None).map_err(|e| from_code(url, &e))?;
    // A request the host refuses (or that fails to connect) closes the body stream; the reason
    // comes with the response, so a failed write waits for it.
    let mut write_failed = None;
    {
        let stream = outgoing
            .write()
            .map_err(|()| err("request body stream unavailable"))?;
        for chunk in body.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                write_failed = Some(err(format!("{url}: writing the request: {e:?}")));
                break;
            }
        }
    }
    let finished = OutgoingBody::finish(outgoing, None);
    let incoming = loop {
        match response.get() {
            Some(r) => break r,
            None => response.subscribe().block(),
        }
    };
    let incoming = incoming
        .map_err(|()| err("response taken twice"))?
        .map_err(|e| from_code(url, &e))?;
    if let Some(e) = write_failed {
        return Err(e);
    }
    finished.map_err(|e| from_code(url, &e))?;
    let status = incoming.status();
    let headers = incoming.headers().entries();
    let body_handle = incoming
        .consume()
        .map_err(|()| err("response body unavailable"))?;
    let mut out = Vec::new();
    {
        let stream = body_handle
            .stream()
            .map_err(|()| err("response body stream unavailable"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(err(format!("{url}: reading the response: {e:?}"))),
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body: out,
    })
}

#[cfg(target_arch = "wasm32")]
fn from_code(url: &str, code: &wasip2::http::types::ErrorCode) -> HttpError {
    HttpError {
        message: format!("{url}: {code:?}"),
        denied: matches!(code, wasip2::http::types::ErrorCode::HttpRequestDenied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), b"3".to_vec())],
            body: b"why".to_vec(),
        }
    }

    #[test]
    fn the_otlp_mapping_retries_408_429_and_gateway_errors_and_rejects_the_rest() {
        for s in [408, 429, 502, 503, 504] {
            assert!(
                matches!(
                    response(s).outcome(),
                    Err(ExportError::Retryable {
                        retry_after_ms: Some(3000),
                        ..
                    })
                ),
                "{s}"
            );
        }
        for s in [400, 401, 404, 413, 415, 500] {
            assert!(
                matches!(response(s).outcome(), Err(ExportError::Rejected(_))),
                "{s}"
            );
        }
        assert!(response(204).outcome().is_ok());
        assert!(matches!(
            response(500).outcome_retrying_5xx(),
            Err(ExportError::Retryable { .. })
        ));
        assert!(matches!(
            response(408).outcome_retrying_5xx(),
            Err(ExportError::Retryable { .. })
        ));
    }
}
