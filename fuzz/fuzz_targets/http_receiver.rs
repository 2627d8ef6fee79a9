//! libFuzzer target: `weir_fuzz::http_receiver` (see fuzz/targets/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::http_receiver(data));
