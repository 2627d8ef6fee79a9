//! The `find` kernel path (Weir searches the batch, only the items it reports are lent and
//! redacted) gives exactly what reading the whole batch gives, byte for byte: realistic batches
//! of every signal from `weir-synth` with secrets planted everywhere they can hide (resources,
//! scopes, items, events, links, data points, exemplars, bodies, map keys, card numbers as
//! integers, values under a blocked key), with each action. This keeps the kernel's list of
//! places to search and the plugin's walk in step.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;
use redact::{Redact, Redactor};
use weir_core::Batch;
use weir_plugin::{Config, Processor, Signal};

const CONFIGS: [&str; 3] = [
    r#"{"action": "mask", "blocked_keys": ["password"], "detectors": ["credit-card", "email", "ipv4", "ipv6", "jwt", "bearer-token", "aws-access-key", "us-ssn"]}"#,
    r#"{"action": "hash", "hash_key": "0123456789abcdef-test-key", "blocked_keys": ["password"]}"#,
    r#"{"action": "remove", "blocked_keys": ["password"]}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_kernel_path_redacts_exactly_what_reading_the_whole_batch_does(
        seed in any::<u64>(),
        signal in 0u8..3,
        n in 1usize..60,
        rate in prop_oneof![Just(0.0), 0.0..0.3f64],
        config in 0usize..3,
    ) {
        let mut g = weir_synth::Generator::new(seed).plant_secrets(rate);
        let (batch, sig) = match signal {
            0 => (Batch::Traces(g.traces(n)), Signal::Traces),
            1 => (Batch::Metrics(g.metrics(n)), Signal::Metrics),
            _ => (Batch::Logs(g.logs(n)), Signal::Logs),
        };
        let cfg = CONFIGS[config];
        let encoded = batch.encode_to_vec();
        let (out, _) = Redactor::from_config(cfg).unwrap().redact_otlp(sig, &encoded).unwrap();
        let whole = out.unwrap_or(encoded);

        let mut plugin = Redact::init(Config::new(cfg)).unwrap();
        let kernel = weir_plugin::testing::process(&mut plugin, batch).unwrap();
        prop_assert!(kernel.encode_to_vec() == whole, "the two paths differ ({cfg})");
    }
}
