//! The numbers of Weir's plugin ABI that the WIT types cannot spell, defined once.
//!
//! `wit/plugin.wit` declares a value column as `kinds: list<u8>` and packed byte lists; what
//! the bytes mean is here. The host (`weir-columns`) and the Rust SDK (`plugins/sdk`) use these
//! constants; the Python and JavaScript SDKs and the WIT's comments are checked against them by
//! this crate's tests (`tests/sdks.rs`), so the definitions cannot drift apart.
#![no_std]

/// The WIT package every plugin world belongs to.
pub const WIT_PACKAGE: &str = "weir:plugin@0.1.2";

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

/// Card numbers among integers and doubles: what `builtin:redact` redacts as a number and what
/// the host's `find` kernel reports with `cards`. One definition for both, so the host never
/// misses a number the plugin would redact.
pub mod card {
    /// A Luhn-valid 13–19 digit integer (sign ignored).
    pub fn int(i: i64) -> bool {
        let mut n = i.unsigned_abs();
        if !(1_000_000_000_000..10_000_000_000_000_000_000).contains(&n) {
            return false;
        }
        let (mut sum, mut odd) = (0u64, false);
        while n > 0 {
            let d = n % 10;
            n /= 10;
            sum += match (odd, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            };
            odd = !odd;
        }
        sum.is_multiple_of(10)
    }

    /// A whole-number double below 9e18 (exact up to 2^53, which card numbers fit) that is a
    /// card number by [`int`].
    pub fn double(d: f64) -> bool {
        if !(d > -9.0e18 && d < 9.0e18) {
            return false;
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked to be below 9e18; a fraction makes the round trip differ"
        )]
        let i = d as i64;
        #[expect(clippy::cast_precision_loss, reason = "comparing back is the check")]
        let whole = i as f64 == d;
        whole && int(i)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn card_numbers_need_13_to_19_digits_and_luhn() {
            assert!(super::int(4_111_111_111_111_111));
            assert!(super::int(-4_111_111_111_111_111));
            assert!(!super::int(4_111_111_111_111_112));
            assert!(!super::int(200));
            assert!(!super::int(i64::MIN));
            assert!(super::double(4_111_111_111_111_111.0));
            assert!(!super::double(4_111_111_111_111_111.5));
            assert!(!super::double(f64::NAN));
        }
    }
}
