//! libFuzzer target: `weir_fuzz::lab_scenario` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::lab_scenario(data));
