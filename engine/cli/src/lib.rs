//! The `weir` command line: `weir run` starts a gateway, `weir validate` checks a config.
//! The library form exists so that test and benchmark binaries can run the very same `main`.

mod args;
mod lab;
mod logging;
mod plugins;
mod runtime;
mod samplers;
mod topology;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Command, PluginCommand};

/// `weir plugin check FILE`: prints what the component is; exit 1 with the reasons if Weir would
/// not load it.
fn plugin_check(file: &std::path::Path) -> ExitCode {
    let name = file.display().to_string();
    let checked = std::fs::read(file)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|bytes| {
            let engine = weir_wasm::WasmEngine::new(&weir_wasm::EngineSettings::default())
                .map_err(|e| e.to_string())?;
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

/// Parses the command line and runs the command. Errors are printed to stderr with their causes;
/// the exit code is 0 on success, 1 on a runtime or config error, 2 on a usage error.
pub fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Validate(v) => match topology::check(&v.config) {
            Ok(summary) => {
                println!("{}: ok ({summary})", v.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Lab(l) => match lab::run(&l) {
            Ok(out) => {
                println!(
                    "report: {} and {}",
                    out.join("report.json").display(),
                    out.join("report.html").display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("weir lab: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Plugin(PluginCommand::Check { file }) => plugin_check(&file),
        Command::Run(r) => {
            if let Err(e) = logging::init(&r.log) {
                eprintln!("weir: {e:#}");
                return ExitCode::from(2);
            }
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("weir")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("weir: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(runtime::run(r)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("weir: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
