//! Random search with weight sharing (Li and Talwalkar, 2019): the supernet trains one uniformly
//! drawn path per step, as in SPOS; then random candidates are scored on one batch of the
//! architecture half with the inherited weights, and the ten best again on all the scoring
//! images; the best of those is returned.

use std::collections::HashMap;

use adjacent_core::spaces::nb201::Cell;
use adjacent_core::strategy::derive_seed;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::spos::best;
use super::{
    Context, EpochRecord, EpochStats, Method, OneShotConfig, Supernet, WeightsOptimizer,
    path_accuracy, uniform_cell, uniform_epoch,
};
use adjacent_nn::NnError;

/// Candidates scored again on all the scoring images.
const FINALISTS: usize = 10;

pub(crate) struct Rsws {
    seed: u64,
    candidates: usize,
}

impl Rsws {
    pub fn new(config: &OneShotConfig) -> Self {
        Rsws {
            seed: config.seed,
            candidates: config.candidates,
        }
    }
}

impl Method for Rsws {
    fn epoch(
        &mut self,
        net: Supernet,
        ctx: &Context,
        epoch: usize,
        weights: &mut WeightsOptimizer,
    ) -> Result<(Supernet, EpochStats), NnError> {
        uniform_epoch(net, ctx, epoch, weights, self.seed)
    }

    fn probabilities(&self) -> Option<Vec<[f64; 5]>> {
        None
    }

    fn derive(
        &mut self,
        supernet: Supernet,
        ctx: &Context,
        _: &mut WeightsOptimizer,
        _: &mut dyn FnMut(&EpochRecord),
    ) -> Result<(Supernet, Cell), NnError> {
        let net = &supernet;
        let batches = ctx.score_batches();
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 3));
        let mut quick: HashMap<Cell, f64> = HashMap::new();
        let mut attempts = 0;
        while quick.len() < self.candidates && attempts < 100 * self.candidates {
            attempts += 1;
            let cell = uniform_cell(&mut rng);
            quick
                .entry(cell)
                .or_insert_with(|| path_accuracy(net, &cell, &batches[..1]));
        }
        let mut ranked: Vec<(Cell, f64)> = quick.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.index().cmp(&b.0.index())));
        let finals: HashMap<Cell, f64> = ranked
            .into_iter()
            .take(FINALISTS)
            .map(|(cell, _)| (cell, path_accuracy(net, &cell, &batches)))
            .collect();
        let cell = best(&finals);
        Ok((supernet, cell))
    }
}
