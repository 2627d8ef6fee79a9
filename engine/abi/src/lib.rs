//! The numbers of Weir's plugin ABI that the WIT types cannot spell, defined once.
//!
//! `wit/plugin.wit` declares a value column as `kinds: list<u8>` and packed byte lists; what
//! the bytes mean is here. The host (`weir-columns`) and the Rust SDK (`plugins/sdk`) use these
//! constants; the Python and JavaScript SDKs and the WIT's comments are checked against them by
//! this crate's tests (`tests/sdks.rs`), so the definitions cannot drift apart.
#![no_std]

/// The WIT package every plugin world belongs to.
pub const WIT_PACKAGE: &str = "weir:plugin@0.1.1";

/// Bytes per row in a value column's `numbers` (a little-endian u64, i64 or f64).
pub const NUMBER_BYTES: usize = 8;

/// Bytes per entry in a `strings` record's `offsets` (little-endian u32; `n + 1` entries).
pub const OFFSET_BYTES: usize = 4;

/// Value kind bytes of a value column (`value-column.kinds`), one per row.
pub mod kind {
    /// Absent (or an empty OTLP value).
    pub const ABSENT: u8 = 0;
    /// A string, in `text`.
    pub const STR: u8 = 1;
    /// A boolean, 0 or 1 in `numbers`.
    pub const BOOL: u8 = 2;
    /// An integer, as i64 bits in `numbers`.
    pub const INT: u8 = 3;
    /// A double, as f64 bits in `numbers`.
    pub const DOUBLE: u8 = 4;
    /// Bytes, in `text`.
    pub const BYTES: u8 = 5;
    /// An array or key-value list, as OTLP/JSON in `text`.
    pub const JSON: u8 = 6;

    /// Every kind with the name the WIT comments and the other SDKs use for it, in order.
    pub const ALL: [(u8, &str); 7] = [
        (ABSENT, "absent"),
        (STR, "string"),
        (BOOL, "bool"),
        (INT, "int"),
        (DOUBLE, "double"),
        (BYTES, "bytes"),
        (JSON, "json"),
    ];
}
