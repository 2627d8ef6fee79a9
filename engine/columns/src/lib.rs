//! The columnar view of a [`Batch`] that plugins work through (the `weir:plugin/telemetry.batch`
//! resource), without any Wasm: the host binds it to wasmtime, and the guest SDK's test mode
//! runs plugin logic against the very same code.
//!
//! A [`Session`] lends one batch to one plugin call. Reads build compact columns (strings as
//! one blob plus packed offsets) so that a call crosses the Wasm boundary as a few copies.
//! Writes are validated when they are requested and applied only by [`Session::finish`], so a
//! call that fails leaves the batch exactly as it was.

mod find;
mod items;
mod read;
mod splice;
mod view;
mod view_find;
mod view_read;
mod view_write;
mod write;
mod write_values;

pub use find::{Found, MAX_PASSES, Matcher};
pub use write::InvalidWrite;

use std::cell::OnceCell;

use weir_core::{Batch, Signal};

/// Whose attributes a call reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The resource an item belongs to; owners are resource indices.
    Resource,
    /// The item (span, data point, log record); owners are item indices.
    Item,
}

/// String fields of an item (see `text-field` in the WIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// Span name, metric name or log event name.
    Name,
    /// Span status message.
    StatusMessage,
    /// Span trace state.
    TraceState,
    /// Log severity text.
    SeverityText,
    /// Log body (non-string bodies read as OTLP/JSON).
    Body,
    /// Metric unit.
    Unit,
    /// Metric description.
    Description,
    /// Instrumentation scope name (read-only).
    ScopeName,
}

/// Fixed-size id fields (see `id-field` in the WIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    /// 16-byte trace id.
    TraceId,
    /// 8-byte span id.
    SpanId,
    /// 8-byte parent span id.
    ParentSpanId,
}

impl IdField {
    /// Bytes per item.
    pub fn width(self) -> usize {
        match self {
            IdField::TraceId => 16,
            IdField::SpanId | IdField::ParentSpanId => 8,
        }
    }
}

/// 8-byte numeric fields (see `number-field` in the WIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberField {
    /// u64 start / timestamp.
    TimeUnixNano,
    /// u64 end / observed / start timestamp.
    EndTimeUnixNano,
    /// s64 span kind, severity number or metric type.
    Kind,
    /// s64 span status code.
    StatusCode,
    /// f64 data point value or sum.
    Value,
    /// u64 flags word.
    Flags,
}

/// One attribute value as plugins exchange it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// Bytes.
    Bytes(Vec<u8>),
    /// An array or key-value list as OTLP/JSON.
    Json(String),
}

/// Value kind bytes of a [`ValueColumn`] (defined once, in `weir-abi`).
pub use weir_abi::kind;

/// Many strings in one blob with packed u32 offsets (`n + 1` entries, the first 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Strings {
    /// The bytes of every string, back to back.
    pub data: Vec<u8>,
    /// Packed little-endian u32 offsets.
    pub offsets: Vec<u8>,
}

/// One value per row, in columns (see `value-column` in the WIT).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueColumn {
    /// One [`kind`] byte per row.
    pub kinds: Vec<u8>,
    /// 8 bytes per row.
    pub numbers: Vec<u8>,
    /// One string per row.
    pub text: Strings,
}

/// Every attribute of one level (see `attribute-table` in the WIT).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeTable {
    /// Packed u32 owner per row.
    pub owners: Vec<u8>,
    /// Distinct keys.
    pub keys: Vec<String>,
    /// Packed u32 key index per row.
    pub key_ids: Vec<u8>,
    /// The values.
    pub values: ValueColumn,
}

/// One sparse change (see `edit` in the WIT).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set one attribute of one owner.
    SetAttribute {
        /// Resource or item.
        level: Level,
        /// Owner index.
        owner: u32,
        /// Key.
        key: String,
        /// Value.
        value: Value,
    },
    /// Remove one attribute of one owner.
    RemoveAttribute {
        /// Resource or item.
        level: Level,
        /// Owner index.
        owner: u32,
        /// Key.
        key: String,
    },
    /// Set one text field of one item.
    SetText {
        /// Item index.
        item: u32,
        /// Field.
        field: TextField,
        /// New value.
        value: String,
    },
}

/// One batch lent to one plugin call: reads of the original, writes recorded for later.
#[derive(Debug)]
pub struct Session {
    /// The batch as lent: kept as bytes when `view` indexes it, decoded otherwise.
    batch: Batch,
    /// The index of a traces or logs request kept as bytes, which most reads and writes work
    /// on in place.
    view: Option<view::View>,
    /// `batch` decoded, made the first time a read or write needs what the view does not serve.
    decoded: OnceCell<Batch>,
    items: u32,
    resources: u32,
    writes: Vec<write::Write>,
    replacement: Option<Batch>,
    /// Items handed back with `replace-items`.
    splice: Option<splice::Splice>,
    invalid: Option<InvalidWrite>,
}

impl Session {
    /// Lends `batch` to a call. A traces or logs request kept as bytes stays so (see
    /// `view`); any other batch kept as bytes is decoded here, once.
    pub fn new(mut batch: Batch) -> Session {
        let view = view::View::new(&batch);
        if view.is_none() {
            batch.make_typed();
        }
        let items = u32::try_from(batch.item_count()).unwrap_or(u32::MAX);
        let resources = u32::try_from(batch.resource_count()).unwrap_or(u32::MAX);
        Session {
            batch,
            view,
            decoded: OnceCell::new(),
            items,
            resources,
            writes: Vec::new(),
            replacement: None,
            splice: None,
            invalid: None,
        }
    }

    /// The batch's signal.
    pub fn signal(&self) -> Signal {
        self.batch.signal()
    }

    /// The number of items.
    pub fn len(&self) -> u32 {
        self.items
    }

    /// True when the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The number of resources.
    pub fn resource_count(&self) -> u32 {
        self.resources
    }

    /// The batch as lent, without any of the recorded writes (possibly kept as bytes).
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The batch as lent, decoded (once, the first time it is needed).
    pub(crate) fn typed(&self) -> &Batch {
        match &self.batch {
            Batch::Wire(_) => self.decoded.get_or_init(|| self.batch.typed().into_owned()),
            typed => typed,
        }
    }

    /// True when the call asked for any change.
    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty() || self.replacement.is_some() || self.splice.is_some()
    }

    /// Why the call is invalid (an index out of range, a bad list, a changed container), if it
    /// is: read-only callers fail the call on it, as `finish` does for processors.
    pub fn invalid(&self) -> Option<&InvalidWrite> {
        self.invalid.as_ref()
    }

    /// Ends the call without applying anything and hands the batch back unchanged.
    pub fn abort(self) -> Batch {
        self.batch
    }
}

/// Appends `v` as a packed little-endian u32.
fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Decodes a packed little-endian u32 column; `None` if its length is not a multiple of 4.
fn unpack_u32(bytes: &[u8]) -> Option<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
#[cfg(test)]
mod find_tests;
#[cfg(test)]
mod tests;
