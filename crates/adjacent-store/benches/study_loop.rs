//! The study loop's cost per trial: a strategy asked and told directly (the loop before studies)
//! against the same strategy run through the Study over memory, SQLite and (with
//! ADJACENT_TEST_POSTGRES set) PostgreSQL, with the table as evaluator (no training), in one
//! process. Prints microseconds per trial and each against the direct loop.
//!
//! `cargo bench -p adjacent-store --bench study_loop [-- TRIALS]`

use std::time::Instant;

use adjacent_core::budget::Stop;
use adjacent_core::spaces::nb201::{Cell, EdgeChange, Nb201Space};
use adjacent_core::strategy::{Strategy, StrategyKind};
use adjacent_core::study::{MemoryStorage, Storage, Study};
use adjacent_core::tabular::{self, TabularEvaluator};
use adjacent_core::trial::{Trial, TrialId};
use adjacent_store::{DbStorage, StudySpec};

const TABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/nb201_cifar10.csv.gz"
);

fn direct(space: &Nb201Space, evaluator: &TabularEvaluator, trials: usize) -> Vec<String> {
    let mut strategy: Box<dyn Strategy<Nb201Space>> = StrategyKind::Evolution.build(1).unwrap();
    let mut cells = Vec::with_capacity(trials);
    for i in 0..trials {
        let p = strategy.ask(space).unwrap();
        let outcome = evaluator.query(&p.genotype);
        cells.push(p.genotype.to_string());
        strategy.tell(space, &Trial::complete(TrialId(i as u64), p, outcome));
    }
    cells
}

fn studied(
    space: &Nb201Space,
    evaluator: &TabularEvaluator,
    trials: usize,
    storage: &mut dyn Storage<Cell, EdgeChange>,
) -> Vec<String> {
    Study::new(
        space,
        Box::new(|| StrategyKind::Evolution.build(1)),
        evaluator,
        Stop::Trials(trials as u64),
        "bench",
    )
    .unwrap()
    .run(storage, &mut |_| {})
    .unwrap();
    let mut history = storage.history().unwrap();
    history.sort_by_key(|s| s.trial.id);
    history
        .iter()
        .map(|s| s.trial.genotype.to_string())
        .collect()
}

fn db(url: &str, name: &str) -> DbStorage<Cell, EdgeChange> {
    let mut database = adjacent_store::open(url).unwrap();
    let spec = StudySpec {
        name: name.into(),
        space: "nb201".into(),
        strategy: "evolution".into(),
        seed: 1,
        data: "bench".into(),
        settings: "{}".into(),
    };
    let info = adjacent_store::open_study(&mut database, &spec, true).unwrap();
    DbStorage::new(database, &info)
}

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let space = Nb201Space::default();
    let (evaluator, _) = tabular::load(std::path::Path::new(TABLE), "cifar10").unwrap();
    let time = |f: &mut dyn FnMut() -> Vec<String>| {
        let started = Instant::now();
        let cells = f();
        (started.elapsed().as_secs_f64() * 1e6 / trials as f64, cells)
    };
    let (base, reference) = time(&mut || direct(&space, &evaluator, trials));
    println!("study loop, {trials} trials of evolution on the NAS-Bench-201 table, one process");
    println!("{:<28} {:>10.1} us/trial   1.00x", "direct ask/tell", base);
    let report = |name: &str, (us, cells): (f64, Vec<String>)| {
        assert_eq!(cells, reference, "{name}: the study changed a decision");
        println!("{name:<28} {us:>10.1} us/trial   {:.2}x", us / base);
    };
    report(
        "study, memory",
        time(&mut || studied(&space, &evaluator, trials, &mut MemoryStorage::default())),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("study.db");
    let mut sqlite = db(path.to_str().unwrap(), "bench");
    report(
        "study, SQLite",
        time(&mut || studied(&space, &evaluator, trials, &mut sqlite)),
    );
    if let Ok(url) = std::env::var("ADJACENT_TEST_POSTGRES") {
        let name = format!("bench-{}", std::process::id());
        let mut pg = db(&url, &name);
        report(
            "study, PostgreSQL",
            time(&mut || studied(&space, &evaluator, trials, &mut pg)),
        );
    }
}
