//! Random search: genotypes drawn uniformly from the space, never the same canonical cell twice.

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::Proposal;

/// Uniform sampling without repeats: each proposal is drawn uniformly from the space's genotypes
/// whose canonical key has not been proposed yet.
pub struct RandomSearch<S: SearchSpace> {
    seed: u64,
    step: u64,
    seen: SeenKeys<S::Key>,
}

impl<S: SearchSpace> RandomSearch<S> {
    pub fn new(seed: u64) -> Self {
        RandomSearch {
            seed,
            step: 0,
            seen: SeenKeys::default(),
        }
    }
}

impl<S: SearchSpace> Strategy<S> for RandomSearch<S> {
    fn name(&self) -> &'static str {
        "random"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        let genotype = sample_unseen(space, &self.seen, false, &mut rng).ok_or_else(|| {
            CoreError::Exhausted {
                strategy: "random".into(),
            }
        })?;
        self.seen.insert(space.key(&genotype));
        Ok(Proposal::fresh(genotype))
    }

    fn tell(&mut self, space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        self.seen.insert(space.key(&trial.genotype));
    }
}
