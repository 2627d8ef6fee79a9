//! Plans from pairs of desired states: no file is read, nothing starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

const BASE: &str = r#"
[receivers.otlp]
grpc = "127.0.0.1:0"
[receivers.extra]
http = "127.0.0.1:0"
[processors.scrub]
plugin = "scrub.wasm"
[processors.tag]
plugin = "builtin:noop"
[samplers.tail]
[[samplers.tail.policies]]
name = "mine"
plugin = "policy.wasm"
[exporters.out]
type = "debug"
[pipelines.traces]
receivers = ["otlp"]
processors = ["scrub", "tail"]
exporters = ["out"]
[pipelines.logs]
receivers = ["otlp"]
processors = ["tag"]
exporters = ["out"]
[pipelines.metrics]
receivers = ["extra"]
exporters = ["out"]
"#;

fn config(text: &str) -> Config {
    Config::parse("weir.toml", text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// `text` with the files it names hashed as `hashes` says (by file name).
fn desired(text: &str, hashes: &[(&str, u64)]) -> Desired {
    let hashes: BTreeMap<PathBuf, Option<u64>> = hashes
        .iter()
        .map(|(f, h)| (PathBuf::from(f), Some(*h)))
        .collect();
    Desired::with_hashes(config(text), &hashes)
}

const FILES: &[(&str, u64)] = &[("scrub.wasm", 1), ("policy.wasm", 2)];

#[test]
fn the_first_start_builds_everything() {
    let plan = plan(None, &desired(BASE, FILES)).unwrap();
    assert_eq!(plan.processors["scrub"], Action::Build);
    assert_eq!(plan.samplers["tail"], Action::Build);
    assert_eq!(plan.pipelines["traces"], PipelineAction::Start);
    assert_eq!(plan.receivers["otlp"], ReceiverAction::Start);
    assert!(plan.removed.is_empty());
}

#[test]
fn the_same_state_changes_nothing() {
    let (a, b) = (desired(BASE, FILES), desired(BASE, FILES));
    let plan = plan(Some(&a), &b).unwrap();
    assert_eq!(plan.changes(), Vec::<String>::new());
    assert!(plan.swaps().is_empty());
}

#[test]
fn a_changed_processor_file_is_swapped_in_place_without_touching_the_pipeline() {
    let a = desired(BASE, FILES);
    let b = desired(BASE, &[("scrub.wasm", 9), ("policy.wasm", 2)]);
    let plan = plan(Some(&a), &b).unwrap();
    assert_eq!(plan.processors["scrub"], Action::Swap);
    assert_eq!(plan.pipelines["traces"], PipelineAction::Keep);
    assert_eq!(plan.swaps().into_iter().collect::<Vec<_>>(), ["scrub"]);
    assert!(plan.changes().is_empty(), "{:?}", plan.changes());
}

#[test]
fn a_changed_policy_file_rebuilds_its_sampler_and_reconfigures_its_pipeline() {
    let a = desired(BASE, FILES);
    let b = desired(BASE, &[("scrub.wasm", 1), ("policy.wasm", 7)]);
    let plan = plan(Some(&a), &b).unwrap();
    assert_eq!(plan.samplers["tail"], Action::Build);
    assert_eq!(plan.changes(), ["sampler tail", "pipeline traces"]);
    // A policy file that cannot be read now is a change too (its load will say why).
    let c = desired(BASE, &[("scrub.wasm", 1)]);
    assert_eq!(
        super::plan(Some(&a), &c).unwrap().samplers["tail"],
        Action::Build
    );
}

#[test]
fn config_changes_reach_only_what_they_touch() {
    let a = desired(BASE, FILES);
    // The logs pipeline gets a batch size; `extra` now serves it; `tag` is removed from it.
    let text = BASE.replace(
        "[pipelines.logs]\nreceivers = [\"otlp\"]\nprocessors = [\"tag\"]",
        "[pipelines.logs]\nreceivers = [\"otlp\", \"extra\"]\nprocessors = []\nbatch = { send_batch_size = 10, timeout = \"1s\" }",
    );
    let text = text.replace("[processors.tag]\nplugin = \"builtin:noop\"\n", "");
    let b = desired(&text, FILES);
    let plan = plan(Some(&a), &b).unwrap();
    assert_eq!(plan.pipelines["logs"], PipelineAction::Reconfigure);
    assert_eq!(plan.pipelines["traces"], PipelineAction::Keep);
    assert_eq!(plan.receivers["otlp"], ReceiverAction::Keep);
    assert_eq!(plan.receivers["extra"], ReceiverAction::Start);
    assert_eq!(
        plan.changes(),
        ["pipeline logs", "receiver extra", "processor tag removed"]
    );
}

#[test]
fn a_new_queue_size_starts_the_pipeline_anew() {
    let a = desired(BASE, FILES);
    let text = BASE.replace(
        "[pipelines.traces]\n",
        "[pipelines.traces]\nqueue_size = 7\n",
    );
    let plan = plan(Some(&a), &desired(&text, FILES)).unwrap();
    assert_eq!(plan.pipelines["traces"], PipelineAction::Start);
    assert_eq!(plan.processors["scrub"], Action::Keep);
}

#[test]
fn admin_and_watch_settings_need_a_restart() {
    let a = desired(BASE, FILES);
    let text = format!("[admin]\nlisten = \"127.0.0.1:9999\"\n{BASE}");
    let err = plan(Some(&a), &desired(&text, FILES)).unwrap_err();
    assert_eq!(err.0, ["[admin]"]);
    assert!(err.to_string().contains("restart Weir"), "{err}");
}
