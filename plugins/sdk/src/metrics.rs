//! Counters a plugin reports into Weir's `/metrics` as
//! `weir_plugin_counter_total{processor, pipeline, signal, counter, label}`.
//!
//! Counts made during a `process` call that fails are discarded with its writes. Keep labels
//! bounded (config keys, attribute keys): the host keeps at most 1,000 (counter, label) pairs
//! per plugin stage and counts the rest under `label="_other"`.

/// Adds `delta` to counter `name` with label value `label`.
#[cfg(target_arch = "wasm32")]
pub fn counter_add(name: &str, label: &str, delta: u64) {
    crate::bindings::weir::plugin::metrics::counter_add(name, label, delta);
}

/// Adds `delta` to counter `name` with label value `label` (natively: recorded for
/// [`take_counts`], so fixture tests can check what a plugin counted).
#[cfg(not(target_arch = "wasm32"))]
pub fn counter_add(name: &str, label: &str, delta: u64) {
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        *c.entry((name.to_string(), label.to_string())).or_insert(0) += delta;
    });
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static COUNTS: std::cell::RefCell<std::collections::BTreeMap<(String, String), u64>> =
        std::cell::RefCell::default();
}

/// Natively only: the counts recorded on this thread since the last call, by (counter, label).
#[cfg(not(target_arch = "wasm32"))]
pub fn take_counts() -> std::collections::BTreeMap<(String, String), u64> {
    COUNTS.with(|c| std::mem::take(&mut *c.borrow_mut()))
}
