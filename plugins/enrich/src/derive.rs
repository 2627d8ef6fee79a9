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
///
/// When sources do not repeat (ids, timestamps), remembering them is pure cost: a key copy and
/// an insert per span that no later span reads. While lookups miss more than [`KEEP_BELOW`]
/// times per hit (plus one, so that the first few sources are kept), only every
/// [`PROBE_EVERY`]th new source is kept, so that sources which start repeating are found again.
#[derive(Default)]
pub(crate) struct Derived {
    kept: std::collections::HashMap<String, Option<Rc<Value>>>,
    /// Lookups that found their source, and that did not, decayed by half every
    /// [`WINDOW`] lookups.
    hits: u32,
    misses: u32,
}

/// Lookups per decay of the hit and miss counts.
const WINDOW: u32 = 1024;

/// Keep every new source while lookups miss at most this many times per hit.
const KEEP_BELOW: u32 = 8;

/// Otherwise keep one new source in this many.
const PROBE_EVERY: u32 = 16;

impl Derived {
    /// The value `patterns` derive from `source`, computed once per distinct source. Every
    /// span with the same source shares the one value.
    pub(crate) fn get(&mut self, patterns: &[(Regex, String)], source: &str) -> Option<Rc<Value>> {
        if source.len() > DERIVED_MAX_SOURCE {
            return derive(patterns, source).map(|v| Rc::new(Value::Str(v)));
        }
        if self.hits + self.misses >= WINDOW {
            self.hits /= 2;
            self.misses /= 2;
        }
        if let Some(known) = self.kept.get(source) {
            self.hits += 1;
            return known.clone();
        }
        self.misses += 1;
        let made = derive(patterns, source).map(|v| Rc::new(Value::Str(v)));
        let repeating = self.hits.saturating_add(1).saturating_mul(KEEP_BELOW) >= self.misses;
        if repeating || self.misses.is_multiple_of(PROBE_EVERY) {
            if self.kept.len() >= DERIVED_KEPT {
                self.kept.clear();
            }
            self.kept.insert(source.to_string(), made.clone());
        }
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
        assert_eq!(d.kept.len(), 5, "one entry per distinct source");
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
            assert!(d.kept.len() <= DERIVED_KEPT);
        }
        assert_eq!(
            d.get(&p, "x-1").as_deref().cloned(),
            Some(Value::Str("x".into()))
        );
    }

    /// Sources that never repeat are derived right but mostly not kept; once sources repeat
    /// again they are kept and found.
    #[test]
    fn sources_that_do_not_repeat_are_mostly_not_kept() {
        let p = patterns();
        let mut d = Derived::default();
        for i in 0..3000 {
            let source = format!("svc-{i}");
            assert_eq!(
                d.get(&p, &source).as_deref().cloned(),
                Some(Value::Str("svc".into()))
            );
        }
        assert!(d.kept.len() < 3000 / 4, "kept {} of 3000", d.kept.len());
        for _ in 0..50 {
            for source in ["cart-1", "cart-2", "db.orders"] {
                assert_eq!(
                    d.get(&p, source).as_deref().cloned(),
                    derive(&p, source).map(Value::Str)
                );
            }
        }
        for source in ["cart-1", "cart-2", "db.orders"] {
            assert!(d.kept.contains_key(source), "{source} is kept again");
        }
        let misses = d.misses;
        for source in ["cart-1", "cart-2", "db.orders"] {
            d.get(&p, source);
        }
        assert_eq!(d.misses, misses, "repeated sources are found");
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
        assert!(d.kept.is_empty());
    }
}
