//! adjacent: this project's own strategy. See [`AdjacentSearch`].

use rand::RngExt;

use crate::error::CoreError;
use crate::space::SearchSpace;
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::surrogate::{RidgeFit, RidgeModel};
use crate::trial::{Proposal, Trial, TrialId};

/// Settings of the adjacent strategy. The defaults were chosen by measurement on the search signal
/// (see BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdjacentConfig {
    /// Random genotypes evaluated before the first climb.
    pub initial: usize,
    /// Children of one parent that fail to beat it before its lineage dies out (extinction).
    pub patience: usize,
    /// Unseen random genotypes the move model ranks to choose where life starts again after an
    /// extinction; 1 restarts at a uniformly random genotype.
    pub restart_pool: usize,
    /// Ridge penalty of the move model.
    pub ridge: f64,
    /// A restart point must differ in at least this many choices from where every earlier lineage
    /// died, so that life starts again away from the basins already climbed.
    pub restart_distance: usize,
}

impl Default for AdjacentConfig {
    fn default() -> Self {
        AdjacentConfig {
            initial: 10,
            patience: 8,
            restart_pool: 100,
            ridge: 1.0,
            restart_distance: 0,
        }
    }
}

impl AdjacentConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &str, reason: &str| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.initial == 0 {
            return bad("initial", "must be at least 1");
        }
        if self.patience == 0 {
            return bad("patience", "must be at least 1");
        }
        if self.restart_pool == 0 {
            return bad("restart_pool", "must be at least 1");
        }
        if !(self.ridge > 0.0 && self.ridge.is_finite()) {
            return bad("ridge", "must be a positive number");
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
    /// Children that did not beat this parent.
    failures: usize,
}

/// Search in the adjacent possible: small steps from proven parents, guided by what the steps so
/// far have taught, with extinction and re-diversification when a lineage stalls.
///
/// 1. `initial` random genotypes are evaluated; the best of them founds the first lineage.
/// 2. A lineage proposes a child one move away from its parent: among the parent's neighbours
///    whose canonical cell was never evaluated (and which are not degenerate), the one a ridge
///    model over the genotype's choices (one feature per edge and operation, refitted on every
///    trial so far) predicts best. A child that beats its parent becomes the new parent (first
///    improvement: no query is spent on the rest of the neighbourhood).
/// 3. When `patience` children in a row fail to beat their parent, or the parent has no unseen
///    neighbour left, the lineage dies out (extinction), and life starts again at the genotype the
///    model ranks best among `restart_pool` unseen random ones: a jump that keeps what the search
///    learned (the model) but not where it was.
///
/// No query is ever spent on a canonical cell already evaluated: isomorphic cells are one.
pub struct AdjacentSearch<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: AdjacentConfig,
    seen: SeenKeys<S::Key>,
    best: Option<(TrialId, S::Genotype, f64)>,
    lineage: Option<Lineage<S::Genotype>>,
    /// The first lineage has been founded (later ones start at a restart proposal).
    founded: bool,
    model: Option<RidgeModel>,
    /// Where earlier lineages died.
    graves: Vec<Vec<usize>>,
}

/// Choices in which two genotypes differ, from their one-hot features.
fn distance(a: &[usize], b: &[usize]) -> usize {
    a.iter().filter(|f| !b.contains(f)).count()
}

impl<S: SearchSpace> AdjacentSearch<S> {
    /// A new search; `config` must pass [`AdjacentConfig::validate`].
    pub fn new(seed: u64, config: AdjacentConfig) -> Self {
        debug_assert!(config.validate().is_ok(), "invalid config {config:?}");
        AdjacentSearch {
            seed,
            step: 0,
            config,
            seen: SeenKeys::default(),
            best: None,
            lineage: None,
            founded: false,
            model: None,
            graves: Vec::new(),
        }
    }

    fn fit(&self) -> Option<RidgeFit> {
        self.model.as_ref().and_then(RidgeModel::fit)
    }

    /// The unseen, non-degenerate neighbour of `parent` the model predicts best.
    fn best_child(
        &self,
        space: &S,
        parent: &S::Genotype,
        fit: Option<&RidgeFit>,
        rng: &mut dyn rand::Rng,
    ) -> Option<(S::Move, S::Genotype)> {
        let mut best: Option<(f64, S::Move, S::Genotype)> = None;
        for (mv, g) in space.neighbours(parent) {
            if self.seen.contains(&space.key(&g)) || space.is_degenerate(&g) {
                continue;
            }
            // A tiny random term breaks ties (and orders moves when there is no model yet).
            let score = fit.map_or(0.0, |f| f.predict(&space.features(&g))) + rng.random::<f64>() * 1e-9;
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, mv, g));
            }
        }
        best.map(|(_, mv, g)| (mv, g))
    }

    /// The genotype to restart from: the model's favourite among `restart_pool` unseen samples.
    fn restart_point(
        &self,
        space: &S,
        fit: Option<&RidgeFit>,
        rng: &mut dyn rand::Rng,
    ) -> Option<S::Genotype> {
        let mut best: Option<(f64, S::Genotype)> = None;
        for _ in 0..self.config.restart_pool {
            let g = sample_unseen(space, &self.seen, true, rng)
                .or_else(|| sample_unseen(space, &self.seen, false, rng))?;
            let features = space.features(&g);
            let near_grave = self
                .graves
                .iter()
                .any(|grave| distance(&features, grave) < self.config.restart_distance);
            let score = fit.map_or(0.0, |f| f.predict(&features))
                - if near_grave { 1e6 } else { 0.0 };
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, g));
            }
        }
        best.map(|(_, g)| g)
    }
}

impl<S: SearchSpace> Strategy<S> for AdjacentSearch<S> {
    fn name(&self) -> &'static str {
        "adjacent"
    }

    fn ask(&mut self, space: &S) -> Result<Proposal<S::Genotype>, CoreError> {
        let mut rng = step_rng(self.seed, self.step);
        let step = self.step;
        self.step += 1;
        let exhausted = || CoreError::Exhausted {
            strategy: "adjacent".into(),
        };
        if step < self.config.initial as u64 {
            let g = sample_unseen(space, &self.seen, true, &mut rng)
                .or_else(|| sample_unseen(space, &self.seen, false, &mut rng))
                .ok_or_else(exhausted)?;
            self.seen.insert(space.key(&g));
            return Ok(Proposal::fresh(g));
        }
        if !self.founded {
            self.founded = true;
            self.lineage = self.best.clone().map(|(id, genotype, acc)| Lineage {
                id,
                genotype,
                acc,
                failures: 0,
            });
        }
        let fit = self.fit();
        if let Some(lineage) = &self.lineage {
            if lineage.failures < self.config.patience {
                if let Some((mv, g)) = self.best_child(space, &lineage.genotype, fit.as_ref(), &mut rng) {
                    self.seen.insert(space.key(&g));
                    return Ok(Proposal::child(g, lineage.id, mv));
                }
            }
            self.graves.push(space.features(&lineage.genotype));
            self.lineage = None;
        }
        let g = self
            .restart_point(space, fit.as_ref(), &mut rng)
            .ok_or_else(exhausted)?;
        self.seen.insert(space.key(&g));
        Ok(Proposal::fresh(g))
    }

    fn tell(&mut self, space: &S, trial: &Trial<S::Genotype>) {
        self.step = self.step.max(trial.id.0 + 1);
        self.seen.insert(space.key(&trial.genotype));
        let acc = trial.valid_acc();
        if let Some(acc) = acc {
            self.model
                .get_or_insert_with(|| RidgeModel::new(space.feature_count(), self.config.ridge))
                .add(&space.features(&trial.genotype), acc);
            if self.best.as_ref().is_none_or(|b| acc > b.2) {
                self.best = Some((trial.id, trial.genotype.clone(), acc));
            }
        }
        let founds_lineage = match (&self.lineage, trial.parent) {
            // A restart proposal founds the next lineage.
            (None, None) => self.founded,
            (Some(l), Some(p)) if p == l.id => {
                if acc.is_some_and(|a| a > l.acc) {
                    true
                } else {
                    self.lineage.as_mut().expect("matched").failures += 1;
                    false
                }
            }
            _ => false,
        };
        if founds_lineage {
            self.lineage = acc.map(|acc| Lineage {
                id: trial.id,
                genotype: trial.genotype.clone(),
                acc,
                failures: 0,
            });
        }
    }
}
