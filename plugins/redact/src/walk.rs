//! Every place in an OTLP request where data can hide, visited once: resource and scope
//! attributes, span names, status messages, span, event and link attributes, event names, log
//! bodies (strings, maps and arrays, recursively), log event names and attributes, and metric
//! data-point and exemplar attributes.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::Redactor;

/// One pass over one request: what was redacted, by label (attribute key or location).
pub struct Pass<'r> {
    r: &'r Redactor,
    /// Redactions per label (an attribute key, or `span.name`, `log.body`, …).
    pub counts: BTreeMap<String, u64>,
}

/// What to do with a value that held something.
enum Outcome {
    Keep,
    Changed,
    Remove,
}

impl<'r> Pass<'r> {
    /// A pass with `r`'s rules.
    pub fn new(r: &'r Redactor) -> Pass<'r> {
        Pass {
            r,
            counts: BTreeMap::new(),
        }
    }

    /// True when anything was redacted.
    pub fn changed(&self) -> bool {
        !self.counts.is_empty()
    }

    fn count(&mut self, label: &str, n: u64) {
        if n > 0 {
            *self.counts.entry(label.to_string()).or_insert(0) += n;
        }
    }

    /// Redacts a traces request in place.
    pub fn traces(&mut self, req: &mut ExportTraceServiceRequest) {
        for rs in &mut req.resource_spans {
            self.resource(rs.resource.as_mut());
            for ss in &mut rs.scope_spans {
                self.scope(ss.scope.as_mut());
                for span in &mut ss.spans {
                    self.text(&mut span.name, "span.name");
                    self.text(&mut span.trace_state, "span.trace_state");
                    self.attributes(&mut span.attributes);
                    for e in &mut span.events {
                        self.text(&mut e.name, "event.name");
                        self.attributes(&mut e.attributes);
                    }
                    for l in &mut span.links {
                        self.text(&mut l.trace_state, "link.trace_state");
                        self.attributes(&mut l.attributes);
                    }
                    if let Some(status) = &mut span.status {
                        self.text(&mut status.message, "span.status_message");
                    }
                }
            }
        }
    }

    /// Redacts a logs request in place.
    pub fn logs(&mut self, req: &mut ExportLogsServiceRequest) {
        for rl in &mut req.resource_logs {
            self.resource(rl.resource.as_mut());
            for sl in &mut rl.scope_logs {
                self.scope(sl.scope.as_mut());
                for log in &mut sl.log_records {
                    self.text(&mut log.event_name, "log.event_name");
                    self.text(&mut log.severity_text, "log.severity_text");
                    if let Some(body) = &mut log.body
                        && let Outcome::Remove = self.value(body, "log.body", true)
                    {
                        body.value = Some(V::StringValue(self.r.mask.clone()));
                    }
                    self.attributes(&mut log.attributes);
                }
            }
        }
    }

    /// Redacts a metrics request in place.
    pub fn metrics(&mut self, req: &mut ExportMetricsServiceRequest) {
        for rm in &mut req.resource_metrics {
            self.resource(rm.resource.as_mut());
            for sm in &mut rm.scope_metrics {
                self.scope(sm.scope.as_mut());
                for m in &mut sm.metrics {
                    self.metric(m);
                }
            }
        }
    }

    fn metric(&mut self, m: &mut Metric) {
        self.attributes(&mut m.metadata);
        let Some(data) = &mut m.data else { return };
        macro_rules! points {
            ($points:expr) => {
                for p in $points {
                    self.attributes(&mut p.attributes);
                    self.exemplars(&mut p.exemplars);
                }
            };
        }
        match data {
            Data::Gauge(g) => points!(&mut g.data_points),
            Data::Sum(s) => points!(&mut s.data_points),
            Data::Histogram(h) => points!(&mut h.data_points),
            Data::ExponentialHistogram(h) => points!(&mut h.data_points),
            Data::Summary(s) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes);
                }
            }
        }
    }

    fn exemplars(&mut self, exemplars: &mut [Exemplar]) {
        for e in exemplars {
            self.attributes(&mut e.filtered_attributes);
        }
    }

    fn resource(&mut self, r: Option<&mut Resource>) {
        if let Some(r) = r {
            self.attributes(&mut r.attributes);
        }
    }

    fn scope(&mut self, s: Option<&mut InstrumentationScope>) {
        if let Some(s) = s {
            self.attributes(&mut s.attributes);
        }
    }

    /// A free-text field (span name, event name, status message): matches are replaced; with
    /// `action = "remove"` the whole text becomes the mask, as the field cannot be removed.
    fn text(&mut self, s: &mut String, label: &str) {
        if let Some((new, n)) = self.r.redact_text(s) {
            *s = if self.r.action == crate::Action::Remove {
                self.r.mask.clone()
            } else {
                new
            };
            self.count(label, n);
        }
    }

    /// Top-level attributes: the allow-list, the block-list, then the detectors.
    fn attributes(&mut self, attrs: &mut Vec<KeyValue>) {
        attrs.retain_mut(|kv| {
            if self.r.ignored.contains(&kv.key) {
                return true;
            }
            // Keys are data too (`user:ada@example.com`); the redacted key is also the label
            // counts are filed under, so no secret reaches /metrics.
            if let Some((new, n)) = self.r.redact_text(&kv.key) {
                kv.key = new;
                self.count(&kv.key, n);
            }
            if !self.r.allowed(&kv.key) {
                self.count(&kv.key, 1);
                return false;
            }
            let label = kv.key.clone();
            match &mut kv.value {
                Some(v) => !matches!(self.keyed(&label, &label, v, false), Outcome::Remove),
                None => true,
            }
        });
    }

    /// A value under `key`: whole-value redaction if the key is blocked, else the detectors.
    /// Counts go under `label` (the top-level key or location).
    fn keyed(&mut self, key: &str, label: &str, v: &mut AnyValue, nested: bool) -> Outcome {
        if !self.r.blocked(key) {
            return self.value(v, label, nested);
        }
        if let Some(V::StringValue(s)) = &v.value
            && self.r.is_redacted(s)
        {
            return Outcome::Keep;
        }
        self.count(label, 1);
        match self.r.action {
            crate::Action::Remove if !nested => Outcome::Remove,
            _ => {
                let whole = crate::canonical(v);
                v.value = Some(V::StringValue(self.r.replacement(&whole)));
                Outcome::Changed
            }
        }
    }

    /// Runs the detectors over a value. `label` is what the count is filed under; `nested` is
    /// true inside bodies, maps and arrays, where "remove" cannot remove and masks instead.
    fn value(&mut self, v: &mut AnyValue, label: &str, nested: bool) -> Outcome {
        let remove = self.r.action == crate::Action::Remove && !nested;
        match &mut v.value {
            Some(V::StringValue(s)) => match self.r.redact_text(s) {
                None => Outcome::Keep,
                Some((new, n)) => {
                    self.count(label, n);
                    if remove {
                        return Outcome::Remove;
                    }
                    *s = new;
                    Outcome::Changed
                }
            },
            Some(V::IntValue(i)) if self.r.is_card_int(*i) => {
                self.count(label, 1);
                if remove {
                    return Outcome::Remove;
                }
                let text = i.to_string();
                v.value = Some(V::StringValue(self.r.replacement(&text)));
                Outcome::Changed
            }
            Some(V::DoubleValue(d)) if self.r.is_card_double(*d) => {
                self.count(label, 1);
                if remove {
                    return Outcome::Remove;
                }
                #[expect(clippy::cast_possible_truncation, reason = "a whole number below 9e18")]
                let text = (*d as i64).to_string();
                v.value = Some(V::StringValue(self.r.replacement(&text)));
                Outcome::Changed
            }
            Some(V::BytesValue(b)) => {
                // Bytes often hold text (headers, payloads): scan them when they are UTF-8.
                let Some((new, n)) = std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| self.r.redact_text(s))
                else {
                    return Outcome::Keep;
                };
                self.count(label, n);
                if remove {
                    return Outcome::Remove;
                }
                *b = new.into_bytes();
                Outcome::Changed
            }
            Some(V::ArrayValue(a)) => {
                let mut changed = false;
                for item in &mut a.values {
                    changed |= !matches!(self.value(item, label, true), Outcome::Keep);
                }
                if changed {
                    Outcome::Changed
                } else {
                    Outcome::Keep
                }
            }
            Some(V::KvlistValue(kvs)) => {
                let mut changed = false;
                for kv in &mut kvs.values {
                    // Keys of maps (in bodies and map attributes) are data too.
                    if let Some((new, n)) = self.r.redact_text(&kv.key) {
                        self.count(label, n);
                        kv.key = new;
                        changed = true;
                    }
                    if let Some(inner) = &mut kv.value {
                        let key = kv.key.clone();
                        let outcome = if self.r.blocked(&key) {
                            self.keyed(&key, label, inner, true)
                        } else {
                            self.value(inner, label, true)
                        };
                        changed |= !matches!(outcome, Outcome::Keep);
                    }
                }
                if changed {
                    Outcome::Changed
                } else {
                    Outcome::Keep
                }
            }
            _ => Outcome::Keep,
        }
    }
}
