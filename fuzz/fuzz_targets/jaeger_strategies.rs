//! libFuzzer target: `weir_fuzz::jaeger_strategies` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::jaeger_strategies(data));
