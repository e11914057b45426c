//! Search strategies, one a file, each behind [`crate::strategy::Strategy`].

mod adjacent;
mod evolution;
mod growing;
mod local;
mod random;

pub use adjacent::{AdjacentConfig, AdjacentSearch};
pub use evolution::{EvolutionConfig, RegularizedEvolution};
pub use growing::{GrowingConfig, GrowingEvolution};
pub use local::LocalSearch;
pub use random::RandomSearch;
