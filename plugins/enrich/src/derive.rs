//! Derived values (`from_attribute` with `patterns`): the first matching pattern's template,
//! expanded with its captures, remembered per distinct source.

use std::rc::Rc;

use regex::Regex;
use weir_plugin::Value;

/// How many source values a derived action remembers before it starts over.
const DERIVED_KEPT: usize = 4096;

/// Longer sources are derived every time, not remembered: a few thousand long texts (stack
/// traces, SQL) would otherwise take megabytes of the plugin's capped memory.
const DERIVED_MAX_SOURCE: usize = 256;

/// What a derived action's patterns made of each source value seen lately (`None`: no pattern
/// matched). Sources repeat (a few hosts, routes or services make most of the traffic), and a
/// lookup costs far less than running the regexes and expanding the template: they were a
/// third of the plugin's own time on every span. Bounded by [`DERIVED_KEPT`] entries of at most
/// [`DERIVED_MAX_SOURCE`] bytes each.
#[derive(Default)]
pub(crate) struct Derived(std::collections::HashMap<String, Option<Rc<Value>>>);

impl Derived {
    /// The value `patterns` derive from `source`, computed once per distinct source.
    /// Every span with the same source shares the one value.
    pub(crate) fn get(&mut self, patterns: &[(Regex, String)], source: &str) -> Option<Rc<Value>> {
        if source.len() > DERIVED_MAX_SOURCE {
            return derive(patterns, source).map(|v| Rc::new(Value::Str(v)));
        }
        if let Some(known) = self.0.get(source) {
            return known.clone();
        }
        if self.0.len() >= DERIVED_KEPT {
            self.0.clear();
        }
        let made = derive(patterns, source).map(|v| Rc::new(Value::Str(v)));
        self.0.insert(source.to_string(), made.clone());
        made
    }
}

/// The first pattern matching `source`, expanded with its captures.
pub(crate) fn derive(patterns: &[(Regex, String)], source: &str) -> Option<String> {
    patterns.iter().find_map(|(r, template)| {
        let caps = r.captures(source)?;
        let mut out = String::new();
        caps.expand(template, &mut out);
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Vec<(Regex, String)> {
        vec![
            (Regex::new(r"^([a-z]+)-\d+$").unwrap(), "$1".to_string()),
            (
                Regex::new(r"^db\.(\w+)$").unwrap(),
                "database ${1}".to_string(),
            ),
        ]
    }

    /// Remembered values are the ones the patterns make, for matches and non-matches alike,
    /// however often a source repeats.
    #[test]
    fn remembered_derivations_equal_computed_ones() {
        let p = patterns();
        let mut d = Derived::default();
        for _ in 0..3 {
            for source in ["cart-7", "db.orders", "nothing here", "", "cart-9"] {
                assert_eq!(
                    d.get(&p, source).as_deref().cloned(),
                    derive(&p, source).map(Value::Str),
                    "{source:?}"
                );
            }
        }
        assert_eq!(
            d.get(&p, "db.orders").as_deref().cloned(),
            Some(Value::Str("database orders".into()))
        );
        assert_eq!(d.get(&p, "nothing here"), None);
        assert_eq!(d.0.len(), 5, "one entry per distinct source");
    }

    /// However many distinct sources go by, at most `DERIVED_KEPT` are kept, and values stay
    /// right after the memory starts over.
    #[test]
    fn remembered_derivations_are_bounded() {
        let p = patterns();
        let mut d = Derived::default();
        for i in 0..(3 * DERIVED_KEPT + 5) {
            let source = format!("svc-{i}");
            assert_eq!(
                d.get(&p, &source).as_deref().cloned(),
                Some(Value::Str("svc".into()))
            );
            assert!(d.0.len() <= DERIVED_KEPT);
        }
        assert_eq!(
            d.get(&p, "x-1").as_deref().cloned(),
            Some(Value::Str("x".into()))
        );
    }

    /// Long sources are derived like any other but not remembered.
    #[test]
    fn long_sources_are_not_remembered() {
        let p = patterns();
        let mut d = Derived::default();
        let long = format!("{}-1", "a".repeat(DERIVED_MAX_SOURCE));
        assert_eq!(
            d.get(&p, &long).as_deref().cloned(),
            derive(&p, &long).map(Value::Str)
        );
        assert!(d.get(&p, &long).is_some());
        assert!(d.0.is_empty());
    }
}
