//! Value detectors: where in a string a secret or a piece of personal data sits.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;

/// The built-in detector names, in the order they are documented.
pub const BUILTIN: [&str; 8] = [
    "credit-card",
    "email",
    "ipv4",
    "ipv6",
    "jwt",
    "bearer-token",
    "aws-access-key",
    "us-ssn",
];

/// The detectors used when the config does not list any (IP addresses are opt-in: they are
/// usually operational data, not personal data, in a gateway's traffic).
pub const DEFAULT: [&str; 6] = [
    "credit-card",
    "email",
    "jwt",
    "bearer-token",
    "aws-access-key",
    "us-ssn",
];

/// How a candidate match is confirmed.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Every match counts.
    None,
    /// Digit groups whose digits form a Luhn-valid 13–19 digit number.
    Card,
    /// A dotted quad whose parts are all ≤ 255.
    Ipv4,
    /// Something `Ipv6Addr` parses.
    Ipv6,
    /// Area, group and serial ranges the SSA never issues are excluded.
    Ssn,
}

/// One detector: a candidate regex and a check.
#[derive(Debug)]
pub struct Detector {
    /// Its name (built-in or the custom pattern's).
    pub name: String,
    regex: Regex,
    check: Check,
    /// A pattern that matches wherever `regex` could match inside an encoded OTLP request, or
    /// `None` if there is none (custom patterns with anchors or word boundaries).
    loose: Option<String>,
}

impl Detector {
    /// A built-in detector by name, or `None` if there is none of that name.
    pub fn builtin(name: &str) -> Option<Detector> {
        let (pattern, check) = match name {
            // 13 or more digits, optionally separated by single spaces or dashes.
            "credit-card" => (r"[0-9](?:[ -]?[0-9]){12,}", Check::Card),
            "email" => (
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                Check::None,
            ),
            "ipv4" => (
                r"(?-u:\b)[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?-u:\b)",
                Check::Ipv4,
            ),
            "ipv6" => (r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", Check::Ipv6),
            "jwt" => (
                r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
                Check::None,
            ),
            "bearer-token" => (r"(?i)(?-u:\b)bearer\s+[A-Za-z0-9._~+/-]+=*", Check::None),
            "aws-access-key" => (
                r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?-u:\b)",
                Check::None,
            ),
            "us-ssn" => (r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)", Check::Ssn),
            _ => return None,
        };
        let regex = Regex::new(pattern).ok()?;
        Some(Detector {
            name: name.to_string(),
            regex,
            check,
            // In protobuf a string's length prefix may be a digit or a letter, so word
            // boundaries cannot be relied on there; without them the pattern only matches more.
            loose: Some(pattern.replace(r"(?-u:\b)", "")),
        })
    }

    /// A custom detector; every match of `regex` is redacted.
    pub fn custom(name: &str, regex: Regex) -> Detector {
        let p = regex.as_str();
        // Anchors and word boundaries, read from the parsed pattern (a `[^@]` class or an
        // escaped `\$` is neither); a pattern the parser cannot read counts as anchored.
        let anchored =
            regex_syntax::parse(p).map_or(true, |h| !h.properties().look_set().is_empty());
        Detector {
            name: name.to_string(),
            loose: (!anchored).then(|| p.to_string()),
            regex,
            check: Check::None,
        }
    }

    /// See the `loose` field.
    pub fn loose_pattern(&self) -> Option<&str> {
        self.loose.as_deref()
    }

    /// The candidate regex, for a [`regex::RegexSet`] prefilter over all detectors.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// Appends the byte ranges of `s` this detector finds.
    pub fn find(&self, s: &str, out: &mut Vec<(usize, usize)>) {
        // Empty matches (a custom pattern like `(?:x)?\b`) would insert masks into clean text.
        for m in self.regex.find_iter(s).filter(|m| !m.is_empty()) {
            match self.check {
                Check::None => out.push((m.start(), m.end())),
                Check::Card => cards(m.as_str(), m.start(), out),
                Check::Ipv4 => {
                    if m.as_str().parse::<Ipv4Addr>().is_ok() {
                        out.push((m.start(), m.end()));
                    }
                }
                Check::Ipv6 => {
                    if let Some((a, b)) = ipv6(m.as_str()) {
                        out.push((m.start() + a, m.start() + b));
                    }
                }
                Check::Ssn => {
                    if ssn(m.as_str()) {
                        out.push((m.start(), m.end()));
                    }
                }
            }
        }
    }
}

/// True when an encoded OTLP request may hold a card number as an integer value: somewhere a
/// varint tagged as field 3 (`AnyValue.int_value` is field 3, so every integer attribute or body
/// is one) holds a Luhn-valid 13–19 digit number. Other fields tagged 3 only add false alarms.
pub fn has_card_varint(blob: &[u8]) -> bool {
    let mut at = 0;
    while let Some(p) = blob
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| *b == 0x18))
    {
        let start = at + p + 1;
        let mut value: u64 = 0;
        for (i, b) in blob.iter().skip(start).take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if card_int(value.cast_signed()) {
                    return true;
                }
                break;
            }
        }
        at = start;
    }
    false
}

/// True when an encoded OTLP request may hold a card number as a whole-number double:
/// somewhere a fixed64 tagged as field 4 (`AnyValue.double_value`) holds one.
pub fn has_card_double(blob: &[u8]) -> bool {
    blob.windows(9).any(|w| {
        w[0] == 0x21 && {
            let mut b = [0u8; 8];
            b.copy_from_slice(&w[1..]);
            card_double(f64::from_le_bytes(b))
        }
    })
}

/// Card numbers as integers and doubles: the definition the host's `find` kernel shares.
pub use weir_abi::card::{double as card_double, int as card_int};

/// The Luhn checksum over decimal digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Within a run of digit groups joined by single spaces or dashes (`4111 1111-1111 1111`),
/// the longest Luhn-valid 13–19 digit spans made of whole groups, left to right.
fn cards(run: &str, offset: usize, out: &mut Vec<(usize, usize)>) {
    let mut groups = Vec::new();
    let mut start = None;
    for (i, b) in run.bytes().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                groups.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        groups.push((s, run.len()));
    }
    let total: usize = groups.iter().map(|(a, b)| b - a).sum();
    if total < 13 {
        return;
    }
    // Every Luhn-valid span of whole groups, from every starting group: a valid span that
    // happens to start earlier must not hide the card that overlaps its end. The caller merges
    // overlapping ranges.
    let mut digits = Vec::with_capacity(19);
    for g in 0..groups.len() {
        digits.clear();
        for &(a, b) in groups.iter().skip(g) {
            digits.extend(run.as_bytes()[a..b].iter().map(|d| d - b'0'));
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && luhn(&digits) {
                out.push((offset + groups[g].0, offset + b));
            }
        }
    }
}

/// The part of an IPv6 candidate that parses, trimming stray leading or trailing punctuation.
fn ipv6(c: &str) -> Option<(usize, usize)> {
    let mut a = 0;
    let mut b = c.len();
    for _ in 0..2 {
        let s = c.get(a..b)?;
        if s.bytes().any(|x| x.is_ascii_hexdigit()) && s.parse::<Ipv6Addr>().is_ok() {
            return Some((a, b));
        }
        if s.starts_with(':') && !s.starts_with("::") {
            a += 1;
        }
        while b > a && matches!(c.as_bytes()[b - 1], b'.' | b':') && !c[a..b].ends_with("::") {
            b -= 1;
        }
    }
    None
}

/// A US social security number the SSA could have issued: not area 000, 666 or 900–999, not
/// group 00, not serial 0000.
fn ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [area, group, serial] => {
            *area != "000"
                && *area != "666"
                && !area.starts_with('9')
                && *group != "00"
                && *serial != "0000"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn only_real_anchors_and_boundaries_keep_a_custom_pattern_out_of_the_loose_search() {
        let loose = |p: &str| {
            Detector::custom("c", Regex::new(p).unwrap())
                .loose
                .is_some()
        };
        assert!(loose(r"[^@\s]+@corp"), "a negated class is no anchor");
        assert!(loose(r"price \$[0-9]+"), "an escaped dollar is no anchor");
        assert!(!loose(r"^ORD-[0-9]+"));
        assert!(!loose(r"\bORD-[0-9]+\b"));
        assert!(!loose(r"(?m)ORD$"));
    }

    fn found(name: &str, s: &str) -> Vec<String> {
        let d = Detector::builtin(name).unwrap();
        let mut out = Vec::new();
        d.find(s, &mut out);
        out.iter().map(|(a, b)| s[*a..*b].to_string()).collect()
    }

    #[test]
    fn cards_need_luhn_and_may_have_separators() {
        assert_eq!(
            found("credit-card", "card 4111 1111 1111 1111 ok"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            found("credit-card", "x4111-1111-1111-1111y"),
            ["4111-1111-1111-1111"]
        );
        assert_eq!(
            found("credit-card", "order 12 5500005555555559"),
            ["5500005555555559"]
        );
        // A Luhn-valid prefix must not hide the card overlapping its end.
        let hidden = "2024 0000 4111 1111 1111 1111";
        let d = Detector::builtin("credit-card").unwrap();
        let mut ranges = Vec::new();
        d.find(hidden, &mut ranges);
        assert!(
            ranges
                .iter()
                .any(|&(a, b)| &hidden[a..b] == "4111 1111 1111 1111"),
            "{ranges:?}"
        );
        assert!(found("credit-card", "order id 4111111111111112").is_empty());
        assert!(found("credit-card", "41111111111111110000 is too long").is_empty());
        assert!(card_int(4_111_111_111_111_111));
        assert!(!card_int(4_111_111_111_111_112));
        assert!(!card_int(200));
    }

    #[test]
    fn card_numbers_are_seen_in_encoded_integers() {
        // Tag 0x18 and the varint of 4111111111111111.
        let mut blob = vec![0x0a, 0x02, 0x18];
        let mut v: u64 = 4_111_111_111_111_111;
        while v >= 0x80 {
            blob.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        blob.push(v as u8);
        assert!(has_card_varint(&blob));
        assert!(!has_card_varint(&[0x18, 0xc8, 0x01]), "200 is no card");
    }

    #[test]
    fn the_other_detectors() {
        assert_eq!(
            found("email", "to: ada.l+x@mail.example.org."),
            ["ada.l+x@mail.example.org"]
        );
        assert_eq!(found("ipv4", "peer 10.1.2.3:80, 999.1.1.1"), ["10.1.2.3"]);
        assert_eq!(
            found("ipv6", "from [2001:db8::1]:443 at 10:30:00"),
            ["2001:db8::1"]
        );
        assert_eq!(found("ipv6", "addr:fe80::1."), ["fe80::1"]);
        assert_eq!(
            found("us-ssn", "ssn 123-45-6789 / 000-12-3456 / 666-12-3456"),
            ["123-45-6789"]
        );
        assert_eq!(
            found("aws-access-key", "key=AKIAIOSFODNN7EXAMPLE"),
            ["AKIAIOSFODNN7EXAMPLE"]
        );
        assert_eq!(
            found("bearer-token", "Authorization: Bearer abc.DEF-123=="),
            ["Bearer abc.DEF-123=="]
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-1";
        assert_eq!(found("jwt", &format!("token={jwt};")), [jwt]);
    }
}
