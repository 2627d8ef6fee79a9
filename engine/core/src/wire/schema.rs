//! The OTLP messages as [`super::scan`] reads them: every field prost knows in
//! `opentelemetry-proto`'s generated types, with the wire type it accepts. A field missing here
//! would be skipped like an unknown one, so a wrong wire type on it would pass the scan and fail
//! decoding later; the property tests compare the scan with prost on mutated requests to catch
//! that. Update this file with the `opentelemetry-proto` version.

/// How one known field is read.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// int32, int64, uint32, bool, enum, sint32: a varint.
    Varint,
    /// fixed64, sfixed64, double.
    Fixed64,
    /// fixed32, float.
    Fixed32,
    /// bytes: any length.
    Bytes,
    /// An id the item's [`IdRule`] checks: slot 0 trace id, 1 span id, 2 parent span id.
    Id(u8),
    /// string: valid UTF-8.
    Str,
    /// repeated fixed64 or double, packed or not.
    PackedFixed64,
    /// repeated varint, packed or not.
    PackedVarint,
    /// A nested message; its items count.
    Msg(&'static Schema),
    /// A request's resource entry.
    Resource(&'static Schema),
    /// An item: a span, a log record or a data point.
    Item(&'static Schema),
    /// A variant of the message's item-bearing oneof (a metric's data): the last one counts.
    Variant(&'static Schema),
}

/// The rule an item's ids follow (see `crate::ids`).
#[derive(Clone, Copy)]
pub(super) enum IdRule {
    /// A span.
    Span,
    /// A log record.
    Log,
}

/// The highest field number of any OTLP message here (a span's `flags`, 16).
const MAX_TAG: usize = 16;

/// One message: its known fields by tag, and the id rule if it is an item that has one.
pub(super) struct Schema {
    /// How each field is read, indexed by field number (`None`: unknown, skipped). A table
    /// rather than a list to search: the scan looks up every field of every request.
    by_tag: [Option<Kind>; MAX_TAG + 1],
    pub ids: Option<IdRule>,
}

impl Schema {
    /// How field `tag` is read, or `None` for a field prost does not know (skipped).
    #[inline]
    pub fn field(&self, tag: u32) -> Option<Kind> {
        self.by_tag.get(tag as usize).copied().flatten()
    }
}

/// A message's schema from its fields; a field number above [`MAX_TAG`] or given twice fails
/// the build.
const fn with_ids(fields: &[(u32, Kind)], ids: Option<IdRule>) -> Schema {
    let mut by_tag = [None; MAX_TAG + 1];
    let mut i = 0;
    while i < fields.len() {
        let (tag, kind) = fields[i];
        assert!(tag as usize <= MAX_TAG, "raise MAX_TAG");
        assert!(by_tag[tag as usize].is_none(), "a field number given twice");
        by_tag[tag as usize] = Some(kind);
        i += 1;
    }
    Schema { by_tag, ids }
}

const fn plain(fields: &[(u32, Kind)]) -> Schema {
    with_ids(fields, None)
}

use Kind::*;

// common.v1
static ANY_VALUE: Schema = plain(&[
    (1, Str),
    (3, Varint),
    (2, Varint),
    (4, Fixed64),
    (5, Msg(&ARRAY_VALUE)),
    (6, Msg(&KEY_VALUE_LIST)),
    (7, Bytes),
    (8, Varint),
]);
static ARRAY_VALUE: Schema = plain(&[(1, Msg(&ANY_VALUE))]);
static KEY_VALUE_LIST: Schema = plain(&[(1, Msg(&KEY_VALUE))]);
static KEY_VALUE: Schema = plain(&[(1, Str), (2, Msg(&ANY_VALUE)), (3, Varint)]);
static SCOPE: Schema = plain(&[(1, Str), (2, Str), (3, Msg(&KEY_VALUE)), (4, Varint)]);
static ENTITY_REF: Schema = plain(&[(1, Str), (2, Str), (3, Str), (4, Str)]);

// resource.v1
static RESOURCE: Schema = plain(&[(1, Msg(&KEY_VALUE)), (2, Varint), (3, Msg(&ENTITY_REF))]);

// trace.v1
/// `ExportTraceServiceRequest`.
pub(super) static TRACES: Schema = plain(&[(1, Resource(&RESOURCE_SPANS))]);
static RESOURCE_SPANS: Schema = plain(&[(2, Msg(&SCOPE_SPANS)), (1, Msg(&RESOURCE)), (3, Str)]);
static SCOPE_SPANS: Schema = plain(&[(2, Item(&SPAN)), (1, Msg(&SCOPE)), (3, Str)]);
static SPAN: Schema = with_ids(
    &[
        (9, Msg(&KEY_VALUE)),
        (1, Id(0)),
        (2, Id(1)),
        (4, Id(2)),
        (5, Str),
        (6, Varint),
        (7, Fixed64),
        (8, Fixed64),
        (16, Fixed32),
        (3, Str),
        (10, Varint),
        (11, Msg(&EVENT)),
        (12, Varint),
        (13, Msg(&LINK)),
        (14, Varint),
        (15, Msg(&STATUS)),
    ],
    Some(IdRule::Span),
);
static EVENT: Schema = plain(&[(1, Fixed64), (2, Str), (3, Msg(&KEY_VALUE)), (4, Varint)]);
static LINK: Schema = plain(&[
    (1, Bytes),
    (2, Bytes),
    (3, Str),
    (4, Msg(&KEY_VALUE)),
    (5, Varint),
    (6, Fixed32),
]);
static STATUS: Schema = plain(&[(2, Str), (3, Varint)]);

// logs.v1
/// `ExportLogsServiceRequest`.
pub(super) static LOGS: Schema = plain(&[(1, Resource(&RESOURCE_LOGS))]);
static RESOURCE_LOGS: Schema = plain(&[(2, Msg(&SCOPE_LOGS)), (1, Msg(&RESOURCE)), (3, Str)]);
static SCOPE_LOGS: Schema = plain(&[(2, Item(&LOG_RECORD)), (1, Msg(&SCOPE)), (3, Str)]);
static LOG_RECORD: Schema = with_ids(
    &[
        (6, Msg(&KEY_VALUE)),
        (1, Fixed64),
        (11, Fixed64),
        (2, Varint),
        (3, Str),
        (5, Msg(&ANY_VALUE)),
        (7, Varint),
        (8, Fixed32),
        (9, Id(0)),
        (10, Id(1)),
        (12, Str),
    ],
    Some(IdRule::Log),
);

// metrics.v1
/// `ExportMetricsServiceRequest`.
pub(super) static METRICS: Schema = plain(&[(1, Resource(&RESOURCE_METRICS))]);
static RESOURCE_METRICS: Schema = plain(&[(2, Msg(&SCOPE_METRICS)), (1, Msg(&RESOURCE)), (3, Str)]);
static SCOPE_METRICS: Schema = plain(&[(2, Msg(&METRIC)), (1, Msg(&SCOPE)), (3, Str)]);
static METRIC: Schema = plain(&[
    (1, Str),
    (2, Str),
    (3, Str),
    (12, Msg(&KEY_VALUE)),
    (5, Variant(&GAUGE)),
    (7, Variant(&SUM)),
    (9, Variant(&HISTOGRAM)),
    (10, Variant(&EXP_HISTOGRAM)),
    (11, Variant(&SUMMARY)),
]);
static GAUGE: Schema = plain(&[(1, Item(&NUMBER_POINT))]);
static SUM: Schema = plain(&[(1, Item(&NUMBER_POINT)), (2, Varint), (3, Varint)]);
static HISTOGRAM: Schema = plain(&[(1, Item(&HISTOGRAM_POINT)), (2, Varint)]);
static EXP_HISTOGRAM: Schema = plain(&[(1, Item(&EXP_HISTOGRAM_POINT)), (2, Varint)]);
static SUMMARY: Schema = plain(&[(1, Item(&SUMMARY_POINT))]);
static NUMBER_POINT: Schema = plain(&[
    (7, Msg(&KEY_VALUE)),
    (2, Fixed64),
    (3, Fixed64),
    (4, Fixed64),
    (6, Fixed64),
    (5, Msg(&EXEMPLAR)),
    (8, Varint),
]);
static HISTOGRAM_POINT: Schema = plain(&[
    (9, Msg(&KEY_VALUE)),
    (2, Fixed64),
    (3, Fixed64),
    (4, Fixed64),
    (5, Fixed64),
    (6, PackedFixed64),
    (7, PackedFixed64),
    (8, Msg(&EXEMPLAR)),
    (10, Varint),
    (11, Fixed64),
    (12, Fixed64),
]);
static EXP_HISTOGRAM_POINT: Schema = plain(&[
    (1, Msg(&KEY_VALUE)),
    (2, Fixed64),
    (3, Fixed64),
    (4, Fixed64),
    (5, Fixed64),
    (6, Varint),
    (7, Fixed64),
    (8, Msg(&BUCKETS)),
    (9, Msg(&BUCKETS)),
    (10, Varint),
    (11, Msg(&EXEMPLAR)),
    (12, Fixed64),
    (13, Fixed64),
    (14, Fixed64),
]);
static BUCKETS: Schema = plain(&[(1, Varint), (2, PackedVarint)]);
static SUMMARY_POINT: Schema = plain(&[
    (7, Msg(&KEY_VALUE)),
    (2, Fixed64),
    (3, Fixed64),
    (4, Fixed64),
    (5, Fixed64),
    (6, Msg(&QUANTILE)),
    (8, Varint),
]);
static QUANTILE: Schema = plain(&[(1, Fixed64), (2, Fixed64)]);
static EXEMPLAR: Schema = plain(&[
    (7, Msg(&KEY_VALUE)),
    (2, Fixed64),
    (3, Fixed64),
    (6, Fixed64),
    (4, Bytes),
    (5, Bytes),
]);
