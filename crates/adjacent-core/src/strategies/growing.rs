//! Growing evolution: the `adjacent` strategy for searches with real training. Aging evolution
//! (AmoebaNet) whose children are network morphisms of their parents and start from the parents'
//! trained weights (RENA, Net2Net, NASH), each trained for a short budget that begins with a warm
//! restart of the learning rate (SGDR); extinction when progress stalls; consolidation, which
//! removes what the best network no longer uses.

use std::collections::{HashMap, VecDeque};

use rand::RngExt;
use rand::seq::index;

use crate::error::CoreError;
use crate::space::SearchSpace;
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::{Proposal, Trial, TrialId};

/// Settings of growing evolution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowingConfig {
    /// Most members alive at once (P); the oldest dies when a child would exceed it.
    pub population: usize,
    /// Members drawn for each tournament (S); the best of them is the parent.
    pub tournament: usize,
    /// Networks trained from scratch to start the population (with the evaluator's default budget).
    pub seeds: usize,
    /// Training images of a child (from its parent's weights): one learning-rate cycle.
    pub child_images: u64,
    /// Probability that a child's move is drawn among the function-preserving ones (grow a conv,
    /// a kernel, a cell, the width) rather than among all moves.
    pub preserving: f64,
    /// Trials without a new best validation accuracy before an extinction.
    pub patience: usize,
    /// Members an extinction keeps (the best); the population regrows from their children.
    pub survivors: usize,
    /// Every this many trials, a consolidation tries to remove an edge or a cell of the best
    /// member; 0 turns consolidation off.
    pub consolidate_every: usize,
    /// Validation accuracy (percentage points) a consolidated network may lose against its parent
    /// and still replace it.
    pub tolerance: f64,
}

impl Default for GrowingConfig {
    fn default() -> Self {
        GrowingConfig {
            population: 8,
            tournament: 3,
            seeds: 2,
            child_images: 8192,
            preserving: 0.75,
            patience: 12,
            survivors: 2,
            consolidate_every: 5,
            tolerance: 0.3,
        }
    }
}

impl GrowingConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &str, reason: &str| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.population == 0 {
            return bad("population", "must be at least 1");
        }
        if self.tournament == 0 || self.tournament > self.population {
            return bad("tournament", "must be between 1 and population");
        }
        if self.seeds == 0 || self.seeds > self.population {
            return bad("seeds", "must be between 1 and population");
        }
        if self.child_images == 0 {
            return bad("child_images", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.preserving) {
            return bad("preserving", "must be a probability in [0, 1]");
        }
        if self.patience == 0 {
            return bad("patience", "must be at least 1");
        }
        if self.survivors == 0 || self.survivors > self.population {
            return bad("survivors", "must be between 1 and population");
        }
        if !(self.tolerance >= 0.0 && self.tolerance.is_finite()) {
            return bad("tolerance", "must be a number >= 0");
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Member<G> {
    id: TrialId,
    genotype: G,
    acc: f64,
}

/// The member with the highest validation accuracy (the first among equals).
fn fittest<'a, G>(members: impl Iterator<Item = &'a Member<G>>) -> Option<&'a Member<G>> {
    members.fold(None, |best: Option<&Member<G>>, m| match best {
        Some(b) if b.acc >= m.acc => Some(b),
        _ => Some(m),
    })
}

/// Growing evolution; see the module documentation. Proposes no canonical network twice.
pub struct GrowingEvolution<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: GrowingConfig,
    /// Living members, oldest first.
    population: VecDeque<Member<S::Genotype>>,
    seeds_asked: usize,
    best: f64,
    since_best: usize,
    /// Consolidation trials not yet told, with the member they would replace.
    consolidating: HashMap<TrialId, TrialId>,
    seen: SeenKeys<S::Key>,
    extinctions: usize,
}

impl<S: SearchSpace> GrowingEvolution<S> {
    pub fn new(seed: u64, config: GrowingConfig) -> Result<Self, CoreError> {
        config.validate()?;
        Ok(GrowingEvolution {
            seed,
            step: 0,
            config,
            population: VecDeque::new(),
            seeds_asked: 0,
            best: f64::NEG_INFINITY,
            since_best: 0,
            consolidating: HashMap::new(),
            seen: SeenKeys::default(),
            extinctions: 0,
        })
    }

    /// Extinctions so far.
    pub fn extinctions(&self) -> usize {
        self.extinctions
    }

    /// Ids of the living members, oldest first.
    pub fn members(&self) -> Vec<TrialId> {
        self.population.iter().map(|m| m.id).collect()
    }

    fn best_member(&self) -> Option<&Member<S::Genotype>> {
        fittest(self.population.iter())
    }

    /// A fresh network, never proposed before, trained from scratch.
    fn fresh(
        &mut self,
        space: &S,
        rng: &mut dyn rand::Rng,
    ) -> Result<Proposal<S::Genotype>, CoreError> {
        let genotype =
            sample_unseen(space, &self.seen, true, rng).ok_or_else(|| CoreError::Exhausted {
                strategy: "adjacent".into(),
            })?;
        self.seen.insert(space.key(&genotype));
        Ok(Proposal::fresh(genotype))
    }

    /// A random move from `moves` whose child is new, if any.
    fn unseen_child(
        &self,
        space: &S,
        parent: &S::Genotype,
        mut moves: Vec<S::Move>,
        rng: &mut dyn rand::Rng,
    ) -> Option<(S::Move, S::Genotype)> {
        while !moves.is_empty() {
            let mv = moves.swap_remove(rng.random_range(0..moves.len()));
            let child = space.apply(parent, &mv);
            if !self.seen.contains(&space.key(&child)) && !space.is_degenerate(&child) {
                return Some((mv, child));
            }
        }
        None
    }

    fn extinction(&mut self) {
        let mut ranked: Vec<(usize, f64)> = self
            .population
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m.acc))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut keep: Vec<usize> = ranked
            .into_iter()
            .take(self.config.survivors)
            .map(|(i, _)| i)
            .collect();
        keep.sort_unstable();
        self.population = keep
            .into_iter()
            .map(|i| self.population[i].clone())
            .collect();
        self.extinctions += 1;
    }
}

impl<S: SearchSpace> Strategy<S> for GrowingEvolution<S> {
    fn name(&self) -> &'static str {
        "adjacent"
    }

    fn ask(&mut self, space: &S) -> Result<Proposal<S::Genotype>, CoreError> {
        let id = TrialId(self.step);
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        if self.seeds_asked < self.config.seeds || self.population.is_empty() {
            self.seeds_asked += 1;
            return self.fresh(space, &mut rng);
        }
        let every = self.config.consolidate_every;
        if every > 0 && id.0.is_multiple_of(every as u64) {
            let best = self.best_member().expect("population is not empty").clone();
            let prunings = space.prunings(&best.genotype);
            if let Some((mv, child)) = self.unseen_child(space, &best.genotype, prunings, &mut rng)
            {
                self.seen.insert(space.key(&child));
                self.consolidating.insert(id, best.id);
                return Ok(
                    Proposal::child(child, best.id, format!("consolidate: {mv}"))
                        .inheriting()
                        .with_images(self.config.child_images),
                );
            }
        }
        let size = self.config.tournament.min(self.population.len());
        let picks = index::sample(&mut rng, self.population.len(), size);
        let parent = fittest(picks.iter().map(|i| &self.population[i]))
            .expect("tournament is not empty")
            .clone();
        let mut moves = space.moves(&parent.genotype);
        if rng.random_bool(self.config.preserving) {
            let preserving: Vec<S::Move> = moves
                .iter()
                .filter(|m| space.preserves_function(m))
                .cloned()
                .collect();
            if !preserving.is_empty() {
                moves = preserving;
            }
        }
        let (mv, child) = match self.unseen_child(space, &parent.genotype, moves, &mut rng) {
            Some(found) => found,
            // Every neighbour seen: a fresh network from scratch re-diversifies instead.
            None => return self.fresh(space, &mut rng),
        };
        self.seen.insert(space.key(&child));
        Ok(Proposal::child(child, parent.id, mv)
            .inheriting()
            .with_images(self.config.child_images))
    }

    fn tell(&mut self, space: &S, trial: &Trial<S::Genotype>) {
        self.step = self.step.max(trial.id.0 + 1);
        self.seen.insert(space.key(&trial.genotype));
        let replaces = self.consolidating.remove(&trial.id);
        let Some(acc) = trial.valid_acc() else {
            self.since_best += 1;
            return;
        };
        let member = Member {
            id: trial.id,
            genotype: trial.genotype.clone(),
            acc,
        };
        match replaces {
            Some(parent) => {
                // Consolidation: the smaller network replaces its parent if it lost (almost)
                // nothing, and is forgotten otherwise.
                if let Some(i) = self.population.iter().position(|m| m.id == parent)
                    && acc >= self.population[i].acc - self.config.tolerance
                {
                    self.population.remove(i);
                    self.population.push_back(member);
                }
            }
            None => {
                self.population.push_back(member);
                if self.population.len() > self.config.population {
                    self.population.pop_front();
                }
            }
        }
        if acc > self.best {
            self.best = acc;
            self.since_best = 0;
        } else {
            self.since_best += 1;
            if self.since_best >= self.config.patience {
                self.extinction();
                self.since_best = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetworkArch;
    use crate::spaces::grown::{GrownSpace, Limits};
    use crate::strategy::replay;
    use crate::trial::{Outcome, TrialState};

    fn space() -> GrownSpace {
        GrownSpace::new(Limits::default(), 4, 1, 28, 10).unwrap()
    }

    /// A toy objective: bigger networks score higher, a little noise from the id.
    fn score(space: &GrownSpace, g: &NetworkArch, id: u64) -> f64 {
        50.0 + (space.cost(g).params as f64).ln() + (id % 7) as f64 * 0.01
    }

    fn run(
        config: GrowingConfig,
        trials: u64,
    ) -> (GrowingEvolution<GrownSpace>, Vec<Trial<NetworkArch>>) {
        let space = space();
        let mut s = GrowingEvolution::new(9, config).unwrap();
        let mut history = Vec::new();
        for id in 0..trials {
            let p = s.ask(&space).unwrap();
            let failed = id == 5;
            let trial = Trial {
                id: TrialId(id),
                outcome: (!failed).then(|| Outcome {
                    valid_acc: score(&space, &p.genotype, id),
                    epochs: 1.0,
                    seconds: 1.0,
                }),
                genotype: p.genotype,
                parent: p.parent,
                mutation: p.mutation,
                state: if failed {
                    TrialState::Failed
                } else {
                    TrialState::Complete
                },
            };
            s.tell(&space, &trial);
            history.push((trial, p.inherit, p.budget.images));
        }
        let trials = history.iter().map(|h| h.0.clone()).collect();
        for (t, inherit, images) in &history {
            assert_eq!(
                *inherit,
                t.parent.is_some(),
                "children inherit, seeds do not"
            );
            assert_eq!(images.is_some(), t.parent.is_some());
        }
        (s, trials)
    }

    #[test]
    fn seeds_then_children_one_move_away_never_repeated() {
        let space = space();
        let (_, trials) = run(GrowingConfig::default(), 60);
        assert!(trials[0].parent.is_none() && trials[1].parent.is_none());
        let mut keys = std::collections::HashSet::new();
        for t in &trials {
            assert!(keys.insert(space.key(&t.genotype)), "repeated {}", t.id);
            if let Some(p) = t.parent {
                let parent = &trials[p.0 as usize].genotype;
                let one_move = space
                    .moves(parent)
                    .into_iter()
                    .chain(space.prunings(parent))
                    .any(|m| space.apply(parent, &m) == t.genotype);
                assert!(one_move, "trial {} is one move from {p}", t.id);
                assert!(trials[p.0 as usize].valid_acc().is_some());
            }
        }
    }

    #[test]
    fn consolidation_replaces_its_parent_only_when_it_loses_little() {
        let space = space();
        let config = GrowingConfig {
            consolidate_every: 3,
            ..GrowingConfig::default()
        };
        let (s, trials) = run(config, 40);
        let consolidations: Vec<&Trial<NetworkArch>> = trials
            .iter()
            .filter(|t| {
                t.mutation
                    .as_deref()
                    .is_some_and(|m| m.starts_with("consolidate"))
            })
            .collect();
        assert!(!consolidations.is_empty());
        for t in consolidations {
            let parent = &trials[t.parent.unwrap().0 as usize];
            assert!(space.cost(&t.genotype).params <= space.cost(&parent.genotype).params);
        }
        // The toy objective rewards size, so a consolidation only survives if it lost < 0.3.
        let alive = s.members();
        for id in alive {
            let t = &trials[id.0 as usize];
            if t.mutation
                .as_deref()
                .is_some_and(|m| m.starts_with("consolidate"))
            {
                let parent = &trials[t.parent.unwrap().0 as usize];
                assert!(t.valid_acc().unwrap() >= parent.valid_acc().unwrap() - 0.3);
            }
        }
    }

    #[test]
    fn stalls_cause_extinctions_down_to_the_survivors() {
        let space = space();
        let config = GrowingConfig {
            patience: 3,
            consolidate_every: 0,
            ..GrowingConfig::default()
        };
        let mut s = GrowingEvolution::new(1, config).unwrap();
        for id in 0..20u64 {
            let p = s.ask(&space).unwrap();
            // Nothing ever beats the first trial.
            let acc = if id == 0 { 90.0 } else { 50.0 };
            s.tell(
                &space,
                &Trial {
                    id: TrialId(id),
                    genotype: p.genotype,
                    parent: p.parent,
                    mutation: p.mutation,
                    state: TrialState::Complete,
                    outcome: Some(Outcome {
                        valid_acc: acc,
                        epochs: 1.0,
                        seconds: 1.0,
                    }),
                },
            );
        }
        assert!(s.extinctions() >= 4, "{}", s.extinctions());
        // The best member survives every extinction; the population regrows after each.
        assert!(s.members().contains(&TrialId(0)));
        assert!(s.members().len() <= 2 + 3);
    }

    #[test]
    fn reproducible_and_resumable() {
        let space = space();
        let (_, a) = run(GrowingConfig::default(), 30);
        let (_, b) = run(GrowingConfig::default(), 30);
        assert_eq!(a, b);
        let mut fresh = GrowingEvolution::new(9, GrowingConfig::default()).unwrap();
        replay(&mut fresh, &space, &a[..20]).unwrap();
        let next = fresh.ask(&space).unwrap();
        assert_eq!(next.genotype, a[20].genotype);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let err = |c: GrowingConfig| c.validate().unwrap_err().to_string();
        assert!(
            err(GrowingConfig {
                tournament: 9,
                ..Default::default()
            })
            .contains("tournament")
        );
        assert!(
            err(GrowingConfig {
                child_images: 0,
                ..Default::default()
            })
            .contains("child_images")
        );
    }
}
