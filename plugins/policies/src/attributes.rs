//! The attribute policies (`string_attribute`, `numeric_attribute`, `boolean_attribute`): a
//! trace matches when any span, or the resource of any span, has the attribute with a matching
//! value.

use regex::Regex;
use weir_plugin::{Batch, ValueRef};

/// How a value is tested.
pub(crate) enum Test {
    /// Equals one of these strings.
    Strings(Vec<String>),
    /// Matches one of these regular expressions.
    Regex(Vec<Regex>),
    /// A number in `[min, max]`.
    Range(f64, f64),
    /// Equals this boolean.
    Bool(bool),
}

/// A configured attribute policy.
pub(crate) struct AttributeMatch {
    pub(crate) key: String,
    test: Test,
    /// Keep traces that do not match; a match drops the trace (a veto), as the Collector's
    /// `invert_match` does.
    pub(crate) invert: bool,
}

/// What a search found.
pub(crate) enum Found {
    /// A matching value, described for the reason.
    Matched(String),
    /// No span or resource matched.
    Nothing,
}

impl AttributeMatch {
    pub(crate) fn new(key: String, test: Test, invert: bool) -> AttributeMatch {
        AttributeMatch { key, test, invert }
    }

    fn matches(&self, v: ValueRef<'_>) -> bool {
        match (&self.test, v) {
            (Test::Strings(list), ValueRef::Str(s)) => list.iter().any(|x| x == s),
            (Test::Regex(list), ValueRef::Str(s)) => list.iter().any(|r| r.is_match(s)),
            (Test::Range(min, max), ValueRef::Int(i)) => (*min..=*max).contains(&(i as f64)),
            (Test::Range(min, max), ValueRef::Double(d)) => (*min..=*max).contains(&d),
            (Test::Bool(b), ValueRef::Bool(x)) => *b == x,
            _ => false,
        }
    }

    pub(crate) fn find(&self, trace: &Batch) -> Found {
        for resource in trace.resources() {
            if let Some(v) = resource.attribute(&self.key)
                && self.matches(v)
            {
                return Found::Matched(format!("resource {}", self.key));
            }
        }
        for span in trace.items() {
            if let Some(v) = span.attribute(&self.key)
                && self.matches(v)
            {
                return Found::Matched(self.key.clone());
            }
        }
        Found::Nothing
    }
}
