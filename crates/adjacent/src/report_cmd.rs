//! `adjacent report`: compares finished searches: best validation accuracy against compute (a plot,
//! mean and band per strategy), a table of what each run delivered (its final model), and the
//! compute `adjacent` needed to reach the other strategies' final validation accuracy; with
//! `--html`, one self-contained page of every search (curves, genealogy, Pareto front, trials).

use std::path::PathBuf;

use adjacent_search::page::{Page, is_table_search};
use adjacent_search::report::{Axis, Run, axis_of, by_strategy, curve, reach, stat};
use anyhow::{Context, Result, bail};
use clap::Args;

use crate::plot;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Output folders of `adjacent search` runs.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Write the plot of best validation accuracy against compute here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Points of each curve.
    #[arg(long, default_value_t = 200)]
    pub points: usize,
    /// Write an HTML report here: one file that opens without a network, with each search's
    /// curve against its control, genealogy, accuracy against parameters and trials.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// Replace the HTML report if the file exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    if args.points < 2 {
        bail!("invalid setting --points: must be at least 2");
    }
    if let Some(path) = &args.html {
        check_html_path(path, args.force)?;
    }
    // Searches on a table trained nothing: they are shown in the HTML report only.
    let (tables, trained): (Vec<&PathBuf>, Vec<&PathBuf>) =
        args.runs.iter().partition(|d| is_table_search(d));
    for dir in &tables {
        eprintln!(
            "{}: a search on a table (shown in the HTML report only)",
            dir.display()
        );
    }
    if trained.is_empty() && args.html.is_none() {
        bail!("no search that trained networks to compare: a table search is shown with --html");
    }
    let runs = trained
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    if !runs.is_empty() {
        let axis = axis_of(&runs)?;
        print_runs(&runs, axis);
        print_strategies(&runs, axis);
        print_reach(&runs, axis);
        if let Some(path) = &args.plot {
            draw(&runs, axis, args.points, path)?;
            eprintln!("plot written to {}", path.display());
        }
    }
    if let Some(path) = &args.html {
        let dirs: Vec<&std::path::Path> = args.runs.iter().map(|d| d.as_path()).collect();
        let page = Page::of_runs(&dirs)?;
        let html = crate::html_page::render(crate::html_page::Data::Inline(&page));
        // Through a temporary file and a rename: a reader never sees half a page.
        let tmp = path.with_extension("html.tmp");
        std::fs::write(&tmp, &html).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "HTML report written to {} ({} KiB)",
            path.display(),
            html.len() / 1024
        );
    }
    Ok(())
}

/// An HTML report's path: refused when it exists (unless `force`) or is a folder.
fn check_html_path(path: &std::path::Path, force: bool) -> Result<()> {
    if path.is_dir() {
        bail!(
            "cannot write the HTML report to {}: it is a folder",
            path.display()
        );
    }
    if path.exists() && !force {
        bail!(
            "{} exists: give another path, or --force to replace it",
            path.display()
        );
    }
    Ok(())
}

/// The unit of the axis and its scale.
fn unit(axis: Axis) -> (&'static str, f64) {
    match axis {
        Axis::Flops => ("TFLOPs", 1e12),
        Axis::Images => ("images", 1.0),
    }
}

/// A spend in the axis's unit.
fn spend(axis: Axis, x: f64) -> String {
    match axis {
        Axis::Flops => format!("{:.3}", x / 1e12),
        Axis::Images => format!("{x:.0}"),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// A table of every run.
fn print_runs(runs: &[Run], axis: Axis) {
    let (unit, _) = unit(axis);
    println!(
        "| run | strategy | seed | trials | {unit} | search's best valid (%) | final valid (%) | test (%) | params | wall time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let s = &r.summary;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            r.dir.display(),
            s.strategy,
            s.seed,
            s.trials,
            spend(axis, r.total()),
            percent(s.best_valid_acc),
            percent(s.delivered_valid()),
            percent(s.test_acc),
            s.params.map_or("-".into(), |p| p.to_string()),
            s.seconds
        );
    }
    println!();
}

/// A table of each strategy's runs: mean and standard deviation over seeds.
fn print_strategies(runs: &[Run], axis: Axis) {
    let (unit, scale) = unit(axis);
    println!(
        "| strategy | runs | test (%) | final valid (%) | search's best valid (%) | params | {unit} | wall time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let spend_decimals = match axis {
        Axis::Flops => 3,
        Axis::Images => 0,
    };
    for (strategy, list) in &by_strategy(runs) {
        let show = |f: &dyn Fn(&Run) -> Option<f64>, decimals: usize| match stat(list, f) {
            Some((m, s)) => format!("{m:.decimals$} +- {s:.decimals$}"),
            None => "-".to_string(),
        };
        println!(
            "| {strategy} | {} | {} | {} | {} | {} | {} | {} |",
            list.len(),
            show(&|r| r.summary.test_acc, 2),
            show(&|r| r.summary.delivered_valid(), 2),
            show(&|r| r.summary.best_valid_acc, 2),
            show(&|r| r.summary.params.map(|p| p as f64), 0),
            show(&|r| Some(r.total() / scale), spend_decimals),
            show(&|r| Some(r.summary.seconds), 0),
        );
    }
}

/// What `adjacent` spent to reach each other strategy's final validation accuracy (median over
/// seeds).
fn print_reach(runs: &[Run], axis: Axis) {
    let (unit, _) = unit(axis);
    let by = by_strategy(runs);
    let Some(ours) = by.get("adjacent") else {
        return;
    };
    for (baseline, list) in by.iter().filter(|(k, _)| **k != "adjacent") {
        let Some(r) = reach(ours, list) else {
            continue;
        };
        println!();
        println!(
            "{baseline}: final validation accuracy {:.2}% (median of {} runs, {} {unit} each); adjacent's runs reached it at: {} {unit}; median {}",
            r.target,
            r.runs,
            spend(axis, r.budget),
            r.needed
                .iter()
                .map(|n| n.map_or("never".into(), |n| spend(axis, n)))
                .collect::<Vec<_>>()
                .join(", "),
            match r.median {
                Some(m) => format!(
                    "{} {unit} = {:.3} of the baseline's",
                    spend(axis, m),
                    m / r.budget
                ),
                None => "not reached by most seeds".into(),
            }
        );
    }
}

/// The plot of best validation accuracy against spend, a curve per strategy.
fn draw(runs: &[Run], axis: Axis, points: usize, path: &std::path::Path) -> Result<()> {
    let (_, scale) = unit(axis);
    let max = runs.iter().map(Run::total).fold(1.0, f64::max);
    let grid: Vec<f64> = (1..=points)
        .map(|i| max * i as f64 / points as f64)
        .collect();
    let series: Vec<plot::Series> = by_strategy(runs)
        .iter()
        .map(|(strategy, list)| {
            let points = curve(list, &grid);
            plot::Series {
                label: format!("{strategy} ({} runs)", list.len()),
                x: points.iter().map(|p| p.0 / scale).collect(),
                mean: points.iter().map(|p| p.1).collect(),
                std: points.iter().map(|p| p.2).collect(),
            }
        })
        .collect();
    plot::curves(
        path,
        "Best validation accuracy against compute (mean +- std over seeds; the final model included)",
        match axis {
            Axis::Flops => "compute (TFLOPs, training and validation)",
            Axis::Images => "training images",
        },
        "best validation accuracy (%)",
        &series,
    )
}
