//! `builtin:enrich`: an ordered list of attribute actions on spans, data points, log records or
//! their resources, each optionally limited by a `when` condition:
//!
//! ```toml
//! [processors.enrich.config]
//! actions = [
//!   { action = "insert", key = "deployment.environment", value = "production", level = "resource" },
//!   { action = "rename", key = "http.url", to = "url.full" },
//!   { action = "insert", key = "http.route", from_attribute = "url.path", patterns = [
//!       { regex = '^/api/invoices/\d+$', value = "/api/invoices/{id}" },
//!   ] },
//! ]
//! ```
//! Actions run in order and each sees what the earlier ones wrote. `hash`, `extract` and
//! `convert` (see `transform`) change values as the Collector's attributes processor does.

mod derive;
mod transform;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_conditions::{Condition, ConditionConfig};
use weir_plugin::{Batch, Config, Level, Processor, Value};

use crate::derive::Derived;

/// The config as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    actions: Vec<ActionConfig>,
}

/// One action as written; docs/processors/enrich.md documents every key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionConfig {
    action: String,
    key: String,
    value: Option<Json>,
    from_attribute: Option<String>,
    patterns: Option<Vec<PatternConfig>>,
    to: Option<String>,
    /// `hash` only: the HMAC key (at least 16 bytes).
    hash_key: Option<String>,
    /// `extract` only: a regex whose named groups become attributes.
    pattern: Option<String>,
    /// `convert` only: int, double, string or bool.
    converted_type: Option<String>,
    #[serde(default = "item")]
    level: String,
    when: Option<ConditionConfig>,
}

fn item() -> String {
    "item".into()
}

/// A derivation rule: where the source matches `regex`, the value is `value` with `$1` /
/// `${name}` replaced by the captures.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternConfig {
    regex: String,
    value: String,
}

/// Where the written value comes from.
enum Source {
    Static(Value),
    Attribute(String),
    Derived(String, Vec<(Regex, String)>),
}

/// When a set writes, given whether the key is present.
#[derive(Clone, Copy)]
enum Mode {
    Insert,
    Update,
    Upsert,
}

impl Mode {
    fn writes(self, present: bool) -> bool {
        match self {
            Mode::Insert => !present,
            Mode::Update => present,
            Mode::Upsert => true,
        }
    }
}

/// What an action does.
enum Op {
    Set(Mode, Source),
    Delete,
    Rename(String),
    /// Replace the value with its keyed hash.
    Hash(Vec<u8>),
    /// Write the named groups of a match on the value to attributes of their names.
    Extract(transform::Extract),
    /// Change the value's type.
    Convert(transform::Kind),
}

/// A compiled action.
struct Action {
    op: Op,
    key: String,
    level: Level,
    when: Option<Condition>,
}

/// The enrich processor.
pub struct Enrich {
    actions: Vec<Action>,
    /// Per action, what its patterns derived from each source value seen (see [`Derived`]).
    derived: Vec<Derived>,
}

fn static_value(v: Json, at: &str) -> Result<Value, String> {
    Ok(match v {
        Json::String(s) => Value::Str(s),
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(
                n.as_f64()
                    .ok_or(format!("{at}.value: number out of range"))?,
            ),
        },
        _ => return Err(format!("{at}.value: must be a string, number or boolean")),
    })
}

impl Action {
    fn compile(c: ActionConfig, at: &str) -> Result<Action, String> {
        let level = match c.level.as_str() {
            "item" => Level::Item,
            "resource" => Level::Resource,
            other => {
                return Err(format!(
                    "{at}.level: unknown level {other:?} (item or resource)"
                ));
            }
        };
        if c.key.is_empty() {
            return Err(format!("{at}.key: must not be empty"));
        }
        let source = || -> Result<Source, String> {
            match (c.value.clone(), &c.from_attribute, &c.patterns) {
                (Some(v), None, None) => Ok(Source::Static(static_value(v, at)?)),
                (None, Some(from), None) => Ok(Source::Attribute(from.clone())),
                (None, Some(from), Some(patterns)) => {
                    if patterns.is_empty() {
                        return Err(format!("{at}.patterns: list at least one pattern"));
                    }
                    let compiled = patterns
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            Regex::new(&p.regex)
                                .map(|r| (r, p.value.clone()))
                                .map_err(|e| {
                                    format!(
                                        "{at}.patterns[{i}].regex: invalid regex {:?}: {e}",
                                        p.regex
                                    )
                                })
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(Source::Derived(from.clone(), compiled))
                }
                (_, None, Some(_)) => Err(format!("{at}.patterns: needs `from_attribute`")),
                (Some(_), Some(_), _) => {
                    Err(format!("{at}: set `value` or `from_attribute`, not both"))
                }
                (None, None, None) => Err(format!("{at}: needs `value` or `from_attribute`")),
            }
        };
        let no_source = |op: &str| {
            if c.value.is_some() || c.from_attribute.is_some() || c.patterns.is_some() {
                Err(format!(
                    "{at}: `{op}` takes no `value`, `from_attribute` or `patterns`"
                ))
            } else {
                Ok(())
            }
        };
        for (key, set, owner) in [
            ("to", c.to.is_some(), "rename"),
            ("hash_key", c.hash_key.is_some(), "hash"),
            ("pattern", c.pattern.is_some(), "extract"),
            ("converted_type", c.converted_type.is_some(), "convert"),
        ] {
            if set && c.action != owner {
                return Err(format!("{at}.{key}: only `{owner}` takes `{key}`"));
            }
        }
        let op = match c.action.as_str() {
            "insert" => Op::Set(Mode::Insert, source()?),
            "update" => Op::Set(Mode::Update, source()?),
            "upsert" => Op::Set(Mode::Upsert, source()?),
            "delete" => {
                no_source("delete")?;
                Op::Delete
            }
            "rename" => {
                no_source("rename")?;
                if c.to.as_deref() == Some(c.key.as_str()) {
                    return Err(format!("{at}.to: renaming {:?} to itself", c.key));
                }
                Op::Rename(
                    c.to.clone()
                        .ok_or(format!("{at}.to: `rename` needs `to`"))?,
                )
            }
            "hash" => {
                no_source("hash")?;
                let key = c.hash_key.clone().ok_or(format!(
                    "{at}.hash_key: `hash` needs a key of at least {} bytes (keep it secret, e.g. \
                     hash_key = \"${{ENRICH_HASH_KEY}}\")",
                    transform::MIN_HASH_KEY
                ))?;
                if key.len() < transform::MIN_HASH_KEY {
                    return Err(format!(
                        "{at}.hash_key: {} bytes is too short; use at least {}",
                        key.len(),
                        transform::MIN_HASH_KEY
                    ));
                }
                Op::Hash(key.into_bytes())
            }
            "extract" => {
                no_source("extract")?;
                let pattern = c.pattern.as_deref().ok_or(format!(
                    "{at}.pattern: `extract` needs a regex with named groups"
                ))?;
                Op::Extract(transform::Extract::compile(pattern, at)?)
            }
            "convert" => {
                no_source("convert")?;
                let kind = c.converted_type.as_deref().ok_or(format!(
                    "{at}.converted_type: `convert` needs a type (int, double, string or bool)"
                ))?;
                Op::Convert(transform::Kind::parse(kind, at)?)
            }
            other => {
                return Err(format!(
                    "{at}.action: unknown action {other:?} (one of: insert, update, upsert, \
                     delete, rename, hash, extract, convert)"
                ));
            }
        };
        let when = c
            .when
            .map(|w| Condition::compile(w, &format!("{at}.when")))
            .transpose()?;
        Ok(Action {
            op,
            key: c.key,
            level,
            when,
        })
    }
}

impl Processor for Enrich {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        if s.actions.is_empty() {
            return Err("actions: list at least one action".into());
        }
        let actions = s
            .actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| Action::compile(a, &format!("actions[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let derived = actions.iter().map(|_| Derived::default()).collect();
        Ok(Enrich { actions, derived })
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        let mut view = View::new(batch);
        for (action, derived) in self.actions.iter().zip(&mut self.derived) {
            let owners = view.owners(action);
            let level = action.level;
            let key = view.column(level, &action.key);
            let from = match &action.op {
                Op::Set(_, Source::Attribute(f) | Source::Derived(f, _)) => {
                    Some(view.column(level, f))
                }
                _ => None,
            };
            let to = match &action.op {
                Op::Rename(to) => Some(view.column(level, to)),
                _ => None,
            };
            let targets: Vec<usize> = match &action.op {
                Op::Extract(e) => e.groups.iter().map(|g| view.column(level, g)).collect(),
                _ => Vec::new(),
            };
            for owner in owners {
                let o = owner as usize;
                let present = view.has(key, o);
                match &action.op {
                    Op::Set(mode, source) if mode.writes(present) => {
                        let value = match (source, from) {
                            (Source::Static(v), _) => Some(v.clone()),
                            (Source::Attribute(_), Some(from)) => view.get(from, o),
                            (Source::Derived(_, patterns), Some(from)) => {
                                view.text(from, o).and_then(|s| derived.get(patterns, s))
                            }
                            _ => None,
                        };
                        if let Some(v) = value {
                            view.set(key, o, Some(v));
                        }
                    }
                    Op::Delete if present => view.set(key, o, None),
                    Op::Rename(_) if present => {
                        let v = view.get(key, o);
                        if let Some(to) = to {
                            view.set(to, o, v);
                        }
                        view.set(key, o, None);
                    }
                    Op::Hash(k) if present => {
                        let hashed = view.get(key, o).and_then(|v| transform::hash(k, &v));
                        if let Some(h) = hashed {
                            view.set(key, o, Some(h));
                        }
                    }
                    Op::Extract(e) if present => {
                        let found = view.text(key, o).map(|s| e.apply(s)).unwrap_or_default();
                        for (group, text) in found {
                            if let Some(&column) = targets.get(group) {
                                view.set(column, o, Some(Value::Str(text)));
                            }
                        }
                    }
                    Op::Convert(kind) if present => {
                        let converted =
                            view.get(key, o).and_then(|v| transform::convert(&v, *kind));
                        if let Some(v) = converted {
                            view.set(key, o, Some(v));
                        }
                    }
                    _ => {}
                }
            }
        }
        view.flush();
        Ok(())
    }
}

/// One attribute key of one level, as the actions so far have left it.
struct Column {
    level: Level,
    key: String,
    /// What the batch held when the call started (fetched from the host once).
    original: weir_plugin::columns::Values,
    /// Per owner: `None` untouched, `Some(None)` removed, `Some(Some(v))` set to `v`.
    written: Vec<Option<Option<Value>>>,
}

/// The batch's attributes as the actions so far have left them: each key is read from the
/// host once, writes are remembered (so later actions see them) and sent together at the end.
struct View<'b, 'a> {
    batch: &'b Batch<'a>,
    columns: Vec<Column>,
}

impl<'b, 'a> View<'b, 'a> {
    fn new(batch: &'b Batch<'a>) -> View<'b, 'a> {
        View {
            batch,
            columns: Vec::new(),
        }
    }

    /// The index of `key`'s column at `level`, fetching it on first use.
    fn column(&mut self, level: Level, key: &str) -> usize {
        if let Some(i) = self
            .columns
            .iter()
            .position(|c| c.level == level && c.key == key)
        {
            return i;
        }
        let owners = match level {
            Level::Item => self.batch.len(),
            Level::Resource => self.batch.resource_count(),
        };
        self.columns.push(Column {
            level,
            key: key.to_string(),
            original: self.batch.attribute(level, key),
            written: vec![None; owners as usize],
        });
        self.columns.len() - 1
    }

    /// The owners (items or resources) an action applies to.
    fn owners(&self, action: &Action) -> Vec<u32> {
        let items: Vec<u32> = match &action.when {
            None => (0..self.batch.len()).collect(),
            Some(c) => c
                .select(self.batch)
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .filter_map(|(i, _)| u32::try_from(i).ok())
                .collect(),
        };
        match action.level {
            Level::Item => items,
            Level::Resource if action.when.is_none() => (0..self.batch.resource_count()).collect(),
            Level::Resource => {
                let mut r: Vec<u32> = items
                    .iter()
                    .map(|i| self.batch.item(*i).resource().index())
                    .collect();
                r.dedup();
                r
            }
        }
    }

    /// Whether the key is present on `owner` now (without copying its value).
    fn has(&self, column: usize, owner: usize) -> bool {
        self.columns
            .get(column)
            .is_some_and(|c| match c.written.get(owner) {
                Some(Some(w)) => w.is_some(),
                _ => c.original.get(owner).is_some(),
            })
    }

    /// The key's string value on `owner` now, borrowed.
    fn text(&self, column: usize, owner: usize) -> Option<&str> {
        let c = self.columns.get(column)?;
        match c.written.get(owner) {
            Some(Some(Some(Value::Str(s)))) => Some(s),
            Some(Some(_)) => None,
            _ => c.original.str(owner),
        }
    }

    fn get(&self, column: usize, owner: usize) -> Option<Value> {
        let c = self.columns.get(column)?;
        match c.written.get(owner) {
            Some(Some(w)) => w.clone(),
            _ => c.original.get(owner).map(Value::from),
        }
    }

    fn set(&mut self, column: usize, owner: usize, value: Option<Value>) {
        if let Some(w) = self
            .columns
            .get_mut(column)
            .and_then(|c| c.written.get_mut(owner))
        {
            *w = Some(value);
        }
    }

    /// Sends the writes: removals and runs of one value as one call per column (a static
    /// value set on every span is a single host call), other values as per-owner edits.
    fn flush(self) {
        for c in &self.columns {
            let removed: Vec<u32> = (0u32..)
                .zip(&c.written)
                .filter_map(|(o, w)| matches!(w, Some(None)).then_some(o))
                .collect();
            if !removed.is_empty() {
                self.batch.remove_attribute_on(c.level, &c.key, &removed);
            }
            let sets: Vec<(u32, &Value)> = (0u32..)
                .zip(&c.written)
                .filter_map(|(o, w)| Some((o, w.as_ref()?.as_ref()?)))
                .collect();
            let Some(&(_, first)) = sets.first() else {
                continue;
            };
            if sets.iter().all(|(_, v)| *v == first) {
                let owners: Vec<u32> = sets.iter().map(|(o, _)| *o).collect();
                self.batch
                    .set_attribute_on(c.level, &c.key, first.clone(), &owners);
                continue;
            }
            for (owner, v) in sets {
                match c.level {
                    Level::Item => self.batch.item(owner).set_attribute(&c.key, v.clone()),
                    Level::Resource => self.batch.resource(owner).set_attribute(&c.key, v.clone()),
                }
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(Enrich);
