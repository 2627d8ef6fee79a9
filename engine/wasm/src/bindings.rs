//! The one `bindgen!` of Weir's plugin contract, and the conversions between its generated
//! types and the host-side column types of `weir-columns`.

use weir_columns as col;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "processor",
    with: {
        "weir:plugin/telemetry.batch": crate::host::BatchHandle,
    },
});

pub(crate) use weir::plugin::types as wit;

/// The `sampler` world, sharing the interfaces (and their host implementations) above.
pub(crate) mod sampler {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "sampler",
        with: {
            "weir:plugin/types": super::weir::plugin::types,
            "weir:plugin/log": super::weir::plugin::log,
            "weir:plugin/metrics": super::weir::plugin::metrics,
            "weir:plugin/telemetry": super::weir::plugin::telemetry,
        },
    });
}

/// The `exporter` world, sharing the interfaces (and their host implementations) above.
pub(crate) mod exporter {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "exporter",
        with: {
            "weir:plugin/types": super::weir::plugin::types,
            "weir:plugin/log": super::weir::plugin::log,
            "weir:plugin/metrics": super::weir::plugin::metrics,
            "weir:plugin/telemetry": super::weir::plugin::telemetry,
        },
    });
}

impl From<wit::AttributeLevel> for col::Level {
    fn from(l: wit::AttributeLevel) -> Self {
        match l {
            wit::AttributeLevel::Resource => col::Level::Resource,
            wit::AttributeLevel::Item => col::Level::Item,
        }
    }
}

impl From<wit::TextField> for col::TextField {
    fn from(f: wit::TextField) -> Self {
        use wit::TextField as W;
        match f {
            W::Name => col::TextField::Name,
            W::StatusMessage => col::TextField::StatusMessage,
            W::TraceState => col::TextField::TraceState,
            W::SeverityText => col::TextField::SeverityText,
            W::Body => col::TextField::Body,
            W::Unit => col::TextField::Unit,
            W::Description => col::TextField::Description,
            W::ScopeName => col::TextField::ScopeName,
        }
    }
}

impl From<wit::IdField> for col::IdField {
    fn from(f: wit::IdField) -> Self {
        match f {
            wit::IdField::TraceId => col::IdField::TraceId,
            wit::IdField::SpanId => col::IdField::SpanId,
            wit::IdField::ParentSpanId => col::IdField::ParentSpanId,
        }
    }
}

impl From<wit::NumberField> for col::NumberField {
    fn from(f: wit::NumberField) -> Self {
        use wit::NumberField as W;
        match f {
            W::TimeUnixNano => col::NumberField::TimeUnixNano,
            W::EndTimeUnixNano => col::NumberField::EndTimeUnixNano,
            W::Kind => col::NumberField::Kind,
            W::StatusCode => col::NumberField::StatusCode,
            W::Value => col::NumberField::Value,
            W::Flags => col::NumberField::Flags,
        }
    }
}

impl From<wit::AnyValue> for col::Value {
    fn from(v: wit::AnyValue) -> Self {
        match v {
            wit::AnyValue::Str(s) => col::Value::Str(s),
            wit::AnyValue::Boolean(b) => col::Value::Bool(b),
            wit::AnyValue::Int(i) => col::Value::Int(i),
            wit::AnyValue::Double(d) => col::Value::Double(d),
            wit::AnyValue::Bytes(b) => col::Value::Bytes(b),
            wit::AnyValue::Json(j) => col::Value::Json(j),
        }
    }
}

impl From<col::Value> for wit::AnyValue {
    fn from(v: col::Value) -> Self {
        match v {
            col::Value::Str(s) => wit::AnyValue::Str(s),
            col::Value::Bool(b) => wit::AnyValue::Boolean(b),
            col::Value::Int(i) => wit::AnyValue::Int(i),
            col::Value::Double(d) => wit::AnyValue::Double(d),
            col::Value::Bytes(b) => wit::AnyValue::Bytes(b),
            col::Value::Json(j) => wit::AnyValue::Json(j),
        }
    }
}

impl From<col::Strings> for wit::Strings {
    fn from(s: col::Strings) -> Self {
        wit::Strings {
            data: s.data,
            offsets: s.offsets,
        }
    }
}

impl From<col::ValueColumn> for wit::ValueColumn {
    fn from(c: col::ValueColumn) -> Self {
        wit::ValueColumn {
            kinds: c.kinds,
            numbers: c.numbers,
            text: c.text.into(),
        }
    }
}

impl From<wit::ValueColumn> for col::ValueColumn {
    fn from(c: wit::ValueColumn) -> Self {
        col::ValueColumn {
            kinds: c.kinds,
            numbers: c.numbers,
            text: col::Strings {
                data: c.text.data,
                offsets: c.text.offsets,
            },
        }
    }
}

impl From<col::AttributeTable> for wit::AttributeTable {
    fn from(t: col::AttributeTable) -> Self {
        wit::AttributeTable {
            owners: t.owners,
            keys: t.keys,
            key_ids: t.key_ids,
            values: t.values.into(),
        }
    }
}

impl From<wit::Edit> for col::Edit {
    fn from(e: wit::Edit) -> Self {
        match e {
            wit::Edit::SetAttribute(s) => col::Edit::SetAttribute {
                level: s.level.into(),
                owner: s.owner,
                key: s.key,
                value: s.value.into(),
            },
            wit::Edit::RemoveAttribute(r) => col::Edit::RemoveAttribute {
                level: r.level.into(),
                owner: r.owner,
                key: r.key,
            },
            wit::Edit::SetText(t) => col::Edit::SetText {
                item: t.item,
                field: t.field.into(),
                value: t.value,
            },
        }
    }
}

impl From<weir_core::Signal> for wit::Signal {
    fn from(s: weir_core::Signal) -> Self {
        match s {
            weir_core::Signal::Traces => wit::Signal::Traces,
            weir_core::Signal::Metrics => wit::Signal::Metrics,
            weir_core::Signal::Logs => wit::Signal::Logs,
        }
    }
}

impl From<wit::Signal> for weir_core::Signal {
    fn from(s: wit::Signal) -> Self {
        match s {
            wit::Signal::Traces => weir_core::Signal::Traces,
            wit::Signal::Metrics => weir_core::Signal::Metrics,
            wit::Signal::Logs => weir_core::Signal::Logs,
        }
    }
}
