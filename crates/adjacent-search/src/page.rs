//! What the HTML report (`adjacent report --html`) and the dashboard (`adjacent dashboard`) show of
//! a search: its trials as a genealogy (parent, the morphism that made each child, state), what
//! each measured and spent, its summary when it has finished, and the control it is compared to.
//! One model for both, serialized as JSON for the page's script, so the file and the live page
//! show the same thing.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::path::Path;

use adjacent_core::network::NetworkArch;
use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::spaces::nb201::{Cell, EdgeChange, Skeleton};
use adjacent_core::trial::{Trial, TrialId, TrialState, lineage};
use adjacent_store::{Database, StudyInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SearchError;
use crate::output::TRIALS_FILE;
use crate::settings::Settings;
use crate::summary::{SUMMARY_FILE, Summary};
use crate::table::TableSummary;

/// A page: one search or several side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub title: String,
    pub searches: Vec<SearchView>,
}

/// One search as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SearchView {
    /// The run's folder, or the study's name.
    pub name: String,
    pub strategy: String,
    pub seed: u64,
    pub data: String,
    /// `running`, or why the search stopped.
    pub status: String,
    /// The budget in words (none when unknown).
    pub budget: Option<String>,
    /// What spend is counted in: `flops` when every trial records its compute, `images` for
    /// searches from before the cost model, `trials` on a table.
    pub axis: &'static str,
    /// What the search delivered, once it has finished (from its `summary.json`).
    pub summary: Option<SummaryView>,
    /// The control it is compared with: a `fixed` run on the same data among the page's searches.
    pub control: Option<ControlView>,
    /// What colours the genealogy and the Pareto chart: `valid_acc` when most trials were
    /// validated, else `loss` (their training loss over the last quarter, lower is better).
    pub signal: &'static str,
    pub trials: Vec<TrialView>,
}

/// What a finished search delivered.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    pub valid_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub params: Option<u64>,
    /// Everything it spent, its final phase included (on the search's axis).
    pub spent: f64,
    pub trials: usize,
    pub failed: usize,
    pub seconds: f64,
    /// The trial whose network the final phase trained on (the end of the delivered line).
    pub delivered_trial: Option<u64>,
    pub arch: Option<String>,
}

/// The control's final model: the line a search's curve is read against.
#[derive(Debug, Clone, Serialize)]
pub struct ControlView {
    pub label: String,
    pub valid_acc: f64,
    pub test_acc: Option<f64>,
    pub spent: f64,
}

/// One trial.
#[derive(Debug, Clone, Serialize)]
pub struct TrialView {
    pub id: u64,
    pub parent: Option<u64>,
    /// Started from its parent's weights.
    pub inherit: bool,
    /// The move that made it from its parent (none for a start).
    pub mutation: Option<String>,
    /// `pending`, `running`, `complete`, `failed` or `pruned`.
    pub state: &'static str,
    pub valid_acc: Option<f64>,
    /// Training loss over the last quarter of its steps (or its scoring loss).
    pub loss: Option<f64>,
    pub params: Option<u64>,
    pub images: u64,
    pub flops: u64,
    /// The search's spend when it ended, on the search's axis (none while it runs).
    pub spent: Option<f64>,
    pub seconds: f64,
    /// The network in short.
    pub arch: String,
    pub reason: Option<String>,
    pub worker: Option<String>,
    /// On the line of parents of the delivered network (or, before the search has finished, of
    /// the best validated trial).
    pub delivered: bool,
    /// An ended lineage: a complete trial that no child continued and that is not delivered.
    pub extinct: bool,
}

impl Page {
    /// A page of search folders (`adjacent search --out`): each with its summary when it has one;
    /// a `fixed` run among them is the control of the others on the same data.
    pub fn of_runs(dirs: &[&Path]) -> Result<Page, SearchError> {
        let mut searches = dirs
            .iter()
            .map(|dir| search_of_run(dir))
            .collect::<Result<Vec<_>, _>>()?;
        attach_controls(&mut searches);
        Ok(Page {
            title: match dirs {
                [one] => format!("adjacent: {}", one.display()),
                _ => format!("adjacent: {} searches", dirs.len()),
            },
            searches,
        })
    }

    /// A page of one study in a storage, as it stands now (the dashboard's view). When the study's
    /// output folder is on this machine and holds a summary, the delivered model is shown too.
    pub fn of_study(database: &mut Database, study: &StudyInfo) -> Result<Page, SearchError> {
        let search = search_of_study(database, study)?;
        Ok(Page {
            title: format!("adjacent: study {}", study.spec.name),
            searches: vec![search],
        })
    }
}

/// Whether `dir` holds a search on a NAS-Bench-201 table (its summary names the table).
pub fn is_table_search(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(SUMMARY_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("table").is_some())
}

/// A search folder as the page shows it: a search that trained networks, or one on a table.
fn search_of_run(dir: &Path) -> Result<SearchView, SearchError> {
    if is_table_search(dir) {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(SearchError::io(&path))?;
        let summary: TableSummary =
            serde_json::from_str(&text).map_err(|e| SearchError::bad_file(&path, e.to_string()))?;
        return table_search_of_run(dir, summary);
    }
    let summary = Summary::read_for_report(dir)?;
    let trials: Vec<TrialOf<GrownSpace>> = read_trials(dir, summary.trials)?;
    let axis = match summary.flops.is_some() && trials.iter().all(|t| t.outcome.flops > 0) {
        true => "flops",
        false => "images",
    };
    let delivered = delivered_trial(&summary).or(summary.best_trial);
    let views = trial_views(&trials, axis, delivered, |a| (arch_label(a), None));
    Ok(SearchView {
        name: dir.display().to_string(),
        strategy: summary.strategy.clone(),
        seed: summary.seed,
        data: summary.data.clone(),
        status: summary.stopped.clone(),
        budget: budget_words(&summary),
        axis,
        signal: signal_of(&views),
        control: None,
        summary: Some(SummaryView::of(&summary, axis, delivered)),
        trials: views,
    })
}

/// A search on a NAS-Bench-201 table: its trials are cells, its spend is counted in trials.
fn table_search_of_run(dir: &Path, summary: TableSummary) -> Result<SearchView, SearchError> {
    let trials: Vec<Trial<Cell, EdgeChange>> = read_trials(dir, summary.trials)?;
    let skeleton = table_skeleton(&summary.dataset);
    let views = trial_views(&trials, "trials", summary.best_trial, |c: &Cell| {
        (c.to_string(), Some(skeleton.cost(c).params))
    });
    Ok(SearchView {
        name: dir.display().to_string(),
        strategy: summary.strategy.clone(),
        seed: summary.seed,
        data: format!("{} ({})", summary.dataset, summary.table),
        status: summary.stopped.clone(),
        budget: None,
        axis: "trials",
        signal: signal_of(&views),
        control: None,
        summary: Some(SummaryView {
            valid_acc: summary.best_valid_acc,
            test_acc: None,
            params: None,
            spent: views.iter().filter(|t| t.spent.is_some()).count() as f64,
            trials: summary.trials,
            failed: views.iter().filter(|t| t.state == "failed").count(),
            seconds: summary.seconds,
            delivered_trial: summary.best_trial,
            arch: summary.best_arch.clone(),
        }),
        trials: views,
    })
}

/// The trials of a search folder (none for `fixed`, which keeps no trials file).
pub(crate) fn read_trials<T: DeserializeOwned>(
    dir: &Path,
    count: usize,
) -> Result<Vec<T>, SearchError> {
    let path = dir.join(TRIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| SearchError::bad_file(&path, format!("line {}: {e}", i + 1)))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && count == 0 => Ok(Vec::new()),
        Err(e) => Err(SearchError::io(&path)(e)),
    }
}

fn budget_words(summary: &Summary) -> Option<String> {
    use adjacent_core::budget::Stop;
    let stop = match (
        summary.budget_flops,
        summary.budget_images,
        summary.budget_minutes,
    ) {
        (Some(f), _, _) => Stop::Flops(f),
        (_, Some(i), _) => Stop::Images(i),
        (_, _, Some(m)) => Stop::Seconds(m * 60.0),
        _ => return None,
    };
    Some(stop.describe())
}

/// The trial whose network a finished search's final phase trained on.
fn delivered_trial(summary: &Summary) -> Option<u64> {
    (summary.final_trial.as_ref())
        .and_then(|f| f.parent)
        .map(|p| p.0)
}

impl SummaryView {
    /// What `summary` delivered, its spend on `axis`, its delivered line ending at `delivered`.
    fn of(summary: &Summary, axis: &str, delivered: Option<u64>) -> SummaryView {
        SummaryView {
            valid_acc: summary.delivered_valid(),
            test_acc: summary.test_acc,
            params: summary.params,
            spent: match axis {
                "flops" => summary.flops.unwrap_or(0) as f64,
                _ => summary.images as f64,
            },
            trials: summary.trials,
            failed: summary.failed,
            seconds: summary.seconds,
            delivered_trial: delivered,
            arch: summary.arch.as_ref().map(arch_label),
        }
    }
}

/// A stored study as the page shows it.
fn search_of_study(database: &mut Database, study: &StudyInfo) -> Result<SearchView, SearchError> {
    let rows = database
        .trials(study.id)
        .map_err(|e| SearchError::Refused(format!("study {}: {e}", study.spec.name)))?;
    // Trials in the order they ended (then the ones still running), as the search spent.
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by_key(|r| (r.told_seq.is_none(), r.told_seq, r.id));
    let records: Vec<&str> = rows.iter().map(|r| r.record.as_str()).collect();
    let bad = |e: serde_json::Error| {
        SearchError::Refused(format!("study {}: a trial's record: {e}", study.spec.name))
    };
    let settings = Settings::read(&study.spec.settings, &study.spec.name).ok();
    let summary = settings
        .as_ref()
        .and_then(|s| Summary::read(&s.out).ok())
        .filter(|s| s.strategy == study.spec.strategy && s.seed == study.spec.seed);
    let (views, axis) = match study.spec.space.as_str() {
        "nb201" => {
            let trials: Vec<Trial<Cell, EdgeChange>> = parse_all(&records).map_err(bad)?;
            let best = best_validated(&trials);
            let skeleton = table_skeleton(&study.spec.data);
            let views = trial_views(&trials, "trials", best, |c: &Cell| {
                (c.to_string(), Some(skeleton.cost(c).params))
            });
            (views, "trials")
        }
        _ => {
            let trials: Vec<TrialOf<GrownSpace>> = parse_all(&records).map_err(bad)?;
            let axis = if trials
                .iter()
                .all(|t| t.outcome.flops > 0 || !t.is_finished())
            {
                "flops"
            } else {
                "images"
            };
            let delivered = (summary.as_ref())
                .and_then(delivered_trial)
                .or_else(|| best_validated(&trials));
            let views = trial_views(&trials, axis, delivered, |a| (arch_label(a), None));
            (views, axis)
        }
    };
    let status = match (&study.finished, study.running, study.pending) {
        (Some(why), _, _) => why.clone(),
        (None, 0, 0) => "waiting for a worker".into(),
        (None, running, _) => format!("running ({running} trials in progress)"),
    };
    Ok(SearchView {
        name: study.spec.name.clone(),
        strategy: study.spec.strategy.clone(),
        seed: study.spec.seed,
        data: study.spec.data.clone(),
        status,
        budget: settings.as_ref().map(|s| s.budget.total().describe()),
        axis,
        signal: signal_of(&views),
        control: None,
        summary: summary.map(|s| {
            let delivered = delivered_trial(&s);
            SummaryView::of(&s, axis, delivered)
        }),
        trials: views,
    })
}

/// The network a table's cells are placed in, for their parameters: the benchmark's skeleton
/// (C = 16, N = 5) with the head and input of its data set.
fn table_skeleton(dataset: &str) -> Skeleton {
    let name = dataset.to_ascii_lowercase();
    let (classes, input_size) = if name.contains("cifar100") {
        (100, 32)
    } else if name.contains("imagenet") {
        (120, 16)
    } else {
        (10, 32)
    };
    Skeleton {
        classes,
        input_size,
        ..Skeleton::default()
    }
}

fn parse_all<T: DeserializeOwned>(records: &[&str]) -> Result<Vec<T>, serde_json::Error> {
    records.iter().map(|r| serde_json::from_str(r)).collect()
}

fn best_validated<G, M>(trials: &[Trial<G, M>]) -> Option<u64> {
    trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.outcome.valid_acc.map(|a| (a, t.id.0)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, id)| id)
}

/// A network in short: width, cells a stage, and its cells.
pub fn arch_label(arch: &NetworkArch) -> String {
    let cells: Vec<&Cell> = arch.stages.iter().flatten().collect();
    let mut distinct: Vec<String> = Vec::new();
    for c in cells {
        let s = c.to_string();
        if !distinct.contains(&s) {
            distinct.push(s);
        }
    }
    let per_stage: Vec<String> = arch.stages.iter().map(|s| s.len().to_string()).collect();
    format!(
        "C={} cells {} {}",
        arch.channels,
        per_stage.join("/"),
        distinct.join(" ")
    )
}

/// The trials in the order they were told (as the search spent), with the delivered line and the
/// ended lineages marked.
fn trial_views<G, M: Display>(
    trials: &[Trial<G, M>],
    axis: &str,
    delivered: Option<u64>,
    label: impl Fn(&G) -> (String, Option<u64>),
) -> Vec<TrialView> {
    let line: HashSet<u64> = lineage(trials, delivered.map(TrialId))
        .iter()
        .map(|t| t.id.0)
        .collect();
    let with_children: HashSet<u64> = trials
        .iter()
        .filter_map(|t| t.parent.map(|p| p.0))
        .collect();
    let mut spent = 0.0;
    let mut views = Vec::with_capacity(trials.len());
    for t in trials {
        let o = &t.outcome;
        let done = t.is_finished();
        if done {
            spent += match axis {
                "flops" => o.flops as f64,
                "images" => o.images as f64,
                _ => 1.0,
            };
        }
        let (arch, static_params) = label(&t.genotype);
        views.push(TrialView {
            id: t.id.0,
            parent: t.parent.map(|p| p.0),
            inherit: t.inherit,
            mutation: match (&t.mutation, &t.origin) {
                (Some(m), _) => Some(m.to_string()),
                (None, Some(origin)) => Some(format!("adapted from {}", origin.from)),
                (None, None) => None,
            },
            state: t.state.name(),
            valid_acc: o.valid_acc,
            loss: o.tail_loss.or(o.score_loss),
            params: o.params.or(static_params),
            images: o.images,
            flops: o.flops,
            spent: done.then_some(spent),
            seconds: o.seconds,
            arch,
            reason: t.reason.clone(),
            worker: t.worker.clone(),
            delivered: line.contains(&t.id.0),
            extinct: t.state == TrialState::Complete
                && !with_children.contains(&t.id.0)
                && !line.contains(&t.id.0),
        });
    }
    views
}

fn signal_of(trials: &[TrialView]) -> &'static str {
    let complete = trials.iter().filter(|t| t.state == "complete").count();
    let validated = trials
        .iter()
        .filter(|t| t.state == "complete" && t.valid_acc.is_some())
        .count();
    match complete > 0 && 2 * validated < complete {
        true => "loss",
        false => "valid_acc",
    }
}

/// Each search's control: the `fixed` run on the same data among the page's searches (the first
/// when there are several seeds: their mean would hide which run it is).
fn attach_controls(searches: &mut [SearchView]) {
    let mut controls: BTreeMap<String, ControlView> = BTreeMap::new();
    for s in searches.iter() {
        if s.strategy != "fixed" || controls.contains_key(&s.data) {
            continue;
        }
        if let Some(sum) = &s.summary
            && let Some(valid) = sum.valid_acc
        {
            controls.insert(
                s.data.clone(),
                ControlView {
                    label: format!("fixed ({}, seed {})", s.name, s.seed),
                    valid_acc: valid,
                    test_acc: sum.test_acc,
                    spent: sum.spent,
                },
            );
        }
    }
    for s in searches.iter_mut() {
        if s.strategy != "fixed" {
            s.control = controls.get(&s.data).cloned();
        }
    }
}

/// The page's JSON, safe inside an HTML `<script>` element (no `</script>` or `<!--` can close it).
pub fn json_for_html(page: &Page) -> String {
    serde_json::to_string(page)
        .expect("a page serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjacent_core::trial::{Mutation, Outcome, Proposal, TrialId};

    fn trial(
        id: u64,
        parent: Option<u64>,
        state: TrialState,
        valid: Option<f64>,
    ) -> Trial<u32, String> {
        let proposal = match parent {
            Some(p) => Proposal::child(id as u32, TrialId(p), Mutation::Move(format!("move {id}"))),
            None => Proposal::fresh(id as u32),
        };
        let outcome = Outcome {
            valid_acc: valid,
            tail_loss: Some(1.0 / (id + 1) as f64),
            flops: 10 * (id + 1),
            images: 1,
            ..Outcome::default()
        };
        Trial {
            state,
            ..Trial::complete(TrialId(id), proposal, outcome)
        }
    }

    #[test]
    fn the_delivered_line_ended_lineages_and_spend_are_marked() {
        // 0 -> 1 -> 3 (delivered), 0 -> 2 (no child: ended), 4 failed, 5 still running.
        let trials = vec![
            trial(0, None, TrialState::Complete, Some(50.0)),
            trial(1, Some(0), TrialState::Complete, Some(60.0)),
            trial(2, Some(0), TrialState::Complete, Some(55.0)),
            trial(3, Some(1), TrialState::Complete, Some(70.0)),
            trial(4, Some(3), TrialState::Failed, None),
            trial(5, Some(3), TrialState::Running, None),
        ];
        let views = trial_views(&trials, "flops", Some(3), |g| (g.to_string(), Some(7)));
        let delivered: Vec<u64> = views.iter().filter(|t| t.delivered).map(|t| t.id).collect();
        assert_eq!(delivered, [0, 1, 3]);
        let extinct: Vec<u64> = views.iter().filter(|t| t.extinct).map(|t| t.id).collect();
        assert_eq!(
            extinct,
            [2],
            "only a complete trial without a child, off the line"
        );
        // Spend accumulates over the ended trials (failed ones spent too), none while running.
        let spent: Vec<Option<f64>> = views.iter().map(|t| t.spent).collect();
        assert_eq!(
            spent,
            [
                Some(10.0),
                Some(30.0),
                Some(60.0),
                Some(100.0),
                Some(150.0),
                None
            ]
        );
        assert_eq!(views[4].state, "failed");
        assert_eq!(views[3].mutation.as_deref(), Some("move 3"));
        assert_eq!(
            views[0].params,
            Some(7),
            "a table's static parameters fill in"
        );
        assert_eq!(signal_of(&views), "valid_acc");
        // Trials scored by loss colour by loss.
        let scored: Vec<_> = trials
            .iter()
            .cloned()
            .map(|mut t| {
                t.outcome.valid_acc = None;
                t
            })
            .collect();
        assert_eq!(
            signal_of(&trial_views(&scored, "flops", None, |g| (
                g.to_string(),
                None
            ))),
            "loss"
        );
    }

    #[test]
    fn the_control_is_the_fixed_run_on_the_same_data() {
        let search = |name: &str, strategy: &str, data: &str, valid: f64| SearchView {
            name: name.into(),
            strategy: strategy.into(),
            seed: 0,
            data: data.into(),
            status: String::new(),
            budget: None,
            axis: "flops",
            summary: Some(SummaryView {
                valid_acc: Some(valid),
                test_acc: None,
                params: None,
                spent: 4.0,
                trials: 0,
                failed: 0,
                seconds: 1.0,
                delivered_trial: None,
                arch: None,
            }),
            control: None,
            signal: "valid_acc",
            trials: vec![],
        };
        let mut searches = vec![
            search("a", "adjacent", "fmnist", 91.0),
            search("f", "fixed", "fmnist", 90.0),
            search("c", "adjacent", "cifar", 70.0),
        ];
        attach_controls(&mut searches);
        assert_eq!(
            searches[0].control.as_ref().map(|c| c.valid_acc),
            Some(90.0)
        );
        assert!(searches[1].control.is_none() && searches[2].control.is_none());
    }

    #[test]
    fn an_adapted_start_says_where_it_came_from() {
        let origin = adjacent_core::trial::Origin {
            weights: adjacent_core::trial::WeightsHash([7; 32]),
            from: "runs/tops/best".into(),
            images: 0,
        };
        let adapted = Trial::complete(
            TrialId(1),
            Proposal::adapted(1u32, origin),
            Outcome::default(),
        );
        let trials = vec![trial(0, None, TrialState::Complete, None), adapted];
        let views = trial_views(&trials, "flops", None, |g| (g.to_string(), None));
        assert_eq!(views[0].mutation, None);
        assert_eq!(
            views[1].mutation.as_deref(),
            Some("adapted from runs/tops/best")
        );
        assert!(views[1].inherit && views[1].parent.is_none());
    }

    #[test]
    fn the_json_cannot_close_its_script_element() {
        let page = Page {
            title: "</script><!-- & >".into(),
            searches: vec![],
        };
        let json = json_for_html(&page);
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["title"], "</script><!-- & >");
    }
}
