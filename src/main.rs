//! The `rectify` binary: server, CLI client, load generator and admin tools.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = rectify::cli::Cli::parse();
    rectify::cli::run(cli)
}
