//! Column reads over a request kept as bytes ([`View`]): the same columns the decoded path
//! builds, parsed where the fields lie.

use weir_core::Signal;
use weir_core::otlp::common::v1::{AnyValue, any_value};

use crate::read::{KeyIds, StringsBuilder, ValuesBuilder, to_json, to_value};
use crate::view::{AnyRef, AttrAt, Val, View, bodies, fields, last_bytes, merged_value};
use crate::{
    AttributeTable, IdField, Level, NumberField, Strings, TextField, Value, ValueColumn, kind,
    push_u32,
};

/// An in-place value as the decoded one it stands for.
pub(crate) fn to_any(v: AnyRef<'_>) -> AnyValue {
    let value = match v {
        AnyRef::Str(s) => any_value::Value::StringValue(String::from_utf8_lossy(s).into_owned()),
        AnyRef::Bool(b) => any_value::Value::BoolValue(b),
        AnyRef::Int(i) => any_value::Value::IntValue(i),
        AnyRef::Double(d) => any_value::Value::DoubleValue(d),
        AnyRef::Bytes(b) => any_value::Value::BytesValue(b.to_vec()),
        AnyRef::Other(v) => return v,
    };
    AnyValue { value: Some(value) }
}

/// Appends one value (absent when `None`) as [`ValuesBuilder::push`] does for its decoded form.
fn push(b: &mut ValuesBuilder, v: Option<&AnyRef<'_>>) {
    match v {
        None => b.push(None),
        Some(AnyRef::Str(s)) => b.push_row(kind::STR, 0, s),
        Some(AnyRef::Bool(x)) => b.push_row(kind::BOOL, u64::from(*x), b""),
        Some(AnyRef::Int(i)) => b.push_row(kind::INT, i.cast_unsigned(), b""),
        Some(AnyRef::Double(d)) => b.push_row(kind::DOUBLE, d.to_bits(), b""),
        Some(AnyRef::Bytes(x)) => b.push_row(kind::BYTES, 0, x),
        Some(AnyRef::Other(v)) => b.push(Some(v)),
    }
}

/// The last value of a repeated-or-merged message field's scalar: the status code or message
/// of a span whose status was given twice reads as decoding merges them.
fn last_in<'a>(item: &'a [u8], outer: u32, inner: u32) -> Option<Val<'a>> {
    bodies(item, outer)
        .flat_map(|b| fields(b).filter(move |f| f.tag == inner).map(|f| f.val))
        .last()
}

/// The last scalar field `tag` of an item.
fn last_val(item: &[u8], tag: u32) -> Option<Val<'_>> {
    fields(item).filter(|f| f.tag == tag).map(|f| f.val).last()
}

impl View {
    /// Packed u32: the resource index of each item.
    pub(crate) fn item_resources(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.items.len() * 4);
        self.items
            .iter()
            .for_each(|i| push_u32(&mut out, i.resource));
        out
    }

    /// One attribute across every owner of `level` (the first with the key, as decoded).
    pub(crate) fn attribute(&self, level: Level, key: &str) -> ValueColumn {
        let owners = self.owners(level);
        let ix = self.attrs(level);
        let found: Vec<Option<&AttrAt>> = (0..owners)
            .map(|o| ix.of(o).iter().find(|a| self.key(a) == key.as_bytes()))
            .collect();
        // The values' encoded bodies bound their text: reserved once instead of grown.
        let bytes = found
            .iter()
            .flatten()
            .map(|a| a.value.map_or(a.body.len(), |v| v.len()))
            .sum();
        let mut values = ValuesBuilder::with_capacity(owners, bytes);
        for a in found {
            push(&mut values, a.and_then(|a| self.value(a)).as_ref());
        }
        values.finish()
    }

    /// Every attribute of every owner of `level`.
    pub(crate) fn attributes(&self, level: Level) -> AttributeTable {
        let owners = self.owners(level);
        let ix = self.attrs(level);
        let (mut rows, mut bytes) = (0usize, 0usize);
        for o in 0..owners {
            for a in ix.of(o) {
                rows += 1;
                bytes += a.value.map_or(0, |v| self.bytes(v).len());
            }
        }
        let mut owner_col = Vec::with_capacity(rows * 4);
        let mut key_ids = Vec::with_capacity(rows * 4);
        let mut keys = KeyIds::new();
        let mut values = ValuesBuilder::with_capacity(rows, bytes);
        for o in 0..owners {
            let owner = u32::try_from(o).unwrap_or(u32::MAX);
            for (pos, a) in ix.of(o).iter().enumerate() {
                let key = std::str::from_utf8(self.key(a)).unwrap_or_default();
                push_u32(&mut owner_col, owner);
                push_u32(&mut key_ids, keys.id(pos, key));
                push(&mut values, self.value(a).as_ref());
            }
        }
        AttributeTable {
            owners: owner_col,
            keys: keys.keys,
            key_ids,
            values: values.finish(),
        }
    }

    /// The attributes of one owner (in range), as plugins see them.
    pub(crate) fn owner_values(&self, level: Level, owner: usize) -> Vec<(String, Value)> {
        self.attrs(level)
            .of(owner)
            .iter()
            .filter_map(|a| {
                let key = String::from_utf8_lossy(self.key(a)).into_owned();
                Some((key, to_value(&to_any(self.value(a)?))?))
            })
            .collect()
    }

    /// One string per item.
    pub(crate) fn text(&self, field: TextField) -> Strings {
        let mut b = StringsBuilder::with_rows(self.items.len());
        for it in &self.items {
            let item = self.at(&it.body);
            let scope = || {
                self.scopes
                    .get(it.scope as usize)
                    .and_then(|s| s.scope.as_ref())
                    .map_or(&[][..], |r| self.at(r))
            };
            let text: std::borrow::Cow<'_, [u8]> = match (self.signal, field) {
                (_, TextField::ScopeName) => last_bytes(scope(), 1).into(),
                (Signal::Traces, TextField::Name) => last_bytes(item, 5).into(),
                (Signal::Traces, TextField::TraceState) => last_bytes(item, 3).into(),
                (Signal::Traces, TextField::StatusMessage) => match last_in(item, 15, 2) {
                    Some(Val::Len(s)) => s.into(),
                    _ => b"".into(),
                },
                (Signal::Logs, TextField::Name) => last_bytes(item, 12).into(),
                (Signal::Logs, TextField::SeverityText) => last_bytes(item, 3).into(),
                (Signal::Logs, TextField::Body) => log_body(item).into_bytes().into(),
                _ => b"".into(),
            };
            b.push(&text);
        }
        b.finish()
    }

    /// Fixed-size ids, back to back; absent or malformed ids read as zeros.
    pub(crate) fn ids(&self, field: IdField) -> Vec<u8> {
        let width = field.width();
        let mut out = Vec::with_capacity(self.items.len() * width);
        let tag = match (self.signal, field) {
            (Signal::Traces, IdField::TraceId) => Some(1),
            (Signal::Traces, IdField::SpanId) => Some(2),
            (Signal::Traces, IdField::ParentSpanId) => Some(4),
            (Signal::Logs, IdField::TraceId) => Some(9),
            (Signal::Logs, IdField::SpanId) => Some(10),
            _ => None,
        };
        for it in &self.items {
            let id = tag.and_then(|t| bodies(self.at(&it.body), t).last());
            match id {
                Some(id) if id.len() == width => out.extend_from_slice(id),
                _ => out.resize(out.len() + width, 0),
            }
        }
        out
    }

    /// One 8-byte little-endian number per item.
    pub(crate) fn numbers(&self, field: NumberField) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.items.len() * 8);
        // Enums and int32 fields decode as the low 32 bits of their varint.
        let enum_of = |v: Option<Val<'_>>| match v {
            #[expect(clippy::cast_possible_truncation, reason = "int32 decodes so")]
            Some(Val::Varint(v)) => i64::from(v as i32).cast_unsigned(),
            _ => 0,
        };
        let fixed = |v: Option<Val<'_>>| match v {
            Some(Val::I64(v)) => v,
            Some(Val::I32(v)) => u64::from(v),
            _ => 0,
        };
        for it in &self.items {
            let item = self.at(&it.body);
            let n = match (self.signal, field) {
                (Signal::Traces, NumberField::TimeUnixNano) => fixed(last_val(item, 7)),
                (Signal::Traces, NumberField::EndTimeUnixNano) => fixed(last_val(item, 8)),
                (Signal::Traces, NumberField::Kind) => enum_of(last_val(item, 6)),
                (Signal::Traces, NumberField::StatusCode) => enum_of(last_in(item, 15, 3)),
                (Signal::Traces, NumberField::Flags) => fixed(last_val(item, 16)),
                (Signal::Logs, NumberField::TimeUnixNano) => fixed(last_val(item, 1)),
                (Signal::Logs, NumberField::EndTimeUnixNano) => fixed(last_val(item, 11)),
                (Signal::Logs, NumberField::Kind) => enum_of(last_val(item, 2)),
                (Signal::Logs, NumberField::Flags) => fixed(last_val(item, 8)),
                _ => 0,
            };
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }
}

/// A log record's body as text: a string as it is, anything else as OTLP/JSON, "" if none.
fn log_body(item: &[u8]) -> String {
    let Some(value) = merged_value(bodies(item, 5)) else {
        return String::new();
    };
    match value {
        AnyRef::Str(s) => String::from_utf8_lossy(s).into_owned(),
        other => match to_any(other).value {
            None => String::new(),
            Some(any_value::Value::StringValue(s)) => s,
            Some(v) => to_json(&v),
        },
    }
}
