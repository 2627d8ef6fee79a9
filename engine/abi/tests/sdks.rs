//! The ABI's numbers as the WIT comments and the Python and JavaScript SDKs spell them must be
//! the ones this crate defines: a kind renumbered in one place fails here.

use std::path::PathBuf;

use weir_abi::kind;

fn read(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `NAME = value` assignments (Python `KIND_STR = 1`, JavaScript `export const KIND_STR = 1;`)
/// with the given prefix.
fn constants(text: &str, prefix: &str) -> Vec<(String, u8)> {
    text.lines()
        .filter_map(|line| {
            let line = line
                .trim()
                .trim_start_matches("export const ")
                .trim_end_matches(';');
            let (name, value) = line.split_once('=')?;
            let name = name.trim();
            name.starts_with(prefix)
                .then(|| Some((name.to_string(), value.trim().parse().ok()?)))
                .flatten()
        })
        .collect()
}

/// What an SDK must define: `KIND_<NAME>` for each kind.
fn expected() -> Vec<(String, u8)> {
    kind::ALL
        .iter()
        .map(|(k, name)| (format!("KIND_{}", name.to_uppercase()), *k))
        .collect()
}

#[test]
fn the_python_sdk_uses_the_same_kind_bytes() {
    let found = constants(&read("plugins/python/weir_plugin.py"), "KIND_");
    assert_eq!(found, expected());
}

#[test]
fn the_javascript_sdk_uses_the_same_kind_bytes() {
    let found = constants(&read("plugins/js/weir-plugin.js"), "KIND_");
    assert_eq!(found, expected());
}

#[test]
fn the_wit_documents_the_same_kind_bytes_and_package() {
    let wit = read("wit/plugin.wit");
    assert!(
        wit.contains(&format!("package {};", weir_abi::WIT_PACKAGE)),
        "wit/plugin.wit declares another package than {}",
        weir_abi::WIT_PACKAGE
    );
    // The doc comment of `value-column`, joined into one line.
    let doc: String = wit
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("///"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let list = kind::ALL
        .iter()
        .map(|(k, name)| format!("{k} {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        doc.contains(&format!("one byte per row: {list}")),
        "wit/plugin.wit's value-column comment does not list `{list}`"
    );
}
