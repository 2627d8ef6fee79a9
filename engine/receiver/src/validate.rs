//! Items the OTLP spec makes invalid are dropped here and reported as a partial success with an
//! exact count, instead of failing the whole request or travelling on to backends.

use weir_core::Batch;
use weir_core::ids::{log_id_problem, span_id_problem};

/// How many items were dropped, and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub rejected: usize,
    pub message: String,
}

/// Removes spans without a valid trace id (16 bytes, not all zero), span id (8 bytes, not all
/// zero) or parent span id (empty or 8 bytes), and log records whose ids have the wrong length.
pub(crate) fn drop_invalid(batch: &mut Batch) -> Rejection {
    let mut rejected = 0usize;
    let message = match batch {
        Batch::Traces(r) => {
            for ss in r
                .resource_spans
                .iter_mut()
                .flat_map(|rs| &mut rs.scope_spans)
            {
                let before = ss.spans.len();
                ss.spans.retain(|s| span_id_problem(s).is_none());
                rejected += before - ss.spans.len();
            }
            "spans need a 16-byte trace_id and an 8-byte span_id (not all zero) and an empty or 8-byte parent_span_id"
        }
        Batch::Logs(r) => {
            for sl in r.resource_logs.iter_mut().flat_map(|rl| &mut rl.scope_logs) {
                let before = sl.log_records.len();
                sl.log_records.retain(|l| log_id_problem(l).is_none());
                rejected += before - sl.log_records.len();
            }
            "log records need an empty or 16-byte trace_id and an empty or 8-byte span_id"
        }
        Batch::Metrics(_) => "",
        // `Batch::from_wire` decodes a request holding items with bad ids, so a wire batch has
        // none.
        Batch::Wire(_) => "",
    };
    Rejection {
        rejected,
        message: if rejected > 0 {
            format!("{rejected} item(s) rejected: {message}")
        } else {
            String::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn span(trace: &[u8], id: &[u8], parent: &[u8]) -> Span {
        Span {
            trace_id: trace.to_vec(),
            span_id: id.to_vec(),
            parent_span_id: parent.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn drops_only_spans_with_bad_ids() {
        let good = span(&[1; 16], &[2; 8], &[]);
        let mut b = Batch::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        good.clone(),
                        span(&[1; 15], &[2; 8], &[]),
                        span(&[0; 16], &[2; 8], &[]),
                        span(&[1; 16], &[2; 8], &[3; 4]),
                        span(&[1; 16], &[2; 8], &[3; 8]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let r = drop_invalid(&mut b);
        assert_eq!(r.rejected, 3);
        assert_eq!(b.item_count(), 2);
    }
}
