//! The ask/tell interface every search strategy implements, and the registry of strategies.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategies::{
    Asha, AshaConfig, EvolutionConfig, GrowingConfig, GrowingSearch, GrowthPlan, LineageConfig,
    LineageSearch, LocalSearch, RandomSearch, RegularizedEvolution,
};
use crate::trial::TrialId;

/// A search strategy, driven by ask and tell.
///
/// A strategy's state is a pure function of its seed and the study's history: every random draw of
/// its n-th proposal comes from [`step_rng`]`(seed, n)`, and [`replay`] rebuilds a strategy from a
/// history by asking and telling each recorded trial in turn. That is all a resumed study needs.
pub trait Strategy<S: SearchSpace>: Send {
    /// The strategy's registry name.
    fn name(&self) -> &'static str;

    /// Proposes the next trial.
    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError>;

    /// Hears a finished trial (complete, failed or pruned), in the order trials were proposed.
    fn tell(&mut self, space: &S, trial: &TrialOf<S>);

    /// True when the strategy cannot propose until trials it proposed have been told (a strategy
    /// that decides a stage at a time); asynchronous strategies never wait.
    fn waiting(&self) -> bool {
        false
    }

    /// The trial whose network the strategy would deliver now, when it decides that itself;
    /// `None` leaves it to the complete trial with the best validation accuracy.
    fn incumbent(&self) -> Option<TrialId> {
        None
    }
}

/// Rebuilds a strategy's state from a study's history: for each trial, in order, the strategy asks
/// and is told the trial. Since a strategy is deterministic given its seed, this is the state it had
/// when the history was written; a proposal that differs from the recorded trial means the history
/// came from another strategy or seed, and is an error.
pub fn replay<S: SearchSpace>(
    strategy: &mut dyn Strategy<S>,
    space: &S,
    history: &[TrialOf<S>],
) -> Result<(), CoreError> {
    for trial in history {
        ask_as_recorded(strategy, space, trial)?;
        strategy.tell(space, trial);
    }
    Ok(())
}

/// Asks `strategy` for the proposal it made of the recorded `trial` when the history was written;
/// a different genotype is a [`CoreError::HistoryMismatch`].
pub fn ask_as_recorded<S: SearchSpace>(
    strategy: &mut dyn Strategy<S>,
    space: &S,
    trial: &TrialOf<S>,
) -> Result<(), CoreError> {
    let proposal = strategy.ask(space)?;
    if proposal.genotype != trial.genotype {
        return Err(CoreError::HistoryMismatch {
            trial: trial.id.0,
            recorded: space.encode(&trial.genotype),
            proposed: space.encode(&proposal.genotype),
        });
    }
    Ok(())
}

/// The RNG for a strategy's `step`-th proposal: a ChaCha8 stream keyed by the seed and the step, so
/// that the draws of a proposal depend on nothing but the seed and how many trials came before.
pub fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    rng
}

/// A well-mixed 64-bit value from `seed` and `index` (SplitMix64), for deriving independent seeds.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The canonical keys a strategy has proposed, so that it never spends a query on a cell it has
/// already seen.
#[derive(Debug, Clone)]
pub struct SeenKeys<K> {
    keys: HashSet<K>,
}

impl<K: std::hash::Hash + Eq> Default for SeenKeys<K> {
    fn default() -> Self {
        SeenKeys {
            keys: HashSet::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> SeenKeys<K> {
    /// Records `key`; true if it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.keys.insert(key)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Draws a genotype uniformly from the space among those whose key is not in `seen` (and, with
/// `skip_degenerate`, that are not degenerate). Rejection sampling first; when that keeps failing,
/// a uniform pick among the listed remaining genotypes, which is the same distribution.
pub fn sample_unseen<S: SearchSpace>(
    space: &S,
    seen: &SeenKeys<S::Key>,
    skip_degenerate: bool,
    rng: &mut dyn Rng,
) -> Option<S::Genotype> {
    let acceptable = |g: &S::Genotype| {
        let degenerate = skip_degenerate && space.is_degenerate(g);
        !degenerate && !seen.contains(&space.key(g))
    };
    for _ in 0..256 {
        let g = space.sample(rng);
        if acceptable(&g) {
            return Some(g);
        }
    }
    let rest: Vec<S::Genotype> = space.enumerate()?.into_iter().filter(acceptable).collect();
    if rest.is_empty() {
        return None;
    }
    let i = rand::RngExt::random_range(rng, 0..rest.len());
    Some(rest[i].clone())
}

/// The strategies adjacent knows, by registry name: the one registry of `adjacent bench`,
/// `adjacent search` and `adjacent worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    Random,
    Evolution,
    Local,
    /// Lineages of one-move children with extinction ([`LineageSearch`]): adjacent's search on a
    /// table, where a child costs a query and inherits nothing.
    Lineage,
    /// Asynchronous successive halving; promotions continue their parents' training.
    Asha,
    /// Adjacent's search with real training ([`GrowingSearch`]): probes at equal compute, then the
    /// winner's morphisms along one schedule.
    Adjacent,
}

/// The settings of every strategy (the settings file's `[evolution]`, `[asha]`, `[adjacent]` and
/// `[lineage]`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategyConfig {
    pub evolution: EvolutionConfig,
    pub asha: AshaConfig,
    pub adjacent: GrowingConfig,
    pub lineage: LineageConfig,
}

/// What some strategies need of the study they run in.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyContext<G> {
    /// Training images of one epoch (ASHA counts its rungs in epochs).
    pub epoch_images: Option<usize>,
    /// The plan `adjacent` grows within (its start network and compute horizon).
    pub growth: Option<GrowthPlan<G>>,
}

impl<G> Default for StrategyContext<G> {
    /// A study with a fixed fidelity: a table.
    fn default() -> Self {
        StrategyContext {
            epoch_images: None,
            growth: None,
        }
    }
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 6] = [
        StrategyKind::Random,
        StrategyKind::Evolution,
        StrategyKind::Local,
        StrategyKind::Lineage,
        StrategyKind::Asha,
        StrategyKind::Adjacent,
    ];

    /// The strategies that run on a table (a fixed fidelity: no training budget to plan with).
    pub const TABULAR: [StrategyKind; 4] = [
        StrategyKind::Random,
        StrategyKind::Evolution,
        StrategyKind::Local,
        StrategyKind::Lineage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Random => "random",
            StrategyKind::Evolution => "evolution",
            StrategyKind::Local => "local",
            StrategyKind::Lineage => "lineage",
            StrategyKind::Asha => "asha",
            StrategyKind::Adjacent => "adjacent",
        }
    }

    /// A new strategy of this kind with its default settings, for a table.
    pub fn build<S: SearchSpace + 'static>(
        self,
        seed: u64,
    ) -> Result<Box<dyn Strategy<S>>, CoreError> {
        self.build_with(
            seed,
            &StrategyConfig::default(),
            &StrategyContext::default(),
        )
    }

    /// A new strategy of this kind with `config`, in a study that offers `context`; a strategy
    /// whose needs the context does not meet (ASHA or adjacent on a table) is an error.
    pub fn build_with<S: SearchSpace + 'static>(
        self,
        seed: u64,
        config: &StrategyConfig,
        context: &StrategyContext<S::Genotype>,
    ) -> Result<Box<dyn Strategy<S>>, CoreError> {
        let needs = |what: &str| CoreError::InvalidSetting {
            field: "strategy".into(),
            reason: format!("{} {what}", self.name()),
        };
        Ok(match self {
            StrategyKind::Random => Box::new(RandomSearch::new(seed)),
            StrategyKind::Evolution => Box::new(RegularizedEvolution::new(seed, config.evolution)?),
            StrategyKind::Local => Box::new(LocalSearch::new(seed)),
            StrategyKind::Lineage => Box::new(LineageSearch::new(seed, config.lineage)?),
            StrategyKind::Asha => {
                let epoch = context.epoch_images.ok_or_else(|| {
                    needs("counts its rungs in training images: it needs training, not a table")
                })?;
                Box::new(Asha::new(seed, config.asha, epoch)?)
            }
            StrategyKind::Adjacent => {
                let plan = context.growth.clone().ok_or_else(|| {
                    needs("plans its probes within a budget of compute: it needs training and a compute, image or time budget")
                })?;
                Box::new(GrowingSearch::new(seed, config.adjacent.clone(), plan)?)
            }
        })
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyKind {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self, CoreError> {
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| CoreError::UnknownStrategy {
                name: name.to_string(),
                valid: StrategyKind::ALL.map(StrategyKind::name).join(", "),
            })
    }
}
