//! adjacent-core: search spaces, genotypes, moves, ask/tell strategies, trials and tabular
//! benchmarks. No tensors and no database: everything that can be decided on a genotype is decided
//! here.

pub mod bench;
pub mod budget;
pub mod cell;
pub mod claim;
pub mod compute;
pub mod error;
pub mod morphism;
pub mod network;
pub mod schedule;
pub mod space;
pub mod spaces;
pub mod strategies;
pub mod strategy;
pub mod study;
pub mod tabular;
pub mod trial;

pub use error::CoreError;
pub use space::{SearchSpace, StaticCost};
pub use strategy::{Strategy, StrategyKind};
