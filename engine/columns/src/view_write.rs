//! Writing a request kept as bytes ([`View`]) again with a plugin's writes applied: every
//! resource entry, scope and item that no write touches is copied as it came; a touched item is
//! copied field by field with its attributes edited; only new values are encoded. Also writes
//! the subset of items `otlp-items` lends.

use bytes::Bytes;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use weir_core::Batch;
use weir_core::otlp::common::v1::AnyValue;
use weir_core::wire::Wire;

use crate::Level;
use crate::splice::Splice;
use crate::view::{AttrAt, View, fields, offset};
use crate::write::{AttrOps, AttrWrite, Write};

/// Appends a length-delimited field.
pub(crate) fn put_field(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// What to write for each part of a request.
pub(crate) trait Rewrite {
    /// Whether resource entry `r` or anything in it may change; if not, it is copied whole.
    fn touches(&self, r: u32) -> bool;
    /// Writes resource entry `r`'s `Resource` field, given its body (`None` when it has none).
    fn resource(&mut self, r: u32, body: Option<&[u8]>, out: &mut Vec<u8>);
    /// Writes item `i` (its whole field `raw` and its body) as a field, or nothing to drop it.
    fn item(&mut self, i: u32, raw: &[u8], body: &[u8], out: &mut Vec<u8>);
    /// Whether scopes and resource entries left without items are kept.
    fn keep_empty(&self) -> bool;
}

/// A request written again.
pub(crate) struct Written {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its items.
    pub items: usize,
    /// Its resource entries.
    pub resources: usize,
}

/// Writes the request of `view` again through `edits`.
pub(crate) fn rewrite(view: &View, edits: &mut impl Rewrite) -> Written {
    let mut out = Vec::with_capacity(view.buf.len() + view.buf.len() / 8);
    let (mut items, mut resources) = (0usize, 0usize);
    let (mut entry, mut scope) = (Vec::new(), Vec::new());
    for (r, at) in (0u32..).zip(&view.resources) {
        if !edits.touches(r) {
            out.extend_from_slice(view.at(&at.field));
            items += at.items.len();
            resources += 1;
            continue;
        }
        entry.clear();
        // Sized for the entry as it was and some growth, once: growing step by step copied
        // each scope's items several times over.
        entry.reserve(at.body.len() + at.body.len() / 8);
        let mut item = at.items.start;
        let mut kept = 0usize;
        let mut has_resource = false;
        for f in fields(view.at(&at.body)) {
            match (f.tag, f.body()) {
                (1, body) => {
                    has_resource = true;
                    edits.resource(r, body, &mut entry);
                }
                (2, Some(body)) => {
                    scope.clear();
                    scope.reserve(body.len() + body.len() / 8);
                    let mut in_scope = 0usize;
                    for g in fields(body) {
                        match (g.tag, g.body()) {
                            (2, Some(item_body)) => {
                                let before = scope.len();
                                edits.item(item, g.raw, item_body, &mut scope);
                                // A field is never empty: nothing written means dropped.
                                in_scope += usize::from(scope.len() > before);
                                item += 1;
                            }
                            _ => scope.extend_from_slice(g.raw),
                        }
                    }
                    if in_scope > 0 || edits.keep_empty() {
                        put_field(&mut entry, 2, &scope);
                        kept += in_scope;
                    }
                }
                _ => entry.extend_from_slice(f.raw),
            }
        }
        if !has_resource {
            edits.resource(r, None, &mut entry);
        }
        if kept > 0 || edits.keep_empty() {
            put_field(&mut out, 1, &entry);
            items += kept;
            resources += 1;
        }
    }
    Written {
        bytes: out,
        items,
        resources,
    }
}

/// The items listed (ascending) with their resources and scopes, as `otlp-items` lends them.
pub(crate) struct Subset<'l> {
    /// The items, ascending.
    pub list: &'l [u32],
}

impl Rewrite for Subset<'_> {
    fn touches(&self, _: u32) -> bool {
        true
    }

    fn resource(&mut self, _: u32, body: Option<&[u8]>, out: &mut Vec<u8>) {
        if let Some(body) = body {
            put_field(out, 1, body);
        }
    }

    fn item(&mut self, i: u32, raw: &[u8], _: &[u8], out: &mut Vec<u8>) {
        if self.list.binary_search(&i).is_ok() {
            out.extend_from_slice(raw);
        }
    }

    fn keep_empty(&self) -> bool {
        false
    }
}

/// One attribute of an owner being edited.
enum Entry<'a> {
    /// As it came: its `KeyValue` body and key.
    Kept { body: &'a [u8], key: &'a [u8] },
    /// Set by a write: the key, the value, and the body it replaces (whose other fields stay).
    Set {
        key: &'a [u8],
        value: &'a AnyValue,
        was: Option<&'a [u8]>,
    },
}

impl<'a> Entry<'a> {
    fn key(&self) -> &'a [u8] {
        match self {
            Entry::Kept { key, .. } | Entry::Set { key, .. } => key,
        }
    }

    /// Writes the entry as field `tag` (an attribute list's field number).
    fn write(&self, tag: u32, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        match *self {
            Entry::Kept { body, .. } => put_field(out, tag, body),
            Entry::Set { key, value, was } => {
                scratch.clear();
                match was {
                    Some(body) => fields(body)
                        .filter(|f| f.tag != 2)
                        .for_each(|f| scratch.extend_from_slice(f.raw)),
                    None if key.is_empty() => {}
                    None => put_field(scratch, 1, key),
                }
                encode_key(2, WireType::LengthDelimited, scratch);
                encode_varint(value.encoded_len() as u64, scratch);
                value.encode_raw(scratch);
                put_field(out, tag, scratch);
            }
        }
    }
}

/// Edits one owner's attribute list as the decoded path does (`write::set`, `retain`) and
/// writes it as fields `tag`.
#[expect(
    clippy::too_many_arguments,
    reason = "the owner, its edits and three buffers"
)]
fn write_attributes<'a>(
    view: &'a View,
    attrs: &[AttrAt],
    ops: &AttrOps<'a>,
    owner: u32,
    tag: u32,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    entries: &mut Vec<Entry<'a>>,
) {
    entries.clear();
    entries.extend(attrs.iter().map(|a| Entry::Kept {
        body: view.bytes(a.body),
        key: view.key(a),
    }));
    ops.each(owner, |op: &AttrWrite<'a>| match op.set {
        Some(value) => match entries.iter_mut().find(|e| e.key() == op.key.as_bytes()) {
            Some(e) => {
                let was = match *e {
                    Entry::Kept { body, .. } => Some(body),
                    Entry::Set { was, .. } => was,
                };
                *e = Entry::Set {
                    key: op.key.as_bytes(),
                    value,
                    was,
                };
            }
            None => entries.push(Entry::Set {
                key: op.key.as_bytes(),
                value,
                was: None,
            }),
        },
        None => entries.retain(|e| e.key() != op.key.as_bytes()),
    });
    for e in entries.iter() {
        e.write(tag, out, scratch);
    }
}

/// Works out `owner`'s attribute writes as keys removed from what it had (`removed`) and
/// attributes appended after it (`entries`, in the plugin's order), which is what the decoded
/// path's `retain` and `push` make of them. False when a write sets a key the item has: that
/// attribute keeps its place, so the list must be written again.
fn removes_and_appends<'a>(
    view: &View,
    attrs: &[AttrAt],
    ops: &AttrOps<'a>,
    owner: u32,
    entries: &mut Vec<Entry<'a>>,
    removed: &mut Vec<&'a [u8]>,
) -> bool {
    entries.clear();
    removed.clear();
    let mut simple = true;
    ops.each(owner, |op: &AttrWrite<'a>| {
        let key = op.key.as_bytes();
        let had =
            |removed: &[&[u8]]| !removed.contains(&key) && attrs.iter().any(|a| view.key(a) == key);
        match op.set {
            _ if !simple => {}
            None => {
                entries.retain(|e| e.key() != key);
                if had(removed) {
                    removed.push(key);
                }
            }
            Some(_) if had(removed) => simple = false,
            Some(value) => {
                let set = Entry::Set {
                    key,
                    value,
                    was: None,
                };
                match entries.iter_mut().find(|e| e.key() == key) {
                    Some(e) => *e = set,
                    None => entries.push(set),
                }
            }
        }
    });
    simple
}

/// A plugin's recorded writes, applied while writing the request again.
pub(crate) struct Apply<'a> {
    /// The request.
    pub view: &'a View,
    /// Resource attribute writes.
    pub resource_ops: AttrOps<'a>,
    /// Item attribute writes.
    pub item_ops: AttrOps<'a>,
    /// Items to drop, ascending.
    pub dropped: Vec<u32>,
    /// Items handed back whole (`replace-items`), ascending, as encoded bodies.
    pub replaced: Vec<(u32, Vec<u8>)>,
    /// Per resource entry: whether anything in it changes.
    touched: Vec<bool>,
    scratch: Vec<u8>,
    item_body: Vec<u8>,
    entries: Vec<Entry<'a>>,
    /// Keys an item's writes remove (see [`removes_and_appends`]).
    removed: Vec<&'a [u8]>,
}

impl<'a> Apply<'a> {
    /// Prepares the writes; `touched` is worked out from them.
    pub(crate) fn new(
        view: &'a View,
        resource_ops: AttrOps<'a>,
        item_ops: AttrOps<'a>,
        dropped: Vec<u32>,
        replaced: Vec<(u32, Vec<u8>)>,
    ) -> Apply<'a> {
        // Decoding creates an empty `Resource` where one was absent for any resource write,
        // and drops leave no empty scope or resource anywhere: those touch every entry.
        let all = !resource_ops.is_empty() || !dropped.is_empty();
        let touched = view
            .resources
            .iter()
            .map(|r| {
                all || r.items.clone().any(|i| {
                    item_ops.touches(i) || replaced.binary_search_by_key(&i, |x| x.0).is_ok()
                })
            })
            .collect();
        Apply {
            view,
            resource_ops,
            item_ops,
            dropped,
            replaced,
            touched,
            scratch: Vec::new(),
            item_body: Vec::new(),
            entries: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl Rewrite for Apply<'_> {
    fn touches(&self, r: u32) -> bool {
        self.touched.get(r as usize).copied().unwrap_or(true)
    }

    fn resource(&mut self, r: u32, body: Option<&[u8]>, out: &mut Vec<u8>) {
        if self.resource_ops.is_empty() {
            if let Some(body) = body {
                put_field(out, 1, body);
            }
            return;
        }
        let mut fresh = Vec::new();
        let body = body.unwrap_or_default();
        fields(body)
            .filter(|f| f.tag != 1)
            .for_each(|f| fresh.extend_from_slice(f.raw));
        let view = self.view;
        write_attributes(
            view,
            view.attrs(Level::Resource).of(r as usize),
            &self.resource_ops,
            r,
            1,
            &mut fresh,
            &mut self.scratch,
            &mut self.entries,
        );
        put_field(out, 1, &fresh);
    }

    fn item(&mut self, i: u32, raw: &[u8], body: &[u8], out: &mut Vec<u8>) {
        if self.dropped.binary_search(&i).is_ok() {
            return;
        }
        if let Ok(at) = self.replaced.binary_search_by_key(&i, |x| x.0) {
            if let Some((_, new)) = self.replaced.get(at) {
                put_field(out, 2, new);
            }
            return;
        }
        if !self.item_ops.touches(i) {
            out.extend_from_slice(raw);
            return;
        }
        let tag = self.view.attributes;
        let view = self.view;
        let mut fresh = std::mem::take(&mut self.item_body);
        fresh.clear();
        let attrs = view.attrs(Level::Item).of(i as usize);
        let mut removed = std::mem::take(&mut self.removed);
        if removes_and_appends(
            view,
            attrs,
            &self.item_ops,
            i,
            &mut self.entries,
            &mut removed,
        ) {
            // The item's bytes stay as they came, less the removed attributes' fields, and
            // its new attributes follow them: decoded, that is the list the decoded path
            // makes, without walking the item's fields or writing its attributes again.
            let gone = || {
                attrs
                    .iter()
                    .filter(|a| removed.contains(&view.key(a)))
                    .map(|a| view.bytes(a.raw))
            };
            let cut: usize = gone().map(<[u8]>::len).sum();
            for e in &self.entries {
                e.write(tag, &mut fresh, &mut self.scratch);
            }
            encode_key(2, WireType::LengthDelimited, out);
            encode_varint((body.len().saturating_sub(cut) + fresh.len()) as u64, out);
            let mut from = 0;
            for raw in gone() {
                // Attribute fields lie inside the item's body, in order.
                let at = offset(body, raw);
                out.extend_from_slice(body.get(from..at).unwrap_or_default());
                from = at + raw.len();
            }
            out.extend_from_slice(body.get(from..).unwrap_or_default());
            out.extend_from_slice(&fresh);
            self.item_body = fresh;
            self.removed = removed;
            return;
        }
        self.removed = removed;
        fields(body)
            .filter(|f| f.tag != tag)
            .for_each(|f| fresh.extend_from_slice(f.raw));
        write_attributes(
            view,
            attrs,
            &self.item_ops,
            i,
            tag,
            &mut fresh,
            &mut self.scratch,
            &mut self.entries,
        );
        put_field(out, 2, &fresh);
        self.item_body = fresh;
    }

    fn keep_empty(&self) -> bool {
        self.dropped.is_empty()
    }
}

/// Applies a call's writes (attribute writes and drops, or items handed back whole) to the
/// request of `view` and returns it, still as bytes.
pub(crate) fn finish(view: &View, writes: &[Write], splice: Option<Splice>) -> Batch {
    let mut dropped: Vec<u32> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Drop(d) => Some(d),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    dropped.sort_unstable();
    dropped.dedup();
    let mut apply = Apply::new(
        view,
        AttrOps::new(writes, Level::Resource),
        AttrOps::new(writes, Level::Item),
        dropped,
        splice.map(Splice::encoded).unwrap_or_default(),
    );
    let written = rewrite(view, &mut apply);
    Batch::Wire(Box::new(Wire::written(
        view.signal,
        Bytes::from(written.bytes),
        written.items,
        written.resources,
    )))
}
