//! Realistic synthetic OTLP telemetry from a seed, shared by Weir's tests, benches, fuzz seeds and
//! the policy lab so that none of them hand-builds requests of its own.
//!
//! What it generates looks like what a small shop's services send through a gateway: five
//! services (Node, Go, Java, Python, Rust SDKs) calling each other over HTTP and gRPC, querying
//! Postgres and Redis and publishing to Kafka; spans with client/server pairs, semantic-convention
//! attributes, errors with exception events, links and trace state; every metric type (gauge,
//! sum, histogram, exponential histogram, summary) with exemplars; logs with severities,
//! structured and plain bodies and trace correlation. The same seed gives the same telemetry on
//! every machine.
//!
//! ```
//! let mut g = weir_synth::Generator::new(7);
//! let traces = g.traces(100); // exactly 100 spans, in whole and partial traces
//! let metrics = g.metrics(40); // exactly 40 data points
//! let logs = g.logs(25); // exactly 25 log records
//! # let _ = (traces, metrics, logs);
//! ```
//!
//! [`Generator::plant_secrets`] hides known secrets (card numbers, emails, tokens, passwords) in
//! every place OTLP data can carry text, and records them in [`Generator::planted`], so a test
//! can prove that a redaction stage lets none through.

mod logs;
mod metrics;
mod rng;
mod secrets;
#[cfg(feature = "proptest")]
pub mod strategy;
mod traces;
mod vocab;

pub use rng::Rng;
pub use secrets::{Planted, SecretKind};

use secrets::Planter;

/// The resource attributes a replica of service `name` reports, as in generated telemetry
/// (`service.*`, `telemetry.sdk.*`, host, pod, pid): for workloads that pick their own service
/// names, such as the policy lab's scenarios. The shop's own services also get their SDK
/// language and version.
pub fn resource_attributes(
    name: &str,
    replica: usize,
) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    let sdk = vocab::SERVICES
        .iter()
        .find(|s| s.name == name)
        .map(|s| (s.language, s.version));
    vocab::resource_of(name, sdk, replica)
}

/// The Unix time generated telemetry starts at (2023-11-14T22:13:20Z), in ns.
pub const EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// How generated telemetry varies; [`Shape::default`] is a realistic mix.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Extra string attributes `attr.0`, `attr.1`, … on every span, log record and data point,
    /// each about 30 bytes (`value-<i>-of-item-<n>-padding`): how benches size payloads.
    pub extra_attributes: usize,
    /// The share of operations that fail (status ERROR, an exception event, a 5xx status code).
    pub error_share: f64,
    /// Replicas per service: each has its own resource (`service.instance.id`, pod, host).
    pub replicas: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            extra_attributes: 0,
            error_share: 0.05,
            replicas: 2,
        }
    }
}

/// Generates traces, metrics and logs; every call continues the same deterministic stream and
/// advances the generator's clock, so successive batches look like successive exports.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    shape: Shape,
    planter: Planter,
    /// Now, on the generated telemetry's clock, in ns since the Unix epoch.
    clock: u64,
    /// Items generated so far (numbers the `attr.*` values).
    items: u64,
}

impl Generator {
    /// A generator with the default [`Shape`] for `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            shape: Shape::default(),
            // Its own stream: planting secrets leaves the rest of the telemetry unchanged.
            planter: Planter::new(seed.wrapping_add(0x5ec2_e75e_c2e7), 0.0),
            clock: EPOCH_NS,
            items: 0,
        }
    }

    /// The same generator with `shape`.
    pub fn with_shape(mut self, shape: Shape) -> Generator {
        shape_check(&shape);
        self.shape = shape;
        self
    }

    /// The same generator, planting a secret in each place text can hide with probability
    /// `rate` (0 to 1): resource, scope, item and event attributes (as text, integers, bytes,
    /// array and map members, and attribute keys), span names, status messages, event names,
    /// log bodies, severity texts and event names, metric metadata and exemplar attributes.
    pub fn plant_secrets(mut self, rate: f64) -> Generator {
        self.planter.rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Every secret planted so far, in the order planted.
    pub fn planted(&self) -> &[Planted] {
        &self.planter.planted
    }

    /// The generator's clock, in ns since the Unix epoch: the time of the latest item.
    pub fn now(&self) -> u64 {
        self.clock
    }

    /// The `attr.*` padding attributes of the next item.
    fn extra_attributes(&mut self) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
        self.items += 1;
        let n = self.items;
        (0..self.shape.extra_attributes)
            .map(|a| {
                vocab::text(
                    &format!("attr.{a}"),
                    format!("value-{a}-of-item-{n:08}-padding"),
                )
            })
            .collect()
    }
}

fn shape_check(shape: &Shape) {
    assert!(shape.replicas > 0, "Shape::replicas must be at least 1");
    assert!(
        (0.0..=1.0).contains(&shape.error_share),
        "Shape::error_share must be within 0..=1"
    );
}

#[cfg(test)]
mod tests;
