//! Column reads: every read sees the batch as it was lent, never a recorded write.

use std::collections::HashMap;

use weir_core::Batch;
use weir_core::otlp::common::v1::{AnyValue, KeyValue, any_value};

use crate::items::{self, Item};
use crate::{
    AttributeTable, IdField, Level, NumberField, Session, Strings, TextField, Value, ValueColumn,
    kind, push_u32,
};

/// Builds a [`Strings`] column one string at a time.
#[derive(Default)]
pub(crate) struct StringsBuilder {
    out: Strings,
}

impl StringsBuilder {
    pub(crate) fn with_rows(rows: usize) -> StringsBuilder {
        let mut offsets = Vec::with_capacity((rows + 1) * 4);
        push_u32(&mut offsets, 0);
        StringsBuilder {
            out: Strings {
                data: Vec::new(),
                offsets,
            },
        }
    }

    pub(crate) fn push(&mut self, s: &[u8]) {
        self.out.data.extend_from_slice(s);
        // Batches are far below 4 GiB (receivers cap request sizes); saturate rather than wrap.
        push_u32(
            &mut self.out.offsets,
            u32::try_from(self.out.data.len()).unwrap_or(u32::MAX),
        );
    }

    pub(crate) fn finish(self) -> Strings {
        self.out
    }
}

/// Builds a [`ValueColumn`] one row at a time.
pub(crate) struct ValuesBuilder {
    kinds: Vec<u8>,
    numbers: Vec<u8>,
    text: StringsBuilder,
}

impl ValuesBuilder {
    pub(crate) fn with_rows(rows: usize) -> ValuesBuilder {
        Self::with_capacity(rows, 0)
    }

    pub(crate) fn with_capacity(rows: usize, text_bytes: usize) -> ValuesBuilder {
        let mut text = StringsBuilder::with_rows(rows);
        text.out.data.reserve_exact(text_bytes);
        ValuesBuilder {
            kinds: Vec::with_capacity(rows),
            numbers: Vec::with_capacity(rows * 8),
            text,
        }
    }

    pub(crate) fn push(&mut self, value: Option<&AnyValue>) {
        let (k, n, t): (u8, u64, &[u8]) = match value.and_then(|v| v.value.as_ref()) {
            // `StringValueStrindex` only appears in profiles, which Weir does not carry.
            None | Some(any_value::Value::StringValueStrindex(_)) => (kind::ABSENT, 0, b""),
            Some(any_value::Value::StringValue(s)) => (kind::STR, 0, s.as_bytes()),
            Some(any_value::Value::BoolValue(b)) => (kind::BOOL, u64::from(*b), b""),
            Some(any_value::Value::IntValue(i)) => (kind::INT, i.cast_unsigned(), b""),
            Some(any_value::Value::DoubleValue(d)) => (kind::DOUBLE, d.to_bits(), b""),
            Some(any_value::Value::BytesValue(b)) => (kind::BYTES, 0, b.as_slice()),
            Some(other @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
                let json = to_json(other);
                self.kinds.push(kind::JSON);
                self.numbers.extend_from_slice(&0u64.to_le_bytes());
                self.text.push(json.as_bytes());
                return;
            }
        };
        self.push_row(k, n, t);
    }

    /// Appends one row: its kind byte, number and text.
    pub(crate) fn push_row(&mut self, k: u8, n: u64, t: &[u8]) {
        self.kinds.push(k);
        self.numbers.extend_from_slice(&n.to_le_bytes());
        self.text.push(t);
    }

    pub(crate) fn finish(self) -> ValueColumn {
        ValueColumn {
            kinds: self.kinds,
            numbers: self.numbers,
            text: self.text.finish(),
        }
    }
}

/// The bytes a value takes in a text column (JSON values are sized when rendered).
fn text_len(v: Option<&AnyValue>) -> usize {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.len(),
        Some(any_value::Value::BytesValue(b)) => b.len(),
        _ => 0,
    }
}

/// An array or key-value list as OTLP/JSON.
pub(crate) fn to_json(v: &any_value::Value) -> String {
    serde_json::to_string(&AnyValue {
        value: Some(v.clone()),
    })
    .unwrap_or_default()
}

/// Converts one OTLP value to what plugins see (`None` for an empty value).
pub(crate) fn to_value(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::Str(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::Int(*i),
        any_value::Value::DoubleValue(d) => Value::Double(*d),
        any_value::Value::BytesValue(b) => Value::Bytes(b.clone()),
        any_value::Value::StringValueStrindex(_) => return None,
        other => Value::Json(to_json(other)),
    })
}

/// Maps each distinct key to an index, guessing from the position in the previous owner first:
/// attributes of neighbouring items usually come in the same order, so most rows cost one
/// string comparison instead of a hash.
pub(crate) struct KeyIds {
    pub(crate) keys: Vec<String>,
    ids: HashMap<String, u32>,
    by_position: Vec<u32>,
}

impl KeyIds {
    pub(crate) fn new() -> KeyIds {
        KeyIds {
            keys: Vec::new(),
            ids: HashMap::new(),
            by_position: Vec::new(),
        }
    }

    pub(crate) fn id(&mut self, position: usize, key: &str) -> u32 {
        if let Some(&guess) = self.by_position.get(position)
            && self.keys.get(guess as usize).is_some_and(|k| k == key)
        {
            return guess;
        }
        let next = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let id = *self.ids.entry(key.to_string()).or_insert_with(|| {
            self.keys.push(key.to_string());
            next
        });
        if position < self.by_position.len() {
            self.by_position[position] = id;
        } else {
            self.by_position.push(id);
        }
        id
    }
}

impl Session {
    /// Packed u32: the resource index of each item.
    pub fn item_resources(&self) -> Vec<u8> {
        if let Some(view) = &self.view {
            return view.item_resources();
        }
        let mut out = Vec::with_capacity(self.items as usize * 4);
        items::for_each(self.typed(), |r, _, _| push_u32(&mut out, r));
        out
    }

    /// One string per item.
    pub fn text(&self, field: TextField) -> Strings {
        if let Some(view) = &self.view {
            return view.text(field);
        }
        let mut b = StringsBuilder::with_rows(self.items as usize);
        items::for_each(self.typed(), |_, scope, item| {
            if field == TextField::ScopeName {
                return b.push(scope.map_or("", |s| s.name.as_str()).as_bytes());
            }
            match (item, field) {
                (Item::Span(s), TextField::Name) => b.push(s.name.as_bytes()),
                (Item::Span(s), TextField::StatusMessage) => {
                    b.push(
                        s.status
                            .as_ref()
                            .map_or("", |st| st.message.as_str())
                            .as_bytes(),
                    );
                }
                (Item::Span(s), TextField::TraceState) => b.push(s.trace_state.as_bytes()),
                (Item::Log(l), TextField::Name) => b.push(l.event_name.as_bytes()),
                (Item::Log(l), TextField::SeverityText) => b.push(l.severity_text.as_bytes()),
                (Item::Log(l), TextField::Body) => {
                    match l.body.as_ref().and_then(|v| v.value.as_ref()) {
                        None => b.push(b""),
                        Some(any_value::Value::StringValue(s)) => b.push(s.as_bytes()),
                        Some(other) => b.push(to_json(other).as_bytes()),
                    }
                }
                (Item::Point(m, _), TextField::Name) => b.push(m.name.as_bytes()),
                (Item::Point(m, _), TextField::Unit) => b.push(m.unit.as_bytes()),
                (Item::Point(m, _), TextField::Description) => b.push(m.description.as_bytes()),
                _ => b.push(b""),
            }
        });
        b.finish()
    }

    /// Fixed-size ids, back to back; absent or malformed ids read as zeros.
    pub fn ids(&self, field: IdField) -> Vec<u8> {
        if let Some(view) = &self.view {
            return view.ids(field);
        }
        let width = field.width();
        let mut out = Vec::with_capacity(self.items as usize * width);
        items::for_each(self.typed(), |_, _, item| {
            let id: &[u8] = match (item, field) {
                (Item::Span(s), IdField::TraceId) => &s.trace_id,
                (Item::Span(s), IdField::SpanId) => &s.span_id,
                (Item::Span(s), IdField::ParentSpanId) => &s.parent_span_id,
                (Item::Log(l), IdField::TraceId) => &l.trace_id,
                (Item::Log(l), IdField::SpanId) => &l.span_id,
                _ => &[],
            };
            if id.len() == width {
                out.extend_from_slice(id);
            } else {
                out.resize(out.len() + width, 0);
            }
        });
        out
    }

    /// One 8-byte little-endian number per item.
    pub fn numbers(&self, field: NumberField) -> Vec<u8> {
        if let Some(view) = &self.view {
            return view.numbers(field);
        }
        let mut out = Vec::with_capacity(self.items as usize * 8);
        items::for_each(self.typed(), |_, _, item| {
            let n: u64 = match (item, field) {
                (Item::Span(s), NumberField::TimeUnixNano) => s.start_time_unix_nano,
                (Item::Span(s), NumberField::EndTimeUnixNano) => s.end_time_unix_nano,
                (Item::Span(s), NumberField::Kind) => i64::from(s.kind).cast_unsigned(),
                (Item::Span(s), NumberField::StatusCode) => {
                    i64::from(s.status.as_ref().map_or(0, |st| st.code)).cast_unsigned()
                }
                (Item::Span(s), NumberField::Flags) => u64::from(s.flags),
                (Item::Log(l), NumberField::TimeUnixNano) => l.time_unix_nano,
                (Item::Log(l), NumberField::EndTimeUnixNano) => l.observed_time_unix_nano,
                (Item::Log(l), NumberField::Kind) => i64::from(l.severity_number).cast_unsigned(),
                (Item::Log(l), NumberField::Flags) => u64::from(l.flags),
                (Item::Point(_, p), NumberField::TimeUnixNano) => p.times().0,
                (Item::Point(_, p), NumberField::EndTimeUnixNano) => p.times().1,
                (Item::Point(m, _), NumberField::Kind) => items::metric_type(m).cast_unsigned(),
                (Item::Point(_, p), NumberField::Value) => p.value().to_bits(),
                (Item::Point(_, p), NumberField::Flags) => u64::from(p.flags()),
                _ => 0,
            };
            out.extend_from_slice(&n.to_le_bytes());
        });
        out
    }

    /// Calls `f(owner, attributes)` for every owner of `level`, in order.
    fn for_each_owner<'a>(&'a self, level: Level, mut f: impl FnMut(u32, &'a [KeyValue])) {
        match level {
            Level::Item => {
                let mut i = 0u32;
                items::for_each(self.typed(), |_, _, item| {
                    let attrs: &[KeyValue] = match item {
                        Item::Span(s) => &s.attributes,
                        Item::Log(l) => &l.attributes,
                        Item::Point(_, p) => p.attributes(),
                    };
                    f(i, attrs);
                    i += 1;
                });
            }
            Level::Resource => {
                for (i, attrs) in (0u32..).zip(resource_attributes(self.typed())) {
                    f(i, attrs);
                }
            }
        }
    }

    /// Every attribute of every owner of `level`.
    pub fn attributes(&self, level: Level) -> AttributeTable {
        if let Some(view) = &self.view {
            return view.attributes(level);
        }
        // Size every column exactly first: the columns of a large batch are hundreds of KiB, and
        // growing them by doubling would copy them several times.
        let (mut rows, mut bytes) = (0usize, 0usize);
        self.for_each_owner(level, |_, attrs| {
            rows += attrs.len();
            bytes += attrs
                .iter()
                .map(|kv| text_len(kv.value.as_ref()))
                .sum::<usize>();
        });
        let mut owners = Vec::with_capacity(rows * 4);
        let mut key_ids = Vec::with_capacity(rows * 4);
        let mut keys = KeyIds::new();
        let mut values = ValuesBuilder::with_capacity(rows, bytes);
        self.for_each_owner(level, |owner, attrs| {
            for (pos, kv) in attrs.iter().enumerate() {
                push_u32(&mut owners, owner);
                push_u32(&mut key_ids, keys.id(pos, &kv.key));
                values.push(kv.value.as_ref());
            }
        });
        AttributeTable {
            owners,
            keys: keys.keys,
            key_ids,
            values: values.finish(),
        }
    }

    /// One attribute across every owner of `level`.
    pub fn attribute(&self, level: Level, key: &str) -> ValueColumn {
        if let Some(view) = &self.view {
            return view.attribute(level, key);
        }
        let rows = match level {
            Level::Item => self.items,
            Level::Resource => self.resources,
        } as usize;
        let mut values = ValuesBuilder::with_rows(rows);
        self.for_each_owner(level, |_, attrs| {
            values.push(
                attrs
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.as_ref()),
            );
        });
        values.finish()
    }

    /// The attributes of one owner; empty, and recorded as an invalid call, if `owner` is out of
    /// range.
    pub fn owner_attributes(&mut self, level: Level, owner: u32) -> Vec<(String, Value)> {
        if let Err(e) = self.check_owner("owner-attributes", level, owner) {
            self.record_invalid(e);
            return Vec::new();
        }
        if let Some(view) = &self.view {
            return view.owner_values(level, owner as usize);
        }
        let mut out = Vec::new();
        self.for_each_owner(level, |o, attrs| {
            if o == owner {
                out = attrs
                    .iter()
                    .filter_map(|kv| Some((kv.key.clone(), to_value(kv.value.as_ref()?)?)))
                    .collect();
            }
        });
        out
    }

    /// The batch as an OTLP protobuf export request.
    pub fn otlp(&self) -> Vec<u8> {
        match &self.view {
            Some(view) => view.buf.to_vec(),
            None => self.typed().encode_to_vec(),
        }
    }

    /// The batch as OTLP/JSON (the encoding of OTLP/HTTP with `application/json`).
    pub fn otlp_json(&self) -> String {
        self.typed().to_otlp_json().unwrap_or_default()
    }
}

/// The attribute list of every resource, in order (empty for an absent resource).
fn resource_attributes(batch: &Batch) -> Vec<&[KeyValue]> {
    fn attrs(r: &Option<weir_core::otlp::resource::v1::Resource>) -> &[KeyValue] {
        r.as_ref().map_or(&[], |r| r.attributes.as_slice())
    }
    match batch {
        // The session decoded it (`Session::new`).
        Batch::Wire(_) => Vec::new(),
        Batch::Traces(r) => r
            .resource_spans
            .iter()
            .map(|x| attrs(&x.resource))
            .collect(),
        Batch::Logs(r) => r.resource_logs.iter().map(|x| attrs(&x.resource)).collect(),
        Batch::Metrics(r) => r
            .resource_metrics
            .iter()
            .map(|x| attrs(&x.resource))
            .collect(),
    }
}
