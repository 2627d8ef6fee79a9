//! The batch a plugin works on: columns fetched from the host on first use and cached for the
//! call, writes batched into as few host calls as possible.

use std::cell::{OnceCell, RefCell};

use crate::bindings::weir::plugin::types::{
    AttributeLevel, Edit, IdField, NumberField, RemoveAttribute, SetAttribute, SetText, Signal,
    TextField,
};
use crate::columns::{AttributeTable, Strings, Values, u32_at, u64_at};
use crate::host::Backend;
use crate::value::{Value, ValueRef};

fn pack(indices: &[u32]) -> Vec<u8> {
    indices.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// What [`Batch::find`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The items in which something was found, ascending.
    pub items: Vec<u32>,
    /// Something was found in text many items share (resource or scope attributes, a
    /// metric's metadata): look at the whole batch then.
    pub shared: bool,
}

/// One batch of spans, metric data points or log records, lent by Weir for one call.
///
/// Reads see the batch as it was when the call started. Writes take effect when `process`
/// returns `Ok`; if it returns `Err` (or panics) none of them happen.
pub struct Batch<'a> {
    backend: Backend<'a>,
    signal: Signal,
    len: u32,
    resources: u32,
    text: [OnceCell<Strings>; 8],
    ids: [OnceCell<Vec<u8>>; 3],
    numbers: [OnceCell<Vec<u8>>; 6],
    attrs: [OnceCell<AttributeTable>; 2],
    item_resources: OnceCell<Vec<u8>>,
    pending: RefCell<Vec<Edit>>,
    drops: RefCell<Vec<u32>>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(backend: Backend<'a>) -> Batch<'a> {
        let (signal, len, resources) = (backend.signal(), backend.len(), backend.resource_count());
        Batch {
            backend,
            signal,
            len,
            resources,
            text: Default::default(),
            ids: Default::default(),
            numbers: Default::default(),
            attrs: Default::default(),
            item_resources: OnceCell::new(),
            pending: RefCell::new(Vec::new()),
            drops: RefCell::new(Vec::new()),
        }
    }

    /// The batch's signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The number of items (spans, data points or log records).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of resources.
    pub fn resource_count(&self) -> u32 {
        self.resources
    }

    /// Every item, in order.
    pub fn items(&self) -> impl Iterator<Item = Item<'_, 'a>> {
        (0..self.len).map(move |index| Item { batch: self, index })
    }

    /// Item `index` (its reads are empty if out of range; writes to it make the call fail).
    pub fn item(&self, index: u32) -> Item<'_, 'a> {
        Item { batch: self, index }
    }

    /// Resource `index` (its reads are empty if out of range; writes to it make the call fail).
    pub fn resource(&self, index: u32) -> Resource<'_, 'a> {
        Resource { batch: self, index }
    }

    /// Every resource, in order.
    pub fn resources(&self) -> impl Iterator<Item = Resource<'_, 'a>> {
        (0..self.resources).map(move |index| Resource { batch: self, index })
    }

    /// One string per item.
    pub fn text(&self, field: TextField) -> &Strings {
        self.text[field as usize].get_or_init(|| Strings::new(self.backend.text(field)))
    }

    /// Packed ids, 16 bytes (trace ids) or 8 bytes (span ids) per item.
    pub fn ids(&self, field: IdField) -> &[u8] {
        self.ids[field as usize].get_or_init(|| self.backend.ids(field))
    }

    /// One 8-byte number per item (see `NumberField` for the type of each).
    pub fn numbers(&self, field: NumberField) -> &[u8] {
        self.numbers[field as usize].get_or_init(|| self.backend.numbers(field))
    }

    /// Every attribute of one level, fetched once per call.
    pub fn attributes(&self, level: AttributeLevel) -> &AttributeTable {
        self.attrs[level as usize].get_or_init(|| {
            let owners = if level == AttributeLevel::Item {
                self.len
            } else {
                self.resources
            };
            AttributeTable::new(self.backend.attributes(level), owners)
        })
    }

    /// One attribute across every owner of `level` (one row per owner). Cheaper than
    /// [`Batch::attributes`] when a plugin reads only a key or two.
    pub fn attribute(&self, level: AttributeLevel, key: &str) -> Values {
        Values::new(self.backend.attribute(level, key))
    }

    /// Sets `key` on every owner of `level`.
    pub fn set_attribute(&self, level: AttributeLevel, key: &str, value: impl Into<Value>) {
        self.flush_edits();
        self.backend
            .set_attribute(level, key, value.into().into(), None);
    }

    /// Sets `key` on the listed owners of `level`.
    pub fn set_attribute_on(
        &self,
        level: AttributeLevel,
        key: &str,
        value: impl Into<Value>,
        owners: &[u32],
    ) {
        self.flush_edits();
        self.backend
            .set_attribute(level, key, value.into().into(), Some(&pack(owners)));
    }

    /// Sets `key` on each of `owners` (of `level`) to its own value: `owners[i]` gets row `i`
    /// of `values` (an absent row removes the key). One host call for values that differ per
    /// owner, such as a rename or a value derived from each span, where
    /// [`Item::set_attribute`] would queue one edit per owner. A list and a column of
    /// different lengths make the call a plugin error. (Since `weir:plugin@0.1.2`, like every
    /// plugin built with this SDK: see `docs/plugins/wit.md`, Versions.)
    pub fn set_attribute_values(
        &self,
        level: AttributeLevel,
        key: &str,
        owners: &[u32],
        values: crate::columns::ValuesBuilder,
    ) {
        self.flush_edits();
        self.backend
            .set_attribute_values(level, key, &pack(owners), values.finish());
    }

    /// Removes `key` from every owner of `level`.
    pub fn remove_attribute(&self, level: AttributeLevel, key: &str) {
        self.flush_edits();
        self.backend.remove_attribute(level, key, None);
    }

    /// Removes `key` from the listed owners of `level`.
    pub fn remove_attribute_on(&self, level: AttributeLevel, key: &str, owners: &[u32]) {
        self.flush_edits();
        self.backend
            .remove_attribute(level, key, Some(&pack(owners)));
    }

    /// Drops the listed items.
    pub fn drop_items(&self, items: &[u32]) {
        self.drops.borrow_mut().extend_from_slice(items);
    }

    /// Queues one sparse edit; queued edits reach the host in one call.
    pub fn edit(&self, edit: Edit) {
        self.pending.borrow_mut().push(edit);
    }

    /// The whole batch as an OTLP protobuf export request, for plugins that rewrite everything.
    pub fn otlp(&self) -> Vec<u8> {
        self.backend.otlp()
    }

    /// The whole batch as OTLP/JSON, the body of an OTLP/HTTP JSON request.
    pub fn otlp_json(&self) -> String {
        self.backend.otlp_json()
    }

    /// Replaces the whole batch with an OTLP protobuf export request of the same signal. It
    /// cannot be combined with other writes in the same call.
    pub fn replace_otlp(&self, request: &[u8]) -> Result<(), String> {
        self.backend.replace_otlp(request)
    }

    /// Host kernel: the items in which any of `patterns` (Rust `regex` syntax, no anchors or
    /// word boundaries) matches any string — names, attribute keys and values at any depth,
    /// events, links, exemplars, log bodies, bytes values — or, with `cards`, that hold an
    /// integer or whole double that is a card number. Weir searches natively, so the batch
    /// never crosses into the plugin; see `batch.find` in `wit/plugin.wit`. Pass the same
    /// pattern list on every call: the host keeps it compiled.
    pub fn find(&self, patterns: &[String], cards: bool) -> Result<Found, String> {
        let found = self.backend.find(patterns, cards)?;
        Ok(Found {
            items: found.items.chunks_exact(4).map(|c| u32_at(c, 0)).collect(),
            shared: found.shared,
        })
    }

    /// The listed items (ascending) as an OTLP protobuf export request, each under its
    /// resource and scope (data points under their metric), and no other item.
    pub fn otlp_items(&self, items: &[u32]) -> Vec<u8> {
        self.backend.otlp_items(&pack(items))
    }

    /// Takes back the items of a request read with [`Batch::otlp_items`] of the same list; the
    /// resources, scopes and metrics must come back unchanged. It cannot be combined with other
    /// writes in the same call.
    pub fn replace_items(&self, items: &[u32], request: &[u8]) -> Result<(), String> {
        self.backend.replace_items(&pack(items), request)
    }

    /// Sends queued edits, keeping the order of writes.
    fn flush_edits(&self) {
        let edits = std::mem::take(&mut *self.pending.borrow_mut());
        if !edits.is_empty() {
            self.backend.apply(&edits);
        }
    }

    /// Sends everything still queued; the SDK calls this when `process` returns `Ok`.
    pub(crate) fn finish(&self) {
        self.flush_edits();
        let drops = std::mem::take(&mut *self.drops.borrow_mut());
        if !drops.is_empty() {
            self.backend.drop_items(&pack(&drops));
        }
    }

    fn item_resource(&self, item: u32) -> u32 {
        u32_at(
            self.item_resources
                .get_or_init(|| self.backend.item_resources()),
            item as usize,
        )
    }
}

/// One span, metric data point or log record.
#[derive(Clone, Copy)]
pub struct Item<'b, 'a> {
    batch: &'b Batch<'a>,
    index: u32,
}

impl<'b, 'a> Item<'b, 'a> {
    /// The item's index in the batch.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// A text field.
    pub fn text(&self, field: TextField) -> &'b str {
        self.batch.text(field).get(self.index as usize)
    }

    /// The span name, metric name or log event name.
    pub fn name(&self) -> &'b str {
        self.text(TextField::Name)
    }

    /// The log body (non-string bodies as OTLP/JSON).
    pub fn body(&self) -> &'b str {
        self.text(TextField::Body)
    }

    /// An id field (16 bytes for the trace id, 8 for span ids; zeros if absent).
    pub fn id(&self, field: IdField) -> &'b [u8] {
        let width = if field == IdField::TraceId { 16 } else { 8 };
        let i = self.index as usize * width;
        self.batch.ids(field).get(i..i + width).unwrap_or_default()
    }

    /// The trace id.
    pub fn trace_id(&self) -> &'b [u8] {
        self.id(IdField::TraceId)
    }

    /// A numeric field as its raw 8 bytes.
    pub fn number(&self, field: NumberField) -> u64 {
        u64_at(self.batch.numbers(field), self.index as usize)
    }

    /// The span kind, log severity number or metric type.
    pub fn kind(&self) -> i64 {
        self.number(NumberField::Kind).cast_signed()
    }

    /// The span status code (0 unset, 1 ok, 2 error).
    pub fn status_code(&self) -> i64 {
        self.number(NumberField::StatusCode).cast_signed()
    }

    /// The span duration in nanoseconds (0 for other signals).
    pub fn duration_nanos(&self) -> u64 {
        self.number(NumberField::EndTimeUnixNano)
            .saturating_sub(self.number(NumberField::TimeUnixNano))
    }

    /// The data point's value or sum.
    pub fn value(&self) -> f64 {
        f64::from_bits(self.number(NumberField::Value))
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<ValueRef<'b>> {
        self.batch
            .attributes(AttributeLevel::Item)
            .get(self.index, key)
    }

    /// Every attribute of this item.
    pub fn attributes(&self) -> impl Iterator<Item = crate::columns::Row<'b>> {
        self.batch.attributes(AttributeLevel::Item).of(self.index)
    }

    /// The item's resource.
    pub fn resource(&self) -> Resource<'b, 'a> {
        Resource {
            batch: self.batch,
            index: self.batch.item_resource(self.index),
        }
    }

    /// Sets attribute `key`.
    pub fn set_attribute(&self, key: &str, value: impl Into<Value>) {
        self.batch.edit(Edit::SetAttribute(SetAttribute {
            level: AttributeLevel::Item,
            owner: self.index,
            key: key.to_string(),
            value: value.into().into(),
        }));
    }

    /// Removes attribute `key`.
    pub fn remove_attribute(&self, key: &str) {
        self.batch.edit(Edit::RemoveAttribute(RemoveAttribute {
            level: AttributeLevel::Item,
            owner: self.index,
            key: key.to_string(),
        }));
    }

    /// Sets a text field (it must apply to the signal).
    pub fn set_text(&self, field: TextField, value: impl Into<String>) {
        self.batch.edit(Edit::SetText(SetText {
            item: self.index,
            field,
            value: value.into(),
        }));
    }

    /// Drops this item.
    pub fn drop_item(&self) {
        self.batch.drop_items(&[self.index]);
    }
}

/// One resource of the batch.
#[derive(Clone, Copy)]
pub struct Resource<'b, 'a> {
    batch: &'b Batch<'a>,
    index: u32,
}

impl<'b> Resource<'b, '_> {
    /// The resource's index in the batch.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The value of resource attribute `key` (e.g. `service.name`).
    pub fn attribute(&self, key: &str) -> Option<ValueRef<'b>> {
        self.batch
            .attributes(AttributeLevel::Resource)
            .get(self.index, key)
    }

    /// Sets resource attribute `key`.
    pub fn set_attribute(&self, key: &str, value: impl Into<Value>) {
        self.batch.edit(Edit::SetAttribute(SetAttribute {
            level: AttributeLevel::Resource,
            owner: self.index,
            key: key.to_string(),
            value: value.into().into(),
        }));
    }

    /// Removes resource attribute `key`.
    pub fn remove_attribute(&self, key: &str) {
        self.batch.edit(Edit::RemoveAttribute(RemoveAttribute {
            level: AttributeLevel::Resource,
            owner: self.index,
            key: key.to_string(),
        }));
    }
}
