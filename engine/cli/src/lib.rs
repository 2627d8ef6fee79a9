//! The `weir` command line: `weir run` starts a gateway, `weir validate` checks a config.
//! The library form exists so that test and benchmark binaries can run the very same `main`.

mod args;
mod lab;
mod logging;
mod new;
mod plugin_cmd;
mod runtime;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Command, PluginCommand};

/// Parses the command line and runs the command. Errors are printed to stderr with their causes;
/// the exit code is 0 on success, 1 on a runtime or config error, 2 on a usage error.
pub fn main() -> ExitCode {
    // rustls' `ring` provider for libraries that build TLS configs without naming one.
    weir_tls::install_default_provider();
    let args = Args::parse();
    match args.command {
        Command::Validate(v) => match weir_service::check(&v.config) {
            Ok((summary, warnings)) => {
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                let note = match warnings.len() {
                    0 => String::new(),
                    n => format!("; {n} warning(s) above"),
                };
                println!("{}: ok ({summary}{note})", v.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Convert(c) => convert(&c),
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
        Command::Plugin(PluginCommand::Check { file }) => plugin_cmd::check(&file),
        Command::Plugin(PluginCommand::New {
            name,
            lang,
            kind,
            dir,
            sdk,
        }) => match new::create(&name, lang, kind, dir.as_deref(), sdk.as_deref()) {
            Ok(dir) => {
                println!(
                    "created {}: cd there, build it and run the test command as its README.md says",
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("weir plugin new: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Plugin(PluginCommand::Test {
            file,
            input,
            expect,
            config,
            repeat,
        }) => {
            // The plugin's log lines go to stderr, as in the gateway.
            let log = args::LogArgs {
                log_level: "info".into(),
                log_format: args::LogFormat::Text,
            };
            if let Err(e) = logging::init(&log) {
                eprintln!("weir: {e:#}");
            }
            match plugin_cmd::test(&file, &input, expect.as_deref(), config.as_deref(), repeat) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("weir plugin test: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
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

/// `weir convert`: the Weir config to stdout (or `--output`), what did not convert to stderr.
fn convert(args: &args::ConvertArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: cannot read: {e}");
            return ExitCode::FAILURE;
        }
    };
    let conversion = match weir_convert::convert(&name, &text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &conversion.toml) {
                eprintln!("{}: cannot write: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        // `weir convert x.yaml | head` closes the pipe early: not an error worth a panic.
        None => {
            let written =
                std::io::Write::write_all(&mut std::io::stdout(), conversion.toml.as_bytes());
            if let Err(e) = written.and_then(|()| std::io::Write::flush(&mut std::io::stdout()))
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                eprintln!("cannot write the output: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if conversion.unmapped.is_empty() {
        eprintln!("{name}: converted; check it with `weir validate --config <the output>`");
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{name}: {} setting(s) not converted (kept as NOT CONVERTED comments in the output):",
        conversion.unmapped.len()
    );
    for u in &conversion.unmapped {
        eprintln!("  {u}");
    }
    ExitCode::from(3)
}
