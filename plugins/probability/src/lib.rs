//! OpenTelemetry's consistent probability sampling: 56-bit randomness, rejection thresholds and
//! their `ot=th:` encoding in the W3C `tracestate` (OpenTelemetry specification, "TraceState
//! handling" and "Probability sampling").

/// 2^56: thresholds and randomness values are 56-bit.
pub const MAX: u64 = 1 << 56;

/// The rejection threshold for keeping `percent` % of traces, rounded to `precision` hex
/// digits as the Collector's `sampling_precision` does: an item is kept when its randomness is
/// at least the threshold. 100 % is threshold 0; 0 % is [`MAX`] (never kept).
pub fn for_percent(percent: f64, precision: u32) -> u64 {
    if percent >= 100.0 {
        return 0;
    }
    if percent <= 0.0 {
        return MAX;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "percent is in (0, 100), so the product is in (0, 2^56)"
    )]
    let exact = ((1.0 - percent / 100.0) * MAX as f64).round() as u64;
    // Leading `f`s (tiny percentages) and leading `0`s (percentages near 100) are not
    // significant digits: like the specification's algorithm and the Collector, count the
    // precision after them, so 0.001% does not round to a much larger probability.
    let hex = format!("{exact:014x}");
    let leading = hex
        .bytes()
        .take_while(|b| *b == b'f')
        .count()
        .max(hex.bytes().take_while(|b| *b == b'0').count());
    let digits = (precision.clamp(1, 14) as usize + leading).min(14);
    #[expect(clippy::cast_possible_truncation, reason = "at most 14")]
    let drop_bits = 56 - 4 * digits as u32;
    let unit = 1u64 << drop_bits;
    // Round to the nearest representable threshold, never to MAX (which would mean "never").
    let rounded = (exact + unit / 2) / unit * unit;
    rounded.min(MAX - unit)
}

/// Encodes a threshold as `th` does: 14 hex digits with trailing zeros removed (`0` for 0).
pub fn encode(threshold: u64) -> String {
    if threshold == 0 {
        return "0".into();
    }
    let s = format!("{threshold:014x}");
    s.trim_end_matches('0').to_string()
}

/// Decodes a `th` value (1 to 14 hex digits, padded with zeros on the right).
pub fn decode(th: &str) -> Option<u64> {
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{th:0<14}");
    u64::from_str_radix(&padded, 16).ok()
}

/// The randomness of a trace: an explicit `rv` (14 hex digits) if given, else the last 7 bytes
/// of the trace id. `None` for an all-zero (invalid) trace id.
pub fn randomness(trace_id: &[u8], rv: Option<&str>) -> Option<u64> {
    if let Some(rv) = rv.filter(|r| {
        r.len() == 14
            && r.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }) && let Ok(v) = u64::from_str_radix(rv, 16)
    {
        return Some(v);
    }
    if trace_id.len() != 16 || trace_id.iter().all(|b| *b == 0) {
        return None;
    }
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&trace_id[9..16]);
    Some(u64::from_be_bytes(b))
}

/// A W3C `tracestate` with its OpenTelemetry (`ot`) entry split out.
#[derive(Debug, Default, PartialEq)]
pub struct TraceState {
    /// The `ot` entry's sub-keys in order, e.g. `[("th", "e666"), ("rv", "…")]`.
    pub ot: Vec<(String, String)>,
    /// Every other list member, verbatim and in order.
    pub others: Vec<String>,
}

impl TraceState {
    /// Parses a tracestate header value; malformed `ot` sub-keys are kept as they are.
    pub fn parse(s: &str) -> TraceState {
        let mut out = TraceState::default();
        for member in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            match member.strip_prefix("ot=") {
                Some(ot) => {
                    for kv in ot.split(';').filter(|kv| !kv.is_empty()) {
                        let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
                        out.ot.push((k.to_string(), v.to_string()));
                    }
                }
                None => out.others.push(member.to_string()),
            }
        }
        out
    }

    /// The value of `ot` sub-key `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.ot
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or, with `None`, removes) `ot` sub-key `key`.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        let at = self.ot.iter().position(|(k, _)| k == key);
        match (at, value) {
            (Some(i), Some(v)) => self.ot[i].1 = v,
            (None, Some(v)) => self.ot.insert(0, (key.to_string(), v)),
            (Some(i), None) => {
                self.ot.remove(i);
            }
            (None, None) => {}
        }
    }

    /// Renders it; a modified `ot` entry goes first, as W3C asks of updated members.
    pub fn render(&self) -> String {
        let mut parts = Vec::with_capacity(self.others.len() + 1);
        if !self.ot.is_empty() {
            let ot: Vec<String> = self.ot.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            parts.push(format!("ot={}", ot.join(";")));
        }
        parts.extend(self.others.iter().cloned());
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn thresholds_match_the_specification_examples() {
        // 10 %: keep when randomness >= 0.9 * 2^56; `th:e666` at 4 digits of precision.
        assert_eq!(encode(for_percent(10.0, 4)), "e666");
        assert_eq!(encode(for_percent(25.0, 4)), "c");
        assert_eq!(encode(for_percent(50.0, 4)), "8");
        assert_eq!(encode(for_percent(100.0, 4)), "0");
        assert_eq!(encode(for_percent(1.0, 4)), "fd70a");
        // Precision counts after leading f's / 0's.
        assert_eq!(encode(for_percent(0.001, 4)), "ffff583a");
        assert_eq!(encode(for_percent(99.99, 4)), "00068dc");
        assert_eq!(decode("8"), Some(MAX / 2));
        assert_eq!(decode("e666"), Some(0xe666 << 40));
        assert_eq!(decode("xyz"), None);
    }

    #[test]
    fn randomness_comes_from_the_last_seven_bytes_or_rv() {
        let id = [
            0u8, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde,
        ];
        assert_eq!(randomness(&id, None), Some(0x0012_3456_789a_bcde));
        assert_eq!(randomness(&id, Some("ffffffffffffff")), Some(MAX - 1));
        assert_eq!(randomness(&[0; 16], None), None);
    }

    #[test]
    fn tracestate_keeps_other_vendors_and_puts_ot_first() {
        let mut ts = TraceState::parse("congo=t61rcWkgMzE, ot=rv:abcdefabcdefab;p:8");
        assert_eq!(ts.get("rv"), Some("abcdefabcdefab"));
        ts.set("th", Some("c".into()));
        assert_eq!(
            ts.render(),
            "ot=th:c;rv:abcdefabcdefab;p:8,congo=t61rcWkgMzE"
        );
        assert_eq!(TraceState::parse("").render(), "");
    }
}
