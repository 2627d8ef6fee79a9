//! Read-only views over the packed columns the host returns. Nothing here copies strings: a
//! view hands out `&str` slices of the one blob it received.

use crate::bindings::weir::plugin::types as wit;
use crate::value::ValueRef;
use weir_abi::kind;

/// Reads entry `i` of a packed little-endian u32 column.
pub(crate) fn u32_at(packed: &[u8], i: usize) -> u32 {
    packed
        .get(i * 4..i * 4 + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads entry `i` of a packed 8-byte column.
pub(crate) fn u64_at(packed: &[u8], i: usize) -> u64 {
    packed.get(i * 8..i * 8 + 8).map_or(0, |b| {
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    })
}

/// One string per row.
#[derive(Debug)]
pub struct Strings {
    /// The blob: as text when it is valid UTF-8 (checked once, not per row), else raw.
    data: Result<String, Vec<u8>>,
    offsets: Vec<u8>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            data: Ok(String::new()),
            offsets: Vec::new(),
        }
    }
}

impl Strings {
    pub(crate) fn new(s: wit::Strings) -> Strings {
        let data = String::from_utf8(s.data).map_err(|e| e.into_bytes());
        Strings {
            data,
            offsets: s.offsets,
        }
    }

    fn span(&self, i: usize) -> (usize, usize) {
        (
            u32_at(&self.offsets, i) as usize,
            u32_at(&self.offsets, i + 1) as usize,
        )
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        (self.offsets.len() / 4).saturating_sub(1)
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as bytes (empty when out of range).
    pub fn bytes(&self, i: usize) -> &[u8] {
        let (a, b) = self.span(i);
        let all = match &self.data {
            Ok(s) => s.as_bytes(),
            Err(b) => b.as_slice(),
        };
        all.get(a..b).unwrap_or_default()
    }

    /// Row `i` as text (empty when out of range or not UTF-8).
    pub fn get(&self, i: usize) -> &str {
        match &self.data {
            // `str::get` only checks that the bounds are char boundaries.
            Ok(s) => {
                let (a, b) = self.span(i);
                s.get(a..b).unwrap_or_default()
            }
            Err(_) => std::str::from_utf8(self.bytes(i)).unwrap_or_default(),
        }
    }

    /// Every row, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// One value per row.
#[derive(Debug, Default)]
pub struct Values {
    kinds: Vec<u8>,
    numbers: Vec<u8>,
    text: Strings,
}

impl Values {
    pub(crate) fn new(c: wit::ValueColumn) -> Values {
        Values {
            kinds: c.kinds,
            numbers: c.numbers,
            text: Strings::new(c.text),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Row `i`, or `None` if it is absent.
    pub fn get(&self, i: usize) -> Option<ValueRef<'_>> {
        let n = || u64_at(&self.numbers, i);
        Some(match *self.kinds.get(i)? {
            kind::STR => ValueRef::Str(self.text.get(i)),
            kind::BOOL => ValueRef::Bool(n() != 0),
            kind::INT => ValueRef::Int(n().cast_signed()),
            kind::DOUBLE => ValueRef::Double(f64::from_bits(n())),
            kind::BYTES => ValueRef::Bytes(self.text.bytes(i)),
            kind::JSON => ValueRef::Json(self.text.get(i)),
            _ => return None,
        })
    }

    /// True when row `i` holds a string (cheaper than `get` for scans).
    pub fn is_str(&self, i: usize) -> bool {
        self.kinds.get(i) == Some(&kind::STR)
    }

    /// Row `i` as text if it holds a string.
    pub fn str(&self, i: usize) -> Option<&str> {
        self.is_str(i).then(|| self.text.get(i))
    }
}

/// A column of values to write with [`Batch::set_attribute_values`](crate::Batch::set_attribute_values):
/// one row per owner, in the order of the owners given with it. Rows are packed as they are
/// pushed, so a thousand values cross to the host as a few byte lists, not a thousand records.
#[derive(Debug)]
pub struct ValuesBuilder {
    kinds: Vec<u8>,
    numbers: Vec<u8>,
    data: Vec<u8>,
    offsets: Vec<u8>,
}

impl Default for ValuesBuilder {
    fn default() -> Self {
        ValuesBuilder::with_capacity(0, 0)
    }
}

impl ValuesBuilder {
    /// An empty column with room for `rows` rows and `text_bytes` bytes of strings.
    pub fn with_capacity(rows: usize, text_bytes: usize) -> ValuesBuilder {
        let mut offsets = Vec::with_capacity((rows + 1) * weir_abi::OFFSET_BYTES);
        offsets.extend_from_slice(&0u32.to_le_bytes());
        ValuesBuilder {
            kinds: Vec::with_capacity(rows),
            numbers: Vec::with_capacity(rows * weir_abi::NUMBER_BYTES),
            data: Vec::with_capacity(text_bytes),
            offsets,
        }
    }

    fn row(&mut self, kind: u8, number: u64, text: &[u8]) {
        self.kinds.push(kind);
        self.numbers.extend_from_slice(&number.to_le_bytes());
        self.data.extend_from_slice(text);
        let end = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        self.offsets.extend_from_slice(&end.to_le_bytes());
    }

    /// Appends a row holding `value`.
    pub fn push(&mut self, value: ValueRef<'_>) {
        match value {
            ValueRef::Str(s) => self.row(kind::STR, 0, s.as_bytes()),
            ValueRef::Bool(b) => self.row(kind::BOOL, u64::from(b), &[]),
            ValueRef::Int(i) => self.row(kind::INT, i.cast_unsigned(), &[]),
            ValueRef::Double(d) => self.row(kind::DOUBLE, d.to_bits(), &[]),
            ValueRef::Bytes(b) => self.row(kind::BYTES, 0, b),
            ValueRef::Json(j) => self.row(kind::JSON, 0, j.as_bytes()),
        }
    }

    /// Appends an absent row: the key is removed from that owner.
    pub fn push_absent(&mut self) {
        self.row(kind::ABSENT, 0, &[]);
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub(crate) fn finish(self) -> wit::ValueColumn {
        wit::ValueColumn {
            kinds: self.kinds,
            numbers: self.numbers,
            text: wit::Strings {
                data: self.data,
                offsets: self.offsets,
            },
        }
    }
}

/// One attribute of a table: who owns it, its key and its value.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The owner: an item index or a resource index.
    pub owner: u32,
    /// The key.
    pub key: &'a str,
    /// The value, `None` for an empty OTLP value.
    pub value: Option<ValueRef<'a>>,
    /// The row number, for [`AttributeTable::value`].
    pub row: usize,
}

/// Every attribute of one level, with owners' rows found without searching.
#[derive(Debug, Default)]
pub struct AttributeTable {
    owners: Vec<u8>,
    keys: Vec<String>,
    key_ids: Vec<u8>,
    values: Values,
    /// `starts[o] .. starts[o + 1]` are owner `o`'s rows.
    starts: Vec<u32>,
}

impl AttributeTable {
    pub(crate) fn new(t: wit::AttributeTable, owner_count: u32) -> AttributeTable {
        let rows = t.owners.len() / 4;
        let mut starts = vec![0u32; owner_count as usize + 1];
        for r in 0..rows {
            let o = u32_at(&t.owners, r) as usize;
            if let Some(s) = starts.get_mut(o + 1) {
                *s += 1;
            }
        }
        for o in 1..starts.len() {
            starts[o] += starts[o - 1];
        }
        AttributeTable {
            owners: t.owners,
            keys: t.keys,
            key_ids: t.key_ids,
            values: Values::new(t.values),
            starts,
        }
    }

    /// The number of rows (attributes).
    pub fn len(&self) -> usize {
        self.owners.len() / 4
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// The value column, for scans by row number.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// The key of row `r`.
    pub fn key(&self, r: usize) -> &str {
        self.keys
            .get(u32_at(&self.key_ids, r) as usize)
            .map_or("", String::as_str)
    }

    /// The owner of row `r`.
    pub fn owner(&self, r: usize) -> u32 {
        u32_at(&self.owners, r)
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> Row<'_> {
        Row {
            owner: self.owner(r),
            key: self.key(r),
            value: self.values.get(r),
            row: r,
        }
    }

    /// Every row, in order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        (0..self.len()).map(|r| self.row(r))
    }

    /// The rows of one owner.
    pub fn of(&self, owner: u32) -> impl Iterator<Item = Row<'_>> {
        let o = owner as usize;
        let (a, b) = (
            self.starts.get(o).copied().unwrap_or(0),
            self.starts.get(o + 1).copied().unwrap_or(0),
        );
        (a as usize..b as usize).map(|r| self.row(r))
    }

    /// The value of `key` on `owner`.
    pub fn get(&self, owner: u32, key: &str) -> Option<ValueRef<'_>> {
        self.of(owner).find(|r| r.key == key).and_then(|r| r.value)
    }
}
