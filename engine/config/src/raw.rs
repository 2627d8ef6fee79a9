//! Reading the file into [`RawConfig`] one component at a time: a typo in one exporter's keys
//! must not hide a bad processor or a dangling pipeline reference, so each `[section.name]`
//! entry is deserialized on its own and its error collected, and validation then runs over
//! the entries that did read, knowing which names exist but are broken.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::RawConfig;
use crate::collector;
use crate::error::{Diagnostic, Source};

/// Components that are defined but did not read: `(section, name)`, with `samplers` filed under
/// `processors` (pipelines list both there). Validation stays quiet about references to them.
#[derive(Debug, Default)]
pub(crate) struct Broken {
    /// `(section, name)` pairs.
    pub names: BTreeSet<(&'static str, String)>,
    /// A pipeline table did not read, so "defined but unused" cannot be judged.
    pub pipelines: bool,
}

impl Broken {
    /// Whether `name` of `section` is defined but did not read.
    pub fn has(&self, section: &'static str, name: &str) -> bool {
        self.names.contains(&(section, name.to_string()))
    }
}

/// Parses `src` (a TOML syntax error stops here: nothing after it can be trusted) and reads
/// every section entry by entry; returns what read, what did not, and the diagnostics.
pub(crate) fn read(src: &Source<'_>) -> Result<(RawConfig, Broken, Vec<Diagnostic>), Diagnostic> {
    let doc = DeTable::parse(src.text).map_err(|e| src.parse_error(e.span(), e.message()))?;
    let mut r = Reader {
        src,
        diags: Vec::new(),
        broken: Broken::default(),
    };
    let mut raw = RawConfig::default();
    for (key, value) in doc.into_inner() {
        match key.get_ref().as_ref() {
            "admin" => raw.admin = r.one("admin", value).unwrap_or_default(),
            "service" => raw.service = r.one("service", value).unwrap_or_default(),
            "receivers" => raw.receivers = r.entries("receivers", "receivers", value),
            "processors" => raw.processors = r.entries("processors", "processors", value),
            "samplers" => raw.samplers = r.entries("samplers", "processors", value),
            "exporters" => raw.exporters = r.entries("exporters", "exporters", value),
            "pipelines" => {
                let before = r.diags.len();
                raw.pipelines = r.entries("pipelines", "pipelines", value);
                r.broken.pipelines |= r.diags.len() > before;
            }
            other => {
                let mut msg = match SECTIONS.iter().find(|s| near(s, other)) {
                    Some(s) => format!("unknown section `{other}`: did you mean `{s}`?"),
                    None => format!(
                        "unknown section `{other}`: a Weir config has {}",
                        SECTIONS.join(", ")
                    ),
                };
                if let Some(h) = collector::key_hint("", other) {
                    msg = format!("{msg}; {h}");
                }
                r.diags.push(src.at(key.span(), other, msg));
            }
        }
    }
    Ok((raw, r.broken, r.diags))
}

/// The top-level tables of a Weir config.
const SECTIONS: [&str; 7] = [
    "admin",
    "service",
    "receivers",
    "processors",
    "samplers",
    "exporters",
    "pipelines",
];

/// Whether `b` is at most two single-character edits from `a` (a likely typo).
fn near(a: &str, b: &str) -> bool {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev.last().is_some_and(|d| *d <= 2)
}

/// Collects diagnostics while reading sections.
struct Reader<'a, 'b> {
    src: &'a Source<'b>,
    diags: Vec<Diagnostic>,
    broken: Broken,
}

impl Reader<'_, '_> {
    /// Reads a whole table (`[admin]`, `[service]`); `None` (and a diagnostic) if it does not.
    fn one<T: for<'de> Deserialize<'de>>(
        &mut self,
        section: &str,
        value: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(e, section, None);
                None
            }
        }
    }

    /// Reads `[section.<name>]` entries one by one; entries that do not read are left out and
    /// recorded in [`Broken`] under `kind`.
    fn entries<T: for<'de> Deserialize<'de>>(
        &mut self,
        section: &'static str,
        kind: &'static str,
        value: Spanned<DeValue<'_>>,
    ) -> BTreeMap<Spanned<String>, Spanned<T>> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            self.diags.push(self.src.at(
                span,
                section,
                format!("must be a table of named {section}: [{section}.<name>]"),
            ));
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (name, entry) in table {
            let name = Spanned::new(name.span(), name.into_inner().into_owned());
            match Spanned::<T>::deserialize(ValueDeserializer::from(entry)) {
                Ok(t) => {
                    out.insert(name, t);
                }
                Err(e) => {
                    self.push(e, section, Some(name.get_ref()));
                    self.broken.names.insert((kind, name.into_inner()));
                }
            }
        }
        out
    }

    /// A diagnostic for a deserialization error in `section` (entry `name`), with a hint when
    /// the table or key is where a Collector config would put it.
    fn push(&mut self, e: toml::de::Error, section: &str, name: Option<&str>) {
        let mut d = self.src.parse_error(e.span(), e.message());
        let path = match name {
            Some(n) => format!("{section}.{n}"),
            None => section.to_string(),
        };
        // A component hint only where the table has keys Weir's does not (or lacks one it
        // needs): a bad value in a Weir-shaped table is not a Collector habit.
        let shape =
            e.message().starts_with("unknown field") || e.message().starts_with("missing field");
        let hint = collector::unknown_field(e.message())
            .and_then(|k| collector::key_hint(&path, k))
            .or_else(|| {
                name.filter(|_| shape)
                    .and_then(|n| collector::component_hint(section, n))
            });
        if let Some(h) = hint {
            d.message = format!("{}; coming from the Collector? {h}", d.message);
        }
        self.diags.push(d);
    }
}
