//! Walking the items of a batch in the one order plugins see them: resources in order, then
//! scopes, then spans / log records / metric data points (metric by metric).

use weir_core::Batch;
use weir_core::otlp::common::v1::{InstrumentationScope, KeyValue};
use weir_core::otlp::logs::v1::LogRecord;
use weir_core::otlp::metrics::v1::{Metric, metric::Data, number_data_point};
use weir_core::otlp::trace::v1::Span;

/// One item, read-only, with what a plugin may ask about it.
pub(crate) enum Item<'a> {
    /// A span.
    Span(&'a Span),
    /// A log record.
    Log(&'a LogRecord),
    /// A metric data point and its metric.
    Point(&'a Metric, Point<'a>),
}

/// A metric data point of any kind.
pub(crate) enum Point<'a> {
    /// Gauge or sum.
    Number(&'a weir_core::otlp::metrics::v1::NumberDataPoint),
    /// Histogram.
    Histogram(&'a weir_core::otlp::metrics::v1::HistogramDataPoint),
    /// Exponential histogram.
    Exponential(&'a weir_core::otlp::metrics::v1::ExponentialHistogramDataPoint),
    /// Summary.
    Summary(&'a weir_core::otlp::metrics::v1::SummaryDataPoint),
}

impl<'a> Point<'a> {
    pub(crate) fn attributes(&self) -> &'a [KeyValue] {
        match self {
            Point::Number(p) => &p.attributes,
            Point::Histogram(p) => &p.attributes,
            Point::Exponential(p) => &p.attributes,
            Point::Summary(p) => &p.attributes,
        }
    }

    pub(crate) fn times(&self) -> (u64, u64) {
        match self {
            Point::Number(p) => (p.time_unix_nano, p.start_time_unix_nano),
            Point::Histogram(p) => (p.time_unix_nano, p.start_time_unix_nano),
            Point::Exponential(p) => (p.time_unix_nano, p.start_time_unix_nano),
            Point::Summary(p) => (p.time_unix_nano, p.start_time_unix_nano),
        }
    }

    pub(crate) fn flags(&self) -> u32 {
        match self {
            Point::Number(p) => p.flags,
            Point::Histogram(p) => p.flags,
            Point::Exponential(p) => p.flags,
            Point::Summary(p) => p.flags,
        }
    }

    pub(crate) fn value(&self) -> f64 {
        match self {
            Point::Number(p) => match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                #[expect(clippy::cast_precision_loss, reason = "a plugin reads values as f64")]
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                None => 0.0,
            },
            Point::Histogram(p) => p.sum.unwrap_or(0.0),
            Point::Exponential(p) => p.sum.unwrap_or(0.0),
            Point::Summary(p) => p.sum,
        }
    }
}

/// The metric type number plugins see (1 gauge … 5 summary; 0 for a metric without data).
pub(crate) fn metric_type(metric: &Metric) -> i64 {
    match metric.data {
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
        None => 0,
    }
}

/// Calls `f(resource index, scope, item)` for every item, in order.
pub(crate) fn for_each<'a>(
    batch: &'a Batch,
    mut f: impl FnMut(u32, Option<&'a InstrumentationScope>, Item<'a>),
) {
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(_) => {}
        Batch::Traces(r) => {
            for (ri, rs) in (0u32..).zip(&r.resource_spans) {
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        f(ri, ss.scope.as_ref(), Item::Span(span));
                    }
                }
            }
        }
        Batch::Logs(r) => {
            for (ri, rl) in (0u32..).zip(&r.resource_logs) {
                for sl in &rl.scope_logs {
                    for log in &sl.log_records {
                        f(ri, sl.scope.as_ref(), Item::Log(log));
                    }
                }
            }
        }
        Batch::Metrics(r) => {
            for (ri, rm) in (0u32..).zip(&r.resource_metrics) {
                for sm in &rm.scope_metrics {
                    let scope = sm.scope.as_ref();
                    for m in &sm.metrics {
                        match &m.data {
                            Some(Data::Gauge(g)) => {
                                g.data_points
                                    .iter()
                                    .for_each(|p| f(ri, scope, Item::Point(m, Point::Number(p))));
                            }
                            Some(Data::Sum(s)) => {
                                s.data_points
                                    .iter()
                                    .for_each(|p| f(ri, scope, Item::Point(m, Point::Number(p))));
                            }
                            Some(Data::Histogram(h)) => {
                                h.data_points.iter().for_each(|p| {
                                    f(ri, scope, Item::Point(m, Point::Histogram(p)))
                                });
                            }
                            Some(Data::ExponentialHistogram(h)) => {
                                h.data_points.iter().for_each(|p| {
                                    f(ri, scope, Item::Point(m, Point::Exponential(p)))
                                });
                            }
                            Some(Data::Summary(s)) => {
                                s.data_points
                                    .iter()
                                    .for_each(|p| f(ri, scope, Item::Point(m, Point::Summary(p))));
                            }
                            None => {}
                        }
                    }
                }
            }
        }
    }
}

/// The attribute list of every resource, in resource order, for writing.
pub(crate) fn resource_attributes_mut(batch: &mut Batch) -> Vec<&mut Vec<KeyValue>> {
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(_) => Vec::new(),
        Batch::Traces(r) => r
            .resource_spans
            .iter_mut()
            .map(|x| &mut x.resource.get_or_insert_default().attributes)
            .collect(),
        Batch::Logs(r) => r
            .resource_logs
            .iter_mut()
            .map(|x| &mut x.resource.get_or_insert_default().attributes)
            .collect(),
        Batch::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .map(|x| &mut x.resource.get_or_insert_default().attributes)
            .collect(),
    }
}

/// Runs `$body` with `$points` bound to the data-point vector of whichever kind `$data` (an
/// `&mut Option<Data>`) holds; the five kinds have different point types but the same shape.
macro_rules! with_points {
    ($data:expr, $points:ident => $body:expr) => {
        match $data {
            Some(Data::Gauge(x)) => {
                let $points = &mut x.data_points;
                $body
            }
            Some(Data::Sum(x)) => {
                let $points = &mut x.data_points;
                $body
            }
            Some(Data::Histogram(x)) => {
                let $points = &mut x.data_points;
                $body
            }
            Some(Data::ExponentialHistogram(x)) => {
                let $points = &mut x.data_points;
                $body
            }
            Some(Data::Summary(x)) => {
                let $points = &mut x.data_points;
                $body
            }
            None => {}
        }
    };
}
pub(crate) use with_points;

/// What owns one or more consecutive items, for writing.
pub(crate) enum ItemsMut<'a> {
    /// One span.
    Span(&'a mut Span),
    /// One log record.
    Log(&'a mut LogRecord),
    /// A metric: one item per data point (its name, unit and description are shared by them).
    Metric(&'a mut Metric),
}

/// Calls `f(index of its first item, owner)` for every span, log record or metric, in item
/// order, in one pass over the batch.
pub(crate) fn for_each_mut(batch: &mut Batch, mut f: impl FnMut(u32, ItemsMut<'_>)) {
    let mut index = 0u32;
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(_) => {}
        Batch::Traces(r) => {
            for s in r
                .resource_spans
                .iter_mut()
                .flat_map(|rs| &mut rs.scope_spans)
                .flat_map(|ss| &mut ss.spans)
            {
                f(index, ItemsMut::Span(s));
                index += 1;
            }
        }
        Batch::Logs(r) => {
            for l in r
                .resource_logs
                .iter_mut()
                .flat_map(|rl| &mut rl.scope_logs)
                .flat_map(|sl| &mut sl.log_records)
            {
                f(index, ItemsMut::Log(l));
                index += 1;
            }
        }
        Batch::Metrics(r) => {
            for m in r
                .resource_metrics
                .iter_mut()
                .flat_map(|rm| &mut rm.scope_metrics)
                .flat_map(|sm| &mut sm.metrics)
            {
                let points = point_count(m);
                f(index, ItemsMut::Metric(m));
                index += points;
            }
        }
    }
}

/// Calls `f(item index, attributes)` for every item, in order, in one pass over the batch.
pub(crate) fn for_each_item_attributes_mut(
    batch: &mut Batch,
    mut f: impl FnMut(u32, &mut Vec<KeyValue>),
) {
    for_each_mut(batch, |first, owner| match owner {
        ItemsMut::Span(s) => f(first, &mut s.attributes),
        ItemsMut::Log(l) => f(first, &mut l.attributes),
        ItemsMut::Metric(m) => {
            let mut i = first;
            with_points!(&mut m.data, points => points.iter_mut().for_each(|p| {
                f(i, &mut p.attributes);
                i += 1;
            }));
        }
    });
}

/// Keeps the items whose index `keep` accepts and removes scopes and resources left empty.
pub(crate) fn retain(batch: &mut Batch, mut keep: impl FnMut(u32) -> bool) {
    let mut index = 0u32;
    let mut next = || {
        let k = keep(index);
        index += 1;
        k
    };
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(_) => {}
        Batch::Traces(r) => {
            for rs in &mut r.resource_spans {
                for ss in &mut rs.scope_spans {
                    ss.spans.retain(|_| next());
                }
                rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            }
            r.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
        }
        Batch::Logs(r) => {
            for rl in &mut r.resource_logs {
                for sl in &mut rl.scope_logs {
                    sl.log_records.retain(|_| next());
                }
                rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
            }
            r.resource_logs.retain(|rl| !rl.scope_logs.is_empty());
        }
        Batch::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                for sm in &mut rm.scope_metrics {
                    for m in &mut sm.metrics {
                        with_points!(&mut m.data, points => points.retain(|_| next()));
                    }
                    sm.metrics.retain(|m| point_count(m) > 0);
                }
                rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
            }
            r.resource_metrics.retain(|rm| !rm.scope_metrics.is_empty());
        }
    }
}

/// The number of data points of one metric, as an item count.
pub(crate) fn point_count(m: &Metric) -> u32 {
    u32::try_from(weir_core::data_point_count(m.data.as_ref())).unwrap_or(u32::MAX)
}
