//! Turns `[samplers.*]` into tail samplers: every Wasm policy (a first-party `type` or a
//! `plugin` file) is compiled and initialised once at start, so a bad policy or config stops
//! Weir before it listens; every pipeline using the sampler gets its own instances and buffer.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use weir_config::{
    Config, HOST_POLICY_TYPES, PathStep, PolicyConfig, PolicyFallback, SamplerConfig,
    ShutdownConfig,
};
use weir_core::telemetry::Telemetry;
use weir_core::{Signal, blocking};
use weir_tail_sampling::{Decision, OnShutdown, Policy, Sampler, SamplerSettings};
use weir_wasm::{BreakerSettings, PolicyPlugin, WasmPolicy};

use crate::processors::{Plugins, key_of, load_error, plugin_settings};

/// Policy plugins loaded so far, by (sampler, policy name); builds samplers from them (for
/// pipelines, and for the policy lab).
#[derive(Default)]
pub struct Policies {
    loaded: BTreeMap<(String, String), Arc<PolicyPlugin>>,
    /// The first-party component, compiled once; later `type`s reuse it with their config.
    builtin: Option<Arc<PolicyPlugin>>,
}

impl Policies {
    /// Loads every policy of sampler `name` (compiling each plugin once), so that a bad policy
    /// or config is reported now, at its `file:line`.
    pub fn prepare(
        &mut self,
        plugins: &mut Plugins,
        config: &Config,
        name: &str,
        sampler: &SamplerConfig,
    ) -> Result<(), crate::Error> {
        Ok(self.load(plugins, config, name, sampler)?)
    }

    /// A new sampler `name` reporting as part of `pipeline`; [`Policies::prepare`] must have
    /// succeeded for it.
    pub fn build(
        &self,
        name: &str,
        cfg: &SamplerConfig,
        pipeline: &str,
        telemetry: &Telemetry,
    ) -> Result<Sampler, crate::Error> {
        Ok(self.sampler(name, cfg, pipeline, telemetry)?)
    }

    /// The policies for a new config: those of the samplers `keep` accepts (unchanged ones,
    /// which a config reload keeps running) and the compiled first-party component.
    pub(crate) fn carry(&self, keep: impl Fn(&str) -> bool) -> Policies {
        Policies {
            loaded: self
                .loaded
                .iter()
                .filter(|((sampler, _), _)| keep(sampler))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            builtin: self.builtin.clone(),
        }
    }

    /// Loads every Wasm policy of sampler `name` so that its problems surface now.
    pub(crate) fn load(
        &mut self,
        plugins: &mut Plugins,
        config: &Config,
        name: &str,
        sampler: &SamplerConfig,
    ) -> anyhow::Result<()> {
        for (i, p) in sampler.policies.iter().enumerate() {
            let path = [
                PathStep::Key("samplers"),
                PathStep::Key(name),
                PathStep::Key("policies"),
                PathStep::Index(i),
            ];
            self.load_tree(plugins, config, name, p.get_ref(), &path)?;
        }
        Ok(())
    }

    fn load_tree(
        &mut self,
        plugins: &mut Plugins,
        config: &Config,
        sampler: &str,
        p: &PolicyConfig,
        path: &[PathStep<'_>],
    ) -> anyhow::Result<()> {
        for (i, sub) in p.policies.iter().enumerate() {
            let mut sub_path = path.to_vec();
            sub_path.extend([PathStep::Key("policies"), PathStep::Index(i)]);
            self.load_tree(plugins, config, sampler, sub.get_ref(), &sub_path)?;
        }
        let kind = p.kind.as_ref().map(|k| k.get_ref().as_str());
        if kind.is_some_and(|k| HOST_POLICY_TYPES.contains(&k)) {
            return Ok(());
        }
        let key = (sampler.to_string(), p.name.get_ref().clone());
        if self.loaded.contains_key(&key) {
            return Ok(());
        }
        let engine = plugins.engine()?;
        let name = format!("{sampler}/{}", p.name.get_ref());
        let mut json = serde_json::to_value(&p.config)?;
        if let (Some(kind), Some(obj)) = (kind, json.as_object_mut()) {
            // First-party policies share one component that dispatches on "type".
            obj.insert("type".into(), serde_json::Value::String(kind.to_string()));
        }
        let config_json = json.to_string();
        let settings = plugin_settings(p.timeout.0, p.memory_limit.0, &p.grants);
        let builtin = self.builtin.clone();
        let loaded = blocking(|| match (&p.plugin, builtin) {
            (Some(file), _) => {
                let file = config.resolve_path(file.get_ref());
                PolicyPlugin::load(&engine, &name, &file, config_json, settings)
            }
            (None, Some(base)) => base.with_config(&name, config_json, settings),
            (None, None) => PolicyPlugin::from_bytes(
                &engine,
                &name,
                "builtin policies",
                weir_builtins::POLICIES,
                config_json,
                settings,
            ),
        });
        match loaded {
            Ok(plugin) => {
                let plugin = Arc::new(plugin);
                if p.plugin.is_none() && self.builtin.is_none() {
                    self.builtin = Some(plugin.clone());
                }
                self.loaded.insert(key, plugin);
                Ok(())
            }
            Err(e) => {
                let mut table = path.to_vec();
                table.push(PathStep::Key("config"));
                let (span, what) = match (&p.plugin, &p.kind) {
                    (Some(f), _) => (f.span(), "plugin"),
                    (None, Some(k)) => (k.span(), "type"),
                    (None, None) => (p.name.span(), "name"),
                };
                Err(load_error(config, &table, &name, &e, || {
                    config.diagnostic(span, format!("{}.{what}", key_of(path)), e.to_string())
                }))
            }
        }
    }

    /// A new sampler `name` for one pipeline; [`Policies::load`] must have succeeded.
    pub(crate) fn sampler(
        &self,
        name: &str,
        cfg: &SamplerConfig,
        pipeline: &str,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Sampler> {
        let policies = cfg
            .policies
            .iter()
            .map(|p| self.policy(name, p.get_ref(), pipeline, telemetry))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let settings = SamplerSettings {
            decision_wait: cfg.decision_wait.0,
            decision_wait_after_root: cfg.decision_wait_after_root.map(|s| s.0),
            max_traces: cfg.max_traces,
            max_buffered_bytes: cfg.max_buffered_bytes.as_usize(),
            max_trace_bytes: cfg.trace_bytes().as_usize(),
            block_on_overflow: cfg.block_on_overflow,
            kept_cache_size: cfg.decision_cache.kept,
            dropped_cache_size: cfg.decision_cache.dropped,
            on_shutdown: match cfg.on_shutdown {
                ShutdownConfig::Decide => OnShutdown::Decide,
                ShutdownConfig::Drop => OnShutdown::Drop,
            },
            record_policy: cfg.record_policy,
        };
        Ok(Sampler::new(
            name,
            settings,
            policies,
            telemetry.sampler(name, pipeline),
        ))
    }

    /// One policy (tree) with fresh instances and budgets.
    fn policy(
        &self,
        sampler: &str,
        p: &PolicyConfig,
        pipeline: &str,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Policy> {
        let name = p.name.get_ref().as_str();
        let subs = || {
            p.policies
                .iter()
                .map(|s| self.policy(sampler, s.get_ref(), pipeline, telemetry))
                .collect::<anyhow::Result<Vec<_>>>()
        };
        Ok(match p.kind.as_ref().map(|k| k.get_ref().as_str()) {
            Some("and") => Policy::and(name, subs()?),
            Some("not") => match subs()?.pop() {
                Some(sub) => Policy::not(name, sub),
                None => bail!("sampler {sampler}: policy {name}: `not` needs a sub-policy"),
            },
            Some("drop") => Policy::drop_when(name, subs()?),
            Some("first_match") => Policy::first_match(name, subs()?),
            Some("rate_limiting") => {
                Policy::rate_limiting(name, p.spans_per_second.unwrap_or_default())
            }
            Some("bytes_limiting") => {
                let rate = p.bytes_per_second.map_or(0, |b| b.0);
                let burst = p.burst.map_or(rate.saturating_mul(2), |b| b.0);
                Policy::bytes_limiting(name, rate, burst)
            }
            Some("composite") => {
                let shares = p.policies.iter().map(|s| s.get_ref().percent);
                let subs = subs()?.into_iter().zip(shares).collect();
                Policy::composite(name, p.max_total_spans_per_second.unwrap_or_default(), subs)
            }
            _ => {
                let key = (sampler.to_string(), name.to_string());
                let Some(plugin) = self.loaded.get(&key) else {
                    bail!("sampler {sampler}: policy {name} was not loaded");
                };
                let metrics =
                    telemetry.plugin(&format!("{sampler}/{name}"), pipeline, Signal::Traces);
                let eval = WasmPolicy::new(plugin.clone(), BreakerSettings::default(), metrics);
                let fallback = match p.on_error {
                    PolicyFallback::NoOpinion => Decision::NoOpinion,
                    PolicyFallback::Keep => Decision::Keep,
                    PolicyFallback::Drop => Decision::Drop,
                };
                Policy::leaf(name, Box::new(eval), fallback)
            }
        })
    }
}
