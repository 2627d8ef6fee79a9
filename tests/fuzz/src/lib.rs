//! The bodies of Weir's fuzz targets, one function per input Weir parses. Each takes arbitrary
//! bytes, drives them through the same code the gateway runs, and panics only when an invariant
//! breaks (never because the input was bad: bad input must be refused, not crash).
//!
//! `fuzz/` wraps each function in a cargo-fuzz (libFuzzer) target; `tests/corpus.rs` replays the
//! checked-in corpus in `fuzz/corpus/<target>/` and runs a short seeded mutation of it under
//! `cargo test`, so CI exercises every target without an instrumented build.

mod abi;
mod files;
mod receiver;

#[doc(hidden)]
pub use receiver::otlp_roundtrip;

pub use abi::plugin_abi;
pub use files::{config, jaeger_strategies, lab_recording, lab_scenario};
pub use receiver::{grpc_receiver, http_receiver, otlp_json, otlp_proto};

/// A fuzz target: arbitrary bytes in, a panic only when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: [(&str, Target); 10] = [
    ("otlp_proto", otlp_proto),
    ("otlp_json", otlp_json),
    ("http_receiver", http_receiver),
    ("grpc_receiver", grpc_receiver),
    ("config", config),
    ("jaeger_strategies", jaeger_strategies),
    ("lab_scenario", lab_scenario),
    ("lab_recording", lab_recording),
    ("plugin_abi", plugin_abi),
    ("otlp_roundtrip", otlp_roundtrip),
];
