//! Exporter plugins (`[exporters.<name>] type = "plugin"`): each is compiled and initialised
//! once, with its HTTP requests restricted to its allowed hosts, and handed to `weir-export`'s
//! queue and retry machinery as a [`PluginSink`].

use std::sync::Arc;

use anyhow::bail;
use weir_config::{Config, ExporterConfig, PathStep, PluginExporter};
use weir_core::{Batch, blocking};
use weir_export::{Attempt, PluginSink};
use weir_wasm::{AllowList, ExporterPlugin, SendOutcome, WasmEngine};

use crate::processors::{load_error, plugin_settings};

/// An exporter plugin as `weir-export` sees it.
struct WasmSink(ExporterPlugin);

impl PluginSink for WasmSink {
    fn send(&self, batch: Batch) -> Attempt {
        match self.0.send(batch) {
            SendOutcome::Sent { rejected, message } => Attempt::Delivered { rejected, message },
            SendOutcome::Retryable {
                message,
                retry_after,
            } => Attempt::Retryable {
                message,
                throttle: retry_after,
            },
            // A plugin that gives up on a batch because the backend refused its credentials,
            // URL or encoding is misconfigured, like a native exporter getting that answer:
            // it is marked failed and keeps its data instead of dropping every batch.
            SendOutcome::Rejected { message, status } => {
                match status.and_then(weir_export::config_refusal_hint) {
                    Some(hint) => Attempt::Misconfigured { message, hint },
                    None => Attempt::Permanent { message },
                }
            }
        }
    }
}

/// The hosts exporter `cfg` may reach: `allowed_hosts`, and the hosts of its `config.endpoint`
/// and `config.*_endpoint` URLs (a URL with credentials in it allows nothing: the host refuses
/// `user@host` authorities).
fn allowed_hosts(cfg: &PluginExporter) -> Vec<String> {
    let mut hosts: Vec<String> = cfg.allowed_hosts.clone();
    let urls = cfg.config.iter().filter_map(|(key, value)| match value {
        toml::Value::String(url) if key == "endpoint" || key.ends_with("_endpoint") => Some(url),
        _ => None,
    });
    for url in urls {
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            if !authority.is_empty() {
                hosts.push(authority.to_string());
            }
        }
    }
    hosts
}

/// Loads exporter `name` if it is a plugin (`None` for native exporters).
/// Its `https://` requests use `tls` (from [`crate::security::exporter`]).
pub(crate) fn load(
    engine: impl FnOnce() -> anyhow::Result<WasmEngine>,
    config: &Config,
    name: &str,
    cfg: &ExporterConfig,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
) -> anyhow::Result<Option<Arc<dyn PluginSink>>> {
    let ExporterConfig::Plugin(cfg) = cfg else {
        return Ok(None);
    };
    let plugin = &cfg.plugin;
    let key = format!("exporters.{name}.plugin");
    let at_plugin = |message: String| config.diagnostic(plugin.span(), key.clone(), message);
    let (origin, bytes) = match plugin.get_ref().strip_prefix("builtin:") {
        Some(b) => match weir_builtins::exporter(b) {
            Some(wasm) => (plugin.get_ref().clone(), wasm.to_vec()),
            None => bail!(
                "{}",
                at_plugin(format!(
                    "unknown built-in exporter {:?} (this build has: {})",
                    plugin.get_ref(),
                    weir_builtins::EXPORTERS
                        .iter()
                        .map(|(n, _)| format!("builtin:{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            ),
        },
        None => {
            let path = config.resolve_path(plugin.get_ref());
            match std::fs::read(&path) {
                Ok(bytes) => (path.display().to_string(), bytes),
                Err(e) => bail!(
                    "{}",
                    at_plugin(format!("cannot read {}: {e}", path.display()))
                ),
            }
        }
    };
    let config_json = serde_json::to_string(&cfg.config)?;
    let mut settings = plugin_settings(
        weir_core::CallBudget::fixed(cfg.timeout.0),
        cfg.memory_limit.0,
        &cfg.grants,
    );
    settings.grants.clocks = true;
    let mut allow = AllowList::new(name, allowed_hosts(cfg));
    if let Some(tls) = tls {
        let server_name = cfg
            .tls
            .as_ref()
            .and_then(|t| t.get_ref().server_name.as_ref())
            .map(|n| n.get_ref().clone());
        allow = allow.with_tls(tls, server_name);
    }
    let engine = engine()?;
    let loaded = blocking(|| {
        ExporterPlugin::from_bytes(&engine, name, &origin, &bytes, config_json, settings, allow)
    });
    match loaded {
        Ok(p) => Ok(Some(Arc::new(WasmSink(p)))),
        Err(e) => {
            let table = [
                PathStep::Key("exporters"),
                PathStep::Key(name),
                PathStep::Key("config"),
            ];
            Err(load_error(config, &table, name, &e, || {
                at_plugin(e.to_string())
            }))
        }
    }
}
