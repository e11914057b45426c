//! adjacent: neural architecture search in the adjacent possible.

mod bench_cmd;
mod plot;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "adjacent",
    version,
    about = "Neural architecture search in the adjacent possible"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compare search strategies on a NAS-Bench-201 table (tabular benchmark: seconds, not GPU hours).
    Bench(bench_cmd::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench_cmd::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
