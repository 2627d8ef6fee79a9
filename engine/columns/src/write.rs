//! Writes: validated when a plugin asks for them, applied together by [`Session::finish`].

use std::collections::BTreeMap;

use prost::Message;
use weir_core::ids::{log_id_problem, span_id_problem};
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value};
use weir_core::{Batch, Signal};

use crate::items::{self, Item, ItemsMut};
use crate::{Edit, Level, Session, TextField, Value, unpack_u32, view_write};

/// A plugin asked for something impossible: an index out of range, a field its signal lacks, a
/// malformed value. The whole call is then a plugin error and nothing is applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{call}: {message}")]
pub struct InvalidWrite {
    /// The batch method that was called, as named in the WIT (`set-attribute`).
    pub call: &'static str,
    /// What was wrong.
    pub message: String,
}

/// One recorded write.
#[derive(Debug)]
pub(crate) enum Write {
    /// Set `key` on the owners listed (all when `None`).
    SetAttribute {
        level: Level,
        key: String,
        value: AnyValue,
        owners: Option<Vec<u32>>,
    },
    /// Remove `key` from the owners listed (all when `None`).
    RemoveAttribute {
        level: Level,
        key: String,
        owners: Option<Vec<u32>>,
    },
    /// Set `key` on each listed owner to its own value, or remove it where the value is
    /// `None` (`set-attribute-values`).
    SetAttributeValues {
        level: Level,
        key: String,
        owners: Vec<u32>,
        values: Vec<Option<AnyValue>>,
    },
    /// Set one text field of one item.
    SetText {
        item: u32,
        field: TextField,
        value: String,
    },
    /// Drop these items.
    Drop(Vec<u32>),
}

pub(crate) fn invalid(call: &'static str, message: impl Into<String>) -> InvalidWrite {
    InvalidWrite {
        call,
        message: message.into(),
    }
}

/// Converts a plugin's value to OTLP, rejecting JSON that is not an array or key-value list.
pub(crate) fn to_any(call: &'static str, value: Value) -> Result<AnyValue, InvalidWrite> {
    let v = match value {
        Value::Str(s) => any_value::Value::StringValue(s),
        Value::Bool(b) => any_value::Value::BoolValue(b),
        Value::Int(i) => any_value::Value::IntValue(i),
        Value::Double(d) => any_value::Value::DoubleValue(d),
        Value::Bytes(b) => any_value::Value::BytesValue(b),
        Value::Json(j) => {
            let parsed: AnyValue = serde_json::from_str(&j)
                .map_err(|e| invalid(call, format!("json value is not OTLP/JSON: {e}")))?;
            match parsed.value {
                Some(v @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => v,
                _ => {
                    return Err(invalid(
                        call,
                        "a json value must be an arrayValue or a kvlistValue",
                    ));
                }
            }
        }
    };
    Ok(AnyValue { value: Some(v) })
}

/// Whether `field` can be written on items of `signal`.
fn writable(signal: Signal, field: TextField) -> bool {
    use TextField::*;
    matches!(
        (signal, field),
        (_, Name)
            | (Signal::Traces, StatusMessage | TraceState)
            | (Signal::Logs, SeverityText | Body)
            | (Signal::Metrics, Unit | Description)
    )
}

impl Session {
    pub(crate) fn record_invalid(&mut self, e: InvalidWrite) {
        if self.invalid.is_none() {
            self.invalid = Some(e);
        }
    }

    pub(crate) fn check_owner(
        &self,
        call: &'static str,
        level: Level,
        owner: u32,
    ) -> Result<(), InvalidWrite> {
        let (count, what) = match level {
            Level::Item => (self.items, self.signal().item_name()),
            Level::Resource => (self.resources, "resources"),
        };
        if owner < count {
            Ok(())
        } else {
            Err(invalid(
                call,
                format!("index {owner} is out of range (the batch has {count} {what})"),
            ))
        }
    }

    pub(crate) fn owners(
        &self,
        call: &'static str,
        level: Level,
        packed: Option<&[u8]>,
    ) -> Result<Option<Vec<u32>>, InvalidWrite> {
        let Some(packed) = packed else {
            return Ok(None);
        };
        let owners = unpack_u32(packed).ok_or_else(|| {
            invalid(
                call,
                "an index list must be packed u32 (a multiple of 4 bytes)",
            )
        })?;
        for &o in &owners {
            self.check_owner(call, level, o)?;
        }
        Ok(Some(owners))
    }

    pub(crate) fn check_key(call: &'static str, key: &str) -> Result<(), InvalidWrite> {
        if key.is_empty() {
            Err(invalid(call, "attribute keys must not be empty"))
        } else {
            Ok(())
        }
    }

    /// Records a write unless an earlier one was invalid or the batch was replaced.
    pub(crate) fn record(
        &mut self,
        call: &'static str,
        build: impl FnOnce(&Session) -> Result<Vec<Write>, InvalidWrite>,
    ) {
        if self.invalid.is_some() {
            return;
        }
        if self.replacement.is_some() || self.splice.is_some() {
            return self.record_invalid(invalid(
                call,
                "cannot be combined with replace-otlp or replace-items in the same call",
            ));
        }
        match build(self) {
            Ok(w) => self.writes.extend(w),
            Err(e) => self.record_invalid(e),
        }
    }

    /// Sets `key` to `value` on every owner of `level`, or on the packed-u32 `owners`.
    pub fn set_attribute(
        &mut self,
        level: Level,
        key: String,
        value: Value,
        owners: Option<&[u8]>,
    ) {
        const CALL: &str = "set-attribute";
        self.record(CALL, |s| {
            Self::check_key(CALL, &key)?;
            let owners = s.owners(CALL, level, owners)?;
            Ok(vec![Write::SetAttribute {
                level,
                key,
                value: to_any(CALL, value)?,
                owners,
            }])
        });
    }

    /// Removes `key` from every owner of `level`, or from the packed-u32 `owners`.
    pub fn remove_attribute(&mut self, level: Level, key: String, owners: Option<&[u8]>) {
        const CALL: &str = "remove-attribute";
        self.record(CALL, |s| {
            Ok(vec![Write::RemoveAttribute {
                level,
                key,
                owners: s.owners(CALL, level, owners)?,
            }])
        });
    }

    /// Drops the packed-u32 `items`.
    pub fn drop_items(&mut self, items: &[u8]) {
        const CALL: &str = "drop-items";
        self.record(CALL, |s| {
            let items = s
                .owners(CALL, Level::Item, Some(items))?
                .unwrap_or_default();
            Ok(vec![Write::Drop(items)])
        });
    }

    /// Records sparse edits, in order.
    pub fn apply(&mut self, edits: Vec<Edit>) {
        const CALL: &str = "apply";
        self.record(CALL, |s| {
            let mut out = Vec::with_capacity(edits.len());
            for edit in edits {
                out.push(match edit {
                    Edit::SetAttribute {
                        level,
                        owner,
                        key,
                        value,
                    } => {
                        s.check_owner(CALL, level, owner)?;
                        Self::check_key(CALL, &key)?;
                        Write::SetAttribute {
                            level,
                            key,
                            value: to_any(CALL, value)?,
                            owners: Some(vec![owner]),
                        }
                    }
                    Edit::RemoveAttribute { level, owner, key } => {
                        s.check_owner(CALL, level, owner)?;
                        Write::RemoveAttribute {
                            level,
                            key,
                            owners: Some(vec![owner]),
                        }
                    }
                    Edit::SetText { item, field, value } => {
                        s.check_owner(CALL, Level::Item, item)?;
                        if !writable(s.signal(), field) {
                            return Err(invalid(
                                CALL,
                                format!("{field:?} cannot be set on {}", s.signal().item_name()),
                            ));
                        }
                        Write::SetText { item, field, value }
                    }
                });
            }
            Ok(out)
        });
    }

    /// Refuses a whole-batch or whole-item replacement after other writes (or another one):
    /// the call becomes invalid.
    pub(crate) fn only_write(&mut self, call: &'static str) -> Result<(), String> {
        if !self.writes.is_empty() || self.replacement.is_some() || self.splice.is_some() {
            self.record_invalid(invalid(
                call,
                "cannot be combined with other writes in the same call",
            ));
            return Err(format!("{call} cannot be combined with other writes"));
        }
        Ok(())
    }

    /// Decodes an OTLP protobuf export request of the batch's signal.
    pub(crate) fn decode_request(&self, bytes: &[u8]) -> Result<Batch, String> {
        let decoded = match self.signal() {
            Signal::Traces => ExportTraceServiceRequest::decode(bytes).map(Batch::Traces),
            Signal::Metrics => ExportMetricsServiceRequest::decode(bytes).map(Batch::Metrics),
            Signal::Logs => ExportLogsServiceRequest::decode(bytes).map(Batch::Logs),
        };
        decoded.map_err(|e| format!("not a valid OTLP {} request: {e}", self.signal()))
    }

    /// Replaces the whole batch with an OTLP protobuf request of the same signal. Malformed
    /// bytes are returned as an error the plugin sees; invalid ids make the call invalid.
    pub fn replace_otlp(&mut self, bytes: &[u8]) -> Result<(), String> {
        const CALL: &str = "replace-otlp";
        self.only_write(CALL)?;
        let batch = self.decode_request(bytes)?;
        if let Err(message) = check_ids(&batch) {
            self.record_invalid(invalid(CALL, message));
            return Err("invalid ids".into());
        }
        self.replacement = Some(batch);
        Ok(())
    }

    /// Applies every recorded write and returns the batch. If any request was invalid, nothing
    /// is applied and the original batch comes back with the reason.
    pub fn finish(self) -> Result<Batch, (Batch, InvalidWrite)> {
        let Session {
            batch,
            view,
            decoded,
            writes,
            replacement,
            splice,
            invalid,
            items: _,
            resources: _,
        } = self;
        if let Some(e) = invalid {
            return Err((batch, e));
        }
        if let Some(replacement) = replacement {
            return Ok(replacement);
        }
        if let Some(view) = &view
            && writes.iter().all(|w| !matches!(w, Write::SetText { .. }))
        {
            if writes.is_empty() && splice.is_none() {
                // Nothing changed: the request goes on as it came.
                return Ok(batch);
            }
            return Ok(view_write::finish(view, &writes, splice));
        }
        let mut batch = decoded.into_inner().unwrap_or(batch);
        batch.make_typed();
        if let Some(splice) = splice {
            splice.apply(&mut batch);
            return Ok(batch);
        }
        if writes.is_empty() {
            return Ok(batch);
        }
        apply_attributes(&mut batch, Level::Resource, &writes);
        apply_attributes(&mut batch, Level::Item, &writes);
        apply_text(&mut batch, &writes);
        let mut dropped: Vec<u32> = writes
            .iter()
            .filter_map(|w| {
                if let Write::Drop(d) = w {
                    Some(d)
                } else {
                    None
                }
            })
            .flatten()
            .copied()
            .collect();
        if !dropped.is_empty() {
            dropped.sort_unstable();
            dropped.dedup();
            items::retain(&mut batch, |i| dropped.binary_search(&i).is_err());
        }
        Ok(batch)
    }
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, value: &AnyValue) {
    if let Some(kv) = attrs.iter_mut().find(|kv| kv.key == key) {
        kv.value = Some(value.clone());
    } else {
        attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(value.clone()),
            ..Default::default()
        });
    }
}

/// One attribute write of one level: set `key` to a value, or remove it.
pub(crate) struct AttrWrite<'w> {
    /// The value to set; `None` to remove.
    pub set: Option<&'w AnyValue>,
    /// The key.
    pub key: &'w str,
}

/// The attribute writes of one level, indexed by owner: writes to every owner are checked for
/// each owner; writes to listed owners are indexed by owner, so many single-owner edits (one
/// per span) cost what they touch, not owners × edits.
pub(crate) struct AttrOps<'w> {
    ops: Vec<AttrWrite<'w>>,
    /// Indices into `ops`, ascending, of the writes to every owner.
    everyone: Vec<usize>,
    /// (owner, index into `ops`) of the writes to listed owners, sorted: each owner's writes
    /// are one run, in the plugin's order.
    listed: Vec<(u32, usize)>,
}

impl<'w> AttrOps<'w> {
    /// The writes of `level` among `writes`, for a batch with `owners` owners of that level.
    pub(crate) fn new(writes: &'w [Write], level: Level) -> AttrOps<'w> {
        let mut out = AttrOps {
            ops: Vec::new(),
            everyone: Vec::new(),
            listed: Vec::new(),
        };
        for w in writes {
            let (set, key, selection) = match w {
                Write::SetAttribute {
                    level: l,
                    key,
                    value,
                    owners,
                } if *l == level => (Some(value), key, owners),
                Write::RemoveAttribute {
                    level: l,
                    key,
                    owners,
                } if *l == level => (None, key, owners),
                Write::SetAttributeValues {
                    level: l,
                    key,
                    owners,
                    values,
                } if *l == level => {
                    for (&owner, value) in owners.iter().zip(values) {
                        out.listed.push((owner, out.ops.len()));
                        out.ops.push(AttrWrite {
                            set: value.as_ref(),
                            key,
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            let k = out.ops.len();
            out.ops.push(AttrWrite { set, key });
            match selection {
                None => out.everyone.push(k),
                Some(sel) => out.listed.extend(sel.iter().map(|&o| (o, k))),
            }
        }
        out.listed.sort_unstable();
        // An owner listed twice in one write gets it once.
        out.listed.dedup();
        out
    }

    /// The writes to `owner` by list, as (owner, index into `ops`), ascending.
    fn mine(&self, owner: u32) -> &[(u32, usize)] {
        let start = self.listed.partition_point(|x| x.0 < owner);
        let rest = self.listed.get(start..).unwrap_or_default();
        rest.get(..rest.partition_point(|x| x.0 == owner))
            .unwrap_or_default()
    }

    /// True when there is no write at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// True when some write applies to `owner`.
    pub(crate) fn touches(&self, owner: u32) -> bool {
        !self.everyone.is_empty() || !self.mine(owner).is_empty()
    }

    /// Calls `f` with each write of `owner`, in the plugin's order.
    pub(crate) fn each(&self, owner: u32, mut f: impl FnMut(&AttrWrite<'w>)) {
        let mine = self.mine(owner);
        // Merge the two ascending index lists to keep the plugin's order of writes.
        let (mut a, mut b) = (0, 0);
        loop {
            let k = match (self.everyone.get(a), mine.get(b).map(|x| x.1)) {
                (Some(&x), Some(y)) if x < y => {
                    a += 1;
                    x
                }
                (Some(&x), None) => {
                    a += 1;
                    x
                }
                (_, Some(y)) => {
                    b += 1;
                    y
                }
                (None, None) => break,
            };
            if let Some(op) = self.ops.get(k) {
                f(op);
            }
        }
    }
}

/// Applies the attribute writes of one level, in order, in a single pass over the owners.
fn apply_attributes(batch: &mut Batch, level: Level, writes: &[Write]) {
    let ops = AttrOps::new(writes, level);
    if ops.is_empty() {
        return;
    }
    let one = |i: u32, attrs: &mut Vec<KeyValue>| {
        ops.each(i, |op| match op.set {
            Some(value) => set(attrs, op.key, value),
            None => attrs.retain(|kv| kv.key != op.key),
        });
    };
    match level {
        Level::Item => items::for_each_item_attributes_mut(batch, one),
        Level::Resource => {
            for (i, attrs) in (0u32..).zip(items::resource_attributes_mut(batch)) {
                one(i, attrs);
            }
        }
    }
}

/// Applies the text writes, in order per item.
fn apply_text(batch: &mut Batch, writes: &[Write]) {
    let mut by_item: BTreeMap<u32, Vec<(TextField, &str)>> = BTreeMap::new();
    for w in writes {
        if let Write::SetText { item, field, value } = w {
            by_item.entry(*item).or_default().push((*field, value));
        }
    }
    if by_item.is_empty() {
        return;
    }
    items::for_each_mut(batch, |first, owner| {
        let span = match &owner {
            ItemsMut::Metric(m) => items::point_count(m),
            _ => 1,
        };
        let edits = by_item.range(first..first + span).flat_map(|(_, e)| e);
        let mut owner = owner;
        for &(field, value) in edits {
            let value = value.to_string();
            match (&mut owner, field) {
                (ItemsMut::Span(s), TextField::Name) => s.name = value,
                (ItemsMut::Span(s), TextField::StatusMessage) => {
                    s.status.get_or_insert_default().message = value;
                }
                (ItemsMut::Span(s), TextField::TraceState) => s.trace_state = value,
                (ItemsMut::Log(l), TextField::Name) => l.event_name = value,
                (ItemsMut::Log(l), TextField::SeverityText) => l.severity_text = value,
                (ItemsMut::Log(l), TextField::Body) => {
                    l.body = Some(AnyValue {
                        value: Some(any_value::Value::StringValue(value)),
                    });
                }
                (ItemsMut::Metric(m), TextField::Name) => m.name = value,
                (ItemsMut::Metric(m), TextField::Unit) => m.unit = value,
                (ItemsMut::Metric(m), TextField::Description) => m.description = value,
                // Rejected by `writable` when the edit was recorded.
                _ => {}
            }
        }
    });
}

/// Checks the ids of a batch a plugin handed back whole, with the rules receivers apply.
fn check_ids(batch: &Batch) -> Result<(), String> {
    match first_id_problem(batch) {
        Some((index, bad)) => Err(format!("item {index}: {bad}")),
        None => Ok(()),
    }
}

/// The first item with an id receivers would refuse, and why.
pub(crate) fn first_id_problem(batch: &Batch) -> Option<(u32, String)> {
    let mut problem = None;
    let mut index = 0u32;
    items::for_each(batch, |_, _, item| {
        let bad = match item {
            Item::Span(s) => span_id_problem(s),
            Item::Log(l) => log_id_problem(l),
            Item::Point(..) => None,
        };
        if let (None, Some(bad)) = (&problem, bad) {
            problem = Some((index, bad.to_string()));
        }
        index += 1;
    });
    problem
}
