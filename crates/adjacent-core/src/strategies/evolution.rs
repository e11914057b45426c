//! Regularized (aging) evolution, Real et al. 2019 (AmoebaNet).

use std::collections::VecDeque;

use rand::seq::index;

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{Strategy, step_rng};
use crate::trial::{Mutation, Proposal, TrialId};

/// Settings of regularized evolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// Population size P.
    pub population: usize,
    /// Tournament size S.
    pub tournament: usize,
}

impl EvolutionConfig {
    /// Checks the sizes, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.population == 0 || self.tournament == 0 || self.tournament > self.population {
            return Err(CoreError::InvalidSetting {
                field: "tournament".into(),
                reason: format!(
                    "must be between 1 and population ({} and {} given)",
                    self.tournament, self.population
                ),
            });
        }
        Ok(())
    }
}

impl Default for EvolutionConfig {
    /// P = 10, S = 3: the settings of the NAS-Bench-201 paper's runs.
    fn default() -> Self {
        EvolutionConfig {
            population: 10,
            tournament: 3,
        }
    }
}

/// Regularized evolution as published: P random genotypes start the population; then each step
/// samples S members uniformly, mutates the best of them by one random move, adds the child and
/// removes the *oldest* member (aging), not the worst.
///
/// As in the paper, nothing stops a child from repeating a genotype already evaluated: such a child
/// still costs a query. (The `adjacent` strategy never re-spends a query; this one is kept faithful
/// to the published baseline.)
pub struct RegularizedEvolution<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: EvolutionConfig,
    /// Complete trials alive, oldest first: (trial, genotype, validation accuracy).
    population: VecDeque<(TrialId, S::Genotype, f64)>,
}

impl<S: SearchSpace> RegularizedEvolution<S> {
    /// A new search; an invalid `config` is an error naming the field.
    pub fn new(seed: u64, config: EvolutionConfig) -> Result<Self, CoreError> {
        config.validate()?;
        Ok(RegularizedEvolution {
            seed,
            step: 0,
            config,
            population: VecDeque::new(),
        })
    }
}

impl<S: SearchSpace> Strategy<S> for RegularizedEvolution<S> {
    fn name(&self) -> &'static str {
        "evolution"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        // The initial population is P random genotypes; failed ones are replaced by more samples.
        if self.population.len() < self.config.population {
            return Ok(Proposal::fresh(space.sample(&mut rng)));
        }
        let picks = index::sample(&mut rng, self.population.len(), self.config.tournament);
        let (parent_id, parent, _) = picks
            .iter()
            .map(|i| &self.population[i])
            .fold(
                None,
                |best: Option<&(TrialId, S::Genotype, f64)>, m| match best {
                    Some(b) if b.2 >= m.2 => Some(b),
                    _ => Some(m),
                },
            )
            .expect("tournament is not empty");
        let mv = space.sample_move(parent, &mut rng);
        Ok(Proposal::child(
            space.apply(parent, &mv),
            *parent_id,
            Mutation::Move(mv),
        ))
    }

    fn tell(&mut self, _space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        if let Some(acc) = trial.valid_acc() {
            self.population
                .push_back((trial.id, trial.genotype.clone(), acc));
            if self.population.len() > self.config.population {
                self.population.pop_front();
            }
        }
    }
}
