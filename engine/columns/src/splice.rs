//! Lending and taking back items: the subset of a batch that `otlp-items` lends (decoded, or
//! as bytes by [`view_write::rewrite`]), and the [`Splice`] that puts the items a plugin hands
//! back with `replace-items` where they were.

use prost::Message;
use weir_core::Batch;
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_core::otlp::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    metric::Data,
};
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::items::{self, ItemsMut};
use crate::{Session, view_write};

impl Session {
    /// The listed items with their containers, as an OTLP protobuf request.
    pub(crate) fn subset_bytes(&self, list: &[u32]) -> Vec<u8> {
        match &self.view {
            Some(view) => view_write::rewrite(view, &mut view_write::Subset { list }).bytes,
            None => subset(self.typed(), list).encode_to_vec(),
        }
    }
}

/// Items a plugin handed back with `replace-items`, applied by [`Session::finish`].
#[derive(Debug)]
pub(crate) struct Splice {
    /// The items handed back, ascending.
    pub(crate) items: Vec<u32>,
    /// What the plugin handed back for them, in the same order.
    pub(crate) replacement: Batch,
}

/// One item taken out of a batch.
enum Owned {
    Span(Span),
    Log(LogRecord),
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    Exponential(ExponentialHistogramDataPoint),
    Summary(SummaryDataPoint),
}

/// A data point type that can be put back from an [`Owned`] item.
trait PutBack: Sized {
    fn from_owned(o: Owned) -> Option<Self>;
}

macro_rules! put_back {
    ($($t:ty => $v:ident),*) => {$(
        impl PutBack for $t {
            fn from_owned(o: Owned) -> Option<Self> {
                match o {
                    Owned::$v(p) => Some(p),
                    _ => None,
                }
            }
        }
    )*};
}
put_back!(
    NumberDataPoint => Number,
    HistogramDataPoint => Histogram,
    ExponentialHistogramDataPoint => Exponential,
    SummaryDataPoint => Summary
);

fn put<T: PutBack>(slot: &mut T, o: Owned) {
    if let Some(v) = T::from_owned(o) {
        *slot = v;
    }
}

impl Splice {
    /// The returned items, each with the index of the item it replaces, encoded (spans and log
    /// records; the data points of metrics, which a view never holds, are left out).
    pub(crate) fn encoded(self) -> Vec<(u32, Vec<u8>)> {
        let Splice { items, replacement } = self;
        items
            .into_iter()
            .zip(taken(replacement))
            .filter_map(|(i, o)| match o {
                Owned::Span(s) => Some((i, s.encode_to_vec())),
                Owned::Log(l) => Some((i, l.encode_to_vec())),
                _ => None,
            })
            .collect()
    }

    /// Puts every returned item at its listed place.
    pub(crate) fn apply(self, batch: &mut Batch) {
        let taken = taken(self.replacement);
        let mut next = self.items.into_iter().zip(taken).peekable();
        items::for_each_mut(batch, |first, owner| match owner {
            ItemsMut::Span(s) => {
                if let Some((_, Owned::Span(new))) = next.next_if(|(i, _)| *i == first) {
                    *s = new;
                }
            }
            ItemsMut::Log(l) => {
                if let Some((_, Owned::Log(new))) = next.next_if(|(i, _)| *i == first) {
                    *l = new;
                }
            }
            ItemsMut::Metric(m) => {
                let mut i = first;
                items::with_points!(&mut m.data, points => points.iter_mut().for_each(|p| {
                    if let Some((_, new)) = next.next_if(|(at, _)| *at == i) {
                        put(p, new);
                    }
                    i += 1;
                }));
            }
        });
    }
}

/// The items of a replacement batch, taken out in order.
fn taken(mut replacement: Batch) -> Vec<Owned> {
    let mut taken: Vec<Owned> = Vec::new();
    items::for_each_mut(&mut replacement, |_, owner| match owner {
        ItemsMut::Span(s) => taken.push(Owned::Span(std::mem::take(s))),
        ItemsMut::Log(l) => taken.push(Owned::Log(std::mem::take(l))),
        ItemsMut::Metric(m) => match &mut m.data {
            Some(Data::Gauge(x)) => taken.extend(x.data_points.drain(..).map(Owned::Number)),
            Some(Data::Sum(x)) => taken.extend(x.data_points.drain(..).map(Owned::Number)),
            Some(Data::Histogram(x)) => {
                taken.extend(x.data_points.drain(..).map(Owned::Histogram));
            }
            Some(Data::ExponentialHistogram(x)) => {
                taken.extend(x.data_points.drain(..).map(Owned::Exponential));
            }
            Some(Data::Summary(x)) => {
                taken.extend(x.data_points.drain(..).map(Owned::Summary));
            }
            None => {}
        },
    });
    taken
}

/// The listed items (ascending) with their resources, scopes and metrics; empty containers
/// are left out.
pub(crate) fn subset(batch: &Batch, list: &[u32]) -> Batch {
    let mut index = 0u32;
    let mut wanted = list.iter().copied().peekable();
    let mut take = || {
        let yes = wanted.next_if_eq(&index).is_some();
        index += 1;
        yes
    };
    macro_rules! pick {
        ($items:expr) => {
            $items
                .iter()
                .filter(|_| take())
                .cloned()
                .collect::<Vec<_>>()
        };
    }
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(w) => Batch::Wire(w.clone()),
        Batch::Traces(r) => {
            let mut out = ExportTraceServiceRequest::default();
            for rs in &r.resource_spans {
                let mut scopes = Vec::new();
                for ss in &rs.scope_spans {
                    let spans = pick!(ss.spans);
                    if !spans.is_empty() {
                        scopes.push(ScopeSpans {
                            scope: ss.scope.clone(),
                            spans,
                            schema_url: ss.schema_url.clone(),
                        });
                    }
                }
                if !scopes.is_empty() {
                    out.resource_spans.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: scopes,
                        schema_url: rs.schema_url.clone(),
                    });
                }
            }
            Batch::Traces(out)
        }
        Batch::Logs(r) => {
            let mut out = ExportLogsServiceRequest::default();
            for rl in &r.resource_logs {
                let mut scopes = Vec::new();
                for sl in &rl.scope_logs {
                    let log_records = pick!(sl.log_records);
                    if !log_records.is_empty() {
                        scopes.push(ScopeLogs {
                            scope: sl.scope.clone(),
                            log_records,
                            schema_url: sl.schema_url.clone(),
                        });
                    }
                }
                if !scopes.is_empty() {
                    out.resource_logs.push(ResourceLogs {
                        resource: rl.resource.clone(),
                        scope_logs: scopes,
                        schema_url: rl.schema_url.clone(),
                    });
                }
            }
            Batch::Logs(out)
        }
        Batch::Metrics(r) => {
            let mut out = ExportMetricsServiceRequest::default();
            for rm in &r.resource_metrics {
                let mut scopes = Vec::new();
                for sm in &rm.scope_metrics {
                    let mut metrics = Vec::new();
                    for m in &sm.metrics {
                        let data = match &m.data {
                            Some(Data::Gauge(x)) => Data::Gauge(Gauge {
                                data_points: pick!(x.data_points),
                            }),
                            Some(Data::Sum(x)) => Data::Sum(Sum {
                                data_points: pick!(x.data_points),
                                aggregation_temporality: x.aggregation_temporality,
                                is_monotonic: x.is_monotonic,
                            }),
                            Some(Data::Histogram(x)) => Data::Histogram(Histogram {
                                data_points: pick!(x.data_points),
                                aggregation_temporality: x.aggregation_temporality,
                            }),
                            Some(Data::ExponentialHistogram(x)) => {
                                Data::ExponentialHistogram(ExponentialHistogram {
                                    data_points: pick!(x.data_points),
                                    aggregation_temporality: x.aggregation_temporality,
                                })
                            }
                            Some(Data::Summary(x)) => Data::Summary(Summary {
                                data_points: pick!(x.data_points),
                            }),
                            None => continue,
                        };
                        if weir_core::data_point_count(Some(&data)) > 0 {
                            metrics.push(Metric {
                                name: m.name.clone(),
                                description: m.description.clone(),
                                unit: m.unit.clone(),
                                metadata: m.metadata.clone(),
                                data: Some(data),
                            });
                        }
                    }
                    if !metrics.is_empty() {
                        scopes.push(ScopeMetrics {
                            scope: sm.scope.clone(),
                            metrics,
                            schema_url: sm.schema_url.clone(),
                        });
                    }
                }
                if !scopes.is_empty() {
                    out.resource_metrics.push(ResourceMetrics {
                        resource: rm.resource.clone(),
                        scope_metrics: scopes,
                        schema_url: rm.schema_url.clone(),
                    });
                }
            }
            Batch::Metrics(out)
        }
    }
}

/// `batch` with every item emptied: its resources, scopes and metrics, and how many items
/// each holds.
pub(crate) fn hollow(batch: &Batch) -> Batch {
    let mut out = batch.clone();
    items::for_each_mut(&mut out, |_, owner| match owner {
        ItemsMut::Span(s) => *s = Span::default(),
        ItemsMut::Log(l) => *l = LogRecord::default(),
        ItemsMut::Metric(m) => {
            items::with_points!(&mut m.data, points => points
                .iter_mut()
                .for_each(|p| *p = Default::default()));
        }
    });
    out
}
