//! Logs: what the shop's services write — mostly info lines about requests, some warnings and
//! errors with exception attributes, structured (map) bodies, and trace correlation for the
//! lines written inside a request.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::Generator;
use crate::vocab::{SERVICES, int, kv, resource, text};

impl Generator {
    /// A logs request holding exactly `records` log records, one resource per service replica
    /// that wrote any; advances the clock by about 1 ms per record.
    pub fn logs(&mut self, records: usize) -> ExportLogsServiceRequest {
        let mut by_origin: Vec<((usize, usize), Vec<LogRecord>)> = Vec::new();
        for _ in 0..records {
            let origin = (
                self.rng.below(SERVICES.len()),
                self.rng.below(self.shape.replicas),
            );
            let record = self.record(origin.0);
            match by_origin.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, list)) => list.push(record),
                None => by_origin.push((origin, vec![record])),
            }
        }
        let resource_logs = by_origin
            .into_iter()
            .map(|((service, replica), log_records)| {
                let mut attributes = resource(&SERVICES[service], replica);
                self.planter
                    .attributes(&mut attributes, "resource.attributes");
                ResourceLogs {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(self.scope(&format!("shop.{}", SERVICES[service].name))),
                        log_records,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }
            })
            .collect();
        ExportLogsServiceRequest { resource_logs }
    }

    /// One record written by `service`.
    fn record(&mut self, service: usize) -> LogRecord {
        self.clock += 1 + self.rng.exp(1e6) as u64;
        let roll = self.rng.f64();
        let error_share = self.shape.error_share;
        let (severity, severity_text) = if roll < error_share {
            (SeverityNumber::Error, "ERROR")
        } else if roll < error_share + 0.12 {
            (SeverityNumber::Warn, "WARN")
        } else if roll < error_share + 0.22 {
            (SeverityNumber::Debug, "DEBUG")
        } else {
            (SeverityNumber::Info, "INFO")
        };
        let name = SERVICES[service].name;
        let order = 100_000 + self.rng.below(900_000) as i64;
        let millis = 1 + self.rng.below(250);
        let mut attributes = vec![
            text("log.logger", format!("shop.{name}.handler")),
            text("thread.name", format!("worker-{}", self.rng.below(8))),
        ];
        let body = match severity {
            SeverityNumber::Error => {
                attributes.push(text("exception.type", "TimeoutError"));
                attributes.push(text(
                    "exception.message",
                    format!("payment gateway did not answer within {millis} ms"),
                ));
                Value::StringValue(format!("order {order} failed: upstream timeout"))
            }
            SeverityNumber::Warn => Value::StringValue(format!(
                "slow request: GET /api/cart took {millis} ms (budget 100 ms)"
            )),
            _ if self.rng.chance(0.1) => Value::KvlistValue(KeyValueList {
                values: vec![
                    text("event", "order.placed"),
                    int("order_id", order),
                    kv(
                        "total",
                        Value::DoubleValue((self.rng.f64() * 50_000.0).round() / 100.0),
                    ),
                    kv(
                        "items",
                        Value::ArrayValue(ArrayValue {
                            values: vec![string("sku-1042"), string("sku-77")],
                        }),
                    ),
                ],
            }),
            _ if self.rng.chance(0.03) => Value::ArrayValue(ArrayValue {
                values: vec![string("cache"), string("warm"), string(name)],
            }),
            _ => Value::StringValue(format!(
                "{} /api/{} {} {millis}ms",
                self.rng.pick(&["GET", "POST"]),
                self.rng.pick(&["cart", "checkout", "products/1042"]),
                self.rng.pick(&[200, 200, 201, 404])
            )),
        };
        attributes.extend(self.extra_attributes());
        let correlated = self.rng.chance(0.7);
        let event_name = if self.rng.chance(0.05) {
            "shop.order.placed".to_string()
        } else {
            String::new()
        };
        let mut record = LogRecord {
            time_unix_nano: self.clock,
            observed_time_unix_nano: self.clock + self.rng.below(5_000_000) as u64,
            severity_number: severity as i32,
            severity_text: severity_text.into(),
            body: Some(AnyValue { value: Some(body) }),
            attributes,
            dropped_attributes_count: 0,
            flags: u32::from(correlated),
            trace_id: if correlated {
                self.rng.id(16)
            } else {
                Vec::new()
            },
            span_id: if correlated {
                self.rng.id(8)
            } else {
                Vec::new()
            },
            event_name,
        };
        let p = &mut self.planter;
        p.body(&mut record.body, "log.body");
        p.attributes(&mut record.attributes, "log.attributes");
        p.text(&mut record.severity_text, "log.severity_text");
        if !record.event_name.is_empty() {
            p.text(&mut record.event_name, "log.event_name");
        }
        record
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.into())),
    }
}
