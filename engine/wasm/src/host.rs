//! What a plugin's store holds and the host side of the `log` and `telemetry` imports.

use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use weir_columns::{Matcher, Session};

use crate::bindings::weir::plugin::{log, metrics, telemetry};
use crate::bindings::wit;
use crate::sandbox::{Limiter, OutputTail};

/// The type behind `borrow<batch>` handles. The host lends exactly one batch per call, so the
/// handle carries no data: every method works on the store's current [`Session`].
pub struct BatchHandle;

/// Everything one plugin instance's store owns.
pub(crate) struct PluginState {
    /// The plugin's configured name, for its log lines.
    pub(crate) name: Arc<str>,
    /// The batch lent to the current call, if a call is running.
    pub(crate) session: Option<Session>,
    /// WASI state: no preopens, no sockets; clocks and env only as granted.
    pub(crate) wasi: WasiCtx,
    /// WASI's resource table (streams).
    pub(crate) table: ResourceTable,
    /// The memory cap, which also remembers whether it was hit.
    pub(crate) limiter: Limiter,
    /// The last lines the plugin wrote to stderr, for error messages.
    pub(crate) stderr: OutputTail,
    /// Counter increments reported during the current call, as (name, label, delta); the
    /// stage publishes them if the call succeeds and discards them otherwise.
    pub(crate) counts: Vec<(String, String, u64)>,
    /// `wasi:http` state; only exporters are linked with it.
    pub(crate) http: wasmtime_wasi_http::WasiHttpCtx,
    /// Where `wasi:http` requests may go (nowhere unless the plugin is an exporter).
    pub(crate) allow: crate::exporter::AllowList,
    /// Pattern lists `batch.find` compiled, most recent last (see [`MATCHERS_KEPT`]).
    pub(crate) matchers: Vec<(Vec<String>, bool, Arc<Matcher>)>,
}

/// How many compiled pattern lists one instance keeps: a plugin passes the same list on every
/// call (a few, if it searches in steps), and compiling is far slower than searching.
const MATCHERS_KEPT: usize = 4;

impl wasmtime_wasi_http::WasiHttpView for PluginState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.allow,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl PluginState {
    fn session(&mut self) -> Option<&mut Session> {
        self.session.as_mut()
    }

    /// `patterns` compiled, from the instance's cache when they were compiled before.
    fn matcher(&mut self, patterns: Vec<String>, cards: bool) -> Result<Arc<Matcher>, String> {
        if let Some(at) = self
            .matchers
            .iter()
            .position(|(p, c, _)| *c == cards && *p == patterns)
        {
            let hit = self.matchers.remove(at);
            let m = hit.2.clone();
            self.matchers.push(hit);
            return Ok(m);
        }
        let m = Arc::new(Matcher::new(&patterns, cards)?);
        if self.matchers.len() >= MATCHERS_KEPT {
            self.matchers.remove(0);
        }
        self.matchers.push((patterns, cards, m.clone()));
        Ok(m)
    }
}

impl log::Host for PluginState {
    fn log(&mut self, level: log::LogLevel, message: String) {
        let plugin = &*self.name;
        match level {
            log::LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            log::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            log::LogLevel::Info => tracing::info!(plugin, "{message}"),
            log::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            log::LogLevel::Error => {
                self.stderr.note(&message);
                tracing::error!(plugin, "{message}");
            }
        }
    }
}

/// Increments are buffered per call (merged by name and label) so a failed call reports none.
impl metrics::Host for PluginState {
    fn counter_add(&mut self, name: String, label: String, delta: u64) {
        if let Some((_, _, d)) = self
            .counts
            .iter_mut()
            .find(|(n, l, _)| *n == name && *l == label)
        {
            *d = d.saturating_add(delta);
        } else if self.counts.len() < 4096 {
            // A bound on what one call can buffer; the host-side key cap does the rest.
            self.counts.push((name, label, delta));
        }
    }
}

impl wit::Host for PluginState {}
impl telemetry::Host for PluginState {}

/// Reads through the current session; outside a call (which the component model rules out for
/// borrowed handles) every read is empty.
macro_rules! read {
    ($state:expr, $default:expr, |$s:ident| $body:expr) => {
        match $state.session() {
            Some($s) => $body,
            None => $default,
        }
    };
}

impl telemetry::HostBatch for PluginState {
    fn signal(&mut self, _: Resource<BatchHandle>) -> wit::Signal {
        read!(self, wit::Signal::Traces, |s| s.signal().into())
    }

    fn len(&mut self, _: Resource<BatchHandle>) -> u32 {
        read!(self, 0, |s| s.len())
    }

    fn resource_count(&mut self, _: Resource<BatchHandle>) -> u32 {
        read!(self, 0, |s| s.resource_count())
    }

    fn item_resources(&mut self, _: Resource<BatchHandle>) -> Vec<u8> {
        read!(self, Vec::new(), |s| s.item_resources())
    }

    fn text(&mut self, _: Resource<BatchHandle>, field: wit::TextField) -> wit::Strings {
        read!(self, weir_columns::Strings::default().into(), |s| s
            .text(field.into())
            .into())
    }

    fn ids(&mut self, _: Resource<BatchHandle>, field: wit::IdField) -> Vec<u8> {
        read!(self, Vec::new(), |s| s.ids(field.into()))
    }

    fn numbers(&mut self, _: Resource<BatchHandle>, field: wit::NumberField) -> Vec<u8> {
        read!(self, Vec::new(), |s| s.numbers(field.into()))
    }

    fn attributes(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
    ) -> wit::AttributeTable {
        read!(self, weir_columns::AttributeTable::default().into(), |s| s
            .attributes(level.into())
            .into())
    }

    fn attribute(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
        key: String,
    ) -> wit::ValueColumn {
        read!(self, weir_columns::ValueColumn::default().into(), |s| s
            .attribute(level.into(), &key)
            .into())
    }

    fn owner_attributes(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
        owner: u32,
    ) -> Vec<wit::KeyValue> {
        read!(self, Vec::new(), |s| s
            .owner_attributes(level.into(), owner)
            .into_iter()
            .map(|(key, value)| wit::KeyValue {
                key,
                value: value.into()
            })
            .collect())
    }

    fn set_attribute(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
        key: String,
        value: wit::AnyValue,
        owners: Option<Vec<u8>>,
    ) {
        read!(self, (), |s| s.set_attribute(
            level.into(),
            key,
            value.into(),
            owners.as_deref()
        ))
    }

    fn set_attribute_values(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
        key: String,
        owners: Vec<u8>,
        values: wit::ValueColumn,
    ) {
        read!(self, (), |s| s.set_attribute_values(
            level.into(),
            key,
            &owners,
            &values.into()
        ))
    }

    fn remove_attribute(
        &mut self,
        _: Resource<BatchHandle>,
        level: wit::AttributeLevel,
        key: String,
        owners: Option<Vec<u8>>,
    ) {
        read!(self, (), |s| s.remove_attribute(
            level.into(),
            key,
            owners.as_deref()
        ))
    }

    fn drop_items(&mut self, _: Resource<BatchHandle>, items: Vec<u8>) {
        read!(self, (), |s| s.drop_items(&items))
    }

    fn apply(&mut self, _: Resource<BatchHandle>, edits: Vec<wit::Edit>) {
        read!(self, (), |s| s
            .apply(edits.into_iter().map(Into::into).collect()))
    }

    fn otlp(&mut self, _: Resource<BatchHandle>) -> Vec<u8> {
        read!(self, Vec::new(), |s| s.otlp())
    }

    fn otlp_json(&mut self, _: Resource<BatchHandle>) -> String {
        read!(self, String::new(), |s| s.otlp_json())
    }

    fn replace_otlp(&mut self, _: Resource<BatchHandle>, request: Vec<u8>) -> Result<(), String> {
        read!(self, Err("no batch is lent outside a call".into()), |s| s
            .replace_otlp(&request))
    }

    fn find(
        &mut self,
        _: Resource<BatchHandle>,
        patterns: Vec<String>,
        cards: bool,
    ) -> Result<wit::Found, String> {
        let m = self.matcher(patterns, cards)?;
        let found = read!(self, weir_columns::Found::default(), |s| s.find(&m));
        Ok(wit::Found {
            items: found.items,
            shared: found.shared,
        })
    }

    fn otlp_items(&mut self, _: Resource<BatchHandle>, items: Vec<u8>) -> Vec<u8> {
        read!(self, Vec::new(), |s| s.otlp_items(&items))
    }

    fn replace_items(
        &mut self,
        _: Resource<BatchHandle>,
        items: Vec<u8>,
        request: Vec<u8>,
    ) -> Result<(), String> {
        read!(self, Err("no batch is lent outside a call".into()), |s| s
            .replace_items(&items, &request))
    }

    fn drop(&mut self, _: Resource<BatchHandle>) -> wasmtime::Result<()> {
        // Borrowed handles are never dropped by the guest; the host owns the batch.
        Ok(())
    }
}
