//! Reading a request kept as bytes ([`Batch::Wire`]) in place, without decoding it.
//!
//! Decoding a request into prost structs, encoding it again for the exporter and freeing the
//! structs cost more per span than the built-in processors themselves. A [`View`] indexes the
//! resources, scopes and items of a traces or logs request in one pass over its bytes; reads
//! parse the fields they need where they lie, and [`Session::finish`](crate::Session::finish)
//! writes the request again by copying every part no write touched (see `view_write`).
//!
//! A view is only made for requests that decoding and encoding would not change in meaning:
//! every field known to this OTLP version (an unknown one would reach the backend from a
//! processor pipeline, where decoding drops it) and no resource or scope given twice (which
//! decoding merges). Anything else is decoded as before. Repeated scalar fields (a span name
//! given twice) read as decoding does, the last one, except that `find` searches every copy:
//! a copy it did not search could otherwise reach the backend.

use std::ops::Range;

use bytes::Bytes;
use prost::Message;
use weir_core::otlp::common::v1::AnyValue;
use weir_core::{Batch, Signal};

/// Protobuf wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const LEN: u8 = 2;

/// One field's value.
#[derive(Clone, Copy)]
pub(crate) enum Val<'a> {
    /// A varint.
    Varint(u64),
    /// Eight bytes (fixed64, double).
    I64(u64),
    /// Four bytes (fixed32, float).
    I32(u32),
    /// Length-delimited: the body.
    Len(&'a [u8]),
}

/// One field of a message.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    /// The field number.
    pub tag: u32,
    /// The value.
    pub val: Val<'a>,
    /// The whole field as written, key included (to copy it unchanged).
    pub raw: &'a [u8],
}

impl<'a> Field<'a> {
    /// The body of a length-delimited field.
    pub(crate) fn body(&self) -> Option<&'a [u8]> {
        match self.val {
            Val::Len(b) => Some(b),
            _ => None,
        }
    }
}

/// The fields of one message, in order. The bytes passed the wire scan; should they not parse
/// all the same, iteration stops there.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
}

/// Iterates the fields of `buf`.
pub(crate) fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, at: 0 }
}

/// Reads a varint at `*at`.
pub(crate) fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Option<Field<'a>> {
        let start = self.at;
        let key = varint(self.buf, &mut self.at)?;
        let tag = u32::try_from(key >> 3).ok()?;
        let take = |at: &mut usize, n: usize| -> Option<&'a [u8]> {
            let end = at.checked_add(n)?;
            let s = self.buf.get(*at..end)?;
            *at = end;
            Some(s)
        };
        let val = match (key & 7) as u8 {
            VARINT => Val::Varint(varint(self.buf, &mut self.at)?),
            1 => Val::I64(u64::from_le_bytes(take(&mut self.at, 8)?.try_into().ok()?)),
            5 => Val::I32(u32::from_le_bytes(take(&mut self.at, 4)?.try_into().ok()?)),
            LEN => {
                let n = usize::try_from(varint(self.buf, &mut self.at)?).ok()?;
                Val::Len(take(&mut self.at, n)?)
            }
            // Groups only occur as unknown fields, which a view never holds.
            _ => return None,
        };
        Some(Field {
            tag,
            val,
            raw: self.buf.get(start..self.at)?,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        if self.at >= self.buf.len() {
            return None;
        }
        let f = self.read();
        if f.is_none() {
            self.at = self.buf.len();
        }
        f
    }
}

/// The length-delimited fields `tag` of a message body.
pub(crate) fn bodies(buf: &[u8], tag: u32) -> impl Iterator<Item = &[u8]> {
    fields(buf)
        .filter(move |f| f.tag == tag)
        .filter_map(|f| f.body())
}

/// The last string field `tag` of a message body ("" when absent), as decoding keeps it.
pub(crate) fn last_str(buf: &[u8], tag: u32) -> &str {
    bodies(buf, tag)
        .last()
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// One attribute value read in place; anything but a single scalar is decoded.
pub(crate) enum AnyRef<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Bytes.
    Bytes(&'a [u8]),
    /// An array, a key-value list, an empty value or an unusual encoding, decoded.
    Other(AnyValue),
}

/// Reads an `AnyValue` body.
pub(crate) fn any_value(body: &[u8]) -> AnyRef<'_> {
    let mut it = fields(body);
    if let (Some(f), None) = (it.next(), it.clone().next()) {
        let one = match (f.tag, f.val) {
            (1, Val::Len(b)) => std::str::from_utf8(b).ok().map(AnyRef::Str),
            (2, Val::Varint(v)) => Some(AnyRef::Bool(v != 0)),
            (3, Val::Varint(v)) => Some(AnyRef::Int(v.cast_signed())),
            (4, Val::I64(v)) => Some(AnyRef::Double(f64::from_bits(v))),
            (7, Val::Len(b)) => Some(AnyRef::Bytes(b)),
            _ => None,
        };
        if let Some(v) = one {
            return v;
        }
    }
    AnyRef::Other(AnyValue::decode(body).unwrap_or_default())
}

impl Clone for Fields<'_> {
    fn clone(&self) -> Self {
        Fields {
            buf: self.buf,
            at: self.at,
        }
    }
}

/// One attribute (`KeyValue`) read in place.
pub(crate) struct Kv<'a> {
    /// Its key.
    pub key: &'a str,
    /// Its value; `None` when the attribute has none.
    pub value: Option<AnyRef<'a>>,
}

/// The key of a `KeyValue` body (the last one given, as decoding keeps).
pub(crate) fn kv_key(body: &[u8]) -> &str {
    last_str(body, 1)
}

/// The value of an `AnyValue` field given in `parts` (none, once, or several times, which
/// decoding merges into one).
pub(crate) fn merged_value<'a>(mut parts: impl Iterator<Item = &'a [u8]>) -> Option<AnyRef<'a>> {
    match (parts.next(), parts.next()) {
        (None, _) => None,
        (Some(one), None) => Some(any_value(one)),
        (Some(a), Some(b)) => {
            let mut merged = [a, b].concat();
            parts.for_each(|v| merged.extend_from_slice(v));
            Some(AnyRef::Other(
                AnyValue::decode(merged.as_slice()).unwrap_or_default(),
            ))
        }
    }
}

/// Reads a `KeyValue` body.
pub(crate) fn key_value(body: &[u8]) -> Kv<'_> {
    Kv {
        key: kv_key(body),
        value: merged_value(bodies(body, 2)),
    }
}

/// Where one resource entry (`ResourceSpans`, `ResourceLogs`) lies.
pub(crate) struct ResourceAt {
    /// The whole entry, key included, in the request.
    pub field: Range<usize>,
    /// Its body.
    pub body: Range<usize>,
    /// The body of its `Resource`, if it has one.
    pub resource: Option<Range<usize>>,
    /// Its items' indices.
    pub items: Range<u32>,
}

/// Where one scope entry (`ScopeSpans`, `ScopeLogs`) lies.
pub(crate) struct ScopeAt {
    /// The body of its `InstrumentationScope`, if it has one.
    pub scope: Option<Range<usize>>,
}

/// Where one item (span, log record) lies.
pub(crate) struct ItemAt {
    /// Its resource's index.
    pub resource: u32,
    /// Its scope's index among all scopes of the request.
    pub scope: u32,
    /// Its body.
    pub body: Range<usize>,
}

/// The index of a traces or logs request kept as bytes.
pub(crate) struct View {
    /// The request, in one buffer.
    pub buf: Bytes,
    /// Its resource entries, in order.
    pub resources: Vec<ResourceAt>,
    /// Its scope entries, in order.
    pub scopes: Vec<ScopeAt>,
    /// Its items, in order.
    pub items: Vec<ItemAt>,
    /// The field number of an item's attributes (span 9, log record 6).
    pub attributes: u32,
    /// Traces or logs.
    pub signal: Signal,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("signal", &self.signal)
            .field("bytes", &self.buf.len())
            .field("resources", &self.resources.len())
            .field("items", &self.items.len())
            .finish()
    }
}

/// The offset of `part` (a slice of `whole`) in `whole`.
pub(crate) fn offset(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

impl View {
    /// Indexes `batch` if it is a traces or logs request kept as bytes that a view can serve
    /// (see the module doc).
    pub(crate) fn new(batch: &Batch) -> Option<View> {
        let Batch::Wire(w) = batch else { return None };
        let attributes = match w.signal() {
            Signal::Traces => 9,
            Signal::Logs => 6,
            Signal::Metrics => return None,
        };
        if !w.is_known() {
            return None;
        }
        let buf = w.to_bytes();
        let mut view = View {
            buf: buf.clone(),
            resources: Vec::with_capacity(w.resources()),
            scopes: Vec::new(),
            items: Vec::with_capacity(w.items()),
            attributes,
            signal: w.signal(),
        };
        let range = |part: &[u8]| {
            let at = offset(&buf, part);
            at..at + part.len()
        };
        for entry in fields(&buf) {
            let body = entry.body()?;
            let first = u32::try_from(view.items.len()).ok()?;
            let r = u32::try_from(view.resources.len()).ok()?;
            let mut resource = None;
            for f in fields(body) {
                match (f.tag, f.body()) {
                    (1, Some(b)) if resource.is_none() => resource = Some(range(b)),
                    // Given twice, decoding merges the two.
                    (1, _) => return None,
                    (2, Some(scope_entry)) => {
                        let s = u32::try_from(view.scopes.len()).ok()?;
                        let mut scope = None;
                        for g in fields(scope_entry) {
                            match (g.tag, g.body()) {
                                (1, Some(b)) if scope.is_none() => scope = Some(range(b)),
                                (1, _) => return None,
                                (2, Some(item)) => view.items.push(ItemAt {
                                    resource: r,
                                    scope: s,
                                    body: range(item),
                                }),
                                _ => {}
                            }
                        }
                        view.scopes.push(ScopeAt { scope });
                    }
                    _ => {}
                }
            }
            view.resources.push(ResourceAt {
                field: range(entry.raw),
                body: range(body),
                resource,
                items: first..u32::try_from(view.items.len()).ok()?,
            });
        }
        (view.items.len() == w.items() && view.resources.len() == w.resources()).then_some(view)
    }

    /// The bytes at `r`.
    pub(crate) fn at(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or_default()
    }

    /// The body of item `i`.
    pub(crate) fn item(&self, i: usize) -> &[u8] {
        self.items.get(i).map_or(&[], |it| self.at(&it.body))
    }

    /// The `Resource` body of resource entry `r` (empty when it has none).
    pub(crate) fn resource(&self, r: usize) -> &[u8] {
        self.resources
            .get(r)
            .and_then(|x| x.resource.as_ref())
            .map_or(&[], |b| self.at(b))
    }

    /// The attribute (`KeyValue`) bodies of one owner, in order.
    pub(crate) fn owner_attributes(
        &self,
        level: crate::Level,
        owner: usize,
    ) -> impl Iterator<Item = &[u8]> {
        let (body, tag) = match level {
            crate::Level::Item => (self.item(owner), self.attributes),
            crate::Level::Resource => (self.resource(owner), 1),
        };
        bodies(body, tag)
    }

    /// The number of owners of `level`.
    pub(crate) fn owners(&self, level: crate::Level) -> usize {
        match level {
            crate::Level::Item => self.items.len(),
            crate::Level::Resource => self.resources.len(),
        }
    }
}
