//! The first-party Wasm plugins, compiled from `plugins/` by this crate's build script and
//! embedded in the binary, so `plugin = "builtin:redact"` works without any file on disk.
//! They are ordinary components of the `processor` world (and the `sampler` and `exporter`
//! worlds for [`POLICIES`] and [`EXPORTERS`]), loaded through the same host as any
//! plugin file (same sandbox, limits and failure policy).

/// One embedded plugin.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name after `builtin:` (e.g. `redact`).
    pub name: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

/// Every embedded processor plugin.
pub const ALL: [Builtin; 4] = [
    Builtin {
        name: "enrich",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/enrich.wasm")),
    },
    Builtin {
        name: "redact",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/redact.wasm")),
    },
    Builtin {
        name: "filter",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/filter.wasm")),
    },
    Builtin {
        name: "head-sample",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/head_sample.wasm")),
    },
];

/// The first-party tail-sampling policies: one `sampler`-world component for every policy
/// `type` (`latency`, `status_code`, …), which the host passes in the config as `"type"`.
pub const POLICIES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/policies.wasm"));

/// The embedded processor plugin called `name` (without the `builtin:` prefix).
pub fn get(name: &str) -> Option<&'static Builtin> {
    ALL.iter().find(|b| b.name == name)
}

/// The first-party exporter plugins (`exporter` world), by name after `builtin:`.
pub const EXPORTERS: [(&str, &[u8]); 4] = [
    (
        "otlp-http",
        include_bytes!(concat!(env!("OUT_DIR"), "/otlp_http.wasm")),
    ),
    (
        "prometheus-remote-write",
        include_bytes!(concat!(env!("OUT_DIR"), "/prometheus_remote_write.wasm")),
    ),
    (
        "clickhouse",
        include_bytes!(concat!(env!("OUT_DIR"), "/clickhouse.wasm")),
    ),
    (
        "elasticsearch",
        include_bytes!(concat!(env!("OUT_DIR"), "/elasticsearch.wasm")),
    ),
];

/// The embedded exporter plugin called `name` (without the `builtin:` prefix).
pub fn exporter(name: &str) -> Option<&'static [u8]> {
    EXPORTERS.iter().find(|(n, _)| *n == name).map(|(_, w)| *w)
}
