//! `cargo run -p weir-tests --bin bless-golden [PLUGIN…]`: rewrites the `out.json` of every
//! golden case (of the named first-party plugins, or all) from what the plugin produces now, and
//! says which files changed. Review `git diff plugins/*/golden` before committing.
//!
//! It refuses to run in CI (`CI` set): blessing is a decision a person makes, never a step of
//! the test suite.

use std::process::ExitCode;

use weir_tests::golden::{self, Outcome};

fn main() -> ExitCode {
    if std::env::var_os("CI").is_some() {
        eprintln!("bless-golden: refusing to rewrite golden files in CI (CI is set)");
        return ExitCode::from(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plugins: Vec<&str> = if args.is_empty() {
        golden::PLUGINS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let mut changed = 0;
    for plugin in plugins {
        let cases = match golden::run_cases(plugin) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bless-golden: {e}");
                return ExitCode::FAILURE;
            }
        };
        for case in cases {
            let Outcome::Ran { got, expected, .. } = case.outcome else {
                continue;
            };
            let text = match serde_json::to_string_pretty(&got) {
                Ok(t) => t + "\n",
                Err(e) => {
                    eprintln!("bless-golden: {}: {e}", case.name);
                    return ExitCode::FAILURE;
                }
            };
            if std::fs::read_to_string(&expected).ok().as_deref() == Some(text.as_str()) {
                continue;
            }
            if let Err(e) = std::fs::write(&expected, text) {
                eprintln!("bless-golden: {}: {e}", expected.display());
                return ExitCode::FAILURE;
            }
            println!("rewrote {}", expected.display());
            changed += 1;
        }
    }
    println!("{changed} file(s) rewritten; review them with git diff before committing");
    ExitCode::SUCCESS
}
