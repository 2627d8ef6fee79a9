//! Building pipelines for a config, and the change that turns a running pipeline into a new
//! one.

use std::collections::BTreeMap;

use anyhow::Context;
use weir_config::Config;
use weir_core::QueueSender;
use weir_pipeline::{Pipeline, PipelineInput, PipelineSettings, Reconfigure, StageUpdate, Step};

use super::Live;
use crate::processors::Plugins;
use crate::samplers::Policies;

impl Live {
    /// The stage of `name` (a processor or a tail sampler) for pipeline `p`, new.
    fn step(
        &self,
        name: &str,
        p: &weir_config::Pipeline,
        config: &Config,
        plugins: &Plugins,
        policies: &Policies,
    ) -> anyhow::Result<Step> {
        let telemetry = &self.telemetry;
        if let Some(cfg) = config.samplers.get(name) {
            let sampler = policies.sampler(name, cfg, &p.id, telemetry)?;
            return Ok(Step::Task(Box::new(sampler)));
        }
        let cfg = config
            .processors
            .get(name)
            .with_context(|| format!("pipeline {}: processor {name} vanished", p.id))?;
        Ok(Step::Function(
            plugins.stage(name, cfg, &p.id, p.signal, telemetry)?,
        ))
    }

    /// A new pipeline for `p`, every stage fresh.
    pub(super) fn pipeline(
        &self,
        p: &weir_config::Pipeline,
        config: &Config,
        plugins: &Plugins,
        policies: &Policies,
        exporters: &BTreeMap<String, QueueSender>,
    ) -> anyhow::Result<(Pipeline, PipelineInput)> {
        let steps = p
            .processors
            .iter()
            .map(|name| self.step(name, p, config, plugins, policies))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let queues = p
            .exporters
            .iter()
            .filter_map(|e| exporters.get(e).cloned())
            .collect();
        Ok(Pipeline::new(
            settings(p),
            steps,
            queues,
            &self.telemetry,
            self.abandon.clone(),
        ))
    }

    /// The change that turns running pipeline `before` into `p`: unchanged processors and
    /// samplers keep their stages; changed processors get new stages; a changed sampler's
    /// running stage takes the new policies and settings (keeping its buffered traces).
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
        let stages = p
            .processors
            .iter()
            .map(|name| {
                let here = before.processors.contains(name);
                let unchanged = if new.samplers.contains_key(name) {
                    same_sampler(name)
                } else {
                    old.processors.get(name) == new.processors.get(name)
                };
                Ok(if here && unchanged {
                    StageUpdate::Keep(name.clone())
                } else {
                    StageUpdate::New(self.step(name, p, new, plugins, policies)?)
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let settings = settings(p);
        Ok(Reconfigure {
            stages,
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
