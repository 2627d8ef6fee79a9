//! libFuzzer target: `weir_fuzz::plugin_abi` (see fuzz/targets/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::plugin_abi(data));
