//! Recorded workloads: OTLP JSON lines as Weir's `file` exporter writes them (one export request
//! per line; metrics and logs lines are skipped), or OTLP protobuf files (one
//! `ExportTraceServiceRequest`, or the Collector file exporter's 4-byte length-prefixed
//! sequence). A recording carries no arrival times, so each span arrives when it ended: the
//! virtual clock starts at the earliest span start.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use weir_core::Batch;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::{InstrumentationScope, any_value};
use weir_core::otlp::resource::v1::Resource;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::Error;
use crate::workload::{Source, Truths, WINDOW, window_after};

/// A recording loaded into memory, sorted by arrival.
pub struct Recorded {
    /// The resources and scopes of the recording, by index.
    origins: Vec<(Option<Resource>, Option<InstrumentationScope>)>,
    /// (arrival ns from the start, origin index, span), in arrival order; consumed from the end.
    spans: Vec<(u64, usize, Span)>,
    window_end: u64,
    duration: Duration,
    /// Truth is computed once, on the first batch.
    truth_pending: bool,
}

/// Reads every export request in a recording.
fn requests(file: &str, bytes: &[u8]) -> Result<Vec<ExportTraceServiceRequest>, Error> {
    let bad = |message: String| Error::Recording {
        file: file.to_string(),
        message,
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    // A protobuf request can start with bytes that look like JSON ('\n', then '{' as a
    // length): only take the JSON path when the file is valid UTF-8 and its first line parses.
    let json_like = first == Some(&b'{')
        && std::str::from_utf8(bytes).is_ok_and(|t| {
            t.lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        });
    if json_like {
        let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 JSON: {e}")))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| bad(format!("line {}: not JSON: {e}", i + 1)))?;
            if v.get("resourceSpans").is_none() {
                continue;
            }
            let r: ExportTraceServiceRequest = serde_json::from_value(v).map_err(|e| {
                bad(format!(
                    "line {}: not an OTLP/JSON traces request: {e}",
                    i + 1
                ))
            })?;
            out.push(r);
        }
        return Ok(out);
    }
    // The Collector's proto format: 4-byte big-endian length, then the message, repeated.
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(msg) = rest.get(4..4 + len) else {
            out.clear();
            break;
        };
        match ExportTraceServiceRequest::decode(msg) {
            Ok(r) => out.push(r),
            Err(_) => {
                out.clear();
                break;
            }
        }
        rest = &rest[4 + len..];
    }
    if !out.is_empty() && rest.is_empty() {
        return Ok(out);
    }
    ExportTraceServiceRequest::decode(bytes)
        .map(|r| vec![r])
        .map_err(|e| bad(format!("neither OTLP/JSON lines nor OTLP protobuf: {e}")))
}

impl Recorded {
    /// Loads a recording; `file` names it in errors.
    pub fn load(file: &str, bytes: &[u8]) -> Result<Recorded, Error> {
        let mut origins = Vec::new();
        let mut spans = Vec::new();
        for r in requests(file, bytes)? {
            for rs in r.resource_spans {
                for ss in rs.scope_spans {
                    let at = origins.len();
                    origins.push((rs.resource.clone(), ss.scope));
                    spans.extend(ss.spans.into_iter().map(|s| (0, at, s)));
                }
            }
        }
        if spans.is_empty() {
            return Err(Error::Recording {
                file: file.to_string(),
                message: "no spans in it".into(),
            });
        }
        // Spans without a timestamp (0) would put the origin in 1970.
        let start = spans
            .iter()
            .map(|(_, _, s)| s.start_time_unix_nano)
            .filter(|t| *t > 0)
            .min()
            .unwrap_or(0);
        let mut last = 0;
        for (arrival, _, s) in &mut spans {
            *arrival = s
                .end_time_unix_nano
                .max(s.start_time_unix_nano)
                .saturating_sub(start);
            last = last.max(*arrival);
        }
        // Latest first, so batches pop from the end.
        spans.sort_by_key(|(arrival, _, _)| std::cmp::Reverse(*arrival));
        Ok(Recorded {
            origins,
            spans,
            window_end: WINDOW.as_nanos() as u64,
            duration: Duration::from_nanos(last.max(1)),
            truth_pending: true,
        })
    }

    fn service(&self, origin: usize) -> String {
        self.origins
            .get(origin)
            .and_then(|(r, _)| r.as_ref())
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }
}

impl Source for Recorded {
    fn next_batch(&mut self, truths: &mut Truths) -> Option<(Batch, Duration)> {
        if self.truth_pending {
            self.truth_pending = false;
            for i in 0..self.spans.len() {
                let (_, origin, span) = &self.spans[i];
                let service = self.service(*origin);
                truths.add(&service, span);
            }
            truths.finish_durations();
        }
        loop {
            if self.spans.is_empty() {
                return None;
            }
            let mut by_origin: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
            while self
                .spans
                .last()
                .is_some_and(|(a, _, _)| *a < self.window_end)
            {
                if let Some((_, origin, span)) = self.spans.pop() {
                    by_origin.entry(origin).or_default().push(span);
                }
            }
            let now = Duration::from_nanos(self.window_end);
            self.window_end += WINDOW.as_nanos() as u64;
            if by_origin.is_empty() {
                // A gap in the recording: jump to the window of the next span.
                if let Some((next, _, _)) = self.spans.last() {
                    self.window_end = self.window_end.max(window_after(*next));
                }
                continue;
            }
            let resource_spans = by_origin
                .into_iter()
                .map(|(origin, spans)| {
                    let (resource, scope) = self.origins[origin].clone();
                    ResourceSpans {
                        resource,
                        scope_spans: vec![ScopeSpans {
                            scope,
                            spans,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }
                })
                .collect();
            return Some((
                Batch::Traces(ExportTraceServiceRequest { resource_spans }),
                now,
            ));
        }
    }

    fn virtual_duration(&self) -> Duration {
        self.duration
    }
}
