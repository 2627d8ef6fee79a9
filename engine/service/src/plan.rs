//! What a reload changes, decided from two desired states alone: no file is read, nothing is
//! started. [`crate::apply`] carries a plan out.

use std::collections::{BTreeMap, BTreeSet};

use weir_config::Config;
use weir_core::Signal;

use crate::desired::{Component, Desired};

/// What becomes of one processor, sampler or exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Unchanged: the running one stays, with its state (a sampler's buffer, an exporter's
    /// queue, a processor's instances).
    Keep,
    /// Processors only: the config is the same but the plugin file changed: the new version
    /// is loaded, self-tested and swapped in place; each stage picks it up at its next batch.
    Swap,
    /// New, or its config (or, for samplers and exporters, one of its files) changed: built
    /// anew. A sampler built anew is adopted by the running one of the same name (keeping its
    /// buffered traces); an exporter built anew gets a new queue while the old drains.
    Build,
}

/// What becomes of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineAction {
    /// Unchanged.
    Keep,
    /// Changed in place between two batches (stages, exporters, batching): it keeps its input
    /// queue and the stages of unchanged processors and samplers.
    Reconfigure,
    /// New, or its `queue_size` or `ack` changed: started anew; an old one drains.
    Start,
}

/// What becomes of one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverAction {
    /// Unchanged: keeps its sockets and connections, re-pointed at the new pipelines.
    Keep,
    /// New or changed: (re)started, on the same sockets when its addresses did not change.
    Start,
}

/// Everything a reload changes. Components the new config no longer has are in `removed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every processor of the new config.
    pub processors: BTreeMap<String, Action>,
    /// Every sampler of the new config.
    pub samplers: BTreeMap<String, Action>,
    /// Every exporter of the new config.
    pub exporters: BTreeMap<String, Action>,
    /// Every pipeline of the new config, by id.
    pub pipelines: BTreeMap<String, PipelineAction>,
    /// Every receiver of the new config.
    pub receivers: BTreeMap<String, ReceiverAction>,
    /// What goes away: `processor x removed`, `pipeline y removed` …
    pub removed: Vec<String>,
    /// `[service]` settings changed (those a reload can apply).
    pub service: bool,
}

/// Why a change cannot be applied by a reload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} cannot change while Weir runs (they are set up at start); restart Weir to apply the new config. Nothing was changed.",
    .0.join(" and ")
)]
pub struct RestartNeeded(pub Vec<&'static str>);

/// What turns a gateway running `old` into one running `new` (`old = None`: the first start,
/// everything is built). Fails when `new` changes what only a restart applies.
pub fn plan(old: Option<&Desired>, new: &Desired) -> Result<Plan, RestartNeeded> {
    if let Some(old) = old {
        restart_only(&old.config, &new.config)?;
    }
    let (oc, nc) = (old.map(|o| &o.config), &new.config);
    let files_same = |c: Component| old.is_some_and(|o| !o.files_differ(new, &c));
    let mut plan = Plan::default();
    for (name, p) in &nc.processors {
        let same_config = oc.and_then(|o| o.processors.get(name)) == Some(p);
        let action = match (same_config, files_same(Component::Processor(name.clone()))) {
            (true, true) => Action::Keep,
            (true, false) => Action::Swap,
            (false, _) => Action::Build,
        };
        plan.processors.insert(name.clone(), action);
    }
    for (name, s) in &nc.samplers {
        let same = oc.and_then(|o| o.samplers.get(name)) == Some(s)
            && files_same(Component::Sampler(name.clone()));
        plan.samplers.insert(name.clone(), keep_or_build(same));
    }
    for (name, e) in &nc.exporters {
        let same = oc.and_then(|o| o.exporters.get(name)) == Some(e)
            && files_same(Component::Exporter(name.clone()));
        plan.exporters.insert(name.clone(), keep_or_build(same));
    }
    for p in &nc.pipelines {
        let before = oc.and_then(|o| o.pipelines.iter().find(|q| q.id == p.id));
        let action = match before {
            Some(b) if b.queue_size == p.queue_size && b.ack == p.ack => {
                let stages_kept = p.processors.iter().all(|n| {
                    let a = plan.processors.get(n).or_else(|| plan.samplers.get(n));
                    // A swapped processor changes in place, not in the pipeline.
                    matches!(a, Some(Action::Keep | Action::Swap))
                });
                let exporters_kept = p
                    .exporters
                    .iter()
                    .all(|e| plan.exporters.get(e) == Some(&Action::Keep));
                if b == p && stages_kept && exporters_kept {
                    PipelineAction::Keep
                } else {
                    PipelineAction::Reconfigure
                }
            }
            _ => PipelineAction::Start,
        };
        plan.pipelines.insert(p.id.clone(), action);
    }
    for (name, r) in &nc.receivers {
        let same = oc.is_some_and(|o| {
            o.receivers.get(name) == Some(r) && signals_of(o, name) == signals_of(nc, name)
        });
        let action = if same {
            ReceiverAction::Keep
        } else {
            ReceiverAction::Start
        };
        plan.receivers.insert(name.clone(), action);
    }
    if let Some(o) = oc {
        let gone = |kind: &str, old: Vec<&String>, new: &dyn Fn(&str) -> bool| {
            old.into_iter()
                .filter(|n| !new(n))
                .map(|n| format!("{kind} {n} removed"))
                .collect::<Vec<_>>()
        };
        plan.removed
            .extend(gone("receiver", o.receivers.keys().collect(), &|n| {
                nc.receivers.contains_key(n)
            }));
        plan.service = o.service != nc.service;
        plan.removed
            .extend(gone("processor", o.processors.keys().collect(), &|n| {
                nc.processors.contains_key(n)
            }));
        plan.removed
            .extend(gone("sampler", o.samplers.keys().collect(), &|n| {
                nc.samplers.contains_key(n)
            }));
        plan.removed.extend(gone(
            "pipeline",
            o.pipelines.iter().map(|p| &p.id).collect(),
            &|id| nc.pipelines.iter().any(|p| p.id == id),
        ));
        plan.removed
            .extend(gone("exporter", o.exporters.keys().collect(), &|n| {
                nc.exporters.contains_key(n)
            }));
    }
    Ok(plan)
}

fn keep_or_build(same: bool) -> Action {
    if same { Action::Keep } else { Action::Build }
}

/// The signals receiver `name` serves in `config` (the pipelines that list it).
fn signals_of(config: &Config, name: &str) -> BTreeSet<Signal> {
    config
        .pipelines
        .iter()
        .filter(|p| p.receivers.iter().any(|r| r == name))
        .map(|p| p.signal)
        .collect()
}

impl Plan {
    /// What changes, one line per component, as a reload reports it (`processor x`,
    /// `pipeline traces`, `receiver otlp removed` …). Swapped processors are reported with the
    /// plugin reloads instead. Empty: nothing changes.
    pub fn changes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let built = |kind: &str, m: &BTreeMap<String, Action>| {
            m.iter()
                .filter(|(_, a)| **a == Action::Build)
                .map(|(n, _)| format!("{kind} {n}"))
                .collect::<Vec<_>>()
        };
        out.extend(built("processor", &self.processors));
        out.extend(built("sampler", &self.samplers));
        out.extend(built("exporter", &self.exporters));
        out.extend(
            self.pipelines
                .iter()
                .filter(|(_, a)| **a != PipelineAction::Keep)
                .map(|(id, _)| format!("pipeline {id}")),
        );
        out.extend(
            self.receivers
                .iter()
                .filter(|(_, a)| **a == ReceiverAction::Start)
                .map(|(n, _)| format!("receiver {n}")),
        );
        // Removed receivers first, then `service`, then the rest (as reloads always said).
        out.extend(
            self.removed
                .iter()
                .filter(|r| r.starts_with("receiver "))
                .cloned(),
        );
        if self.service {
            out.push("service".to_string());
        }
        out.extend(
            self.removed
                .iter()
                .filter(|r| !r.starts_with("receiver "))
                .cloned(),
        );
        out
    }

    /// The processors whose new plugin version is swapped in place.
    pub fn swaps(&self) -> BTreeSet<String> {
        self.processors
            .iter()
            .filter(|(_, a)| **a == Action::Swap)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Refuses changes that only a restart applies.
fn restart_only(old: &Config, new: &Config) -> Result<(), RestartNeeded> {
    let mut tables = Vec::new();
    if old.admin != new.admin {
        tables.push("[admin]");
    }
    let (o, n) = (&old.service, &new.service);
    if (o.watch_plugins, o.watch_config, o.watch_poll)
        != (n.watch_plugins, n.watch_config, n.watch_poll)
    {
        tables.push("service.watch_plugins, watch_config and watch_poll");
    }
    if tables.is_empty() {
        Ok(())
    } else {
        Err(RestartNeeded(tables))
    }
}

#[cfg(test)]
mod tests;
