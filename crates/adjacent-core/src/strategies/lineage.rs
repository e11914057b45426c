//! lineage: adjacent's search on a table (a child costs a query and inherits nothing). See
//! [`LineageSearch`].

use rand::seq::IndexedRandom;

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::{Mutation, Proposal, TrialId};

/// Settings of the lineage strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineageConfig {
    /// Children in a row that may fail to beat their parent before the lineage dies out
    /// (extinction). A lineage also dies when its parent has no unseen neighbour left.
    pub patience: usize,
}

impl Default for LineageConfig {
    /// Patience 24: on NAS-Bench-201 a parent's whole neighbourhood, chosen by measurement
    /// (BENCHMARKS.md, "Choosing adjacent's design").
    fn default() -> Self {
        LineageConfig { patience: 24 }
    }
}

impl LineageConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.patience == 0 {
            return Err(CoreError::InvalidSetting {
                field: "patience".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The lineage being extended: the parent whose children are proposed.
#[derive(Debug, Clone)]
struct Lineage<G> {
    id: TrialId,
    genotype: G,
    acc: f64,
    /// Children in a row that did not beat this parent.
    failures: usize,
}

/// Search in the adjacent possible: small steps from proven parents, extinction when a lineage
/// stalls, and life starting again somewhere new.
///
/// - A lineage proposes a child one move away from its parent, drawn uniformly among the parent's
///   neighbours whose canonical cell was never evaluated and which are not degenerate (no path from
///   input to output: such a cell cannot learn, so no query is spent on it).
/// - A child that beats its parent becomes the parent at once (first improvement): no query is
///   spent on the rest of the old parent's neighbourhood.
/// - When `patience` children in a row fail to beat their parent, or the parent has no unseen
///   neighbour left, the lineage dies out (extinction) and a new one starts at a uniformly random
///   unseen genotype (re-diversification).
/// - No query is ever spent twice on one canonical cell: isomorphic cells are one.
///
/// What was measured and dropped (BENCHMARKS.md): ranking a parent's neighbours, or choosing the
/// restart point, by a ridge model fitted on the trials so far; restarting near the best cell
/// (iterated local search); an initial random population. None beat this simpler form on the
/// search signal.
pub struct LineageSearch<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: LineageConfig,
    seen: SeenKeys<S::Key>,
    lineage: Option<Lineage<S::Genotype>>,
}

impl<S: SearchSpace> LineageSearch<S> {
    /// A new search; an invalid `config` is an error naming the field.
    pub fn new(seed: u64, config: LineageConfig) -> Result<Self, CoreError> {
        config.validate()?;
        Ok(LineageSearch {
            seed,
            step: 0,
            config,
            seen: SeenKeys::default(),
            lineage: None,
        })
    }
}

impl<S: SearchSpace> Strategy<S> for LineageSearch<S> {
    fn name(&self) -> &'static str {
        "lineage"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        if let Some(lineage) = &self.lineage {
            if lineage.failures < self.config.patience {
                let children: Vec<(S::Move, S::Genotype)> = space
                    .neighbours(&lineage.genotype)
                    .into_iter()
                    .filter(|(_, g)| !self.seen.contains(&space.key(g)) && !space.is_degenerate(g))
                    .collect();
                if let Some((mv, g)) = children.choose(&mut rng) {
                    self.seen.insert(space.key(g));
                    return Ok(Proposal::child(
                        g.clone(),
                        lineage.id,
                        Mutation::Move(mv.clone()),
                    ));
                }
            }
            self.lineage = None;
        }
        let g = sample_unseen(space, &self.seen, true, &mut rng)
            .or_else(|| sample_unseen(space, &self.seen, false, &mut rng))
            .ok_or_else(|| CoreError::Exhausted {
                strategy: "lineage".into(),
            })?;
        self.seen.insert(space.key(&g));
        Ok(Proposal::fresh(g))
    }

    fn tell(&mut self, space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        self.seen.insert(space.key(&trial.genotype));
        let acc = trial.valid_acc();
        let founds_lineage = match (&mut self.lineage, trial.parent) {
            // A fresh genotype (first, or after an extinction) founds the next lineage.
            (None, None) => true,
            (Some(l), Some(p)) if p == l.id => {
                let better = acc.is_some_and(|a| a > l.acc);
                if !better {
                    l.failures += 1;
                }
                better
            }
            _ => false,
        };
        if founds_lineage {
            // A founder that failed to train founds nothing: the next ask restarts.
            self.lineage = acc.map(|acc| Lineage {
                id: trial.id,
                genotype: trial.genotype.clone(),
                acc,
                failures: 0,
            });
        }
    }
}
