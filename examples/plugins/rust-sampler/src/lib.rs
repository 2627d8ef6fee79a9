//! tier-policy: a Weir tail-sampling policy. It keeps every trace in which a span has an error or
//! the attribute `customer.tier` set to one of the configured values, and has no opinion otherwise.
//!
//! Config: `{ values = ["enterprise"] }`.

use weir_plugin::{Batch, Config, Policy, Verdict};

/// The policy's config.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Plugin {
    /// Values of `customer.tier` whose traces are kept.
    values: Vec<String>,
}

impl Policy for Plugin {
    fn init(config: Config) -> Result<Self, String> {
        let p: Plugin = config.parse()?;
        if p.values.is_empty() {
            return Err("values: list at least one value".into());
        }
        Ok(p)
    }

    fn evaluate(&mut self, trace: &Batch) -> Result<Verdict, String> {
        for span in trace.items() {
            if span.status_code() == 2 {
                return Ok(Verdict::keep("error"));
            }
            if let Some(v) = span.attribute("customer.tier").and_then(|v| v.as_str())
                && self.values.iter().any(|x| x == v)
            {
                return Ok(Verdict::keep(format!("customer.tier={v}")));
            }
        }
        Ok(Verdict::no_opinion())
    }
}

weir_plugin::export_policy!(Plugin);
