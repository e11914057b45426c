//! SPOS, single-path one-shot (Guo et al., 2020): every step trains one path drawn uniformly,
//! then an evolutionary search over the trained supernet scores candidates by their validation
//! accuracy with the inherited weights (batch norm recomputed from each batch) and returns the
//! best.

use std::collections::HashMap;

use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT};
use adjacent_core::strategy::derive_seed;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Context, EpochRecord, EpochStats, Method, OPS, OneShotConfig, Supernet, WeightsOptimizer,
    path_accuracy, uniform_cell, uniform_epoch,
};
use adjacent_nn::NnError;

/// Candidates kept as parents in each generation.
const PARENTS: usize = 10;
/// A child's chance of a new operation on each edge, when it is a mutant.
const MUTATION: f64 = 0.1;

pub(crate) struct Spos {
    seed: u64,
    candidates: usize,
}

impl Spos {
    pub fn new(config: &OneShotConfig) -> Self {
        Spos {
            seed: config.seed,
            candidates: config.candidates,
        }
    }
}

/// `parent` with each edge's operation redrawn with probability [`MUTATION`] (at least one edge
/// changes).
fn mutate(parent: &Cell, rng: &mut ChaCha8Rng) -> Cell {
    let forced = rng.random_range(0..EDGE_COUNT);
    Cell::new(std::array::from_fn(|e| {
        if e == forced || rng.random_bool(MUTATION) {
            let others: Vec<_> = OPS.iter().filter(|&&op| op != parent.op(e)).collect();
            *others[rng.random_range(0..others.len())]
        } else {
            parent.op(e)
        }
    }))
}

/// Each edge's operation from either parent.
fn crossover(a: &Cell, b: &Cell, rng: &mut ChaCha8Rng) -> Cell {
    Cell::new(std::array::from_fn(|e| match rng.random_bool(0.5) {
        true => a.op(e),
        false => b.op(e),
    }))
}

impl Method for Spos {
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
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 2));
        let mut scored: HashMap<Cell, f64> = HashMap::new();
        let score = |cell: Cell, scored: &mut HashMap<Cell, f64>| {
            scored
                .entry(cell)
                .or_insert_with(|| path_accuracy(net, &cell, &batches));
        };
        // The first generation: random cells.
        let first = (2 * PARENTS).min(self.candidates);
        while scored.len() < first {
            score(uniform_cell(&mut rng), &mut scored);
        }
        // Then children of the best, half mutants and half crossovers, until the candidates
        // are spent (a space of 15,625 cells has room for every new child the loop asks).
        let mut attempts = 0;
        while scored.len() < self.candidates && attempts < 100 * self.candidates {
            attempts += 1;
            let mut ranked: Vec<(Cell, f64)> = scored.iter().map(|(c, s)| (*c, *s)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.index().cmp(&b.0.index())));
            ranked.truncate(PARENTS);
            let pick = |rng: &mut ChaCha8Rng| ranked[rng.random_range(0..ranked.len())].0;
            let child = match rng.random_bool(0.5) {
                true => mutate(&pick(&mut rng), &mut rng),
                false => crossover(&pick(&mut rng), &pick(&mut rng), &mut rng),
            };
            score(child, &mut scored);
        }
        let cell = best(&scored);
        Ok((supernet, cell))
    }
}

/// The best-scored cell (ties: the lowest index, so the choice does not depend on hashing).
pub(crate) fn best(scored: &HashMap<Cell, f64>) -> Cell {
    scored
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.index().cmp(&a.0.index())))
        .map(|(c, _)| *c)
        .expect("at least one candidate")
}
