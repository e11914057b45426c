//! adjacent-search: the search library. Everything `adjacent search` and `adjacent worker` do
//! between parsing their arguments and printing, so that a search runs the same from the command
//! line, from a worker on another machine and from a test:
//!
//! - [`session::Session`]: one search as a user starts it. It sets up the data, opens or resumes
//!   the study, picks where trained networks are kept, runs the study's loop and the final phase,
//!   writes the search's folder, and reports progress through events.
//! - [`settings::Settings`]: what a study keeps of its search (versioned), so that it resumes and
//!   workers join it with nothing but the storage; [`config::SearchConfig`] is its settings file.
//! - [`evaluator::TrainingEvaluator`]: trains a trial (from scratch, or from its parent's weights
//!   through a network morphism) and keeps its network; [`table`] evaluates trials with a
//!   NAS-Bench-201 table instead.
//! - [`search`]: the study's loop within the search's part of the budget, then the
//!   [`final_phase`], which trains the winner with what is left.
//! - [`summary::Summary`]: `summary.json`, written by a search and read by `adjacent report`
//!   ([`report`]).
//!
//! Strategies, spaces, the budget and the study's loop are adjacent-core's; storage is
//! adjacent-store's; networks and training are adjacent-nn's.

pub mod config;
pub mod error;
pub mod evaluator;
pub mod final_phase;
pub mod output;
pub mod page;
pub mod preadapt;
pub mod report;
pub mod search;
pub mod session;
pub mod settings;
pub mod setup;
pub mod shared_weights;
pub mod summary;
pub mod table;

pub use error::SearchError;
pub use session::Session;
pub use settings::Settings;
