//! libFuzzer target: `weir_fuzz::lab_recording` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::lab_recording(data));
