//! Metrics: what the shop's SDKs export every interval — request duration histograms, active
//! requests, CPU utilisation, an order counter, exponential histograms of RPC durations and a
//! legacy summary — with exemplars pointing at traces.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exemplar;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::Generator;
use crate::vocab::{SERVICES, int, resource, text};

/// The semantic conventions' bucket bounds for HTTP durations, in seconds.
const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How many metric shapes [`Generator::metric`] cycles through.
const SHAPES: usize = 6;

impl Generator {
    /// A metrics request holding exactly `points` data points across every metric type, one
    /// resource per service replica, as one collection interval of the shop's SDKs; advances
    /// the clock by the 10 s interval.
    pub fn metrics(&mut self, points: usize) -> ExportMetricsServiceRequest {
        self.clock += 10_000_000_000;
        let mut resources: Vec<(usize, usize, Vec<Metric>)> = Vec::new();
        let mut left = points;
        let mut shape = self.rng.below(SHAPES);
        while left > 0 {
            let service = self.rng.below(SERVICES.len());
            let replica = self.rng.below(self.shape.replicas);
            let n = left.min(1 + self.rng.below(4));
            let metric = self.metric(shape, n);
            left -= n;
            shape = (shape + 1) % SHAPES;
            match resources
                .iter_mut()
                .find(|(s, r, _)| (*s, *r) == (service, replica))
            {
                Some((_, _, metrics)) => metrics.push(metric),
                None => resources.push((service, replica, vec![metric])),
            }
        }
        let resource_metrics = resources
            .into_iter()
            .map(|(service, replica, metrics)| {
                let mut attributes = resource(&SERVICES[service], replica);
                self.planter
                    .attributes(&mut attributes, "resource.attributes");
                ResourceMetrics {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(self.scope("opentelemetry-sdk-metrics")),
                        metrics,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }
            })
            .collect();
        ExportMetricsServiceRequest { resource_metrics }
    }

    /// Metric number `shape` (of [`SHAPES`]) with `n` data points.
    fn metric(&mut self, shape: usize, n: usize) -> Metric {
        let now = self.clock;
        let start = now - 3_600_000_000_000;
        let cumulative = AggregationTemporality::Cumulative as i32;
        let (name, unit, description, data) = match shape {
            0 => (
                "http.server.request.duration",
                "s",
                "Duration of HTTP server requests.",
                Data::Histogram(Histogram {
                    data_points: (0..n)
                        .map(|i| self.histogram_point(i, start, now))
                        .collect(),
                    aggregation_temporality: cumulative,
                }),
            ),
            1 => (
                "http.server.active_requests",
                "{request}",
                "Number of active HTTP server requests.",
                Data::Sum(Sum {
                    data_points: (0..n)
                        .map(|i| {
                            let v = Number::AsInt(self.rng.below(40) as i64);
                            self.number_point(i, start, now, v)
                        })
                        .collect(),
                    aggregation_temporality: cumulative,
                    is_monotonic: false,
                }),
            ),
            2 => (
                "process.cpu.utilization",
                "1",
                "CPU utilisation of the process.",
                Data::Gauge(Gauge {
                    data_points: (0..n)
                        .map(|i| {
                            let v = Number::AsDouble((self.rng.f64() * 0.9 * 1e4).round() / 1e4);
                            self.number_point(i, start, now, v)
                        })
                        .collect(),
                }),
            ),
            3 => (
                "shop.orders.placed",
                "{order}",
                "Orders placed.",
                Data::Sum(Sum {
                    data_points: (0..n)
                        .map(|i| {
                            let v = Number::AsInt(1000 + self.rng.below(100_000) as i64);
                            self.number_point(i, start, now, v)
                        })
                        .collect(),
                    aggregation_temporality: cumulative,
                    is_monotonic: true,
                }),
            ),
            4 => (
                "rpc.server.duration",
                "ms",
                "Duration of inbound RPCs.",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: (0..n)
                        .map(|i| self.exponential_point(i, start, now))
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
            _ => (
                "jvm.gc.pause",
                "s",
                "Garbage collection pauses (a Prometheus summary).",
                Data::Summary(Summary {
                    data_points: (0..n).map(|i| self.summary_point(i, start, now)).collect(),
                }),
            ),
        };
        let mut metadata = Vec::new();
        self.planter.attributes(&mut metadata, "metric.metadata");
        Metric {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            metadata,
            data: Some(data),
        }
    }

    /// The attributes of data point `i`: a different route, method and status per point.
    fn point_attributes(&mut self, i: usize) -> Vec<KeyValue> {
        let routes = [
            "/api/cart",
            "/api/checkout",
            "/api/products/{id}",
            "/orders",
        ];
        let mut attrs = vec![
            text(
                "http.request.method",
                if i.is_multiple_of(2) { "GET" } else { "POST" },
            ),
            text("http.route", routes[i % routes.len()]),
            int(
                "http.response.status_code",
                [200, 201, 404, 500][(i / 4) % 4],
            ),
        ];
        attrs.extend(self.extra_attributes());
        self.planter.attributes(&mut attrs, "data_point.attributes");
        attrs
    }

    fn exemplars(&mut self, now: u64, value: f64) -> Vec<Exemplar> {
        if !self.rng.chance(0.3) {
            return Vec::new();
        }
        let mut filtered_attributes = vec![text("user_agent.original", "okhttp/4.12.0")];
        self.planter
            .attributes(&mut filtered_attributes, "exemplar.attributes");
        vec![Exemplar {
            filtered_attributes,
            time_unix_nano: now - 1_000_000_000,
            span_id: self.rng.id(8),
            trace_id: self.rng.id(16),
            value: Some(exemplar::Value::AsDouble(value)),
        }]
    }

    fn number_point(&mut self, i: usize, start: u64, now: u64, value: Number) -> NumberDataPoint {
        NumberDataPoint {
            attributes: self.point_attributes(i),
            start_time_unix_nano: start,
            time_unix_nano: now,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(value),
        }
    }

    fn histogram_point(&mut self, i: usize, start: u64, now: u64) -> HistogramDataPoint {
        let mut counts = vec![0u64; BOUNDS.len() + 1];
        let samples = 1 + self.rng.below(500);
        let (mut sum, mut min, mut max) = (0.0f64, f64::MAX, 0.0f64);
        for _ in 0..samples {
            let v = self.rng.latency(30e6, 1.0) as f64 / 1e9;
            counts[BOUNDS.partition_point(|b| *b < v)] += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        let exemplars = self.exemplars(now, max);
        HistogramDataPoint {
            attributes: self.point_attributes(i),
            start_time_unix_nano: start,
            time_unix_nano: now,
            count: samples as u64,
            sum: Some(sum),
            bucket_counts: counts,
            explicit_bounds: BOUNDS.to_vec(),
            exemplars,
            flags: 0,
            min: Some(min),
            max: Some(max),
        }
    }

    fn exponential_point(
        &mut self,
        i: usize,
        start: u64,
        now: u64,
    ) -> ExponentialHistogramDataPoint {
        // Scale 3: bucket k covers (2^(k/8), 2^((k+1)/8)] ms.
        let samples = 1 + self.rng.below(300);
        let mut counts = vec![0u64; 96];
        let (mut sum, mut min, mut max) = (0.0f64, f64::MAX, 0.0f64);
        for _ in 0..samples {
            let v = (self.rng.latency(5e6, 0.8) as f64 / 1e6).max(1.001);
            let k = ((v.log2() * 8.0).ceil() as usize).saturating_sub(1).min(95);
            counts[k] += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        let exemplars = self.exemplars(now, max);
        ExponentialHistogramDataPoint {
            attributes: self.point_attributes(i),
            start_time_unix_nano: start,
            time_unix_nano: now,
            count: samples as u64,
            sum: Some(sum),
            scale: 3,
            zero_count: 0,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: counts,
            }),
            negative: None,
            flags: 0,
            exemplars,
            min: Some(min),
            max: Some(max),
            zero_threshold: 0.0,
        }
    }

    fn summary_point(&mut self, i: usize, start: u64, now: u64) -> SummaryDataPoint {
        let count = 10 + self.rng.below(1000) as u64;
        let median = (self.rng.latency(4e6, 0.5) as f64 / 1e9 * 1e6).round() / 1e6;
        let quantile_values = [(0.0, 0.3), (0.5, 1.0), (0.9, 2.2), (0.99, 4.0), (1.0, 6.5)]
            .iter()
            .map(|(q, f)| ValueAtQuantile {
                quantile: *q,
                value: median * f,
            })
            .collect();
        SummaryDataPoint {
            attributes: self.point_attributes(i),
            start_time_unix_nano: start,
            time_unix_nano: now,
            count,
            sum: median * 1.3 * count as f64,
            quantile_values,
            flags: 0,
        }
    }
}
