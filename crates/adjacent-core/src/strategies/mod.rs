//! Search strategies, one a file, each behind [`crate::strategy::Strategy`].

mod adjacent;
mod asha;
mod evolution;
mod growing;
mod local;
mod random;

pub use adjacent::{AdjacentConfig, AdjacentSearch};
pub use asha::{Asha, AshaConfig};
pub use evolution::{EvolutionConfig, RegularizedEvolution};
pub use growing::{GrowingConfig, GrowingSearch, GrowthPlan, Signal};
pub use local::LocalSearch;
pub use random::RandomSearch;
