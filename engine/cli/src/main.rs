//! `weir`: see `weir --help`.

/// mimalloc: the gateway allocates and frees many small strings and vectors per span (decode,
/// clone, encode); with glibc malloc, allocation was about a fifth of its CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir_cli::main()
}
