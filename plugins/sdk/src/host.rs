//! Where a batch's columns come from: the Weir host (in a Wasm plugin) or, in tests, the same
//! column code run natively (`testing` feature).

use crate::bindings::weir::plugin::telemetry::Batch as HostBatch;
use crate::bindings::weir::plugin::types::{
    AnyValue, AttributeLevel, AttributeTable, Edit, Found, IdField, NumberField, Signal, Strings,
    TextField, ValueColumn,
};

/// The source of one batch.
pub(crate) enum Backend<'a> {
    /// The host's `batch` resource.
    Host(&'a HostBatch),
    /// A native session over a fixture.
    #[cfg(feature = "testing")]
    Native(std::cell::RefCell<&'a mut weir_columns::Session>),
}

/// Forwards one call to whichever backend holds the batch.
macro_rules! forward {
    ($self:ident, |$h:ident| $host:expr, |$n:ident| $native:expr) => {
        match $self {
            Backend::Host($h) => $host,
            #[cfg(feature = "testing")]
            Backend::Native(cell) => {
                #[allow(unused_mut, reason = "only some calls write")]
                let mut $n = cell.borrow_mut();
                $native
            }
        }
    };
}

#[cfg(feature = "testing")]
use crate::testing::convert as cv;

impl Backend<'_> {
    pub(crate) fn signal(&self) -> Signal {
        forward!(self, |h| h.signal(), |n| cv::signal(n.signal()))
    }
    pub(crate) fn len(&self) -> u32 {
        forward!(self, |h| h.len(), |n| n.len())
    }
    pub(crate) fn resource_count(&self) -> u32 {
        forward!(self, |h| h.resource_count(), |n| n.resource_count())
    }
    pub(crate) fn item_resources(&self) -> Vec<u8> {
        forward!(self, |h| h.item_resources(), |n| n.item_resources())
    }
    pub(crate) fn text(&self, field: TextField) -> Strings {
        forward!(self, |h| h.text(field), |n| cv::strings(
            n.text(cv::text_field(field))
        ))
    }
    pub(crate) fn ids(&self, field: IdField) -> Vec<u8> {
        forward!(self, |h| h.ids(field), |n| n.ids(cv::id_field(field)))
    }
    pub(crate) fn numbers(&self, field: NumberField) -> Vec<u8> {
        forward!(self, |h| h.numbers(field), |n| n
            .numbers(cv::number_field(field)))
    }
    pub(crate) fn attributes(&self, level: AttributeLevel) -> AttributeTable {
        forward!(self, |h| h.attributes(level), |n| cv::table(
            n.attributes(cv::level(level))
        ))
    }
    pub(crate) fn attribute(&self, level: AttributeLevel, key: &str) -> ValueColumn {
        forward!(self, |h| h.attribute(level, key), |n| cv::values(
            n.attribute(cv::level(level), key)
        ))
    }
    pub(crate) fn set_attribute(
        &self,
        level: AttributeLevel,
        key: &str,
        value: AnyValue,
        owners: Option<&[u8]>,
    ) {
        forward!(self, |h| h.set_attribute(level, key, &value, owners), |n| n
            .set_attribute(
                cv::level(level),
                key.to_string(),
                cv::value(value),
                owners
            ))
    }
    pub(crate) fn set_attribute_values(
        &self,
        level: AttributeLevel,
        key: &str,
        owners: &[u8],
        values: ValueColumn,
    ) {
        forward!(
            self,
            |h| h.set_attribute_values(level, key, owners, &values),
            |n| n.set_attribute_values(
                cv::level(level),
                key.to_string(),
                owners,
                &cv::column(values)
            )
        )
    }
    pub(crate) fn remove_attribute(&self, level: AttributeLevel, key: &str, owners: Option<&[u8]>) {
        forward!(self, |h| h.remove_attribute(level, key, owners), |n| n
            .remove_attribute(cv::level(level), key.to_string(), owners))
    }
    pub(crate) fn drop_items(&self, items: &[u8]) {
        forward!(self, |h| h.drop_items(items), |n| n.drop_items(items))
    }
    pub(crate) fn apply(&self, edits: &[Edit]) {
        forward!(self, |h| h.apply(edits), |n| n
            .apply(edits.iter().cloned().map(cv::edit).collect()))
    }
    pub(crate) fn otlp(&self) -> Vec<u8> {
        forward!(self, |h| h.otlp(), |n| n.otlp())
    }
    pub(crate) fn otlp_json(&self) -> String {
        forward!(self, |h| h.otlp_json(), |n| n.otlp_json())
    }
    pub(crate) fn replace_otlp(&self, request: &[u8]) -> Result<(), String> {
        forward!(self, |h| h.replace_otlp(request), |n| n
            .replace_otlp(request))
    }
    pub(crate) fn find(&self, patterns: &[String], cards: bool) -> Result<Found, String> {
        forward!(self, |h| h.find(patterns, cards), |n| {
            let m = weir_columns::Matcher::new(patterns, cards)?;
            let found = n.find(&m);
            Ok(Found {
                items: found.items,
                shared: found.shared,
            })
        })
    }
    pub(crate) fn otlp_items(&self, items: &[u8]) -> Vec<u8> {
        forward!(self, |h| h.otlp_items(items), |n| n.otlp_items(items))
    }
    pub(crate) fn replace_items(&self, items: &[u8], request: &[u8]) -> Result<(), String> {
        forward!(self, |h| h.replace_items(items, request), |n| n
            .replace_items(items, request))
    }
}
