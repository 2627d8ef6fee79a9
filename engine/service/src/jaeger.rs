//! `[admin.jaeger_sampling]`: loads the strategies file (at start, and in `weir validate`) with
//! errors that point at the config key, and starts watching it for changes.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use weir_config::{Config, PathStep};
use weir_core::telemetry::Telemetry;
use weir_jaeger_sampling::Store;

/// `file:line:col: admin.jaeger_sampling.<key>: message` (or just the key when the config has
/// no such line, e.g. the embedded default).
fn at(config: &Config, key: &str, message: String) -> anyhow::Error {
    let steps = [
        PathStep::Key("admin"),
        PathStep::Key("jaeger_sampling"),
        PathStep::Key(key),
    ];
    let name = format!("admin.jaeger_sampling.{key}");
    match config.locate(&steps) {
        Some((span, found)) if found == steps.len() => {
            anyhow::anyhow!("{}", config.diagnostic(span, name, message))
        }
        _ => anyhow::anyhow!("{name}: {message}"),
    }
}

/// The strategies store if the config asks for one; an unreadable or invalid file is an error.
pub(crate) fn load(config: &Config) -> anyhow::Result<Option<Arc<Store>>> {
    let Some(j) = &config.admin.jaeger_sampling else {
        return Ok(None);
    };
    if j.reload_interval.0.is_zero() {
        return Err(at(config, "reload_interval", "must be above 0".into()));
    }
    let path = config.resolve_path(&j.file);
    let store = Store::load(&path).map_err(|e| at(config, "file", e.to_string()))?;
    Ok(Some(Arc::new(store)))
}

/// Watches the file until `shutdown` (see [`Store::watch`]).
pub(crate) fn watch(
    config: &Config,
    store: &Arc<Store>,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = config.admin.jaeger_sampling.as_ref()?.reload_interval.0;
    Some(tokio::spawn(store.clone().watch(
        interval,
        telemetry.clone(),
        shutdown,
    )))
}
