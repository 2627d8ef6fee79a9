//! Builds the running gateway from a validated config: exporters first, then pipelines that send
//! to them, then receivers that feed the pipelines.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::Config;
use weir_core::telemetry::Telemetry;
use weir_core::{Consumer, Signal};
use weir_pipeline::{Fanout, Pipeline, PipelineInput, PipelineSettings};
use weir_receiver::{BoundReceiver, SignalConsumers};

use crate::plugins::Plugins;
use crate::samplers::Policies;

/// Loads `path` and checks everything that can be checked without binding sockets, including
/// compiling every plugin and running its `init` on its config.
pub(crate) fn check(path: &Path) -> anyhow::Result<String> {
    let config = Config::load(path)?;
    crate::jaeger::load(&config)?;
    let mut plugins = Plugins::default();
    for (name, p) in &config.processors {
        plugins.load(&config, name, p)?;
    }
    let mut policies = Policies::default();
    for (name, s) in &config.samplers {
        policies.load(&mut plugins, &config, name, s)?;
    }
    let ids: Vec<_> = config.pipelines.iter().map(|p| p.id.as_str()).collect();
    Ok(format!("{} pipeline(s): {}", ids.len(), ids.join(", ")))
}

/// Everything started from one config, with the handles shutdown needs.
pub(crate) struct Topology {
    /// Bound but not yet serving receivers.
    pub receivers: Vec<(String, BoundReceiver)>,
    /// One task per pipeline.
    pub pipelines: Vec<JoinHandle<()>>,
    /// The sender tasks of every exporter.
    pub exporters: Vec<JoinHandle<()>>,
    /// Set when shutdown begins: receivers refuse from then on.
    pub closing: Arc<AtomicBool>,
    /// Fired at the shutdown deadline: exporters stop retrying and count what is left.
    pub abandon: CancellationToken,
    /// Swaps processors whose plugin files changed.
    pub reloader: Arc<crate::reload::Reloader>,
}

/// Starts exporters and pipelines and binds receivers.
pub(crate) async fn build(config: &Config, telemetry: &Telemetry) -> anyhow::Result<Topology> {
    let abandon = CancellationToken::new();
    let closing = Arc::new(AtomicBool::new(false));

    let mut exporter_tasks = Vec::new();
    let mut queues = BTreeMap::new();
    for (name, cfg) in &config.exporters {
        let running = weir_export::start(name, cfg, telemetry, abandon.clone())?;
        exporter_tasks.extend(running.tasks);
        queues.insert(name.as_str(), running.queue);
    }

    // Inputs of the pipelines each (receiver, signal) feeds.
    let mut feeds: BTreeMap<(&str, Signal), Vec<PipelineInput>> = BTreeMap::new();
    let mut pipeline_tasks = Vec::new();
    let mut plugins = Plugins::default();
    for (name, p) in &config.processors {
        plugins.load(config, name, p)?;
    }
    let mut policies = Policies::default();
    for (name, s) in &config.samplers {
        policies.load(&mut plugins, config, name, s)?;
    }
    for p in &config.pipelines {
        // A sampler sits after the processors listed before it (validation allows one).
        let sampler = p
            .processors
            .iter()
            .enumerate()
            .find_map(|(at, name)| Some((at, name, config.samplers.get(name)?)))
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
        let exporters = p
            .exporters
            .iter()
            .filter_map(|e| queues.get(e.as_str()).cloned())
            .collect();
        let settings = PipelineSettings {
            id: p.id.clone(),
            signal: p.signal,
            queue_size: p.queue_size,
            send_batch_size: p.batch.send_batch_size,
            batch_timeout: p.batch.timeout.0,
        };
        let (mut pipeline, input) =
            Pipeline::new(settings, stages, exporters, telemetry, abandon.clone());
        if let Some((at, sampler)) = sampler {
            pipeline = pipeline.with_sampler(at, sampler);
        }
        pipeline_tasks.push(tokio::spawn(pipeline.run()));
        for r in &p.receivers {
            feeds
                .entry((r.as_str(), p.signal))
                .or_default()
                .push(input.clone());
        }
    }
    // From here on only pipelines hold exporter queues, so queues close when pipelines end.
    drop(queues);

    let mut receivers = Vec::new();
    for (name, cfg) in &config.receivers {
        let consumers: SignalConsumers = Signal::ALL.map(|s| {
            feeds
                .remove(&(name.as_str(), s))
                .map(|inputs| Arc::new(Fanout::new(inputs, closing.clone())) as Arc<dyn Consumer>)
        });
        let bound = BoundReceiver::bind(name, cfg, consumers, telemetry).await?;
        receivers.push((name.clone(), bound));
    }
    Ok(Topology {
        receivers,
        pipelines: pipeline_tasks,
        exporters: exporter_tasks,
        closing,
        abandon,
        reloader: Arc::new(plugins.into_reloader()),
    })
}
