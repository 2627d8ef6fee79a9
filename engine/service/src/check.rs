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
    // Every independent problem in one run: the config's own, then those of the plugins of
    // every component that is valid.
    let (config, diags) = Config::load_partial(path)?;
    let mut problems: Vec<String> = diags.iter().map(ToString::to_string).collect();
    let mut warnings = crate::security::check(&config, &mut problems);
    let mut note = |r: anyhow::Result<()>| {
        if let Err(e) = r {
            problems.push(format!("{e:#}"));
        }
    };
    note(crate::jaeger::load(&config).map(drop));
    let mut plugins = Plugins::default();
    for (name, p) in &config.processors {
        note(plugins.load(&config, name, p).map(drop));
    }
    let mut policies = Policies::default();
    for (name, s) in &config.samplers {
        note(policies.load(&mut plugins, &config, name, s).map(drop));
    }
    for (name, e) in &config.exporters {
        note(crate::security::exporter(&config, name, e).and_then(|tls| {
            crate::exporters::load(|| plugins.engine(), &config, name, e, tls).map(drop)
        }));
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    let ids: Vec<_> = config.pipelines.iter().map(|p| p.id.as_str()).collect();
    warnings.extend(config.data_loss_risks().iter().map(ToString::to_string));
    Ok((
        format!("{} pipeline(s): {}", ids.len(), ids.join(", ")),
        warnings,
    ))
}
