//! `weir plugin check` and `weir plugin test`: look at a plugin file, and run it through the real
//! host on an OTLP/JSON fixture (how users test and debug their plugins).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weir_core::telemetry::Telemetry;
use weir_core::{Batch, FailurePolicy, Stage};
use weir_wasm::{
    BreakerSettings, EngineSettings, PluginSettings, PolicyPlugin, ProcessorPlugin, ProcessorStage,
    WasmEngine, WasmPolicy,
};

/// `weir plugin check FILE`: prints what the component is; exit 1 with the reasons if Weir would
/// not load it.
pub(crate) fn check(file: &Path) -> ExitCode {
    let name = file.display().to_string();
    let checked = std::fs::read(file)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|bytes| {
            let engine = WasmEngine::new(&EngineSettings::default()).map_err(|e| e.to_string())?;
            weir_wasm::inspect(&engine, &bytes)
        });
    match checked {
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
        Ok(found) => {
            print!("{}", found.render(&name));
            let problems = found.problems();
            if problems.is_empty() {
                println!("ok: Weir can load it");
                ExitCode::SUCCESS
            } else {
                for p in problems {
                    eprintln!("{name}: {p}");
                }
                ExitCode::FAILURE
            }
        }
    }
}

/// Parses an OTLP/JSON export request of any signal.
fn parse_otlp(file: &Path) -> anyhow::Result<Batch> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Batch::from_otlp_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// The plugin's config: a TOML table (`.toml`) or a JSON object, as JSON.
fn config_json(file: Option<&Path>) -> anyhow::Result<String> {
    let Some(file) = file else {
        return Ok("{}".into());
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if file.extension().is_some_and(|e| e == "toml") {
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message()))?;
        Ok(serde_json::to_string(&table)?)
    } else {
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
        Ok(v.to_string())
    }
}

/// Prints what `--repeat` measured: the second load and the extra calls.
fn report_timing(name: &str, load: Duration, what: &str, mut calls: Vec<Duration>) {
    calls.sort();
    let Some(&min) = calls.first() else { return };
    let at = |q: f64| calls[((calls.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "{name}: load from cache {load:?}; {} calls on {what}: min {min:?}, median {:?}, p90 {:?}",
        calls.len(),
        at(0.5),
        at(0.9)
    );
}

/// `weir plugin test FILE --input IN.json [--expect OUT.json] [--config CFG] [--repeat N]`.
pub(crate) fn test(
    file: &Path,
    input: &Path,
    expect: Option<&Path>,
    config: Option<&Path>,
    repeat: usize,
) -> anyhow::Result<bool> {
    let name = file.file_stem().map_or_else(
        || "plugin".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let engine = WasmEngine::new(&EngineSettings::default())?;
    let found = weir_wasm::inspect(&engine, &bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if let Some(p) = found.problems().first() {
        bail!("{}: {p}", file.display());
    }
    let batch = parse_otlp(input)?;
    let config = config_json(config)?;
    let origin = file.display().to_string();
    let settings = PluginSettings {
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let telemetry = Telemetry::new();
    if found.worlds.contains(&"exporter") {
        bail!(
            "{}: an exporter plugin sends batches over the network; run it in a gateway \
             (`type = \"plugin\"` in [exporters.<name>], docs/plugins/exporters.md)",
            file.display()
        );
    }
    if found.worlds.contains(&"processor") {
        let load = || {
            ProcessorPlugin::from_bytes(
                &engine,
                &name,
                &origin,
                &bytes,
                config.clone(),
                settings.clone(),
            )
        };
        let started = Instant::now();
        let plugin = load()?;
        eprintln!("{name}: loaded in {:?}", started.elapsed());
        let signal = batch.signal();
        if !plugin.signals().contains(&signal) {
            let handles: Vec<&str> = plugin.signals().iter().map(|s| s.as_str()).collect();
            eprintln!(
                "{name}: note: the plugin does not handle {} (its signals(): {}), so the batch passes through without a call, as in the gateway",
                signal.as_str(),
                handles.join(", ")
            );
        }
        let mut stage = ProcessorStage::new(
            Arc::new(plugin),
            signal,
            FailurePolicy::Refuse,
            BreakerSettings::default(),
            telemetry.plugin(&name, "test", signal),
        );
        let items = batch.item_count();
        let input = (repeat > 0).then(|| batch.clone());
        let mut batch = batch;
        let started = Instant::now();
        let outcome = stage.process(&mut batch);
        let took = started.elapsed();
        match &outcome {
            Ok(()) => eprintln!(
                "{name}: {items} {} in, {} out, in {took:?}",
                signal.item_name(),
                batch.item_count()
            ),
            // Said plainly: the batch printed as "out" would only be the input, untouched.
            Err(e) => eprintln!(
                "{name}: the call FAILED after {took:?} ({}): {items} {} in, no output",
                e.kind.as_str(),
                signal.item_name()
            ),
        }
        if let Err(e) = outcome {
            bail!("{e}");
        }
        if let Some(input) = input {
            // A second load finds the compiled code in the cache: instantiate + init.
            let started = Instant::now();
            load()?;
            let again = started.elapsed();
            let calls = time_calls(repeat, || Ok(stage.process(&mut input.clone())?))?;
            report_timing(
                &name,
                again,
                &format!("{items} {}", signal.item_name()),
                calls,
            );
        }
        let got = serde_json::to_string_pretty(&batch.to_otlp_value())?;
        compare(&got, expect)
    } else {
        let load = || {
            PolicyPlugin::from_bytes(
                &engine,
                &name,
                &origin,
                &bytes,
                config.clone(),
                settings.clone(),
            )
        };
        let started = Instant::now();
        let plugin = load()?;
        eprintln!("{name}: loaded in {:?}", started.elapsed());
        let mut policy = WasmPolicy::new(
            Arc::new(plugin),
            BreakerSettings::default(),
            telemetry.plugin(&name, "test", weir_core::Signal::Traces),
        );
        let mut trace = batch;
        let mut evaluate = || {
            weir_tail_sampling::Evaluate::evaluate(&mut policy, &mut trace)
                .map_err(|e| anyhow::anyhow!("{name}: {} ({})", e.message, e.kind))
        };
        let started = Instant::now();
        let verdict = evaluate()?;
        let took = started.elapsed();
        if repeat > 0 {
            // A second load finds the compiled code in the cache: instantiate + init.
            let started = Instant::now();
            load()?;
            let again = started.elapsed();
            let calls = time_calls(repeat, || evaluate().map(drop))?;
            report_timing(&name, again, "the trace", calls);
        }
        eprintln!("{name}: evaluated {} spans in {took:?}", trace.item_count());
        let got = serde_json::to_string_pretty(&serde_json::json!({
            "decision": verdict.decision.as_str(),
            "reason": verdict.reason,
        }))?;
        compare(&got, expect)
    }
}

/// Runs `call` `n` times; how long each run took.
fn time_calls(
    n: usize,
    mut call: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            call().map(|()| started.elapsed())
        })
        .collect()
}

/// Prints `got`, or compares it with the expected file; true when it matches (or nothing was
/// expected).
fn compare(got: &str, expect: Option<&Path>) -> anyhow::Result<bool> {
    let Some(expect) = expect else {
        println!("{got}");
        return Ok(true);
    };
    let text = std::fs::read_to_string(expect)
        .with_context(|| format!("cannot read {}", expect.display()))?;
    let want: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", expect.display()))?;
    let got_v: serde_json::Value = serde_json::from_str(got)?;
    if want == got_v {
        println!("ok: the output matches {}", expect.display());
        return Ok(true);
    }
    let want = serde_json::to_string_pretty(&want)?;
    println!("{}", weir_service::diff(&want, got));
    println!("the output differs from {}", expect.display());
    Ok(false)
}
