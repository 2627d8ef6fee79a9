//! OTLP requests kept as the protobuf bytes they arrived in.
//!
//! A pipeline without processors changes nothing in a request, so decoding it into structs and
//! encoding it again for the exporter is work thrown away: on the pass-through path those two
//! steps and freeing the structs were more than half of Weir's CPU per span. A receiver that
//! feeds only such pipelines keeps the request as bytes instead ([`Wire`]), after [`scan`] has
//! walked them once without allocating: it refuses exactly what decoding would refuse (so a
//! request acknowledged as bytes always decodes later, if something needs its fields), counts
//! items and resources, and finds items whose ids break the OTLP rules (those requests are
//! decoded, so that the receiver can drop the bad items as before).
//!
//! Batching stays cheap: an export request is one repeated field, so two requests concatenated
//! are one request holding both; a [`Wire`] keeps its pieces and joins them once, when sent.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::Signal;

mod schema;
#[cfg(test)]
mod tests;

use schema::{IdRule, Kind, Schema};

/// Why a request's bytes are not a valid OTLP request of its signal; the text follows prost's
/// decode errors, which a client saw before Weir kept bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(&'static str);

/// What [`scan`] learned about a valid request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    /// Spans, data points or log records, counted as [`crate::Batch::item_count`] counts them.
    pub items: usize,
    /// Resource entries (the request's repeated field).
    pub resources: usize,
    /// Items whose ids break the OTLP rules of [`crate::ids`]; the receiver must decode the
    /// request to drop them.
    pub bad_ids: usize,
    /// Fields this OTLP version does not know (skipped by decoding), at any depth.
    pub unknown: usize,
}

/// An export request of one signal as protobuf bytes, possibly in several pieces (requests
/// batched together). Every piece passed [`scan`].
#[derive(Clone)]
pub struct Wire {
    signal: Signal,
    pieces: Vec<Bytes>,
    len: usize,
    items: usize,
    resources: usize,
    /// Every piece holds only fields this OTLP version knows.
    known: bool,
}

impl Wire {
    /// Checks `bytes` as an export request of `signal` and keeps them, with what the scan found.
    pub fn new(signal: Signal, bytes: Bytes) -> Result<(Wire, Scan), WireError> {
        let scan = scan(signal, &bytes)?;
        let wire = Wire {
            signal,
            len: bytes.len(),
            pieces: vec![bytes],
            items: scan.items,
            resources: scan.resources,
            known: scan.unknown == 0,
        };
        Ok((wire, scan))
    }

    /// Keeps `bytes` that Weir wrote itself from known fields of valid requests (a plugin
    /// session editing a request in place), with their item and resource counts, without
    /// scanning them again. Debug builds check the claim.
    pub fn written(signal: Signal, bytes: Bytes, items: usize, resources: usize) -> Wire {
        debug_assert_eq!(
            scan(signal, &bytes).map(|s| (s.items, s.resources, s.unknown)),
            Ok((items, resources, 0)),
            "a written request must scan as claimed"
        );
        Wire {
            signal,
            len: bytes.len(),
            pieces: vec![bytes],
            items,
            resources,
            known: true,
        }
    }

    /// True when every field of the request is one this OTLP version knows, so that decoding
    /// and encoding it again would drop nothing: code that edits the bytes in place (and sends
    /// what it did not touch as it came) then means what the decoded path would.
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// The signal of the request.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds no bytes (an empty request).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its items (spans, data points or log records).
    pub fn items(&self) -> usize {
        self.items
    }

    /// Its resource entries.
    pub fn resources(&self) -> usize {
        self.resources
    }

    /// Appends `other` (of the same signal): the request holding both.
    pub(crate) fn append(&mut self, other: Wire) {
        self.pieces.extend(other.pieces);
        self.len += other.len;
        self.items += other.items;
        self.resources += other.resources;
        self.known &= other.known;
    }

    /// The request as one buffer: the piece itself when there is one, else the pieces joined.
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.as_slice() {
            [one] => one.clone(),
            pieces => {
                let mut out = BytesMut::with_capacity(self.len);
                for p in pieces {
                    out.extend_from_slice(p);
                }
                out.freeze()
            }
        }
    }

    /// The pieces in order; a writer that streams (a compressor) need not join them.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("signal", &self.signal)
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .field("items", &self.items)
            .field("resources", &self.resources)
            .finish()
    }
}

impl PartialEq for Wire {
    fn eq(&self, other: &Wire) -> bool {
        self.signal == other.signal && self.to_bytes() == other.to_bytes()
    }
}

/// Walks `bytes` as an export request of `signal` without allocating. Accepts exactly what
/// prost accepts when decoding the request (field wire types, lengths, varints, UTF-8 of
/// strings, groups of unknown fields, its nesting limit of 100); the property tests hold it to
/// that.
pub fn scan(signal: Signal, bytes: &[u8]) -> Result<Scan, WireError> {
    let schema = match signal {
        Signal::Traces => &schema::TRACES,
        Signal::Metrics => &schema::METRICS,
        Signal::Logs => &schema::LOGS,
    };
    let mut tally = Tally::default();
    let items = message(bytes, schema, RECURSION_LIMIT, &mut tally)?;
    Ok(Scan {
        items,
        resources: tally.resources,
        bad_ids: tally.bad_ids,
        unknown: tally.unknown,
    })
}

/// prost's nesting limit for decoding (`RECURSION_LIMIT`).
const RECURSION_LIMIT: u32 = 100;

#[derive(Default)]
struct Tally {
    resources: usize,
    bad_ids: usize,
    unknown: usize,
}

const UNDERFLOW: WireError = WireError("failed to decode Protobuf message: buffer underflow");
const BAD_VARINT: WireError = WireError("failed to decode Protobuf message: invalid varint");
const BAD_WIRE_TYPE: WireError = WireError("failed to decode Protobuf message: invalid wire type");
const BAD_KEY: WireError = WireError("failed to decode Protobuf message: invalid key value");
const BAD_TAG: WireError = WireError("failed to decode Protobuf message: invalid tag value: 0");
const END_GROUP: WireError =
    WireError("failed to decode Protobuf message: unexpected end group tag");
const NOT_UTF8: WireError =
    WireError("failed to decode Protobuf message: invalid string value: data is not UTF-8 encoded");
const TOO_DEEP: WireError = WireError("failed to decode Protobuf message: recursion limit reached");

/// A cursor over one message's bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    /// A varint as prost reads it: at most 10 bytes, the tenth below 2.
    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Most keys, lengths and small numbers fit in one byte: no loop, no call.
        match self.buf.get(self.at) {
            Some(&b) if b < 0x80 => {
                self.at += 1;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    /// A varint of more than one byte (or none: the buffer ended).
    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.at) else {
                return Err(BAD_VARINT);
            };
            self.at += 1;
            value |= u64::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                if i == 9 && b >= 2 {
                    return Err(BAD_VARINT);
                }
                return Ok(value);
            }
        }
        Err(BAD_VARINT)
    }

    fn skip(&mut self, n: u64) -> Result<(), WireError> {
        let left = (self.buf.len() - self.at) as u64;
        if n > left {
            return Err(UNDERFLOW);
        }
        self.at += n as usize;
        Ok(())
    }

    /// A length-delimited field's bytes.
    fn delimited(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        let start = self.at;
        self.skip(n)?;
        Ok(&self.buf[start..self.at])
    }

    /// A field key: its tag and wire type.
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(BAD_KEY);
        }
        let wire_type = (key & 7) as u8;
        if wire_type > 5 {
            return Err(BAD_WIRE_TYPE);
        }
        let tag = (key as u32) >> 3;
        if tag == 0 {
            return Err(BAD_TAG);
        }
        Ok((tag, wire_type))
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP_TYPE: u8 = 4;
const FIXED32: u8 = 5;

/// Walks one message's fields; `depth` is prost's remaining recursion budget for them. Returns
/// the items inside it.
fn message(buf: &[u8], schema: &Schema, depth: u32, tally: &mut Tally) -> Result<usize, WireError> {
    let mut c = Cursor { buf, at: 0 };
    let mut items = 0usize;
    // The last variant of the schema's item oneof seen (prost keeps the last; the same variant
    // again merges into it), and the items under it.
    let mut oneof: Option<(u32, usize)> = None;
    let mut ids: [Option<&[u8]>; 3] = [None; 3];
    while !c.done() {
        let (tag, wire_type) = c.key()?;
        let Some(kind) = schema.field(tag) else {
            tally.unknown += 1;
            skip_field(&mut c, tag, wire_type, depth)?;
            continue;
        };
        match kind {
            Kind::Varint => {
                expect(wire_type, VARINT)?;
                c.varint()?;
            }
            Kind::Fixed64 => {
                expect(wire_type, FIXED64)?;
                c.skip(8)?;
            }
            Kind::Fixed32 => {
                expect(wire_type, FIXED32)?;
                c.skip(4)?;
            }
            Kind::Bytes => {
                expect(wire_type, DELIMITED)?;
                c.delimited()?;
            }
            Kind::Id(slot) => {
                expect(wire_type, DELIMITED)?;
                ids[slot as usize] = Some(c.delimited()?);
            }
            Kind::Str => {
                expect(wire_type, DELIMITED)?;
                // Most strings are ASCII, which `is_ascii` checks a word at a time inline;
                // only the others pay for the full UTF-8 check.
                let s = c.delimited()?;
                if !s.is_ascii() && std::str::from_utf8(s).is_err() {
                    return Err(NOT_UTF8);
                }
            }
            Kind::PackedFixed64 => packed(&mut c, wire_type, FIXED64)?,
            Kind::PackedVarint => packed(&mut c, wire_type, VARINT)?,
            Kind::Msg(inner) | Kind::Resource(inner) | Kind::Item(inner) | Kind::Variant(inner) => {
                expect(wire_type, DELIMITED)?;
                if depth == 0 {
                    return Err(TOO_DEEP);
                }
                let body = c.delimited()?;
                let below = message(body, inner, depth - 1, tally)?;
                match kind {
                    Kind::Resource(_) => {
                        tally.resources += 1;
                        items += below;
                    }
                    Kind::Item(_) => items += 1,
                    Kind::Variant(_) => {
                        oneof = match oneof {
                            Some((t, n)) if t == tag => Some((t, n + below)),
                            _ => Some((tag, below)),
                        }
                    }
                    _ => items += below,
                }
            }
        }
    }
    if let Some(rule) = schema.ids
        && !rule.holds(&ids)
    {
        tally.bad_ids += 1;
    }
    Ok(items + oneof.map_or(0, |(_, n)| n))
}

fn expect(wire_type: u8, want: u8) -> Result<(), WireError> {
    if wire_type == want {
        Ok(())
    } else {
        Err(BAD_WIRE_TYPE)
    }
}

/// A repeated varint or fixed64 field: packed (length-delimited, whole values) or one value.
fn packed(c: &mut Cursor<'_>, wire_type: u8, scalar: u8) -> Result<(), WireError> {
    let one = |c: &mut Cursor<'_>| match scalar {
        VARINT => c.varint().map(|_| ()),
        _ => c.skip(8),
    };
    if wire_type != DELIMITED {
        expect(wire_type, scalar)?;
        return one(c);
    }
    let mut inner = Cursor {
        buf: c.delimited()?,
        at: 0,
    };
    while !inner.done() {
        one(&mut inner)?;
    }
    Ok(())
}

/// Skips a field the schema does not know, as prost's `skip_field` does (groups included).
fn skip_field(c: &mut Cursor<'_>, tag: u32, wire_type: u8, depth: u32) -> Result<(), WireError> {
    if depth == 0 {
        return Err(TOO_DEEP);
    }
    match wire_type {
        VARINT => c.varint().map(|_| ()),
        FIXED64 => c.skip(8),
        FIXED32 => c.skip(4),
        DELIMITED => {
            let n = c.varint()?;
            c.skip(n)
        }
        START_GROUP => loop {
            let (inner_tag, inner_type) = c.key()?;
            if inner_type == END_GROUP_TYPE {
                if inner_tag != tag {
                    return Err(END_GROUP);
                }
                return Ok(());
            }
            skip_field(c, inner_tag, inner_type, depth - 1)?;
        },
        _ => Err(END_GROUP),
    }
}

impl IdRule {
    /// Whether the ids an item carried (the last of each, as decoding keeps) follow the rule.
    fn holds(self, ids: &[Option<&[u8]>; 3]) -> bool {
        let len = |i: usize| ids[i].map_or(0, <[u8]>::len);
        let nonzero = |i: usize| ids[i].is_some_and(|id| id.iter().any(|b| *b != 0));
        match self {
            // trace id 16 bytes and span id 8 bytes, neither all zero; parent empty or 8.
            IdRule::Span => {
                len(0) == 16 && nonzero(0) && len(1) == 8 && nonzero(1) && matches!(len(2), 0 | 8)
            }
            // trace id empty or 16 bytes, span id empty or 8.
            IdRule::Log => matches!(len(0), 0 | 16) && matches!(len(1), 0 | 8),
        }
    }
}
