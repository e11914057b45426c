//! adjacent: neural architecture search in the adjacent possible.

mod bench_cmd;
mod dashboard_cmd;
mod data_args;
mod export_cmd;
mod html_page;
mod oneshot_cmd;
mod plot;
mod report_cmd;
mod search_cmd;
mod study_cmd;
mod train_cmd;
mod trial_lines;

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
    /// Search architectures on real images: children grow from their parents' trained weights.
    Search(Box<search_cmd::SearchArgs>),
    /// Join a running study from any machine that reaches its storage, and run its trials.
    Worker(study_cmd::WorkerArgs),
    /// List, show and export the studies in a storage.
    Study(study_cmd::StudyArgs),
    /// Compare finished searches: a table of winners, a plot of accuracy against compute, and an
    /// HTML report (curves, genealogy, Pareto front, trials).
    Report(report_cmd::ReportArgs),
    /// A local web page over a study storage that shows each study as its workers add trials.
    Dashboard(dashboard_cmd::DashboardArgs),
    /// One-shot search over the NAS-Bench-201 cell space: DARTS, GDAS, SPOS, RSWS or ENAS on a
    /// supernet whose candidates share weights.
    Oneshot(oneshot_cmd::OneShotArgs),
    /// Train one architecture on real images and save the model.
    Train(train_cmd::TrainArgs),
    /// Score a saved model on a data set's test images.
    Eval(train_cmd::EvalArgs),
    /// Write a saved model in a format that runs without adjacent (ONNX, PyTorch).
    Export(export_cmd::ExportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench_cmd::run(args),
        Command::Search(args) => search_cmd::run(*args),
        Command::Worker(args) => study_cmd::run_worker(args),
        Command::Study(args) => study_cmd::run_study(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Dashboard(args) => dashboard_cmd::run(args),
        Command::Oneshot(args) => oneshot_cmd::run(args),
        Command::Train(args) => train_cmd::run_train(args),
        Command::Eval(args) => train_cmd::run_eval(args),
        Command::Export(args) => export_cmd::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
