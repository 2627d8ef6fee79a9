//! The value-changing actions Collector users know from the attributes processor: `hash`
//! (keyed, the same output as `builtin:redact`'s hash so the two join), `extract` (named regex
//! groups into attributes) and `convert` (to int, double, string or bool).

use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;
use weir_plugin::Value;

/// The shortest `hash_key` accepted: a short key makes the hash guessable by brute force.
pub(crate) const MIN_HASH_KEY: usize = 16;

/// `hmac:` and 16 letters a–p of the HMAC-SHA256 of the value's text under `key`: equal values
/// hash equal (so they still group and join), the output never looks like a number, and
/// without the key the value cannot be recovered or guessed. `builtin:redact` writes the same.
pub(crate) fn hash(key: &[u8], value: &Value) -> Option<Value> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    match value {
        Value::Str(s) | Value::Json(s) => mac.update(s.as_bytes()),
        Value::Bytes(b) => mac.update(b),
        Value::Int(i) => mac.update(i.to_string().as_bytes()),
        Value::Double(d) => mac.update(d.to_string().as_bytes()),
        Value::Bool(b) => mac.update(b.to_string().as_bytes()),
    }
    let digest = mac.finalize().into_bytes();
    let mut out = String::from("hmac:");
    for b in digest.iter().take(8) {
        out.push(char::from(b'a' + (b >> 4)));
        out.push(char::from(b'a' + (b & 0x0f)));
    }
    Some(Value::Str(out))
}

/// A compiled `extract`: the pattern and its named groups, each written to the attribute of
/// its name.
pub(crate) struct Extract {
    /// The pattern, with at least one named group.
    pub regex: Regex,
    /// The group names, in pattern order.
    pub groups: Vec<String>,
}

impl Extract {
    /// Compiles `pattern`; `at` is the action's path for errors.
    pub(crate) fn compile(pattern: &str, at: &str) -> Result<Extract, String> {
        let regex = Regex::new(pattern)
            .map_err(|e| format!("{at}.pattern: invalid regex {pattern:?}: {e}"))?;
        let groups: Vec<String> = regex
            .capture_names()
            .flatten()
            .map(str::to_string)
            .collect();
        if groups.is_empty() {
            return Err(format!(
                "{at}.pattern: {pattern:?} has no named group; name what to extract, e.g. \
                 '^/api/(?P<api_version>v\\d+)/'"
            ));
        }
        Ok(Extract { regex, groups })
    }

    /// `(group, text)` for every named group that took part in a match of `source`.
    pub(crate) fn apply(&self, source: &str) -> Vec<(usize, String)> {
        let Some(caps) = self.regex.captures(source) else {
            return Vec::new();
        };
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| Some((i, caps.name(g)?.as_str().to_string())))
            .collect()
    }
}

/// The type `convert` turns a value into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Double,
    Str,
    Bool,
}

impl Kind {
    /// Reads `converted_type` (the Collector's key and names).
    pub(crate) fn parse(s: &str, at: &str) -> Result<Kind, String> {
        Ok(match s {
            "int" => Kind::Int,
            "double" => Kind::Double,
            "string" => Kind::Str,
            "bool" => Kind::Bool,
            other => {
                return Err(format!(
                    "{at}.converted_type: unknown type {other:?} (one of: int, double, string, bool)"
                ));
            }
        })
    }
}

/// `value` as `kind`, or `None` when it does not convert (the value is then left as it was,
/// as the Collector does): `"42"` → 42, `3.9` → 3 (toward zero), `true` → 1, `"1e3"` → 1000.0,
/// `"TRUE"` → true, 0 → false.
pub(crate) fn convert(value: &Value, kind: Kind) -> Option<Value> {
    match (kind, value) {
        (Kind::Int, Value::Int(_))
        | (Kind::Double, Value::Double(_))
        | (Kind::Str, Value::Str(_))
        | (Kind::Bool, Value::Bool(_)) => None,
        (Kind::Int, Value::Str(s)) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                let d = s.parse::<f64>().ok()?;
                to_int(d)
            })
        }
        .map(Value::Int),
        (Kind::Int, Value::Double(d)) => to_int(*d).map(Value::Int),
        (Kind::Int, Value::Bool(b)) => Some(Value::Int(i64::from(*b))),
        (Kind::Double, Value::Str(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite())
            .map(Value::Double),
        #[allow(clippy::cast_precision_loss, reason = "a double is what was asked for")]
        (Kind::Double, Value::Int(i)) => Some(Value::Double(*i as f64)),
        (Kind::Double, Value::Bool(b)) => Some(Value::Double(if *b { 1.0 } else { 0.0 })),
        (Kind::Str, Value::Int(i)) => Some(Value::Str(i.to_string())),
        (Kind::Str, Value::Double(d)) => Some(Value::Str(d.to_string())),
        (Kind::Str, Value::Bool(b)) => Some(Value::Str(b.to_string())),
        (Kind::Bool, Value::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        (Kind::Bool, Value::Int(i)) => Some(Value::Bool(*i != 0)),
        (Kind::Bool, Value::Double(d)) => Some(Value::Bool(*d != 0.0)),
        // Bytes, arrays and maps have no scalar form to convert to.
        (_, Value::Bytes(_) | Value::Json(_)) => None,
    }
}

/// `d` truncated toward zero, if it is finite and fits an i64.
fn to_int(d: f64) -> Option<i64> {
    #[allow(
        clippy::cast_precision_loss,
        reason = "bounds of the i64 range, compared as f64"
    )]
    let fits = d.is_finite() && d >= i64::MIN as f64 && d < i64::MAX as f64;
    #[allow(
        clippy::cast_possible_truncation,
        reason = "truncation is the conversion asked for"
    )]
    fits.then(|| d.trunc() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_as_the_collector_does_and_leaves_what_does_not() {
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(convert(&s(" 42 "), Kind::Int), Some(Value::Int(42)));
        assert_eq!(convert(&s("3.9"), Kind::Int), Some(Value::Int(3)));
        assert_eq!(
            convert(&Value::Double(-3.9), Kind::Int),
            Some(Value::Int(-3))
        );
        assert_eq!(convert(&Value::Double(1e300), Kind::Int), None);
        assert_eq!(convert(&s("abc"), Kind::Int), None);
        assert_eq!(
            convert(&s("1e3"), Kind::Double),
            Some(Value::Double(1000.0))
        );
        assert_eq!(convert(&s("NaN"), Kind::Double), None);
        assert_eq!(convert(&Value::Int(7), Kind::Str), Some(s("7")));
        assert_eq!(convert(&s("TRUE"), Kind::Bool), Some(Value::Bool(true)));
        assert_eq!(
            convert(&Value::Int(0), Kind::Bool),
            Some(Value::Bool(false))
        );
        assert_eq!(convert(&s("yes"), Kind::Bool), None);
        assert_eq!(convert(&Value::Json("[]".into()), Kind::Str), None);
    }

    #[test]
    fn hashes_equal_values_equal_and_keys_apart() {
        let k1 = b"0123456789abcdef";
        let k2 = b"0123456789abcdeg";
        let a = hash(k1, &Value::Str("ada@example.com".into()));
        assert_eq!(a, hash(k1, &Value::Str("ada@example.com".into())));
        assert_ne!(a, hash(k2, &Value::Str("ada@example.com".into())));
        let Some(Value::Str(text)) = a else {
            panic!("a string")
        };
        assert!(text.starts_with("hmac:") && text.len() == 21, "{text}");
        assert!(
            text[5..].chars().all(|c| ('a'..='p').contains(&c)),
            "{text}"
        );
    }

    #[test]
    fn extracts_named_groups_only() {
        let e = Extract::compile(r"^/api/(?P<version>v\d+)/(\w+)/(?P<id>\d+)?", "a").unwrap();
        assert_eq!(e.groups, ["version", "id"]);
        assert_eq!(e.apply("/api/v2/users/"), vec![(0, "v2".to_string())]);
        assert_eq!(
            e.apply("/api/v2/users/17"),
            vec![(0, "v2".to_string()), (1, "17".to_string())]
        );
        assert!(e.apply("/health").is_empty());
        let err = Extract::compile(r"^/api/(v\d+)", "actions[1]")
            .err()
            .unwrap();
        assert!(err.starts_with("actions[1].pattern: "), "{err}");
    }
}
