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
mod view;

use std::rc::Rc;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_conditions::{Condition, ConditionConfig};
use weir_plugin::{Batch, Config, Level, Processor, Value};

use crate::derive::Derived;
use crate::view::{Slot, View};

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
    Static(Rc<Value>),
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
                (Some(v), None, None) => Ok(Source::Static(Rc::new(static_value(v, at)?))),
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
            let owners = owners(view.batch(), action);
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
                            (Source::Static(v), _) => Some(Slot::Set(v.clone())),
                            (Source::Attribute(_), Some(from)) => view.current(from, o),
                            (Source::Derived(_, patterns), Some(from)) => view
                                .text(from, o)
                                .and_then(|s| derived.get(patterns, s))
                                .map(Slot::Set),
                            _ => None,
                        };
                        if let Some(v) = value {
                            view.set(key, o, v);
                        }
                    }
                    Op::Delete if present => view.set(key, o, Slot::Removed),
                    Op::Rename(_) if present => {
                        let v = view.current(key, o).unwrap_or(Slot::Removed);
                        if let Some(to) = to {
                            view.set(to, o, v);
                        }
                        view.set(key, o, Slot::Removed);
                    }
                    Op::Hash(k) if present => {
                        let hashed = view.get(key, o).and_then(|v| transform::hash(k, &v));
                        if let Some(h) = hashed {
                            view.set(key, o, Slot::Set(Rc::new(h)));
                        }
                    }
                    Op::Extract(e) if present => {
                        let found = view.text(key, o).map(|s| e.apply(s)).unwrap_or_default();
                        for (group, text) in found {
                            if let Some(&column) = targets.get(group) {
                                view.set(column, o, Slot::Set(Rc::new(Value::Str(text))));
                            }
                        }
                    }
                    Op::Convert(kind) if present => {
                        let converted =
                            view.get(key, o).and_then(|v| transform::convert(&v, *kind));
                        if let Some(v) = converted {
                            view.set(key, o, Slot::Set(Rc::new(v)));
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

/// The owners (items or resources) an action applies to.
fn owners(batch: &Batch, action: &Action) -> Vec<u32> {
    let items: Vec<u32> = match &action.when {
        None => (0..batch.len()).collect(),
        Some(c) => c
            .select(batch)
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .filter_map(|(i, _)| u32::try_from(i).ok())
            .collect(),
    };
    match action.level {
        Level::Item => items,
        Level::Resource if action.when.is_none() => (0..batch.resource_count()).collect(),
        Level::Resource => {
            let mut r: Vec<u32> = items
                .iter()
                .map(|i| batch.item(*i).resource().index())
                .collect();
            r.dedup();
            r
        }
    }
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(Enrich);
