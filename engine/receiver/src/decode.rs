//! Request bodies of OTLP/HTTP: content type, content encoding, size limits, decoding.

use std::io::Read;

use bytes::Bytes;
use prost::Message;
use weir_core::Batch;
use weir_core::Signal;
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/x-protobuf`
    Proto,
    /// `application/json`
    Json,
}

/// Why a body could not be turned into a batch; each maps to one HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// 415.
    UnsupportedMediaType(String),
    /// 413.
    TooLarge(usize),
    /// 400.
    Malformed(String),
}

/// Reads the media type of a Content-Type header value.
pub(crate) fn format(content_type: Option<&str>) -> Result<Format, BodyError> {
    let ct = content_type.unwrap_or_default();
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Format::Proto),
        "application/json" => Ok(Format::Json),
        _ => Err(BodyError::UnsupportedMediaType(format!(
            "unsupported Content-Type {ct:?}: send application/x-protobuf or application/json"
        ))),
    }
}

/// Decompresses `raw` per its Content-Encoding, refusing to produce more than `limit` bytes.
pub(crate) fn decompress(
    encoding: Option<&str>,
    raw: Bytes,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let enc = encoding.unwrap_or("identity").trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = match enc.as_str() {
        "" | "identity" => {
            return if raw.len() > limit {
                Err(BodyError::TooLarge(limit))
            } else {
                Ok(raw)
            };
        }
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(raw.as_ref())
            .take(cap)
            .read_to_end(&mut out),
        "zstd" => match zstd::stream::read::Decoder::new(raw.as_ref()) {
            Ok(mut d) => {
                // Bound the decoder's window by the body limit too: a frame may otherwise ask
                // for up to 128 MiB of window, whatever the limit.
                let log = (usize::BITS - limit.max(1 << 10).leading_zeros()).clamp(10, 27);
                match d.window_log_max(log) {
                    Ok(()) => d.take(cap).read_to_end(&mut out),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        },
        other => {
            return Err(BodyError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {other:?}: send gzip, zstd or an uncompressed body"
            )));
        }
    };
    if let Err(e) = read {
        return Err(BodyError::Malformed(format!(
            "cannot decompress the {enc} body: {e}"
        )));
    }
    if out.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(Bytes::from(out))
}

/// Decodes an export request of `signal` in `format`; a protobuf one is only checked and kept as
/// its bytes when `wire` (the intake's pipelines read no fields: [`crate::intake::Intake::wire`]).
pub(crate) fn batch(
    signal: Signal,
    format: Format,
    body: Bytes,
    wire: bool,
) -> Result<Batch, BodyError> {
    fn proto<T: Message + Default>(body: &[u8]) -> Result<T, BodyError> {
        T::decode(body).map_err(|e| BodyError::Malformed(format!("invalid OTLP protobuf: {e}")))
    }
    if wire && format == Format::Proto {
        return Batch::from_wire(signal, body)
            .map_err(|e| BodyError::Malformed(format!("invalid OTLP protobuf: {e}")));
    }
    let body = body.as_ref();
    fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
        serde_json::from_slice(body)
            .map_err(|e| BodyError::Malformed(format!("invalid OTLP JSON: {e}")))
    }
    Ok(match (signal, format) {
        (Signal::Traces, Format::Proto) => Batch::Traces(proto::<ExportTraceServiceRequest>(body)?),
        (Signal::Traces, Format::Json) => Batch::Traces(json::<ExportTraceServiceRequest>(body)?),
        (Signal::Metrics, Format::Proto) => {
            Batch::Metrics(proto::<ExportMetricsServiceRequest>(body)?)
        }
        (Signal::Metrics, Format::Json) => {
            Batch::Metrics(json::<ExportMetricsServiceRequest>(body)?)
        }
        (Signal::Logs, Format::Proto) => Batch::Logs(proto::<ExportLogsServiceRequest>(body)?),
        (Signal::Logs, Format::Json) => Batch::Logs(json::<ExportLogsServiceRequest>(body)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).expect("in memory");
        Bytes::from(e.finish().expect("in memory"))
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            decompress(Some("gzip"), bomb, 1 << 20),
            Err(BodyError::TooLarge(1 << 20))
        );
    }

    #[test]
    fn decodes_otlp_json_with_hex_ids_and_string_int64() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"x","kind":2,"startTimeUnixNano":"1544712660000000000",
            "endTimeUnixNano":1544712661000000000,"unknownField":1,
            "attributes":[{"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;
        let Ok(Batch::Traces(r)) = batch(
            Signal::Traces,
            Format::Json,
            Bytes::from_static(body),
            false,
        ) else {
            panic!("should decode");
        };
        let span = &r.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[0], 0x5b);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    }

    #[test]
    fn rejects_unknown_types_and_encodings() {
        assert!(matches!(
            format(Some("text/plain")),
            Err(BodyError::UnsupportedMediaType(_))
        ));
        assert_eq!(
            format(Some("application/json; charset=utf-8")),
            Ok(Format::Json)
        );
        assert!(matches!(
            decompress(Some("br"), Bytes::new(), 10),
            Err(BodyError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            decompress(Some("gzip"), Bytes::from_static(b"not gzip"), 10),
            Err(BodyError::Malformed(_))
        ));
    }
}
