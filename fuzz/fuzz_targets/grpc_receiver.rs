//! libFuzzer target: `weir_fuzz::grpc_receiver` (see tests/fuzz/src).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::grpc_receiver(data));
