//! Traces: a request enters the frontend and fans out through the shop's services, a client
//! span in the caller and a server span in the callee for every remote call.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use crate::Generator;
use crate::vocab::{Kind, SERVICES, int, resource, span_attributes, text};

/// W3C trace flags "sampled", with "is-remote known" (bit 8) and "is remote" (bit 9).
const LOCAL_PARENT: u32 = 0x101;
const REMOTE_PARENT: u32 = 0x301;

/// The instrumentation library that records a kind of operation.
pub(crate) fn scope_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Http => "@opentelemetry/instrumentation-http",
        Kind::Rpc => "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
        Kind::Sql => "io.opentelemetry.jdbc",
        Kind::Cache => "opentelemetry-instrumentation-redis",
        Kind::Publish => "opentelemetry-instrumentation-kafka",
        Kind::Internal => "shop",
    }
}

/// Where a span is reported from: (service, replica, instrumentation kind).
type Origin = (usize, usize, &'static str);

/// One span being generated, and where it is reported from.
struct Walk<'a> {
    trace_id: Vec<u8>,
    /// The replica each service's spans come from in this trace.
    replicas: Vec<usize>,
    budget: usize,
    out: &'a mut Vec<(Origin, Span)>,
}

impl Generator {
    /// A traces request holding exactly `spans` spans: whole traces, and the first part of one
    /// more when `spans` ends inside it (as a batch cut by size would). Spans are grouped by
    /// resource (service replica) and instrumentation scope.
    pub fn traces(&mut self, spans: usize) -> ExportTraceServiceRequest {
        let mut all = Vec::with_capacity(spans);
        while all.len() < spans {
            let budget = spans - all.len();
            self.trace(budget, &mut all);
        }
        let mut grouped: BTreeMap<(usize, usize), BTreeMap<&'static str, Vec<Span>>> =
            BTreeMap::new();
        for ((service, replica, scope), span) in all {
            grouped
                .entry((service, replica))
                .or_default()
                .entry(scope)
                .or_default()
                .push(span);
        }
        let resource_spans = grouped
            .into_iter()
            .map(|((service, replica), scopes)| {
                let mut attributes = resource(&SERVICES[service], replica);
                self.planter
                    .attributes(&mut attributes, "resource.attributes");
                ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: scopes
                        .into_iter()
                        .map(|(name, spans)| ScopeSpans {
                            scope: Some(self.scope(name)),
                            spans,
                            schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
                        })
                        .collect(),
                    schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
                }
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    /// An instrumentation scope, maybe with a planted attribute.
    pub(crate) fn scope(&mut self, name: &str) -> InstrumentationScope {
        let mut attributes = Vec::new();
        self.planter.attributes(&mut attributes, "scope.attributes");
        InstrumentationScope {
            name: name.into(),
            version: "0.57.0".into(),
            attributes,
            dropped_attributes_count: 0,
        }
    }

    /// Appends one trace of at most `budget` spans, starting now; advances the clock.
    fn trace(&mut self, budget: usize, out: &mut Vec<(Origin, Span)>) {
        let start = self.clock;
        let mut walk = Walk {
            trace_id: self.rng.id(16),
            replicas: (0..SERVICES.len())
                .map(|_| self.rng.below(self.shape.replicas))
                .collect(),
            budget: out.len() + budget,
            out,
        };
        let entry = self.rng.below(3);
        self.span(&mut walk, 0, entry, Vec::new(), false, start, 0);
        // Requests arrive about every 2 ms.
        self.clock += 1 + self.rng.exp(2e6) as u64;
    }

    /// Generates `op` of `service` under `parent` from `start`, its calls inside it; returns
    /// its end time (`start` if the budget is spent).
    #[allow(
        clippy::too_many_arguments,
        reason = "the recursion's state; a struct would only rename the arguments"
    )]
    fn span(
        &mut self,
        walk: &mut Walk<'_>,
        service: usize,
        op: usize,
        parent: Vec<u8>,
        remote_parent: bool,
        start: u64,
        depth: usize,
    ) -> u64 {
        if walk.out.len() >= walk.budget {
            return start;
        }
        let svc = &SERVICES[service];
        let operation = &svc.operations[op];
        let span_id = self.rng.id(8);
        let at = walk.out.len();
        let origin = (service, walk.replicas[service], scope_name(operation.kind));
        walk.out.push((origin, Span::default()));
        let own = self.rng.latency(operation.median_ms * 1e6, 0.6);
        let mut cursor = start + own / 10;
        for call in operation.calls {
            if depth > 8 || walk.out.len() >= walk.budget || !self.rng.chance(call.probability) {
                continue;
            }
            cursor = if call.service == service {
                self.span(
                    walk,
                    service,
                    call.operation,
                    span_id.clone(),
                    false,
                    cursor,
                    depth + 1,
                )
            } else {
                self.client(
                    walk,
                    (service, call.service, call.operation),
                    &span_id,
                    cursor,
                    depth,
                )
            };
        }
        let end = cursor.max(start + own) + own / 10;
        let error = self.rng.chance(self.shape.error_share);
        let kind = match operation.kind {
            Kind::Http | Kind::Rpc => SpanKind::Server,
            Kind::Sql | Kind::Cache => SpanKind::Client,
            Kind::Publish => SpanKind::Producer,
            Kind::Internal => SpanKind::Internal,
        };
        let mut span = Span {
            trace_id: walk.trace_id.clone(),
            span_id,
            parent_span_id: parent,
            flags: if remote_parent {
                REMOTE_PARENT
            } else {
                LOCAL_PARENT
            },
            name: operation.name.into(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: span_attributes(&mut self.rng, svc, operation, error),
            ..Default::default()
        };
        span.attributes.extend(self.extra_attributes());
        self.decorate(&mut span, error);
        walk.out[at].1 = span;
        end
    }

    /// A remote call: the caller's client span, and under it the callee's server span.
    fn client(
        &mut self,
        walk: &mut Walk<'_>,
        (caller, callee, op): (usize, usize, usize),
        parent: &[u8],
        start: u64,
        depth: usize,
    ) -> u64 {
        if walk.out.len() >= walk.budget {
            return start;
        }
        let target = &SERVICES[callee];
        let operation = &target.operations[op];
        let span_id = self.rng.id(8);
        let at = walk.out.len();
        let origin = (caller, walk.replicas[caller], scope_name(operation.kind));
        walk.out.push((origin, Span::default()));
        // Network time on either side of the callee's work.
        let wire = 200_000 + self.rng.below(800_000) as u64;
        let served = self.span(
            walk,
            callee,
            op,
            span_id.clone(),
            true,
            start + wire,
            depth + 1,
        );
        let end = served + wire;
        let error = self.rng.chance(self.shape.error_share / 4.0);
        let mut span = Span {
            trace_id: walk.trace_id.clone(),
            span_id,
            parent_span_id: parent.to_vec(),
            flags: LOCAL_PARENT,
            name: operation.name.into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: span_attributes(&mut self.rng, target, operation, error),
            ..Default::default()
        };
        span.attributes.extend(self.extra_attributes());
        self.decorate(&mut span, error);
        walk.out[at].1 = span;
        end
    }

    /// Status, events, links and trace state; planted secrets.
    fn decorate(&mut self, span: &mut Span, error: bool) {
        if error {
            let (kind, message) = *self.rng.pick(&[
                ("java.net.SocketTimeoutException", "Read timed out"),
                (
                    "ConnectionResetError",
                    "[Errno 104] Connection reset by peer",
                ),
                ("pq: deadlock detected", "deadlock detected"),
                ("Error", "upstream returned 503 Service Unavailable"),
            ]);
            span.status = Some(Status {
                code: StatusCode::Error as i32,
                message: message.into(),
            });
            span.events.push(Event {
                time_unix_nano: span.end_time_unix_nano.saturating_sub(1000),
                name: "exception".into(),
                attributes: vec![
                    text("exception.type", kind),
                    text("exception.message", message),
                    text(
                        "exception.stacktrace",
                        format!("{kind}: {message}\n    at handler (src/handler:42)\n    at serve (src/server:118)"),
                    ),
                ],
                dropped_attributes_count: 0,
            });
        }
        if self.rng.chance(0.05) {
            span.events.push(Event {
                time_unix_nano: span.start_time_unix_nano + 1000,
                name: "cache.miss".into(),
                attributes: vec![int("cache.attempt", 1 + self.rng.below(3) as i64)],
                dropped_attributes_count: 0,
            });
        }
        if self.rng.chance(0.02) {
            span.links.push(Link {
                trace_id: self.rng.id(16),
                span_id: self.rng.id(8),
                trace_state: String::new(),
                attributes: vec![text("link.reason", "batch-member")],
                dropped_attributes_count: 0,
                flags: LOCAL_PARENT,
            });
        }
        if self.rng.chance(0.1) {
            span.trace_state = format!("shop=t{:x},rojo=00f067aa0ba902b7", self.rng.below(16));
        }
        let p = &mut self.planter;
        p.text(&mut span.name, "span.name");
        p.attributes(&mut span.attributes, "span.attributes");
        if let Some(status) = span.status.as_mut() {
            p.text(&mut status.message, "span.status.message");
        }
        for event in &mut span.events {
            p.text(&mut event.name, "event.name");
            p.attributes(&mut event.attributes, "event.attributes");
        }
        for link in &mut span.links {
            p.attributes(&mut link.attributes, "link.attributes");
        }
    }
}
