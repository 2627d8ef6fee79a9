//! `[pipelines.<signal>]` and `[pipelines.<signal>.<name>]` tables.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use crate::units::Seconds;

/// The keys a pipeline table may hold; anything else must be a named sub-pipeline.
const PIPELINE_KEYS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "batch",
    "queue_size",
    "ack",
];

/// One pipeline's settings as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Receivers feeding this pipeline.
    #[serde(default)]
    pub receivers: Vec<Spanned<String>>,
    /// Processors (and, later, samplers), run in this order.
    #[serde(default)]
    pub processors: Vec<Spanned<String>>,
    /// Exporters; each batch goes to all of them, in parallel.
    #[serde(default)]
    pub exporters: Vec<Spanned<String>>,
    /// How items are gathered into batches before the processors.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Requests the pipeline's input queue holds. When it is full, receivers refuse new data
    /// with a retryable status (gRPC UNAVAILABLE, HTTP 503). Default 64.
    #[serde(default = "default_pipeline_queue")]
    pub queue_size: usize,
    /// When clients are answered: after processing (default) or on receipt.
    #[serde(default)]
    pub ack: AckMode,
}

/// `ack`: when a pipeline lets its receivers answer a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    /// Once the request's items passed every processor (up to a tail sampler) and sit in every
    /// exporter's queue. A processor with `on_error = "refuse"` that fails refuses the request
    /// with a retryable status; nothing acknowledged was lost on the way. With disk sending
    /// queues this is "queued on disk in every exporter", so `queued` (the and
    /// Vector's word for it) is accepted as another name.
    #[default]
    #[serde(alias = "queued")]
    Processed,
    /// As soon as the request is in the pipeline's input queue (the Collector's batch
    /// processor): lowest latency, but a processor failure after that can only drop, and a
    /// crash loses what the pipeline holds.
    Received,
}

fn default_pipeline_queue() -> usize {
    64
}

/// `batch`: the Collector's batch processor, built into every pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch once it holds this many items (spans, data points, log records).
    /// Default 8192. 0 sends every request on its own.
    #[serde(default = "default_batch_size")]
    pub send_batch_size: usize,
    /// Send whatever has gathered after this long. Default `"200ms"`.
    #[serde(default = "default_batch_timeout")]
    pub timeout: Seconds,
}

fn default_batch_size() -> usize {
    8192
}
fn default_batch_timeout() -> Seconds {
    Seconds(Duration::from_millis(200))
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: default_batch_size(),
            timeout: default_batch_timeout(),
        }
    }
}

/// `[pipelines.<signal>]`: the default pipeline of a signal (if it has any keys) plus named
/// pipelines `[pipelines.<signal>.<name>]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineGroup {
    /// The unnamed pipeline, when the table sets any pipeline key.
    pub base: Option<PipelineSpec>,
    /// Named pipelines, by name with the position of the name.
    pub named: BTreeMap<String, Spanned<PipelineSpec>>,
}

impl<'de> Deserialize<'de> for PipelineGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PipelineGroup;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pipeline table")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<PipelineGroup, M::Error> {
                let mut group = PipelineGroup::default();
                let mut base = PipelineSpec {
                    queue_size: default_pipeline_queue(),
                    ..Default::default()
                };
                let mut has_base = false;
                while let Some(key) = map.next_key::<String>()? {
                    has_base |= PIPELINE_KEYS.contains(&key.as_str());
                    match key.as_str() {
                        "receivers" => base.receivers = map.next_value()?,
                        "processors" => base.processors = map.next_value()?,
                        "exporters" => base.exporters = map.next_value()?,
                        "batch" => base.batch = map.next_value()?,
                        "queue_size" => base.queue_size = map.next_value()?,
                        "ack" => base.ack = map.next_value()?,
                        name => {
                            let spec = map.next_value::<Spanned<PipelineSpec>>().map_err(|e| {
                                let text = e.to_string();
                                if text.starts_with("invalid type")
                                    || text.starts_with("invalid length")
                                {
                                    // Not a table: most likely a misspelt pipeline key.
                                    de::Error::custom(format!(
                                        "unknown key `{name}`: a pipeline takes {} or named \
                                         pipeline tables [pipelines.<signal>.<name>]",
                                        PIPELINE_KEYS.join(", ")
                                    ))
                                } else {
                                    e
                                }
                            })?;
                            group.named.insert(name.to_string(), spec);
                        }
                    }
                }
                if has_base {
                    group.base = Some(base);
                }
                Ok(group)
            }
        }
        d.deserialize_map(V)
    }
}
