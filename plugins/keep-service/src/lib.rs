//! An example tail-sampling policy written with the Rust SDK: keep every trace that touched one
//! of the configured services (`config = { services = ["checkout"] }`), no opinion otherwise.

use weir_plugin::{Batch, Config, Policy, Verdict};

/// The policy's config.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeepService {
    /// `service.name` values whose traces are kept.
    services: Vec<String>,
}

impl Policy for KeepService {
    fn init(config: Config) -> Result<Self, String> {
        let p: KeepService = config.parse()?;
        if p.services.is_empty() {
            return Err("services: list at least one service.name".into());
        }
        Ok(p)
    }

    fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String> {
        for resource in trace.resources() {
            if let Some(name) = resource.attribute("service.name").and_then(|v| v.as_str())
                && self.services.iter().any(|s| s == name)
            {
                return Ok(Verdict::keep(format!("touched {name}")));
            }
        }
        Ok(Verdict::no_opinion())
    }
}

weir_plugin::export_policy!(KeepService);
