//! A search session run as a library, on a slice of the built-in data with tiny settings: what it
//! reports as it goes, what it writes, and what it refuses before creating anything.

use std::path::Path;

use adjacent_core::budget::{Spent, Stop};
use adjacent_core::study::StudyEvent;
use adjacent_data::BadImagePolicy;
use adjacent_search::config::SearchConfig;
use adjacent_search::search::SearchEvent;
use adjacent_search::session::{Finished, SessionEvent};
use adjacent_search::settings::{
    BudgetSetting, DataSettings, NetworkSettings, SETTINGS_VERSION, Settings, StrategyName,
    StudyOptions,
};
use adjacent_search::{SearchError, Session};

const TINY: &str = r#"
start_channels = 4

[limits]
max_cells = 2
max_channels = 8

[train]
batch = 64

[adjacent]
random_starts = 1
"#;

fn settings(out: &Path, strategy: StrategyName, budget: BudgetSetting) -> Settings {
    Settings {
        version: SETTINGS_VERSION,
        strategy,
        seed: 0,
        data: DataSettings {
            source: "builtin".into(),
            on_bad_image: BadImagePolicy::Fail,
            subset: Some(600),
            valid: 150.0,
            classes: None,
        },
        network: None,
        budget,
        study: StudyOptions::default(),
        table: None,
        out: out.to_path_buf(),
        config: toml::from_str::<SearchConfig>(TINY).unwrap(),
        horizon: None,
        from: None,
    }
}

fn session(settings: Settings) -> Session {
    Session {
        settings,
        storage: None,
        device: adjacent_nn::Device::flex(),
    }
}

/// What the session's events said the search had spent, in order, and how many trials it saw
/// end.
#[derive(Default)]
struct Seen {
    spent: Vec<Spent>,
    trials: usize,
    started: Option<(usize, usize)>,
    final_done: Option<Spent>,
}

impl Seen {
    fn hear(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Started {
                train_images,
                valid_images,
            } => self.started = Some((train_images, valid_images)),
            SessionEvent::Search(SearchEvent::Study(StudyEvent::Done { spent, .. })) => {
                self.trials += 1;
                self.spent.push(spent);
            }
            SessionEvent::Search(SearchEvent::Study(StudyEvent::Step { spent, .. }))
            | SessionEvent::Search(SearchEvent::FinalStep { spent, .. })
            | SessionEvent::Search(SearchEvent::FinalStarted { spent, .. }) => {
                self.spent.push(spent)
            }
            SessionEvent::Search(SearchEvent::FinalDone { spent, .. }) => {
                self.spent.push(spent);
                self.final_done = Some(spent);
            }
            _ => {}
        }
    }
}

#[test]
fn a_session_reports_what_it_spends_and_delivers_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let budget = 30_000_000_000;
    let session = session(settings(
        &out,
        StrategyName::Adjacent,
        BudgetSetting::Flops(budget),
    ));
    let mut seen = Seen::default();
    let finished = session.run(&mut |e| seen.hear(e)).unwrap();
    let Finished::Trained(summary) = finished else {
        panic!("a trained search");
    };
    assert_eq!(seen.started, Some((450, 150)));
    assert_eq!(seen.trials, summary.trials);
    // What the events carry only grows, and ends at what the summary counts, within the budget.
    let flops: Vec<u64> = seen.spent.iter().map(|s| s.flops).collect();
    assert!(flops.windows(2).all(|w| w[0] <= w[1]), "{flops:?}");
    let last = seen.final_done.expect("a final phase");
    assert_eq!(Some(last.flops), summary.flops);
    assert_eq!(last.images, summary.images);
    assert!(last.flops <= budget);
    // The progress bar's position never passes its length.
    let total = Stop::Flops(budget);
    let (length, unit) = total.length();
    assert_eq!(unit, "GFLOPs");
    assert!(seen.spent.iter().all(|s| total.position(s) <= length));
    // The folder: the study, its trials, the delivered model and the summary.
    for file in [
        "study.db",
        "trials.jsonl",
        "summary.json",
        "best/model.safetensors",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    let read = adjacent_search::summary::Summary::read(&out).unwrap();
    assert_eq!(
        (read.trials, read.flops, read.test_acc, &read.arch),
        (
            summary.trials,
            summary.flops,
            summary.test_acc,
            &summary.arch
        )
    );
    let fin = read.final_trial.expect("a final trial");
    assert_eq!(fin.parent.map(|p| p.0), read.best_trial);
    assert!(
        fin.inherit,
        "the final phase continues the winner's weights"
    );
}

#[test]
fn a_session_refuses_what_it_cannot_run_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let refused = |settings: Settings| -> String {
        let e: SearchError = match session(settings).run(&mut |_| {}) {
            Err(e) => e,
            Ok(_) => panic!("ran"),
        };
        assert!(!out.exists(), "{e}: the folder was created");
        e.to_string()
    };
    let fixed = settings(&out, StrategyName::Fixed, BudgetSetting::Flops(1_000));
    assert!(refused(fixed.clone()).contains("--arch"));
    let trials = Settings {
        network: Some(NetworkSettings {
            arch: adjacent_core::cell::DEFAULT_CELL.into(),
            channels: None,
            cells: 1,
        }),
        budget: BudgetSetting::Trials(3),
        ..fixed
    };
    assert!(refused(trials).contains("not --trials"));
    let minutes = settings(&out, StrategyName::Asha, BudgetSetting::Minutes(-1.0));
    assert!(refused(minutes).contains("--budget-minutes"));
    let mut lease = settings(&out, StrategyName::Asha, BudgetSetting::Flops(1_000));
    lease.study.max_attempts = 0;
    assert!(refused(lease).contains("--max-attempts"));
}
