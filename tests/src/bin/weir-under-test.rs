//! The `weir` binary's `main`, built in this package for the end-to-end tests.

fn main() -> std::process::ExitCode {
    weir_cli::main()
}
