//! The golden cases with an expected output (`golden/<case>/out.json`), run natively through
//! the SDK's `testing` backend: the same plugin code and host column code as the Wasm build
//! that `tests/builtin_golden.rs` checks, so both ways of reaching the host (the Wasm import
//! and the native session) give the same batch — `set_attribute_values` included.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;

#[test]
fn golden_outputs_hold_natively() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let input = std::fs::read_to_string(golden.join("in.json")).unwrap();
    let mut checked = 0;
    for case in std::fs::read_dir(&golden).unwrap() {
        let dir = case.unwrap().path();
        let Ok(expected) = std::fs::read_to_string(dir.join("out.json")) else {
            continue;
        };
        let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
        let fixture = std::fs::read_to_string(dir.join("in.json")).unwrap_or(input.clone());
        let out = weir_plugin::testing::run::<enrich::Enrich>(&config, &fixture)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
        assert_eq!(out, expected, "{}", dir.display());
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} cases with an out.json");
}
