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

use std::cell::OnceCell;
use std::ops::Range;

use bytes::Bytes;
use prost::Message;
use weir_core::otlp::common::v1::AnyValue;
use weir_core::{Batch, Signal};

use crate::Level;

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
    // Most keys and lengths fit in one byte.
    let first = *buf.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
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

/// The last string or bytes field `tag` of a message body (empty when absent), as decoding
/// keeps it. Strings passed the wire scan's UTF-8 check.
pub(crate) fn last_bytes(buf: &[u8], tag: u32) -> &[u8] {
    bodies(buf, tag).last().unwrap_or_default()
}

/// One attribute value read in place; anything but a single scalar is decoded.
pub(crate) enum AnyRef<'a> {
    /// A string (valid UTF-8: the wire scan checked it).
    Str(&'a [u8]),
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
            (1, Val::Len(b)) => Some(AnyRef::Str(b)),
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

/// Where some bytes of the request lie (requests of a view are below 4 GiB).
#[derive(Clone, Copy, Default)]
pub(crate) struct Loc {
    at: u32,
    len: u32,
}

impl Loc {
    /// How many bytes.
    pub(crate) fn len(self) -> usize {
        self.len as usize
    }
}

/// One attribute (`KeyValue`) of one owner, located in the request.
#[derive(Clone, Copy)]
pub(crate) struct AttrAt {
    /// Its key (the last one given, as decoding keeps).
    pub key: Loc,
    /// The whole `KeyValue` body.
    pub body: Loc,
    /// The whole field, key and length included (to copy it unchanged or leave it out).
    pub raw: Loc,
    /// Its value's `AnyValue` body, if it has exactly one (see `merged`).
    pub value: Option<Loc>,
    /// The value was given more than once; decoding merges the copies.
    pub merged: bool,
}

/// The attributes of every owner of one level, located once and then read by every column
/// call (a plugin often reads several keys of the same batch).
pub(crate) struct AttrIndex {
    /// Where each owner's attributes start in `attrs`, and the end (`owners + 1` entries).
    starts: Vec<u32>,
    attrs: Vec<AttrAt>,
}

impl AttrIndex {
    /// The attributes of `owner`, in order.
    pub(crate) fn of(&self, owner: usize) -> &[AttrAt] {
        let start = self.starts.get(owner).copied().unwrap_or(0) as usize;
        let end = self.starts.get(owner + 1).copied().unwrap_or(0) as usize;
        self.attrs.get(start..end).unwrap_or_default()
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
    /// The item attributes, located the first time they are read.
    item_attrs: OnceCell<AttrIndex>,
    /// The resource attributes, likewise.
    resource_attrs: OnceCell<AttrIndex>,
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
        if !w.is_known() || u32::try_from(w.len()).is_err() {
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
            item_attrs: OnceCell::new(),
            resource_attrs: OnceCell::new(),
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

    /// The bytes at `loc`.
    pub(crate) fn bytes(&self, loc: Loc) -> &[u8] {
        let at = loc.at as usize;
        self.buf.get(at..at + loc.len as usize).unwrap_or_default()
    }

    /// Where `part` (a slice of the request) lies.
    fn loc(&self, part: &[u8]) -> Loc {
        Loc {
            // Fits: requests of a view are below 4 GiB.
            at: u32::try_from(offset(&self.buf, part)).unwrap_or(u32::MAX),
            len: u32::try_from(part.len()).unwrap_or(0),
        }
    }

    /// The attributes of every owner of `level`, located once.
    pub(crate) fn attrs(&self, level: Level) -> &AttrIndex {
        let cell = match level {
            Level::Item => &self.item_attrs,
            Level::Resource => &self.resource_attrs,
        };
        cell.get_or_init(|| {
            let owners = self.owners(level);
            let mut ix = AttrIndex {
                starts: Vec::with_capacity(owners + 1),
                attrs: Vec::new(),
            };
            let count = |ix: &AttrIndex| u32::try_from(ix.attrs.len()).unwrap_or(u32::MAX);
            for o in 0..owners {
                ix.starts.push(count(&ix));
                let (body, tag) = match level {
                    Level::Item => (self.item(o), self.attributes),
                    Level::Resource => (self.resource(o), 1),
                };
                for (raw, kv) in fields(body)
                    .filter(|f| f.tag == tag)
                    .filter_map(|f| Some((f.raw, f.body()?)))
                {
                    let (mut key, mut value, mut merged) = (&[][..], None, false);
                    for f in fields(kv) {
                        match (f.tag, f.body()) {
                            (1, Some(k)) => key = k,
                            (2, Some(v)) => {
                                merged |= value.is_some();
                                value = Some(self.loc(v));
                            }
                            _ => {}
                        }
                    }
                    ix.attrs.push(AttrAt {
                        key: self.loc(key),
                        body: self.loc(kv),
                        raw: self.loc(raw),
                        value,
                        merged,
                    });
                }
            }
            ix.starts.push(count(&ix));
            ix
        })
    }

    /// The key of an attribute.
    pub(crate) fn key(&self, a: &AttrAt) -> &[u8] {
        self.bytes(a.key)
    }

    /// The value of an attribute; `None` when it has none.
    pub(crate) fn value(&self, a: &AttrAt) -> Option<AnyRef<'_>> {
        if a.merged {
            return merged_value(bodies(self.bytes(a.body), 2));
        }
        a.value.map(|v| any_value(self.bytes(v)))
    }

    /// The number of owners of `level`.
    pub(crate) fn owners(&self, level: Level) -> usize {
        match level {
            Level::Item => self.items.len(),
            Level::Resource => self.resources.len(),
        }
    }
}
