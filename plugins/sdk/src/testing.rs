//! Run a processor natively, without Wasm, on OTLP/JSON fixtures, through the same column code
//! (`weir-columns`) the Weir host uses. Enable the `testing` feature in dev-dependencies.
//!
//! ```ignore
//! let out = weir_plugin::testing::run::<MyProcessor>(r#"{"key":"team"}"#, include_str!("fixtures/in.json"))?;
//! assert_eq!(out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["key"], "team");
//! ```

use weir_core::Batch as CoreBatch;

use crate::{Batch, Processor};

/// Parses an OTLP/JSON export request; the signal comes from its top-level key.
pub fn parse(json: &str) -> Result<CoreBatch, String> {
    CoreBatch::from_otlp_json(json).map_err(|e| format!("fixture is {e}"))
}

/// Renders a batch as OTLP/JSON.
pub fn render(batch: &CoreBatch) -> serde_json::Value {
    batch.to_otlp_value()
}

/// Builds `P` from `config` (JSON) and runs it once on the OTLP/JSON `fixture`, exactly as the
/// host would: writes apply only on `Ok`, and an invalid write is an error. Returns the batch
/// afterwards as OTLP/JSON.
pub fn run<P: Processor>(config: &str, fixture: &str) -> Result<serde_json::Value, String> {
    let mut p = P::init(crate::Config::new(config))?;
    let batch = parse(fixture)?;
    process(&mut p, batch).map(|b| render(&b))
}

/// Runs an initialised `P` once on `batch` natively, through the host's column code (no Wasm):
/// the same plugin logic, for tests and for benchmarks of what the Wasm boundary costs.
pub fn process<P: Processor>(p: &mut P, batch: CoreBatch) -> Result<CoreBatch, String> {
    let signal = convert::signal(batch.signal());
    if !p.signals().contains(&signal) {
        return Ok(batch);
    }
    let mut session = weir_columns::Session::new(batch);
    let outcome = {
        let b = Batch::new(crate::host::Backend::Native(std::cell::RefCell::new(
            &mut session,
        )));
        p.process(&b).map(|()| b.finish())
    };
    if let Err(e) = outcome {
        session.abort();
        return Err(e);
    }
    match session.finish() {
        Ok(b) => Ok(b),
        Err((_, invalid)) => Err(format!("invalid request from the plugin: {invalid}")),
    }
}

/// Conversions between the WIT types and `weir-columns`.
pub(crate) mod convert {
    use crate::bindings::weir::plugin::types as w;
    use weir_columns as c;

    pub(crate) fn signal(s: weir_core::Signal) -> w::Signal {
        match s {
            weir_core::Signal::Traces => w::Signal::Traces,
            weir_core::Signal::Metrics => w::Signal::Metrics,
            weir_core::Signal::Logs => w::Signal::Logs,
        }
    }
    pub(crate) fn level(l: w::AttributeLevel) -> c::Level {
        match l {
            w::AttributeLevel::Resource => c::Level::Resource,
            w::AttributeLevel::Item => c::Level::Item,
        }
    }
    pub(crate) fn text_field(f: w::TextField) -> c::TextField {
        match f {
            w::TextField::Name => c::TextField::Name,
            w::TextField::StatusMessage => c::TextField::StatusMessage,
            w::TextField::TraceState => c::TextField::TraceState,
            w::TextField::SeverityText => c::TextField::SeverityText,
            w::TextField::Body => c::TextField::Body,
            w::TextField::Unit => c::TextField::Unit,
            w::TextField::Description => c::TextField::Description,
            w::TextField::ScopeName => c::TextField::ScopeName,
        }
    }
    pub(crate) fn id_field(f: w::IdField) -> c::IdField {
        match f {
            w::IdField::TraceId => c::IdField::TraceId,
            w::IdField::SpanId => c::IdField::SpanId,
            w::IdField::ParentSpanId => c::IdField::ParentSpanId,
        }
    }
    pub(crate) fn number_field(f: w::NumberField) -> c::NumberField {
        match f {
            w::NumberField::TimeUnixNano => c::NumberField::TimeUnixNano,
            w::NumberField::EndTimeUnixNano => c::NumberField::EndTimeUnixNano,
            w::NumberField::Kind => c::NumberField::Kind,
            w::NumberField::StatusCode => c::NumberField::StatusCode,
            w::NumberField::Value => c::NumberField::Value,
            w::NumberField::Flags => c::NumberField::Flags,
        }
    }
    pub(crate) fn value(v: w::AnyValue) -> c::Value {
        match v {
            w::AnyValue::Str(s) => c::Value::Str(s),
            w::AnyValue::Boolean(b) => c::Value::Bool(b),
            w::AnyValue::Int(i) => c::Value::Int(i),
            w::AnyValue::Double(d) => c::Value::Double(d),
            w::AnyValue::Bytes(b) => c::Value::Bytes(b),
            w::AnyValue::Json(j) => c::Value::Json(j),
        }
    }
    pub(crate) fn strings(s: c::Strings) -> w::Strings {
        w::Strings {
            data: s.data,
            offsets: s.offsets,
        }
    }
    pub(crate) fn values(v: c::ValueColumn) -> w::ValueColumn {
        w::ValueColumn {
            kinds: v.kinds,
            numbers: v.numbers,
            text: strings(v.text),
        }
    }
    pub(crate) fn column(v: w::ValueColumn) -> c::ValueColumn {
        c::ValueColumn {
            kinds: v.kinds,
            numbers: v.numbers,
            text: c::Strings {
                data: v.text.data,
                offsets: v.text.offsets,
            },
        }
    }
    pub(crate) fn table(t: c::AttributeTable) -> w::AttributeTable {
        w::AttributeTable {
            owners: t.owners,
            keys: t.keys,
            key_ids: t.key_ids,
            values: values(t.values),
        }
    }
    pub(crate) fn edit(e: w::Edit) -> c::Edit {
        match e {
            w::Edit::SetAttribute(s) => c::Edit::SetAttribute {
                level: level(s.level),
                owner: s.owner,
                key: s.key,
                value: value(s.value),
            },
            w::Edit::RemoveAttribute(r) => c::Edit::RemoveAttribute {
                level: level(r.level),
                owner: r.owner,
                key: r.key,
            },
            w::Edit::SetText(t) => c::Edit::SetText {
                item: t.item,
                field: text_field(t.field),
                value: t.value,
            },
        }
    }
}

/// Runs an initialised policy `P` once on a trace natively, through the host's column code:
/// for tests of policies on hand-built traces. Writing to the trace is an error, as in the host.
pub fn evaluate<P: crate::Policy>(p: &mut P, trace: CoreBatch) -> Result<crate::Verdict, String> {
    let mut session = weir_columns::Session::new(trace);
    let verdict = {
        let b = Batch::new(crate::host::Backend::Native(std::cell::RefCell::new(
            &mut session,
        )));
        p.evaluate(&b)
    }?;
    if session.has_writes() {
        return Err("a sampling policy sees the trace read-only, but it tried to change it".into());
    }
    Ok(verdict)
}
