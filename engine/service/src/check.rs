//! `weir validate`: everything that can be checked without binding sockets. (`apply.rs` builds
//! the running gateway.)

use std::path::Path;

use weir_config::Config;

use crate::processors::Plugins;
use crate::samplers::Policies;

/// Loads `path` and checks everything that can be checked without binding sockets, including
/// compiling every plugin and running its `init` on its config.
/// Says `N pipeline(s): …` and the warnings (data-loss risks, insecure settings).
pub fn check(path: &Path) -> Result<(String, Vec<String>), crate::Error> {
    Ok(check_inner(path)?)
}

fn check_inner(path: &Path) -> anyhow::Result<(String, Vec<String>)> {
    let config = Config::load(path)?;
    crate::jaeger::load(&config)?;
    let mut warnings = crate::security::check(&config)?;
    let mut plugins = Plugins::default();
    for (name, p) in &config.processors {
        plugins.load(&config, name, p)?;
    }
    let mut policies = Policies::default();
    for (name, s) in &config.samplers {
        policies.load(&mut plugins, &config, name, s)?;
    }
    for (name, e) in &config.exporters {
        let tls = crate::security::exporter(&config, name, e)?;
        crate::exporters::load(|| plugins.engine(), &config, name, e, tls)?;
    }
    let ids: Vec<_> = config.pipelines.iter().map(|p| p.id.as_str()).collect();
    warnings.extend(config.data_loss_risks().iter().map(ToString::to_string));
    Ok((
        format!("{} pipeline(s): {}", ids.len(), ids.join(", ")),
        warnings,
    ))
}
