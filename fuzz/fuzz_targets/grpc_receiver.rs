//! libFuzzer target: `weir_fuzz::grpc_receiver` (see fuzz/targets/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::grpc_receiver(data));
