//! Building pipelines for a config, and the change that turns a running pipeline into a new
//! one.

use std::collections::BTreeMap;

use anyhow::Context;
use weir_config::Config;
use weir_core::QueueSender;
use weir_pipeline::{
    Pipeline, PipelineInput, PipelineSettings, Reconfigure, SamplerUpdate, StageUpdate,
};

use super::Live;
use crate::plugins::Plugins;
use crate::samplers::Policies;

/// The sampler a pipeline lists (validation allows one), its position and its config.
fn sampler_of<'a>(
    p: &'a weir_config::Pipeline,
    config: &'a Config,
) -> Option<(usize, &'a str, &'a weir_config::SamplerConfig)> {
    p.processors
        .iter()
        .enumerate()
        .find_map(|(at, name)| Some((at, name.as_str(), config.samplers.get(name)?)))
}

impl Live {
    /// A new pipeline for `p`, every stage and its sampler fresh.
    pub(super) fn pipeline(
        &self,
        p: &weir_config::Pipeline,
        config: &Config,
        plugins: &Plugins,
        policies: &Policies,
        exporters: &BTreeMap<String, QueueSender>,
    ) -> anyhow::Result<(Pipeline, PipelineInput)> {
        let telemetry = &self.telemetry;
        let sampler = sampler_of(p, config)
            .map(|(at, name, cfg)| {
                policies
                    .sampler(name, cfg, &p.id, telemetry)
                    .map(|s| (at, s))
            })
            .transpose()?;
        let stages = p
            .processors
            .iter()
            .filter(|name| !config.samplers.contains_key(*name))
            .map(|name| {
                let cfg = config
                    .processors
                    .get(name)
                    .with_context(|| format!("pipeline {}: processor {name} vanished", p.id))?;
                plugins.stage(name, cfg, &p.id, p.signal, telemetry)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let queues = p
            .exporters
            .iter()
            .filter_map(|e| exporters.get(e).cloned())
            .collect();
        let (mut pipeline, input) =
            Pipeline::new(settings(p), stages, queues, telemetry, self.abandon.clone());
        if let Some((at, sampler)) = sampler {
            pipeline = pipeline.with_sampler(at, sampler);
        }
        Ok((pipeline, input))
    }

    /// The change that turns running pipeline `before` into `p`: unchanged processors keep
    /// their stages, changed ones get new stages, and the sampler is kept, replaced (keeping
    /// its buffered traces) or removed.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of one prepared change"
    )]
    pub(super) fn reconfigure(
        &self,
        old: &Config,
        same_sampler: &dyn Fn(&str) -> bool,
        before: &weir_config::Pipeline,
        p: &weir_config::Pipeline,
        new: &Config,
        plugins: &Plugins,
        policies: &Policies,
        exporters: &BTreeMap<String, QueueSender>,
    ) -> anyhow::Result<Reconfigure> {
        let telemetry = &self.telemetry;
        let stages = p
            .processors
            .iter()
            .filter(|name| !new.samplers.contains_key(*name))
            .map(|name| {
                let cfg = new
                    .processors
                    .get(name)
                    .with_context(|| format!("processor {name} vanished"))?;
                let unchanged =
                    old.processors.get(name) == Some(cfg) && before.processors.contains(name);
                Ok(if unchanged {
                    StageUpdate::Keep(name.clone())
                } else {
                    StageUpdate::New(plugins.stage(name, cfg, &p.id, p.signal, telemetry)?)
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let sampler = match (sampler_of(before, old), sampler_of(p, new)) {
            (_, None) => SamplerUpdate::None,
            (Some((_, was, _)), Some((at, name, _))) if was == name && same_sampler(name) => {
                SamplerUpdate::Keep { at }
            }
            (_, Some((at, name, cfg))) => SamplerUpdate::Replace {
                at,
                sampler: Box::new(policies.sampler(name, cfg, &p.id, telemetry)?),
            },
        };
        let settings = settings(p);
        Ok(Reconfigure {
            stages,
            sampler,
            exporters: p
                .exporters
                .iter()
                .filter_map(|e| exporters.get(e).cloned())
                .collect(),
            send_batch_size: settings.send_batch_size,
            batch_timeout: settings.batch_timeout,
        })
    }
}

/// A pipeline's settings from its config.
fn settings(p: &weir_config::Pipeline) -> PipelineSettings {
    PipelineSettings {
        id: p.id.clone(),
        signal: p.signal,
        queue_size: p.queue_size,
        send_batch_size: p.batch.send_batch_size,
        batch_timeout: p.batch.timeout.0,
        ack_processed: p.ack == weir_config::AckMode::Processed,
    }
}
