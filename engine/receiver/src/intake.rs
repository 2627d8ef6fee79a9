//! What both transports do with a decoded request: validate, hand over, count.

use std::sync::Arc;
use std::time::Duration;

use weir_auth::Tenant;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value};
use weir_core::otlp::resource::v1::Resource;
use weir_core::telemetry::ReceiverMetrics;
use weir_core::{Batch, ConsumeError, Consumer};

use crate::validate;

/// One signal's way into the pipelines, with the counters of one transport.
#[derive(Clone)]
pub(crate) struct Intake {
    pub consumer: Arc<dyn Consumer>,
    pub metrics: ReceiverMetrics,
    /// The resource attribute that carries the authenticated tenant (`tenant_attribute`).
    pub tenant_attribute: Option<Arc<str>>,
}

/// A request was accepted; `rejected` items of it were invalid and dropped, as reported back.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    pub rejected: i64,
    pub message: String,
}

/// The request was not accepted; nothing of it was kept.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A pipeline is full: retry after this long.
    Overloaded(Duration),
    /// A processor with `on_error = "refuse"` failed on it: retry after this long.
    Failed {
        /// Which processor of which pipeline, and why; shown to the client.
        message: String,
        /// The back-off to advertise.
        retry_after: Duration,
    },
    /// Above the memory soft limit: retry after this long.
    Memory(Duration),
    /// Shutting down: retry elsewhere or later.
    ShuttingDown,
}

impl Intake {
    /// Whether protobuf requests may be kept as their bytes ([`Batch::Wire`]): every pipeline
    /// behind the intake passes them on unread, and no tenant attribute is stamped on them.
    pub(crate) fn wire(&self) -> bool {
        self.tenant_attribute.is_none() && self.consumer.wants_wire()
    }

    /// Validates `batch`, stamps the sender's `tenant` on it (if configured), hands the valid
    /// part to the pipelines, waits for the answer of those that acknowledge after processing
    /// (`ack = "processed"`), and counts.
    pub(crate) async fn accept(
        &self,
        mut batch: Batch,
        tenant: Option<&Tenant>,
    ) -> Result<Accepted, Refusal> {
        let rejection = validate::drop_invalid(&mut batch);
        if let Some(key) = &self.tenant_attribute {
            set_tenant(&mut batch, key, tenant.map(|t| &*t.0));
        }
        let items = batch.item_count() as u64;
        if rejection.rejected > 0 {
            self.metrics
                .refused_invalid
                .inc_by(rejection.rejected as u64);
        }
        let accepted = Accepted {
            rejected: i64::try_from(rejection.rejected).unwrap_or(i64::MAX),
            message: rejection.message,
        };
        if items == 0 {
            return Ok(accepted);
        }
        let outcome = match self.consumer.consume(batch) {
            Ok(receipt) => receipt.wait().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                self.metrics.accepted.inc_by(items);
                Ok(accepted)
            }
            Err(ConsumeError::Refused {
                pipeline,
                stage,
                message,
                retry_after,
            }) => {
                self.metrics.refused_processing.inc_by(items);
                Err(Refusal::Failed {
                    message: format!("pipeline {pipeline}: processor {stage} failed: {message}"),
                    retry_after,
                })
            }
            Err(ConsumeError::Full {
                pipeline,
                retry_after,
            }) => {
                self.metrics.refused_overloaded.inc_by(items);
                tracing::debug!(%pipeline, items, "pipeline full; refusing with a retryable status");
                Err(Refusal::Overloaded(retry_after))
            }
            Err(ConsumeError::MemoryLimited { retry_after }) => {
                self.metrics.refused_memory.inc_by(items);
                Err(Refusal::Memory(retry_after))
            }
            Err(ConsumeError::ShuttingDown) => {
                self.metrics.refused_shutdown.inc_by(items);
                Err(Refusal::ShuttingDown)
            }
        }
    }

    /// Counts a request refused before it could be decoded (its items are unknown: counts 1).
    pub(crate) fn count_malformed(&self) {
        self.metrics.refused_invalid.inc();
    }
}

/// Sets resource attribute `key` to `tenant` on every resource of `batch`, replacing a value
/// the client sent (a client must not be able to claim another tenant); without a tenant
/// (a certificate whose subject could not be read), removes the client's value.
fn set_tenant(batch: &mut Batch, key: &str, tenant: Option<&str>) {
    let set = |r: &mut Option<Resource>| {
        let attrs = &mut r.get_or_insert_with(Resource::default).attributes;
        attrs.retain(|kv| kv.key != key);
        let Some(tenant) = tenant else { return };
        attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(tenant.to_string())),
            }),
            ..Default::default()
        });
    };
    batch.make_typed();
    match batch {
        Batch::Traces(r) => r
            .resource_spans
            .iter_mut()
            .for_each(|x| set(&mut x.resource)),
        Batch::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|x| set(&mut x.resource)),
        Batch::Logs(r) => r
            .resource_logs
            .iter_mut()
            .for_each(|x| set(&mut x.resource)),
        Batch::Wire(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weir_core::otlp::trace::v1::ResourceSpans;

    use super::*;

    fn attr(r: &Option<Resource>, key: &str) -> Vec<String> {
        r.iter()
            .flat_map(|r| &r.attributes)
            .filter(|kv| kv.key == key)
            .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_tenant_replaces_what_the_client_claimed() {
        let claimed = Resource {
            attributes: vec![KeyValue {
                key: "tenant".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("someone-else".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut batch = Batch::Traces(ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(claimed),
                    ..Default::default()
                },
                ResourceSpans::default(),
            ],
        });
        set_tenant(&mut batch, "tenant", Some("team-a"));
        let Batch::Traces(r) = batch else {
            unreachable!("a traces batch")
        };
        for rs in &r.resource_spans {
            assert_eq!(attr(&rs.resource, "tenant"), ["team-a"]);
        }
        // No tenant known: what the client claimed is removed, not passed on.
        let mut batch = Batch::Traces(r);
        set_tenant(&mut batch, "tenant", None);
        let Batch::Traces(r) = batch else {
            unreachable!("a traces batch")
        };
        assert!(
            r.resource_spans
                .iter()
                .all(|rs| attr(&rs.resource, "tenant").is_empty())
        );
    }
}
