//! Carrying out a [`Plan`]: the first one starts everything, later ones change only what
//! differs from the running gateway.
//!
//! A change is prepared first: every new or changed processor and policy is compiled and
//! initialised, new or changed exporters are started and new receiver addresses are bound. If
//! anything fails, what was prepared is dropped and the running gateway is left exactly as it
//! was (the error reads like `weir validate`'s). Then it is committed, which cannot fail:
//! - a pipeline whose processors, sampler, exporters or batching changed is reconfigured in
//!   place between two batches ([`weir_pipeline::Reconfigure`]): it keeps its input queue, the
//!   stages of unchanged processors, and its tail sampler's buffered traces and caches (a
//!   changed sampler takes the new policies and settings);
//! - a new pipeline (or one whose `queue_size` changed) starts anew; the old one drains;
//! - an unchanged receiver keeps its sockets and connections and is re-pointed at the new
//!   pipelines ([`Switch`]); a changed one is restarted on the same socket when its address
//!   did not change;
//! - an unchanged exporter keeps its queue; a changed or removed one drains what it holds to
//!   its old destination and stops once no pipeline feeds it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_config::Config;
use weir_core::telemetry::Telemetry;
use weir_core::{Consumer, QueueSender, Signal};
use weir_pipeline::{Fanout, Pipeline, PipelineControl, PipelineInput, Reconfigure, Switch};
use weir_receiver::{BoundReceiver, Listeners, Security, SignalConsumers};

use crate::desired::{Component, Desired};
use crate::plan::{Action, PipelineAction, Plan, ReceiverAction};
use crate::processors::Plugins;
use crate::samplers::Policies;
use crate::swap::{Outcome, Reloader};

mod build;
#[cfg(test)]
mod tests;

/// How long a reload waits for a pipeline to apply its change before answering.
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A running pipeline as a reload sees it.
struct LivePipeline {
    /// Receivers' fan-outs clone it; dropping every clone lets the pipeline drain and stop.
    input: PipelineInput,
    /// Changes in place.
    control: PipelineControl,
}

/// A running receiver as a reload sees it.
struct LiveReceiver {
    /// Its handle on the pipelines, per signal it serves.
    switches: [Option<Arc<Switch>>; 3],
    /// Stops it (a child of the shutdown token).
    stop: CancellationToken,
    /// Duplicates of its sockets, for a restart on the same address.
    listeners: Listeners,
    /// Its TLS and credential files, re-read on a reload that keeps it.
    security: Security,
}

/// The tasks shutdown waits for, in the order it waits.
#[derive(Default)]
pub(crate) struct Tasks {
    /// Receiver servers (current and stopped ones).
    pub receivers: Vec<JoinHandle<()>>,
    /// Pipelines.
    pub pipelines: Vec<JoinHandle<()>>,
    /// Exporter senders.
    pub exporters: Vec<JoinHandle<()>>,
}

/// Everything started from the desired state in force.
pub(crate) struct Live {
    /// What runs: the config and the content of the files it was built from.
    desired: Option<Desired>,
    telemetry: Telemetry,
    /// Set when shutdown begins: receivers refuse from then on.
    closing: Arc<AtomicBool>,
    /// Set by the memory limiter while above the soft limit: receivers refuse meanwhile.
    memory: Arc<AtomicBool>,
    /// The memory limiter's limits, sent anew by every applied config.
    memory_limits: tokio::sync::watch::Sender<Option<(u64, u64)>>,
    /// Fired at the shutdown deadline: exporters and pipelines stop and count what is left.
    abandon: CancellationToken,
    /// Fired when shutdown begins: every receiver stops.
    stop_receivers: CancellationToken,
    plugins: Plugins,
    policies: Policies,
    exporters: BTreeMap<String, QueueSender>,
    /// The disk queues of running exporters, for a changed exporter to take over.
    disk_queues: BTreeMap<String, weir_export::DiskQueue>,
    pipelines: BTreeMap<String, LivePipeline>,
    receivers: BTreeMap<String, LiveReceiver>,
    /// Swaps processors whose plugin files changed; kept in step with the config.
    reloader: Arc<Reloader>,
    tasks: Tasks,
}

/// What a shutdown needs once the gateway stops changing.
pub(crate) struct Stopping {
    /// Set to refuse new requests.
    pub closing: Arc<AtomicBool>,
    /// Fire to stop every receiver.
    pub stop_receivers: CancellationToken,
    /// Fire at the deadline.
    pub abandon: CancellationToken,
    /// What to wait for.
    pub tasks: Tasks,
}

/// What an applied plan did.
pub(crate) struct Applied {
    /// What changed, one line per component ([`Plan::changes`]).
    pub changes: Vec<String>,
    /// What became of each processor loaded from a file (swapped or not).
    pub swaps: Vec<Outcome>,
}

/// What was prepared for one pipeline.
enum PipelinePlan {
    /// Unchanged.
    Keep,
    /// Reconfigure in place.
    Change(Reconfigure),
    /// Start anew (and let the old one, if any, drain).
    Start(Box<Pipeline>, PipelineInput, PipelineControl),
}

impl Live {
    /// Starts the gateway described by `config`.
    pub(crate) async fn start(config: Config, telemetry: &Telemetry) -> anyhow::Result<Live> {
        let mut live = Live {
            desired: None,
            telemetry: telemetry.clone(),
            closing: Arc::new(AtomicBool::new(false)),
            memory: Arc::new(AtomicBool::new(false)),
            memory_limits: tokio::sync::watch::Sender::new(config.service.memory_limits()),
            abandon: CancellationToken::new(),
            stop_receivers: CancellationToken::new(),
            plugins: Plugins::default(),
            policies: Policies::default(),
            exporters: BTreeMap::new(),
            disk_queues: BTreeMap::new(),
            pipelines: BTreeMap::new(),
            receivers: BTreeMap::new(),
            reloader: Arc::new(Reloader::default()),
            tasks: Tasks::default(),
        };
        let desired = tokio::task::spawn_blocking(move || Desired::read(config)).await?;
        live.apply(desired).await?;
        Ok(live)
    }

    /// How many plugins came from the compiled-code cache and how many were compiled, if any
    /// plugin was loaded with the cache on.
    pub(crate) fn cache_stats(&self) -> Option<(usize, usize)> {
        self.plugins.loaded_engine()?.cache_stats()
    }

    /// The plugin reloader, kept in step with the config.
    pub(crate) fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The flag the memory limiter sets to make receivers refuse.
    pub(crate) fn memory_gate(&self) -> Arc<AtomicBool> {
        self.memory.clone()
    }

    /// The memory limits in force, updated by every applied config.
    pub(crate) fn memory_limits(&self) -> crate::memory::Limits {
        self.memory_limits.subscribe()
    }

    /// The desired state in force.
    pub(crate) fn desired(&self) -> Option<&Desired> {
        self.desired.as_ref()
    }

    /// The config in force.
    pub(crate) fn config(&self) -> Option<&Config> {
        self.desired.as_ref().map(|d| &d.config)
    }

    /// Stops changing: drops every handle on pipelines and exporters (so they drain once the
    /// receivers stop) and returns what shutdown needs.
    pub(crate) fn stop(self) -> Stopping {
        Stopping {
            closing: self.closing,
            stop_receivers: self.stop_receivers,
            abandon: self.abandon,
            tasks: self.tasks,
        }
    }

    /// Changes the running gateway into the one `new` describes, or leaves it as it is and
    /// says why not. Says what changed (no changes: nothing but, perhaps, swaps).
    /// Must run to its end once started (not be cancelled halfway): [`crate::control`] runs it
    /// in a task of its own.
    pub(crate) async fn apply(&mut self, mut new: Desired) -> anyhow::Result<Applied> {
        let old = self.desired.take();
        let plan = match crate::plan::plan(old.as_ref(), &new) {
            Ok(plan) => plan,
            Err(e) => {
                self.desired = old;
                return Err(e.into());
            }
        };
        let old_config = old.as_ref().map(|d| &d.config);
        if let Err(e) = self.apply_to(old_config, &new.config, &plan).await {
            self.desired = old;
            return Err(e);
        }
        // The memory limiter follows the new limits (it is told only when they changed).
        let limits = new.config.service.memory_limits();
        self.memory_limits.send_if_modified(|l| {
            let changed = *l != limits;
            *l = limits;
            changed
        });
        // Swaps last: the config part is committed; a version that fails to load leaves the
        // old one running (reported), and the next reload tries again.
        let swaps = self.reloader.swap(&plan.swaps(), &self.telemetry).await;
        if let Some(old) = &old {
            for failed in swaps.iter().filter(|o| o.failed()) {
                new.keep_old_files(old, &Component::Processor(failed.processor().to_string()));
            }
        }
        self.desired = Some(new);
        Ok(Applied {
            changes: plan.changes(),
            swaps,
        })
    }

    async fn apply_to(
        &mut self,
        old: Option<&Config>,
        new: &Config,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        // Processors and samplers: unchanged ones keep what they loaded; the rest load now.
        // A swapped processor keeps its slot; the new version goes into it at the end.
        let same_processor =
            |name: &str| matches!(plan.processors.get(name), Some(Action::Keep | Action::Swap));
        let same_sampler = |name: &str| plan.samplers.get(name) == Some(&Action::Keep);
        let mut plugins = self.plugins.carry(same_processor);
        for (name, p) in new.processors.iter().filter(|(n, _)| !same_processor(n)) {
            plugins.load(new, name, p)?;
        }
        let mut policies = self.policies.carry(same_sampler);
        for (name, s) in new.samplers.iter().filter(|(n, _)| !same_sampler(n)) {
            policies.load(&mut plugins, new, name, s)?;
        }

        // Exporters: build the new and changed ones; they start sending once committed. If a
        // later step fails they are dropped, which closes their queues. A changed exporter
        // whose disk queue stays in the same directory takes the running queue over.
        let same_exporter = |name: &str| {
            plan.exporters.get(name) == Some(&Action::Keep) && self.exporters.contains_key(name)
        };
        let mut exporters: BTreeMap<String, QueueSender> = BTreeMap::new();
        let mut disk_queues = BTreeMap::new();
        let mut prepared = Vec::new();
        let mut claimed: BTreeSet<&str> = BTreeSet::new();
        for (name, cfg) in &new.exporters {
            if same_exporter(name) {
                if let Some(q) = self.exporters.get(name) {
                    exporters.insert(name.clone(), q.clone());
                }
                if let Some(d) = self.disk_queues.get(name) {
                    disk_queues.insert(name.clone(), d.clone());
                }
                continue;
            }
            let tls = crate::security::exporter(new, name, cfg)?;
            let sink = crate::exporters::load(|| plugins.engine(), new, name, cfg, tls.clone())?;
            let queue_dir = cfg
                .sending_queue()
                .dir
                .as_ref()
                .map(|d| new.resolve_path(d.get_ref()));
            // One successor per queue: a second exporter naming the same dir (spelt another
            // way) gets no takeover and fails to open the locked dir instead.
            let take_over = queue_dir.as_deref().and_then(|dir| {
                self.disk_queues
                    .iter()
                    .find(|(n, d)| {
                        !same_exporter(n) && !claimed.contains(n.as_str()) && d.is_in(dir)
                    })
                    .map(|(n, d)| {
                        claimed.insert(n.as_str());
                        d
                    })
            });
            let exporter = weir_export::prepare(
                name,
                cfg,
                tls,
                sink,
                queue_dir.as_deref(),
                take_over,
                &self.telemetry,
                self.abandon.clone(),
            )?;
            exporters.insert(name.clone(), exporter.queue.clone());
            prepared.push((name.clone(), exporter));
        }

        // Pipelines.
        let mut plans = BTreeMap::new();
        for p in &new.pipelines {
            let before = old.and_then(|o| o.pipelines.iter().find(|q| q.id == p.id));
            let running = self.pipelines.contains_key(&p.id);
            let step = match (before, plan.pipelines.get(&p.id)) {
                (_, Some(PipelineAction::Keep)) if running => PipelinePlan::Keep,
                (Some(b), Some(PipelineAction::Reconfigure)) if running => {
                    let change = self.reconfigure(
                        old.unwrap_or(new),
                        &same_sampler,
                        b,
                        p,
                        new,
                        &plugins,
                        &policies,
                        &exporters,
                    );
                    PipelinePlan::Change(change.with_context(|| format!("pipeline {}", p.id))?)
                }
                // A new queue size or ack mode needs a new input queue: start anew.
                _ => {
                    let (mut pipeline, input) =
                        self.pipeline(p, new, &plugins, &policies, &exporters)?;
                    let control = pipeline.control();
                    PipelinePlan::Start(Box::new(pipeline), input, control)
                }
            };
            plans.insert(p.id.clone(), step);
        }
        let inputs: BTreeMap<&str, PipelineInput> = plans
            .iter()
            .filter_map(|(id, plan)| {
                let input = match plan {
                    PipelinePlan::Start(_, input, _) => input.clone(),
                    _ => self.pipelines.get(id)?.input.clone(),
                };
                Some((id.as_str(), input))
            })
            .collect();

        // Receivers: the fan-out of every (receiver, signal) to the new pipelines.
        let mut feeds: BTreeMap<(&str, Signal), Vec<PipelineInput>> = BTreeMap::new();
        for p in &new.pipelines {
            for r in &p.receivers {
                if let Some(input) = inputs.get(p.id.as_str()) {
                    feeds
                        .entry((r.as_str(), p.signal))
                        .or_default()
                        .push(input.clone());
                }
            }
        }
        let mut fanouts: BTreeMap<&str, [Option<Fanout>; 3]> = BTreeMap::new();
        for name in new.receivers.keys() {
            let f = Signal::ALL.map(|s| {
                feeds.remove(&(name.as_str(), s)).map(|inputs| {
                    Fanout::new(inputs, self.closing.clone()).with_memory_gate(self.memory.clone())
                })
            });
            fanouts.insert(name.as_str(), f);
        }
        let mut started = Vec::new();
        let mut kept = Vec::new();
        for (name, cfg) in &new.receivers {
            let Some(fanout) = fanouts.remove(name.as_str()) else {
                continue;
            };
            let running = self.receivers.get(name);
            let same = running.is_some() && plan.receivers.get(name) == Some(&ReceiverAction::Keep);
            if same {
                kept.push((name.clone(), fanout));
                continue;
            }
            let switches = fanout.map(|f| f.map(|f| Arc::new(Switch::new(f))));
            let consumers: SignalConsumers =
                switches.clone().map(|s| s.map(|s| s as Arc<dyn Consumer>));
            let reuse = running.map(|r| &r.listeners);
            let security = crate::security::receiver(new, name, cfg, &self.telemetry)?;
            for w in security.warnings() {
                tracing::warn!(receiver = %name, "{w}");
            }
            let bound =
                BoundReceiver::bind(name, cfg, consumers, security, &self.telemetry, reuse).await?;
            started.push((name.clone(), bound, switches));
        }

        // Commit: nothing below fails.
        for (name, exporter) in prepared {
            let running = exporter.start();
            self.tasks.exporters.extend(running.tasks);
            if let Some(d) = running.disk {
                disk_queues.insert(name, d);
            }
        }
        self.disk_queues = disk_queues;
        let mut applying = Vec::new();
        for (id, plan) in plans {
            match plan {
                PipelinePlan::Keep => {}
                PipelinePlan::Change(change) => {
                    let Some(p) = self.pipelines.get(&id) else {
                        continue;
                    };
                    match p.control.send(change) {
                        Some(applied) => applying.push((id, applied)),
                        None => {
                            tracing::error!(pipeline = %id, "pipeline stopped before a reload reached it")
                        }
                    }
                }
                PipelinePlan::Start(pipeline, input, control) => {
                    self.tasks.pipelines.push(tokio::spawn(pipeline.run()));
                    self.pipelines.insert(id, LivePipeline { input, control });
                }
            }
        }
        // Normally applied at once; a pipeline waiting for room in a stalled exporter's queue
        // applies its change once that batch is handed on (changes queue in order).
        let waits = applying.into_iter().map(|(id, applied)| async move {
            if tokio::time::timeout(APPLY_WAIT, applied).await.is_err() {
                tracing::warn!(pipeline = %id, "pipeline busy (an exporter is stalled); the change applies once its current batch is handed on");
            }
        });
        futures::future::join_all(waits).await;
        let ids: BTreeSet<&str> = new.pipelines.iter().map(|p| p.id.as_str()).collect();
        self.pipelines.retain(|id, _| ids.contains(id.as_str()));
        for (name, fanout) in kept {
            if let Some(r) = self.receivers.get(&name) {
                // A reload re-reads certificate and credential files now, not at the next
                // watch tick (file reads and bcrypt/PEM parsing: off the async workers).
                weir_core::blocking(|| r.security.reload_files());
                for (switch, f) in r.switches.iter().zip(fanout) {
                    if let (Some(switch), Some(f)) = (switch, f) {
                        switch.set(f);
                    }
                }
            }
        }
        let mut starting = Vec::new();
        for (name, bound, switches) in started {
            log_listening(&name, &bound);
            let stop = self.stop_receivers.child_token();
            let listeners = bound.listeners();
            let security = bound.security();
            security.watch();
            starting.push(bound.serve(stop.clone()));
            // The one it replaces stops accepting and finishes its requests.
            if let Some(old) = self.receivers.insert(
                name,
                LiveReceiver {
                    switches,
                    stop,
                    listeners,
                    security,
                },
            ) {
                old.stop.cancel();
            }
        }
        self.tasks.receivers.extend(starting.into_iter().flatten());
        self.receivers.retain(|name, r| {
            let keep = new.receivers.contains_key(name);
            if !keep {
                r.stop.cancel();
            }
            keep
        });
        // Exporters no pipeline lists any more lose their last queue handle here.
        self.exporters = exporters;
        let files = plugins.take_files();
        self.reloader
            .update(plugins.loaded_engine(), same_processor, files)
            .await;
        self.plugins = plugins;
        self.policies = policies;
        Ok(())
    }
}

/// Logs where a started receiver listens (tests and operators read these lines).
fn log_listening(name: &str, bound: &BoundReceiver) {
    let addrs = bound.addrs();
    let security = bound.security();
    let auth = security.auth.is_some();
    if let Some(a) = addrs.grpc {
        let tls = security.grpc_tls.is_some();
        tracing::info!(component = "receiver", receiver = %name, protocol = "grpc", address = %a, tls, auth, "listening");
    }
    if let Some(a) = addrs.http {
        let tls = security.http_tls.is_some();
        tracing::info!(component = "receiver", receiver = %name, protocol = "http", address = %a, tls, auth, "listening");
    }
}
