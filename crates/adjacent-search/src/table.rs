//! A study whose evaluator is a NAS-Bench-201 table instead of training (`adjacent search
//! --table`): seconds instead of hours, for trying studies, storage and workers. The table's
//! 12-epoch validation accuracy is the only signal; its test accuracy is never read.

use std::time::Duration;

use adjacent_core::error::BoxError;
use adjacent_core::spaces::nb201::{Cell, EdgeChange, Nb201Space};
use adjacent_core::strategy::{StrategyContext, StrategyKind};
use adjacent_core::study::{Cost, Evaluation, Evaluator, MakeStrategy, Storage, Study, StudyEvent};
use adjacent_core::tabular::{self, TabularEvaluator};
use adjacent_core::trial::{Proposal, Trial};
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::settings::{Settings, StrategyName};

/// A table lookup that takes a while, standing in for training when trying workers.
pub struct TableEvaluator {
    table: TabularEvaluator,
    delay: Duration,
}

impl Evaluator<Nb201Space> for TableEvaluator {
    fn cost(&self, proposal: &Proposal<Cell, EdgeChange>) -> Cost {
        self.table.cost(proposal)
    }

    fn evaluate(
        &self,
        trial: &Trial<Cell, EdgeChange>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError> {
        std::thread::sleep(self.delay);
        let mut evaluation = self.table.evaluate(trial, progress)?;
        evaluation.outcome.seconds = self.delay.as_secs_f64();
        Ok(evaluation)
    }
}

/// The registry strategy a table study runs.
pub fn table_strategy(strategy: StrategyName) -> Result<StrategyKind, SearchError> {
    match strategy.kind() {
        Some(kind) if StrategyKind::TABULAR.contains(&kind) => Ok(kind),
        _ => Err(SearchError::Refused(format!(
            "--strategy {} does not run on a table (it needs training); use {}",
            strategy.name(),
            StrategyKind::TABULAR.map(StrategyKind::name).join(", ")
        ))),
    }
}

/// A table study's evaluator and strategy, from its settings (both checked here).
pub fn table_parts(
    settings: &Settings,
) -> Result<(TableEvaluator, MakeStrategy<'static, Nb201Space>), SearchError> {
    let table = settings.table.as_ref().expect("a table study");
    let kind = table_strategy(settings.strategy)?;
    let (evaluator, _judge) = tabular::load(&table.path, &table.dataset)?;
    let seed = settings.seed;
    let config = settings.config.strategies();
    let context = StrategyContext::default();
    kind.build_with::<Nb201Space>(seed, &config, &context)
        .map_err(|e| SearchError::Config {
            part: format!("[{}]", kind.name()),
            error: Box::new(e.into()),
        })?;
    Ok((
        TableEvaluator {
            table: evaluator,
            delay: Duration::from_millis(table.delay_ms),
        },
        Box::new(move || kind.build_with(seed, &config, &context)),
    ))
}

/// Runs one worker's part of a table study; `observe` hears each trial it ends. Returns why the
/// study stopped.
pub fn run_table_worker(
    settings: &Settings,
    (evaluator, make): (TableEvaluator, MakeStrategy<'static, Nb201Space>),
    storage: &mut dyn Storage<Cell, EdgeChange>,
    worker: &str,
    observe: &mut dyn FnMut(&Trial<Cell, EdgeChange>),
) -> Result<String, SearchError> {
    let space = Nb201Space::default();
    let stop = settings.budget.total();
    let stopped = Study::new(&space, make, &evaluator, stop, worker)?
        .with_lease(settings.study.lease()?)
        .with_poll(Duration::from_millis(20))
        .run(storage, &mut |event| {
            if let StudyEvent::Done { trial, .. } = event {
                observe(trial);
            }
        })?;
    Ok(stopped)
}

/// `summary.json` of a table study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    pub strategy: String,
    pub seed: u64,
    pub table: String,
    pub dataset: String,
    pub trials: usize,
    /// The cell with the best validation accuracy (the table's 12-epoch accuracy).
    pub best_trial: Option<u64>,
    pub best_arch: Option<String>,
    pub best_valid_acc: Option<f64>,
    pub stopped: String,
    pub seconds: f64,
}
