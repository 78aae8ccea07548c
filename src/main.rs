//! The `rectify` binary: server, CLI client, load generator and admin tools.

use clap::Parser as _;

/// mimalloc rather than glibc's malloc: loading a million-row ledger
/// allocates on three threads at once, where glibc's arenas contend and its
/// frees consolidate (measured in docs/benchmarks.md, "Checkpoint formats
/// 6 to 8"). Built without transparent huge pages (the `no_thp` feature):
/// see "Checkpoint format 9, and no huge pages" there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = rectify::cli::Cli::parse();
    rectify::cli::run(cli)
}
