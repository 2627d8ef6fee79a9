//! libFuzzer target: `weir_fuzz::otlp_roundtrip` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::otlp_roundtrip(data));
