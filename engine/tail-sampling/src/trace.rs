//! How a buffered trace is stored: its spans as their protobuf encoding, back to back, each run
//! tagged with the resource and scope it arrived under (shared by every trace of that request).
//! This keeps memory per buffered span close to its wire size; a trace is decoded once, when it
//! is decided.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use weir_core::Batch;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::InstrumentationScope;
use weir_core::otlp::resource::v1::Resource;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// The resource part of one `ResourceSpans` of an incoming request.
#[derive(Debug)]
pub(crate) struct ResourcePart {
    pub(crate) resource: Option<Resource>,
    pub(crate) schema_url: String,
}

/// The resource and scope a run of spans arrived under.
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) resource: Arc<ResourcePart>,
    pub(crate) scope: Option<InstrumentationScope>,
    pub(crate) schema_url: String,
    /// The encoded size of the resource and scope, charged to each trace that holds them.
    pub(crate) bytes: usize,
}

impl Origin {
    /// The origin of the spans of one `ScopeSpans` under `resource`.
    pub(crate) fn new(
        resource: Arc<ResourcePart>,
        scope: Option<InstrumentationScope>,
        schema_url: String,
    ) -> Origin {
        let bytes = resource.resource.as_ref().map_or(0, Message::encoded_len)
            + resource.schema_url.len()
            + scope.as_ref().map_or(0, Message::encoded_len)
            + schema_url.len();
        Origin {
            resource,
            scope,
            schema_url,
            bytes,
        }
    }
}

/// The protobuf tag of `ScopeSpans.spans` (field 2, length-delimited): spans encoded with it
/// back to back decode as a `ScopeSpans` with only spans.
const SPANS_TAG: u8 = 0x12;

/// Every span buffered for one trace id.
#[derive(Debug)]
pub(crate) struct Trace {
    /// Identifies this buffering of the id (ids can return after a decision left the cache).
    pub(crate) seq: u64,
    /// When its first span arrived, on the sampler's clock.
    pub(crate) first: Duration,
    /// Whether its root span (no parent) arrived.
    pub(crate) root_seen: bool,
    pub(crate) spans: usize,
    /// The encoded spans, each as a `ScopeSpans.spans` field.
    data: Vec<u8>,
    /// Runs of `data` by origin: run `i` ends at `runs[i].1`.
    runs: Vec<(Arc<Origin>, usize)>,
    /// The encoded size of the resources and scopes of its runs.
    origin_bytes: usize,
}

impl Trace {
    pub(crate) fn new(seq: u64, first: Duration) -> Trace {
        Trace {
            seq,
            first,
            root_seen: false,
            spans: 0,
            data: Vec::new(),
            runs: Vec::new(),
            origin_bytes: 0,
        }
    }

    /// Encoded bytes held: its spans, and the resource and scope of each of its runs (they are
    /// shared with other traces of the same request, so this errs on the high side).
    pub(crate) fn bytes(&self) -> usize {
        self.data.len() + self.origin_bytes
    }

    /// Appends one span; returns how much [`Trace::bytes`] grew.
    pub(crate) fn push(&mut self, origin: &Arc<Origin>, span: &Span) -> usize {
        let before = self.data.len();
        let len = span.encoded_len();
        let need = 1 + len + prost::length_delimiter_len(len);
        if self.data.capacity() - before < need {
            // Grow by a quarter rather than doubling: memory stays near the wire size.
            self.data.reserve_exact(need.max(before / 4));
        }
        self.data.push(SPANS_TAG);
        // Encoding into a Vec cannot fail for lack of room.
        let _ = span.encode_length_delimited(&mut self.data);
        if span.parent_span_id.iter().all(|b| *b == 0) {
            self.root_seen = true;
        }
        self.spans += 1;
        let end = self.data.len();
        match self.runs.last_mut() {
            Some((o, e)) if Arc::ptr_eq(o, origin) => {
                *e = end;
                end - before
            }
            _ => {
                self.runs.push((origin.clone(), end));
                self.origin_bytes += origin.bytes;
                end - before + origin.bytes
            }
        }
    }

    /// Decodes the trace into a traces batch, one `ResourceSpans` per run, and the origin of
    /// each of them.
    pub(crate) fn decode(self) -> (Batch, Vec<Arc<Origin>>) {
        let mut resource_spans = Vec::with_capacity(self.runs.len());
        let mut origins = Vec::with_capacity(self.runs.len());
        let mut start = 0;
        for (origin, end) in self.runs {
            let bytes = self.data.get(start..end).unwrap_or_default();
            start = end;
            // The bytes were encoded by `push` from decoded spans, so they decode.
            let spans = ScopeSpans::decode(bytes)
                .map(|s| s.spans)
                .unwrap_or_default();
            resource_spans.push(ResourceSpans {
                resource: origin.resource.resource.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: origin.scope.clone(),
                    spans,
                    schema_url: origin.schema_url.clone(),
                }],
                schema_url: origin.resource.schema_url.clone(),
            });
            origins.push(origin);
        }
        (
            Batch::Traces(ExportTraceServiceRequest { resource_spans }),
            origins,
        )
    }
}

/// Builds the batch a sampler hands on, merging spans of one resource and scope again.
#[derive(Default)]
pub(crate) struct Output {
    request: ExportTraceServiceRequest,
    /// Resource part (by address) → index in `request.resource_spans`. The `Arc` keeps the
    /// address from being reused by another resource while this output lives.
    resources: HashMap<usize, (Arc<ResourcePart>, usize)>,
    /// Origin (by address, kept alive the same way) → (resource index, scope index).
    scopes: HashMap<usize, (Arc<Origin>, (usize, usize))>,
    pub(crate) spans: usize,
}

impl Output {
    /// Appends spans that arrived under `origin`.
    pub(crate) fn push(&mut self, origin: &Arc<Origin>, spans: Vec<Span>) {
        self.push_owned(origin, spans, None);
    }

    /// Like [`Output::push`]; `owned` holds a copy of the origin's resource and scope that a
    /// new slot takes instead of cloning them again (a decoded trace already made one).
    fn push_owned(
        &mut self,
        origin: &Arc<Origin>,
        spans: Vec<Span>,
        mut owned: Option<(Option<Resource>, Option<InstrumentationScope>)>,
    ) {
        if spans.is_empty() {
            return;
        }
        self.spans += spans.len();
        let key = Arc::as_ptr(origin) as usize;
        let (r, s) = match self.scopes.get(&key) {
            Some((_, at)) => *at,
            None => {
                let rkey = Arc::as_ptr(&origin.resource) as usize;
                let r = self
                    .resources
                    .entry(rkey)
                    .or_insert_with(|| {
                        let resource = match owned.as_mut() {
                            Some((r, _)) => r.take(),
                            None => origin.resource.resource.clone(),
                        };
                        self.request.resource_spans.push(ResourceSpans {
                            resource,
                            scope_spans: Vec::new(),
                            schema_url: origin.resource.schema_url.clone(),
                        });
                        (
                            origin.resource.clone(),
                            self.request.resource_spans.len() - 1,
                        )
                    })
                    .1;
                let Some(rs) = self.request.resource_spans.get_mut(r) else {
                    return;
                };
                let scope = match owned {
                    Some((_, scope)) => scope,
                    None => origin.scope.clone(),
                };
                rs.scope_spans.push(ScopeSpans {
                    scope,
                    spans: Vec::new(),
                    schema_url: origin.schema_url.clone(),
                });
                let at = (r, rs.scope_spans.len() - 1);
                self.scopes.insert(key, (origin.clone(), at));
                at
            }
        };
        if let Some(ss) = self
            .request
            .resource_spans
            .get_mut(r)
            .and_then(|rs| rs.scope_spans.get_mut(s))
        {
            ss.spans.extend(spans);
        }
    }

    /// Appends a decided trace (as [`Trace::decode`] returned it).
    pub(crate) fn push_trace(&mut self, batch: Batch, origins: &[Arc<Origin>]) {
        let Batch::Traces(req) = batch else { return };
        for (rs, origin) in req.resource_spans.into_iter().zip(origins) {
            // `decode` made one scope per run.
            let mut resource = rs.resource;
            for ss in rs.scope_spans {
                self.push_owned(origin, ss.spans, Some((resource.take(), ss.scope)));
            }
        }
    }

    /// The finished batch.
    pub(crate) fn finish(self) -> Batch {
        Batch::Traces(self.request)
    }
}
