//! libFuzzer target: `weir_fuzz::http_receiver` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::http_receiver(data));
