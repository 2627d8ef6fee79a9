//! `weir lab`: runs the samplers of one or more policy files over a workload with the same code
//! the gateway runs (config, Wasm policies, sampler), and writes the report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weir_config::Config;
use weir_core::telemetry::Telemetry;
use weir_lab::{Candidate, Options, Recorded, Scenario, Source, Synthetic};

use crate::args::LabArgs;
use weir_service::{Plugins, Policies};

/// Tables a policy file gets when it holds only `[samplers.*]`: a receiver, an exporter and one
/// traces pipeline per sampler (under generated names), appended after the user's text so line
/// numbers stay right.
fn completed(text: &str, samplers: &[String]) -> String {
    let mut out = format!(
        "{text}\n[receivers.weir-lab-input]\nhttp = \"127.0.0.1:0\"\n[exporters.weir-lab-output]\ntype = \"debug\"\n"
    );
    for (i, name) in samplers.iter().enumerate() {
        let quoted = toml::Value::String(name.clone()).to_string();
        out.push_str(&format!(
            "[pipelines.traces.weir-lab-{i}]\nreceivers = [\"weir-lab-input\"]\nexporters = [\"weir-lab-output\"]\nprocessors = [{quoted}]\n"
        ));
    }
    out
}

/// The policy configurations of one file: each of its `[samplers.<name>]`.
fn load_candidates(
    path: &Path,
    telemetry: &Telemetry,
    taken: &mut Vec<String>,
) -> anyhow::Result<Vec<Candidate>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    let tables = table.get("samplers").and_then(|s| s.as_table());
    let names: Vec<String> = tables
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    if names.is_empty() {
        bail!(
            "{}: no [samplers.<name>] table: a policy file holds the samplers to compare, as in a gateway config",
            path.display()
        );
    }
    let text = if table.contains_key("pipelines") {
        text
    } else if let Some(other) = ["receivers", "processors", "exporters"]
        .iter()
        .find(|k| table.contains_key(**k))
    {
        bail!(
            "{}: it has [{other}.*] but no [pipelines.*]: a policy file holds only [samplers.*] tables, or is a whole gateway config",
            path.display()
        );
    } else {
        completed(&text, &names)
    };
    let name = path.display().to_string();
    let config = Config::parse(&name, &text, &|k| std::env::var(k).ok())?;
    let mut plugins = Plugins::default();
    let mut policies = Policies::default();
    let mut out = Vec::new();
    for (sampler, cfg) in &config.samplers {
        policies.prepare(&mut plugins, &config, sampler, cfg)?;
        let stem = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let mut label = sampler.clone();
        let mut n = 1;
        while taken.contains(&label) {
            n += 1;
            label = if n == 2 {
                format!("{stem}/{sampler}")
            } else {
                format!("{stem}/{sampler} ({n})")
            };
        }
        taken.push(label.clone());
        // Each candidate reports under its own label, so same-named samplers of two files do
        // not share counters; the lab reads kept spans from the output, so it turns off the
        // attributes `record_policy` would add (they would count as kept bytes).
        let pipeline = format!("lab-{}", taken.len());
        let mut cfg = cfg.clone();
        cfg.record_policy = false;
        let definition = tables
            .and_then(|t| t.get(sampler))
            .and_then(|t| t.as_table())
            .map(|t| weir_lab::describe(sampler, t))
            .unwrap_or_default();
        out.push(Candidate {
            sampler: policies.build(sampler, &cfg, &pipeline, telemetry)?,
            metrics: telemetry.sampler(sampler, &pipeline),
            name: label,
            definition,
        });
    }
    Ok(out)
}

/// A progress bar on stderr, drawn only when stdout is a terminal.
struct Progress {
    shown: bool,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            shown: std::io::stdout().is_terminal(),
            last: Instant::now(),
        }
    }

    fn update(&mut self, at: Duration, total: Duration) {
        if !self.shown || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let share = (at.as_secs_f64() / total.as_secs_f64().max(1e-9)).clamp(0.0, 1.0);
        let filled = (share * 30.0) as usize;
        eprint!(
            "\r[{}{}] {:>3.0}%  {:.0}/{:.0} virtual s",
            "#".repeat(filled),
            " ".repeat(30 - filled),
            share * 100.0,
            at.as_secs_f64(),
            total.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    fn done(&self) {
        if self.shown {
            eprint!("\r{}\r", " ".repeat(60));
        }
    }
}

/// Runs `weir lab`.
pub(crate) fn run(args: &LabArgs) -> anyhow::Result<PathBuf> {
    let telemetry = Telemetry::new();
    let mut taken = Vec::new();
    let mut candidates = Vec::new();
    for file in &args.policies {
        candidates.extend(load_candidates(file, &telemetry, &mut taken)?);
    }
    let workload_name = args.workload.display().to_string();
    let bytes = std::fs::read(&args.workload)
        .with_context(|| format!("cannot read workload {workload_name}"))?;
    let is_scenario = args.workload.extension().is_some_and(|e| e == "toml");
    let scenario;
    let mut recorded;
    let mut synthetic;
    let (name, source): (String, &mut dyn Source) = if is_scenario {
        let text =
            String::from_utf8(bytes).with_context(|| format!("{workload_name}: not UTF-8"))?;
        scenario = Scenario::parse(&workload_name, &text)?;
        synthetic = Synthetic::new(&scenario);
        (scenario.name.clone(), &mut synthetic)
    } else {
        recorded = Recorded::load(&workload_name, &bytes)?;
        (workload_name.clone(), &mut recorded)
    };
    let options = Options {
        slow_threshold: args.slow_threshold.map(|s| s.0),
        no_timing: args.no_timing,
    };
    let mut progress = Progress::new();
    let report = weir_core::blocking(|| {
        weir_lab::run(&name, source, candidates, &options, &mut |at, total| {
            progress.update(at, total)
        })
    });
    progress.done();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json = args.out.join("report.json");
    std::fs::write(&json, report.to_json())
        .with_context(|| format!("cannot write {}", json.display()))?;
    let html = args.out.join("report.html");
    std::fs::write(&html, weir_lab::render_html(&report))
        .with_context(|| format!("cannot write {}", html.display()))?;
    print!("{}", report.table());
    Ok(args.out.clone())
}
