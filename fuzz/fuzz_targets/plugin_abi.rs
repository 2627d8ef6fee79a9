//! libFuzzer target: `weir_fuzz::plugin_abi` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::plugin_abi(data));
