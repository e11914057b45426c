//! The search-space abstraction: what a genotype is, how to sample one, and its adjacent possible.

use std::fmt::{Debug, Display};
use std::hash::Hash;

use rand::{Rng, RngExt};

use crate::error::CoreError;

/// Static cost of a genotype's network, known without training it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StaticCost {
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds of one forward pass on one input.
    pub flops: u64,
}

/// A space of architectures: genotypes, their text form, their canonical identity and their moves.
///
/// Every random choice draws from the RNG it is given, so a seeded caller gets a reproducible search.
pub trait SearchSpace {
    /// One architecture of the space.
    type Genotype: Clone + Eq + Hash + Debug + Send + Sync;
    /// The canonical identity of a genotype: two genotypes that compute the same function have the
    /// same key.
    type Key: Clone + Eq + Hash + Debug + Send + Sync;
    /// One small step from a genotype to a neighbour (the adjacent possible).
    type Move: Clone + PartialEq + Debug + Display + Send + Sync;

    /// A short name, used in reports.
    fn name(&self) -> &str;

    /// A genotype drawn uniformly from the space.
    fn sample(&self, rng: &mut dyn Rng) -> Self::Genotype;

    /// Every move available from `genotype`.
    fn moves(&self, genotype: &Self::Genotype) -> Vec<Self::Move>;

    /// The genotype one move away. The move must be one of `moves(genotype)`.
    fn apply(&self, genotype: &Self::Genotype, mv: &Self::Move) -> Self::Genotype;

    /// The standard text form of a genotype.
    fn encode(&self, genotype: &Self::Genotype) -> String;

    /// Parses the standard text form.
    fn decode(&self, text: &str) -> Result<Self::Genotype, CoreError>;

    /// The canonical key: equal for genotypes that compute the same function.
    fn key(&self, genotype: &Self::Genotype) -> Self::Key;

    /// True when the genotype's network cannot learn anything (for example, no path carries the
    /// input to the output). Strategies may skip such genotypes without spending a query.
    fn is_degenerate(&self, _genotype: &Self::Genotype) -> bool {
        false
    }

    /// True when `mv` keeps the network's function, so that a child can start exactly where its
    /// parent ended (a network morphism). False by default.
    fn preserves_function(&self, _mv: &Self::Move) -> bool {
        false
    }

    /// The moves that remove a part of the network (an edge, a cell) without cutting any path from
    /// input to output: what consolidation may try. None by default.
    fn prunings(&self, _genotype: &Self::Genotype) -> Vec<Self::Move> {
        Vec::new()
    }

    /// The largest function-preserving growth of `genotype` whose cost `fits` (and that the
    /// space's limits allow), with the move that makes it: depth first (as many as `depth` cells
    /// added to every stage, as many as fit), then the widest width that fits; none when no larger
    /// network fits (or the space cannot grow). What a planned growth grows to.
    fn grow_within(
        &self,
        _genotype: &Self::Genotype,
        _depth: usize,
        _fits: &dyn Fn(StaticCost) -> bool,
    ) -> Option<(Self::Move, Self::Genotype)> {
        None
    }

    /// The widest narrowing of `genotype` whose cost `fits`, or the narrowest the space plans
    /// with when none does; none when `genotype` fits as it is (or the space cannot narrow). A
    /// network from scratch, no weights: what a planned start is sized to.
    fn narrow_within(
        &self,
        _genotype: &Self::Genotype,
        _fits: &dyn Fn(StaticCost) -> bool,
    ) -> Option<Self::Genotype> {
        None
    }

    /// Parameters and FLOPs of the genotype's network.
    fn cost(&self, genotype: &Self::Genotype) -> StaticCost;

    /// Every genotype of the space, when it is finite and small enough to list.
    fn enumerate(&self) -> Option<Vec<Self::Genotype>> {
        None
    }

    /// Number of distinct canonical keys, when the space is finite and small enough to count.
    fn distinct_keys(&self) -> Option<usize> {
        None
    }

    /// A move drawn uniformly from `moves(genotype)`.
    fn sample_move(&self, genotype: &Self::Genotype, rng: &mut dyn Rng) -> Self::Move {
        let moves = self.moves(genotype);
        moves[rng.random_range(0..moves.len())].clone()
    }

    /// Every neighbour of `genotype` with the move that reaches it.
    fn neighbours(&self, genotype: &Self::Genotype) -> Vec<(Self::Move, Self::Genotype)> {
        self.moves(genotype)
            .into_iter()
            .map(|m| {
                let g = self.apply(genotype, &m);
                (m, g)
            })
            .collect()
    }
}

/// A proposal in space `S`.
pub type ProposalOf<S> =
    crate::trial::Proposal<<S as SearchSpace>::Genotype, <S as SearchSpace>::Move>;

/// A trial in space `S`.
pub type TrialOf<S> = crate::trial::Trial<<S as SearchSpace>::Genotype, <S as SearchSpace>::Move>;
