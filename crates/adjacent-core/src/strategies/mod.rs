//! Search strategies, one a file, each behind [`crate::strategy::Strategy`].

mod asha;
mod evolution;
mod growing;
mod lineage;
mod local;
mod random;

pub use asha::{Asha, AshaConfig};
pub use evolution::{EvolutionConfig, RegularizedEvolution};
pub use growing::{GrowingConfig, GrowingSearch, GrowthPlan, Signal};
pub use lineage::{LineageConfig, LineageSearch};
pub use local::LocalSearch;
pub use random::RandomSearch;
