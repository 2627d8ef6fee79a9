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
//! Actions run in order and each sees what the earlier ones wrote.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_conditions::{Condition, ConditionConfig};
use weir_plugin::{Batch, Config, Level, Processor, Value};

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

/// What an action does.
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete,
    Rename(String),
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
}

fn static_value(v: Json, at: &str) -> Result<Value, String> {
    Ok(match v {
        Json::String(s) => Value::Str(s),
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().ok_or(format!("{at}.value: number out of range"))?),
        },
        _ => return Err(format!("{at}.value: must be a string, number or boolean")),
    })
}

impl Action {
    fn compile(c: ActionConfig, at: &str) -> Result<Action, String> {
        let level = match c.level.as_str() {
            "item" => Level::Item,
            "resource" => Level::Resource,
            other => return Err(format!("{at}.level: unknown level {other:?} (item or resource)")),
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
                                .map_err(|e| format!("{at}.patterns[{i}].regex: invalid regex {:?}: {e}", p.regex))
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
                Err(format!("{at}: `{op}` takes no `value`, `from_attribute` or `patterns`"))
            } else {
                Ok(())
            }
        };
        if c.action != "rename" && c.to.is_some() {
            return Err(format!("{at}.to: only `rename` takes `to`"));
        }
        let op = match c.action.as_str() {
            "insert" => Op::Insert(source()?),
            "update" => Op::Update(source()?),
            "upsert" => Op::Upsert(source()?),
            "delete" => {
                no_source("delete")?;
                Op::Delete
            }
            "rename" => {
                no_source("rename")?;
                Op::Rename(c.to.clone().ok_or(format!("{at}.to: `rename` needs `to`"))?)
            }
            other => {
                return Err(format!(
                    "{at}.action: unknown action {other:?} (one of: insert, update, upsert, delete, rename)"
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
            .collect::<Result<_, _>>()?;
        Ok(Enrich { actions })
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        let mut view = View::new(batch);
        for action in &self.actions {
            let owners = view.owners(action);
            let level = action.level;
            for owner in owners {
                let present = view.get(level, owner, &action.key).is_some();
                let write = |source: &Source, view: &mut View| -> Option<Value> {
                    match source {
                        Source::Static(v) => Some(v.clone()),
                        Source::Attribute(from) => view.get(level, owner, from),
                        Source::Derived(from, patterns) => match view.get(level, owner, from)? {
                            Value::Str(s) => patterns.iter().find_map(|(r, template)| {
                                let caps = r.captures(&s)?;
                                let mut out = String::new();
                                caps.expand(template, &mut out);
                                Some(Value::Str(out))
                            }),
                            _ => None,
                        },
                    }
                };
                match &action.op {
                    Op::Insert(s) if !present => {
                        if let Some(v) = write(s, &mut view) {
                            view.set(level, owner, &action.key, Some(v));
                        }
                    }
                    Op::Update(s) if present => {
                        if let Some(v) = write(s, &mut view) {
                            view.set(level, owner, &action.key, Some(v));
                        }
                    }
                    Op::Upsert(s) => {
                        if let Some(v) = write(s, &mut view) {
                            view.set(level, owner, &action.key, Some(v));
                        }
                    }
                    Op::Delete if present => view.set(level, owner, &action.key, None),
                    Op::Rename(to) if present => {
                        let v = view.get(level, owner, &action.key);
                        view.set(level, owner, to, v);
                        view.set(level, owner, &action.key, None);
                    }
                    _ => {}
                }
            }
        }
        view.flush();
        Ok(())
    }
}

/// The batch's attributes as the actions so far have left them: reads go to the host once per
/// key, writes are remembered (so later actions see them) and sent together at the end.
struct View<'b, 'a> {
    batch: &'b Batch<'a>,
    columns: HashMap<(bool, String), weir_plugin::columns::Values>,
    written: HashMap<(bool, u32, String), Option<Value>>,
    order: Vec<(bool, u32, String)>,
}

impl<'b, 'a> View<'b, 'a> {
    fn new(batch: &'b Batch<'a>) -> View<'b, 'a> {
        View {
            batch,
            columns: HashMap::new(),
            written: HashMap::new(),
            order: Vec::new(),
        }
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
            Level::Resource => {
                let mut r: Vec<u32> = items
                    .iter()
                    .map(|i| self.batch.item(*i).resource().index())
                    .collect();
                if action.when.is_none() {
                    r = (0..self.batch.resource_count()).collect();
                }
                r.dedup();
                r
            }
        }
    }

    fn get(&mut self, level: Level, owner: u32, key: &str) -> Option<Value> {
        if let Some(w) = self.written.get(&(is_resource(level), owner, key.to_string())) {
            return w.clone();
        }
        let batch = self.batch;
        let column = self
            .columns
            .entry((is_resource(level), key.to_string()))
            .or_insert_with(|| batch.attribute(level, key));
        column.get(owner as usize).map(Value::from)
    }

    fn set(&mut self, level: Level, owner: u32, key: &str, value: Option<Value>) {
        let k = (is_resource(level), owner, key.to_string());
        if self.written.insert(k.clone(), value).is_none() {
            self.order.push(k);
        }
    }

    /// Sends every write as one list of edits.
    fn flush(self) {
        for k in &self.order {
            let Some(v) = self.written.get(k) else { continue };
            let (on_resource, owner, key) = k;
            match (on_resource, v) {
                (false, Some(v)) => self.batch.item(*owner).set_attribute(key, v.clone()),
                (false, None) => self.batch.item(*owner).remove_attribute(key),
                (true, Some(v)) => self.batch.resource(*owner).set_attribute(key, v.clone()),
                (true, None) => self.batch.resource(*owner).remove_attribute(key),
            }
        }
    }
}

/// Attribute levels as map keys (the generated enum is not `Hash`).
fn is_resource(level: Level) -> bool {
    level == Level::Resource
}

#[cfg(target_arch = "wasm32")]
weir_plugin::export_processor!(Enrich);
