//! Growing search: the `adjacent` strategy for searches with real training.
//!
//! One network, the *main line*, trains along one learning-rate schedule that spans the whole
//! budget, as the network a user would train without search does. At a few *decisions* the main
//! line's adjacent possible is probed: a few of its morphisms (a widening, a cell inserted, a
//! convolution added or grown, an edge or a cell removed) start from its weights (Net2Net, NASH)
//! and train for a short probe beside its own continuation, each with the same compute and through
//! the same part of the schedule (GradMax keeps one schedule through growth); the best of them
//! becomes the main line and the others are forgotten. So a search costs only its losing probes:
//! when no change pays, it delivers the network it started from, trained almost as long. First,
//! `random_starts` random networks may be probed against the start network at equal compute (by
//! default none, and no decisions: measured on Fashion-MNIST, the probed decisions lost, and the
//! random cell that won a start's probe was worse than the start cell at equal size).
//!
//! By default the sizes are planned for the budget, not probed (a probe of a function-preserving
//! child ties its parent until long after a probe ends, and a probe at equal compute rewards the
//! cheapest network, which sees the most images): the network the budget can train is the largest
//! whose whole lineage's compute trains it for `epochs` epochs of the training set (measured on
//! Fashion-MNIST, the best of a ladder of fixed networks was the one trained for about that many
//! epochs at every budget). Every start is first narrowed, from scratch, to the width that the
//! lineage's compute would train for twice as many epochs (so at small budgets the search starts
//! cheap); the winner of the starts then grows, function-preserving from its weights
//! (new units that nothing reads yet, residual cells that start as the identity), at `grow_at` of
//! the one schedule to the planned size, so that the cheap network sees many images first and the
//! large one the rest (staged training, Shen et al. 2022; LEMON, Wang et al. 2024).

use rand::RngExt;

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::{Mutation, Origin, Proposal, TrialId, TrialState};

/// What decides between the probes of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The mean training loss over the last quarter of each probe (lower wins): free, since it is
    /// measured while training (training speed estimation, Ru et al. 2021).
    TrainLoss,
    /// The validation accuracy after each probe (higher wins): one forward pass per validation
    /// image and probe.
    ValidAcc,
    /// The mean loss on the same `score_images` validation images after each probe (lower wins):
    /// paired, since every probe is scored on the same images, unlike the training loss of its own
    /// last batches; a forward pass per scoring image and probe, paid from the probe's compute.
    ValidLoss,
}

/// Settings of growing search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowingConfig {
    /// Decisions during the search, evenly spaced: at each, morphisms of the main line are probed
    /// against its continuation.
    pub decisions: usize,
    /// Morphisms probed at each decision.
    pub children: usize,
    /// Compute of one probe, as a share of the whole budget.
    pub probe: f64,
    /// Random networks probed against the start network at the start.
    pub random_starts: usize,
    /// Share of the probed morphisms drawn among those that keep the network's function (it
    /// grows); the others change it (an edge or a cell removed, a convolution replaced by a skip
    /// or a pool: consolidation).
    pub preserving: f64,
    pub signal: Signal,
    /// Validation images each probe is scored on, with the `valid_loss` signal.
    pub score_images: u64,
    /// How much better than the main line's continuation a morphism must do to replace it: the
    /// share of the continuation's training loss it must be below (or of the validation error,
    /// with that signal). A change that only ties costs compute for nothing.
    pub margin: f64,
    /// Epochs of the training set the delivered lineage's compute should train its final network
    /// for, closest on a log scale: the start's width (or, with `grow_from` > 1, the width the
    /// main line grows to). 0: no planned sizes (the starts as they are, no growth).
    pub epochs: f64,
    /// Where in the one schedule (a share of it) the main line widens to its planned width.
    pub grow_at: f64,
    /// Where in the one schedule an adapted start (`--from`) grows to its planned size instead:
    /// a network that arrives trained has had its cheap early images, so it may grow sooner
    /// than one from scratch (see BENCHMARKS.md, pre-adaptation).
    pub adapted_grow_at: f64,
    /// Residual cells the planned network may have more than the start in every stage: depth
    /// first (as many of them as the planned size holds), then the width the rest pays for. With
    /// `grow_from` > 1 the main line grows them in from its weights; with `grow_from` = 1 the start
    /// has them from scratch (the same planned network, without growth). 0: width only.
    pub grow_depth: usize,
    /// How much larger than the planned network the starts are sized, in epochs: a start is the
    /// widest width of its cell that the lineage's compute trains for `grow_from` x `epochs`
    /// epochs (narrowed or widened from scratch), so the main line grows from it to the planned
    /// size; 1: the starts are the planned size, and nothing grows.
    pub grow_from: f64,
    /// How much of an adapted start's earlier training (pre-adaptation: the images its weights
    /// were trained on in the study they came from, at its cost on this data) the plan counts as
    /// compute of its lineage, when it plans the size an adapted winner grows to: 1, all of it, so
    /// a network that arrives trained may grow wider than the plan from scratch; 0 (the default:
    /// counting it all lost on CIFAR-10, see BENCHMARKS.md), none.
    pub earlier_training: f64,
    /// Training steps a probe of the adapted starts needs to decide anything: with fewer (a small
    /// budget), a pre-adapted search probes nothing and starts from the earlier search's delivered
    /// model, as fine-tuning would (measured: probes of six steps chose a network from scratch
    /// over the earlier winner, whose new head had barely begun to learn). 0: always probe.
    pub min_probe_steps: u64,
    /// Factors of the peak learning rate to choose from before the search begins (at least two;
    /// empty: the recipe's rate, no choice). Each is probed on the network the main line starts
    /// as (the earlier search's delivered model when there is one, from its weights) with a
    /// short cosine schedule of its own, so that the probe sees its rate decay; the one whose
    /// network ends with the lowest loss on the same `score_images` validation images sets the
    /// rate of every later trial and of the final phase. The probes' compute is lost.
    pub rates: Vec<f64>,
    /// The factors chosen among instead of `rates` when the search starts from an earlier
    /// search's networks (`--from`; empty: those of `rates`): the recipe's rate was chosen for
    /// training from scratch, and a trunk trained on other data may want another. By default
    /// the recipe's and twice it (chosen on Fashion-MNIST tops, won on CIFAR-10 animals:
    /// BENCHMARKS.md, "The rate choice of adapted starts chosen again").
    pub adapted_rates: Vec<f64>,
    /// Compute of one probe of a learning rate, as a share of the whole budget.
    pub rate_probe: f64,
}

impl Default for GrowingConfig {
    fn default() -> Self {
        GrowingConfig {
            decisions: 0,
            children: 2,
            probe: 0.015,
            random_starts: 0,
            preserving: 0.75,
            signal: Signal::TrainLoss,
            score_images: 512,
            margin: 0.01,
            epochs: 9.0,
            grow_at: 0.25,
            adapted_grow_at: 0.25,
            grow_depth: 0,
            grow_from: 1.0,
            earlier_training: 0.0,
            min_probe_steps: 16,
            rates: Vec::new(),
            adapted_rates: vec![1.0, 2.0],
            rate_probe: 0.02,
        }
    }
}

impl GrowingConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &str, reason: &str| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if !(self.probe > 0.0 && self.probe < 1.0) {
            return bad("probe", "must be a share of the budget in (0, 1)");
        }
        if self.decisions > 0 && self.children == 0 {
            return bad("children", "must be at least 1 when there are decisions");
        }
        if !(0.0..=1.0).contains(&self.preserving) {
            return bad("preserving", "must be a probability in [0, 1]");
        }
        if self.signal == Signal::ValidLoss && self.score_images == 0 {
            return bad(
                "score_images",
                "must be at least 1 with the valid_loss signal",
            );
        }
        if !(0.0..1.0).contains(&self.margin) {
            return bad("margin", "must be a share in [0, 1)");
        }
        if !(self.epochs >= 0.0 && self.epochs.is_finite()) {
            return bad(
                "epochs",
                "must be a number of epochs, 0 or more (0: no planned sizes)",
            );
        }
        for (field, at) in [
            ("grow_at", self.grow_at),
            ("adapted_grow_at", self.adapted_grow_at),
        ] {
            if !(at > 0.0 && at < 1.0) {
                return bad(field, "must be a share of the schedule in (0, 1)");
            }
        }
        if !(self.grow_from >= 1.0 && self.grow_from.is_finite()) {
            return bad(
                "grow_from",
                "must be 1 or more (epochs of the start over those of the planned network)",
            );
        }
        if !(self.earlier_training >= 0.0 && self.earlier_training.is_finite()) {
            return bad(
                "earlier_training",
                "must be a share of an adapted start's earlier training, 0 or more (0: not counted)",
            );
        }
        if self.grow_depth > 0 && self.epochs == 0.0 {
            return bad(
                "grow_depth",
                "plans the depth of the planned network, and there is none with epochs = 0",
            );
        }
        for (field, rates) in [
            ("rates", &self.rates),
            ("adapted_rates", &self.adapted_rates),
        ] {
            if rates.len() == 1 {
                return bad(
                    field,
                    "chooses among two or more factors of the learning rate (empty: no choice)",
                );
            }
            if let Some(r) = rates.iter().find(|r| !(**r > 0.0 && r.is_finite())) {
                return bad(
                    field,
                    &format!("factors of the learning rate must be positive, got {r}"),
                );
            }
        }
        if !(self.rates.is_empty() && self.adapted_rates.is_empty())
            && (self.rate_probe <= 0.0 || self.rate_probe >= 1.0 || self.rate_probe.is_nan())
        {
            return bad("rate_probe", "must be a share of the budget in (0, 1)");
        }
        if self.epochs > 0.0 && self.decisions > 0 {
            return bad(
                "epochs",
                "planned sizes and probed decisions are two ways to grow: set decisions = 0 or epochs = 0",
            );
        }
        Ok(())
    }

    /// Share of the budget the probes that lose cost, at most.
    pub fn waste(&self) -> f64 {
        self.lost(1 + self.random_starts)
    }

    /// Share of the budget every probe costs, with `starts` networks probed at the start.
    fn probes(&self, starts: usize) -> f64 {
        self.probe * (starts + self.decisions * (1 + self.children)) as f64 + self.rate_probes()
    }

    /// Share of the budget the probes that lose cost, with `starts` networks probed at the start
    /// (all but one of them lose, as the decisions' morphisms do; every probe of a learning rate
    /// is lost, since the main line starts afresh at the rate chosen).
    fn lost(&self, starts: usize) -> f64 {
        self.probe * (starts.saturating_sub(1) + self.decisions * self.children) as f64
            + self.rate_probes()
    }

    /// Share of the budget the probes of the learning rates cost.
    fn rate_probes(&self) -> f64 {
        self.rate_probe * self.rates.len() as f64
    }
}

/// The growth of `from` (up to `depth` cells a stage more, then the width) that `epochs` (the
/// epochs a network of that cost trains for) puts closest to `target` on a log scale: the widest
/// that trains for at least the target, or the next one up when it trains for less but closer to
/// it; none when no larger network is closer.
fn closest_growth<S: SearchSpace>(
    space: &S,
    from: &S::Genotype,
    depth: usize,
    target: f64,
    epochs: &dyn Fn(crate::space::StaticCost) -> f64,
) -> Option<(S::Move, S::Genotype)> {
    let at_least = space.grow_within(from, depth, &|cost| epochs(cost) >= target);
    let above = epochs(space.cost(match &at_least {
        Some((_, grown)) => grown,
        None => from,
    }));
    if above < target {
        return at_least;
    }
    space
        .grow_within(from, depth, &|cost| {
            let e = epochs(cost);
            e >= target || target / e < above / target
        })
        .or(at_least)
}

/// Networks probed at the start: the start network, the random ones and the adapted ones.
fn start_count<G>(config: &GrowingConfig, plan: &GrowthPlan<G>) -> usize {
    1 + config.random_starts + plan.adapted.len()
}

/// What a growing search is given besides its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthPlan<G> {
    /// The network the main line starts as.
    pub start: G,
    /// Compute of the whole search, final phase included, in FLOPs: the budget that the one
    /// schedule spans.
    pub horizon: u64,
    /// Compute the search itself may spend (the rest is the final phase's).
    pub search: u64,
    /// For a budget of wall time, its seconds: `horizon` then stands for them at a throughput
    /// measured before the search, on the start network, and once the starts have trained the
    /// plan is made again from the winner's own throughput and the time the starts took (a cheap
    /// network computes fewer FLOPs a second).
    pub seconds: Option<f64>,
    /// Images of one epoch of the training set, which the planned sizes are counted in.
    pub train_images: u64,
    /// Images of one training step (what a probe's length in steps is counted in).
    pub batch: u64,
    /// Networks of earlier studies adapted to this data (pre-adaptation): starts that begin from
    /// their weights, probed beside the start network at equal compute, as they are (a start too
    /// narrow for the plan grows to it from its weights, as the main line does).
    pub adapted: Vec<(G, Origin)>,
}

/// Where the plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The learning rate chosen, before anything else.
    Rates,
    /// The first decision: the start network (and random ones) from scratch.
    Start,
    /// The main line trains on, unprobed, before decision `k` (from 1).
    Main(usize),
    /// The main line trains on, unprobed, up to its planned growth.
    BeforeGrowth,
    /// The main line widened to its planned width trains to the end of the search.
    Grown,
    /// Decision `k` (from 1).
    Decide(usize),
    Done,
}

/// The main line: its newest trial, network, how far along the schedule it is, and the compute
/// of the earlier training it counts (FLOPs; an adapted start's, 0 from scratch).
#[derive(Debug, Clone)]
struct Head<G> {
    trial: TrialId,
    genotype: G,
    position: f64,
    earlier: f64,
    /// Adapted from an earlier study (its depth was not planned into it).
    adapted: bool,
}

/// A trial of the current stage, as asked.
#[derive(Debug, Clone)]
struct Asked<G> {
    trial: TrialId,
    genotype: G,
    /// Where in the schedule it ends.
    end: f64,
    /// The earlier training it counts, in FLOPs.
    earlier: f64,
    adapted: bool,
}

/// Growing search; see the module documentation.
pub struct GrowingSearch<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: GrowingConfig,
    plan: GrowthPlan<S::Genotype>,
    /// Compute of one main segment, as a share of the budget.
    main: f64,
    /// Compute of the lineage that is delivered, as a share of the budget: the schedule's length.
    lineage: f64,
    stage: Stage,
    head: Option<Head<S::Genotype>>,
    /// Share of the budget the proposals asked so far were given.
    committed: f64,
    /// The planned widening of the main line (the move and the network), once the starts are
    /// decided; none when the budget cannot train a wider network.
    growth: Option<(S::Move, S::Genotype)>,
    /// Proposals of the current stage not yet asked.
    queue: std::collections::VecDeque<ProposalOf<S>>,
    /// The current stage's trials: asked, and their signal once told (None: failed).
    asked: Vec<Asked<S::Genotype>>,
    told: Vec<(TrialId, Option<f64>)>,
    seen: SeenKeys<S::Key>,
    /// Seconds and FLOPs of each trial of the start (and of the learning rates), as told.
    start_costs: Vec<(TrialId, f64, u64)>,
    /// The factor of the peak learning rate every trial after the choice of rates trains with.
    lr_scale: f64,
}

impl<S: SearchSpace> GrowingSearch<S> {
    pub fn new(
        seed: u64,
        config: GrowingConfig,
        plan: GrowthPlan<S::Genotype>,
    ) -> Result<Self, CoreError> {
        config.validate()?;
        let config = match plan.adapted.is_empty() || config.adapted_rates.is_empty() {
            true => config,
            false => GrowingConfig {
                rates: config.adapted_rates.clone(),
                ..config
            },
        };
        if plan.horizon == 0 || plan.search > plan.horizon {
            return Err(CoreError::InvalidSetting {
                field: "budget".into(),
                reason: "the search's compute must be positive and within the whole budget".into(),
            });
        }
        if config.epochs > 0.0 && plan.train_images == 0 {
            return Err(CoreError::InvalidSetting {
                field: "epochs".into(),
                reason: "planned sizes count epochs of the training set, which is empty".into(),
            });
        }
        let share = plan.search as f64 / plan.horizon as f64;
        let starts = start_count(&config, &plan);
        let probes = config.probes(starts);
        if probes > share + 1e-12 {
            return Err(CoreError::InvalidSetting {
                field: "probe".into(),
                reason: format!(
                    "{starts} starts and {} decisions of {} probes of {} of the budget, and {} learning rates of {}, need {:.3} of it, but the search has {share:.3} (the rest is the final phase's); probe less or keep less for the final phase",
                    config.decisions,
                    config.children + 1,
                    config.probe,
                    config.rates.len(),
                    config.rate_probe,
                    probes
                ),
            });
        }
        let stage = match config.rates.is_empty() {
            true => Stage::Start,
            false => Stage::Rates,
        };
        let mut search = GrowingSearch {
            seed,
            step: 0,
            config,
            plan,
            main: 0.0,
            lineage: 1.0,
            stage,
            head: None,
            committed: 0.0,
            growth: None,
            queue: Default::default(),
            asked: Vec::new(),
            told: Vec::new(),
            seen: SeenKeys::default(),
            start_costs: Vec::new(),
            lr_scale: 1.0,
        };
        search.share_out(starts);
        Ok(search)
    }

    /// The shares of the budget of a main segment and of the delivered lineage, when `starts`
    /// networks are probed at the start.
    fn share_out(&mut self, starts: usize) {
        let share = self.plan.search as f64 / self.plan.horizon as f64;
        self.main = match self.config.decisions {
            0 => 0.0,
            d => (share - self.config.probes(starts)) / d as f64,
        };
        self.lineage = 1.0 - self.config.lost(starts);
    }

    /// The earlier search's delivered model, adapted, and the images of its probe, when the probes
    /// of the adapted starts would be too short to decide anything: the search then starts from
    /// it alone.
    fn trusted_start(&self, space: &S) -> Option<(S::Genotype, Origin, u64)> {
        let (genotype, origin) = self.plan.adapted.first()?;
        let images = self.images(space, genotype, self.config.probe, 0);
        (images < self.config.min_probe_steps * self.plan.batch)
            .then(|| (genotype.clone(), origin.clone(), images))
    }

    /// Training images that spend `share` of the budget on `genotype`, less what scoring it on
    /// `score` images costs.
    fn images(&self, space: &S, genotype: &S::Genotype, share: f64, score: u64) -> u64 {
        let forward = space.cost(genotype).flops.max(1);
        let flops = share * self.plan.horizon as f64 - (forward * score) as f64;
        ((flops / (crate::compute::TRAIN_PASSES * forward) as f64).floor() as u64).max(1)
    }

    /// Epochs of the training set that the delivered lineage's compute trains a network of `cost`
    /// for.
    fn lineage_epochs(&self, cost: crate::space::StaticCost) -> f64 {
        self.epochs_with(cost, 0.0)
    }

    /// Epochs of the training set that the delivered lineage's compute and `earlier` FLOPs of
    /// training already done train a network of `cost` for.
    fn epochs_with(&self, cost: crate::space::StaticCost, earlier: f64) -> f64 {
        let flops = self.lineage * self.plan.horizon as f64 + earlier;
        let images = flops / (crate::compute::TRAIN_PASSES * cost.flops.max(1)) as f64;
        images / self.plan.train_images.max(1) as f64
    }

    /// The earlier training a proposal's network counts, in FLOPs: an adapted start's images at
    /// its cost on this data, times `earlier_training`; 0 for every other proposal.
    fn earlier(&self, space: &S, proposal: &ProposalOf<S>) -> f64 {
        let Some(origin) = &proposal.origin else {
            return 0.0;
        };
        let forward = space.cost(&proposal.genotype).flops;
        self.config.earlier_training
            * (origin.images as f64)
            * (crate::compute::TRAIN_PASSES * forward) as f64
    }

    /// A start as the plan sizes it (from scratch): the width of its cell that the lineage's
    /// compute trains for closest to `grow_from` x `epochs` epochs (on a log scale: of the widest
    /// width that trains for at least that long and the next one, which trains for less),
    /// narrower or wider than it was; as it is when sizes are not planned. Under a time budget a
    /// start is only narrowed: the compute is then an estimate from the start network's
    /// throughput, which a wider network could not meet, and the growth is planned again from the
    /// winner's measured throughput.
    ///
    /// With `grow_depth` > 0 and `grow_from` = 1 the start is the planned network itself, from
    /// scratch: its cell with up to `grow_depth` residual cells a stage more, at the width the rest
    /// pays for (what a growth would reach); under a time budget only if it costs no more an image
    /// than the start as it was.
    fn sized_start(&self, space: &S, genotype: S::Genotype) -> S::Genotype {
        if self.config.epochs == 0.0 {
            return genotype;
        }
        let target = self.config.grow_from * self.config.epochs;
        let narrowest = space
            .narrow_within(&genotype, &|_| false)
            .unwrap_or_else(|| genotype.clone());
        let epochs = |cost| self.lineage_epochs(cost);
        let affordable = |sized: &S::Genotype| {
            self.plan.seconds.is_none() || space.cost(sized).flops <= space.cost(&genotype).flops
        };
        if self.config.grow_from == 1.0 && self.config.grow_depth > 0 {
            let deep = closest_growth(space, &narrowest, self.config.grow_depth, target, &epochs);
            if let Some((_, deep)) = deep.filter(|(_, deep)| affordable(deep)) {
                return deep;
            }
        }
        let sized = closest_growth(space, &narrowest, 0, target, &epochs)
            .map_or(narrowest, |(_, wider)| wider);
        match affordable(&sized) {
            true => sized,
            false => genotype,
        }
    }

    /// Images every probe of a stage is scored on (0 unless the signal is `valid_loss`): the
    /// setting, but at most what keeps scoring `reference` within a quarter of a probe's compute,
    /// so that small budgets still train their probes.
    fn score_images(&self, space: &S, reference: &S::Genotype) -> u64 {
        if self.config.signal != Signal::ValidLoss {
            return 0;
        }
        self.scoring_within(space, reference, self.config.probe)
    }

    /// The `score_images` setting, but at most what keeps scoring `reference` within a quarter of
    /// a probe of `share` of the budget (at least one image).
    fn scoring_within(&self, space: &S, reference: &S::Genotype, share: f64) -> u64 {
        let forward = space.cost(reference).flops.max(1);
        let quarter = share * self.plan.horizon as f64 / (4 * forward) as f64;
        self.config.score_images.min(quarter as u64).max(1)
    }

    /// The part of the schedule a segment of `share` of the budget covers from `position`.
    fn span(&self, position: f64, share: f64) -> [f64; 2] {
        let end = (position + share / self.lineage).min(1.0);
        [position.min(end), end]
    }

    /// A probe: trained on `images` through `span`, validated when the signal is the validation
    /// accuracy.
    fn probe(&self, p: ProposalOf<S>, images: u64, span: [f64; 2], score: u64) -> ProposalOf<S> {
        let p = p.with_images(images).within(span);
        match self.config.signal {
            Signal::TrainLoss => p.unvalidated(),
            Signal::ValidAcc => p,
            Signal::ValidLoss => p.unvalidated().scored(score),
        }
    }

    /// The starts, each probed at equal compute: the start network and the random ones, sized by
    /// the plan, and the networks adapted from earlier studies.
    fn plan_starts(&mut self, space: &S, rng: &mut dyn rand::Rng) {
        let probe = self.config.probe;
        let start = self.plan.start.clone();
        self.seen.insert(space.key(&start));
        let start = self.sized_start(space, start);
        self.seen.insert(space.key(&start));
        let span = self.span(0.0, probe);
        let score = self.score_images(space, &start);
        let mut fresh = vec![start];
        for _ in 0..self.config.random_starts {
            if let Some(g) = sample_unseen(space, &self.seen, true, rng) {
                self.seen.insert(space.key(&g));
                let sized = self.sized_start(space, g.clone());
                // Two random cells narrowed may become one network: probe it once.
                if space.key(&sized) == space.key(&g) || self.seen.insert(space.key(&sized)) {
                    fresh.push(sized);
                }
            }
        }
        let adapted = self.plan.adapted.clone().into_iter();
        let starts = fresh
            .into_iter()
            .map(Proposal::fresh)
            .chain(adapted.map(|(g, origin)| Proposal::adapted(g, origin)));
        for p in starts {
            let images = self.images(space, &p.genotype, probe, score);
            let p = self.probe(p, images, span, score);
            self.queue.push_back(p);
            self.committed += probe;
        }
    }

    /// The proposals of the next stage.
    fn plan_stage(&mut self, space: &S, rng: &mut dyn rand::Rng) -> Result<(), CoreError> {
        let probe = self.config.probe;
        match self.stage {
            Stage::Rates => {
                if !self.plan_rates(space) {
                    // Probes too short to tell the rates apart: the recipe's rate, and their
                    // compute goes back to the lineage.
                    self.config.rates.clear();
                    self.share_out(start_count(&self.config, &self.plan));
                    self.stage = Stage::Start;
                    return self.plan_stage(space, rng);
                }
            }
            Stage::Start => match self.trusted_start(space) {
                Some((genotype, origin, images)) => {
                    self.share_out(1);
                    let span = self.span(0.0, probe);
                    let p = Proposal::adapted(genotype, origin)
                        .with_images(images)
                        .within(span)
                        .unvalidated();
                    self.queue.push_back(p);
                    self.committed += probe;
                }
                None => self.plan_starts(space, rng),
            },
            Stage::BeforeGrowth => {
                let head = self.head.clone().expect("a main line after the start");
                let share = (self.grow_at(&head) - head.position) * self.lineage;
                let p = self.segment(
                    space,
                    &head,
                    head.genotype.clone(),
                    Mutation::Continue,
                    share,
                );
                self.queue.push_back(p);
            }
            Stage::Grown => {
                let head = self.head.clone().expect("a main line after the start");
                let (mv, grown) = self.growth.clone().expect("a planned growth");
                let share = self.plan.search as f64 / self.plan.horizon as f64 - self.committed;
                let p = self.segment(space, &head, grown, Mutation::Move(mv), share);
                self.queue.push_back(p);
            }
            Stage::Main(_) => {
                let head = self.head.clone().expect("a main line after the start");
                let span = self.span(head.position, self.main);
                let images = self.images(space, &head.genotype, self.main, 0);
                let p = Proposal::child(head.genotype.clone(), head.trial, Mutation::Continue)
                    .inheriting()
                    .with_images(images)
                    .within(span)
                    .unvalidated();
                self.queue.push_back(p);
            }
            Stage::Decide(_) => {
                let head = self.head.clone().expect("a main line after the start");
                let span = self.span(head.position, probe);
                let score = self.score_images(space, &head.genotype);
                let images = self.images(space, &head.genotype, probe, score);
                let continuation =
                    Proposal::child(head.genotype.clone(), head.trial, Mutation::Continue)
                        .inheriting();
                self.queue
                    .push_back(self.probe(continuation, images, span, score));
                for (mv, child) in self.children(space, &head.genotype, rng) {
                    let images = self.images(space, &child, probe, score);
                    let p = Proposal::child(child, head.trial, Mutation::Move(mv)).inheriting();
                    self.queue.push_back(self.probe(p, images, span, score));
                }
            }
            Stage::Done => {}
        }
        Ok(())
    }

    /// The probes of the learning rates, one a factor, each on the network the main line starts
    /// as, with a cosine schedule of its own over `rate_probe` of the budget, on the same batches
    /// (one span, one order) and scored on the same validation images; false (nothing queued)
    /// when a probe would train for fewer than `min_probe_steps` steps.
    fn plan_rates(&mut self, space: &S) -> bool {
        let (genotype, proposal) = match self.plan.adapted.first() {
            Some((g, origin)) => (g.clone(), Proposal::adapted(g.clone(), origin.clone())),
            None => {
                let g = self.sized_start(space, self.plan.start.clone());
                (g.clone(), Proposal::fresh(g))
            }
        };
        let share = self.config.rate_probe;
        let score = self.scoring_within(space, &genotype, share);
        let images = self.images(space, &genotype, share, score);
        if images < self.config.min_probe_steps * self.plan.batch {
            return false;
        }
        for &factor in &self.config.rates {
            let p = proposal
                .clone()
                .with_images(images)
                .within([0.0, 1.0])
                .unvalidated()
                .scored(score)
                .with_lr_scale(factor);
            self.queue.push_back(p);
            self.committed += share;
        }
        true
    }

    /// A segment of the main line: `genotype` (the head's network, or a morphism of it) starts
    /// from the head's weights and trains, unprobed, through the next `share` of the budget.
    fn segment(
        &mut self,
        space: &S,
        head: &Head<S::Genotype>,
        genotype: S::Genotype,
        mutation: Mutation<S::Move>,
        share: f64,
    ) -> ProposalOf<S> {
        self.committed += share;
        let span = self.span(head.position, share);
        let images = self.images(space, &genotype, share, 0);
        Proposal::child(genotype, head.trial, mutation)
            .inheriting()
            .with_images(images)
            .within(span)
            .unvalidated()
    }

    /// Where the main line grows: an adapted start's grow point, or that of one from scratch.
    fn grow_at(&self, head: &Head<S::Genotype>) -> f64 {
        match head.adapted {
            true => self.config.adapted_grow_at,
            false => self.config.grow_at,
        }
    }

    /// The growth the budget can train, planned once the starts are decided: the network (up to
    /// `grow_depth` cells a stage more, then the width) that the lineage's compute trains for
    /// closest to `epochs` epochs on a log scale, as a start is sized when nothing grows (so that
    /// growing reaches the network the default plans), if it is larger than the head and there is
    /// schedule left to grow in before the search ends.
    fn plan_growth(&self, space: &S) -> Option<(S::Move, S::Genotype)> {
        let head = self.head.as_ref()?;
        if self.config.epochs == 0.0 {
            return None;
        }
        let search_end = self.span(0.0, self.plan.search as f64 / self.plan.horizon as f64)[1];
        if head.position.max(self.grow_at(head)) >= search_end {
            return None;
        }
        // With grow_from = 1 the depth was planned into a start from scratch; an adapted one
        // grows it in.
        let depth = match self.config.grow_from > 1.0 || head.adapted {
            true => self.config.grow_depth,
            false => 0,
        };
        // An adapted start counts the training it arrives with.
        let epochs = |cost| self.epochs_with(cost, head.earlier);
        closest_growth(space, &head.genotype, depth, self.config.epochs, &epochs)
    }

    /// For a time budget, once the starts are decided: the horizon becomes the budget's seconds at
    /// the winner's measured FLOPs a second, and what the starts took becomes their share of the
    /// time, so the rest of the plan (its segments, the width it grows to) fits what is left.
    fn replan_for_time(&mut self) {
        let (Some(seconds), Some(head)) = (self.plan.seconds, &self.head) else {
            return;
        };
        let Some(&(_, s, f)) = self.start_costs.iter().find(|c| c.0 == head.trial) else {
            return;
        };
        let flops_per_second = f as f64 / s;
        if !(flops_per_second.is_finite() && flops_per_second > 0.0 && seconds > 0.0) {
            return;
        }
        let search_share = self.plan.search as f64 / self.plan.horizon as f64;
        let horizon = (seconds * flops_per_second).max(1.0);
        self.plan.horizon = horizon as u64;
        self.plan.search = (horizon * search_share) as u64;
        let took: f64 = self.start_costs.iter().map(|c| c.1).sum();
        self.committed = took / seconds;
    }

    /// Up to `children` distinct morphisms of `parent`, each drawn among the function-preserving
    /// moves with probability `preserving` and among those that change the function otherwise.
    fn children(
        &self,
        space: &S,
        parent: &S::Genotype,
        rng: &mut dyn rand::Rng,
    ) -> Vec<(S::Move, S::Genotype)> {
        let (mut growing, mut changing): (Vec<S::Move>, Vec<S::Move>) = space
            .moves(parent)
            .into_iter()
            .chain(space.prunings(parent))
            .partition(|m| space.preserves_function(m));
        let mut picked: Vec<(S::Move, S::Genotype)> = Vec::new();
        let mut keys = vec![space.key(parent)];
        while picked.len() < self.config.children && !(growing.is_empty() && changing.is_empty()) {
            let grow = rng.random_bool(self.config.preserving);
            let pool = match (grow && !growing.is_empty()) || changing.is_empty() {
                true => &mut growing,
                false => &mut changing,
            };
            let mv = pool.swap_remove(rng.random_range(0..pool.len()));
            let child = space.apply(parent, &mv);
            let key = space.key(&child);
            if !keys.contains(&key) && !space.is_degenerate(&child) {
                keys.push(key);
                picked.push((mv, child));
            }
        }
        picked
    }

    /// The stage after the current one.
    fn next_stage(&self) -> Stage {
        let grows = self.growth.is_some();
        match self.stage {
            Stage::Start if grows => match &self.head {
                Some(h) if h.position < self.grow_at(h) => Stage::BeforeGrowth,
                _ => Stage::Grown,
            },
            Stage::BeforeGrowth => Stage::Grown,
            Stage::Grown => Stage::Done,
            Stage::Start if self.config.decisions == 0 => Stage::Done,
            Stage::Start => Stage::Main(1),
            Stage::Main(k) => Stage::Decide(k),
            Stage::Decide(k) if k < self.config.decisions => Stage::Main(k + 1),
            _ => Stage::Done,
        }
    }

    /// Ends the current stage: the best of its trials becomes the main line; a morphism replaces
    /// the continuation (asked first) only if it beats it by the margin.
    fn close_stage(&mut self, space: &S) {
        if self.stage == Stage::Rates {
            self.choose_rate();
            return;
        }
        // Lower is better: a loss, or the validation error.
        let cost = |v: f64| match self.config.signal {
            Signal::TrainLoss | Signal::ValidLoss => v,
            Signal::ValidAcc => 100.0 - v,
        };
        let mut best: Option<(usize, f64)> = None;
        for (i, (_, signal)) in self.told.iter().enumerate() {
            let Some(value) = signal.map(cost) else {
                continue;
            };
            let to_beat = match (i, best) {
                (_, None) => f64::INFINITY,
                // The continuation is the first trial of a decision.
                (_, Some((0, b))) if matches!(self.stage, Stage::Decide(_)) => {
                    b * (1.0 - self.config.margin)
                }
                (_, Some((_, b))) => b,
            };
            if value < to_beat {
                best = Some((i, value));
            }
        }
        if let Some((i, _)) = best {
            let asked = self.asked[i].clone();
            // What a start arrives with stays with its lineage.
            let (earlier, adapted) = match &self.head {
                Some(head) => (head.earlier, head.adapted),
                None => (asked.earlier, asked.adapted),
            };
            self.head = Some(Head {
                trial: asked.trial,
                genotype: asked.genotype,
                position: asked.end,
                earlier,
                adapted,
            });
        }
        self.asked.clear();
        self.told.clear();
        if self.stage == Stage::Start {
            self.replan_for_time();
            self.growth = self.plan_growth(space);
        }
        self.stage = self.next_stage();
    }

    /// Ends the choice of rates: the factor whose probe scored the lowest loss sets the rate from
    /// now on; of factors that tie, the closest to the recipe's rate; with every probe failed,
    /// the recipe's rate.
    fn choose_rate(&mut self) {
        let factor = |id: TrialId| {
            let index = self.asked.iter().position(|a| a.trial == id)?;
            self.config.rates.get(index).copied()
        };
        let best = self
            .told
            .iter()
            .filter_map(|&(id, signal)| Some((signal?, factor(id)?)))
            .min_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(a.1.ln().abs().total_cmp(&b.1.ln().abs()))
            });
        if let Some((_, factor)) = best {
            self.lr_scale = factor;
        }
        self.asked.clear();
        self.told.clear();
        self.stage = Stage::Start;
    }

    /// The factor of the peak learning rate the search trains with (1 until the rates are
    /// chosen, or when there is no choice).
    pub fn lr_scale(&self) -> f64 {
        self.lr_scale
    }
}

impl<S: SearchSpace> Strategy<S> for GrowingSearch<S> {
    fn name(&self) -> &'static str {
        "adjacent"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let id = TrialId(self.step);
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        if self.queue.is_empty() && self.asked.is_empty() {
            if self.stage == Stage::Done {
                return Err(CoreError::Finished {
                    strategy: "adjacent".into(),
                });
            }
            self.plan_stage(space, &mut rng)?;
        }
        let proposal = self
            .queue
            .pop_front()
            .ok_or_else(|| CoreError::InvalidSetting {
                field: "workers".into(),
                reason:
                    "adjacent proposes one stage at a time: tell every trial before asking more"
                        .into(),
            })?;
        // The probes of the rates, and the networks from scratch after them, start from the same
        // fresh weights, so that what differs between them is the rate.
        let proposal = match (self.config.rates.is_empty(), proposal.parent, self.stage) {
            (true, _, _) => proposal,
            (false, _, Stage::Rates) => proposal.initialised(0),
            (false, None, _) => proposal.with_lr_scale(self.lr_scale).initialised(0),
            (false, Some(_), _) => proposal.with_lr_scale(self.lr_scale),
        };
        let end = proposal.span.map_or(0.0, |s| s[1]);
        let earlier = self.earlier(space, &proposal);
        self.asked.push(Asked {
            trial: id,
            genotype: proposal.genotype.clone(),
            end,
            earlier,
            adapted: proposal.origin.is_some(),
        });
        Ok(proposal)
    }

    fn tell(&mut self, space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        if !self.asked.iter().any(|a| a.trial == trial.id) {
            return;
        }
        let signal = match (self.stage, self.config.signal) {
            // A main segment is the only trial of its stage: it needs to have completed, no more.
            (Stage::Main(_) | Stage::BeforeGrowth | Stage::Grown, _) => {
                (trial.state == TrialState::Complete).then_some(0.0)
            }
            (Stage::Rates, _) => trial.score_loss(),
            (_, Signal::TrainLoss) => trial.tail_loss(),
            (_, Signal::ValidAcc) => trial.valid_acc(),
            (_, Signal::ValidLoss) => trial.score_loss(),
        };
        let signal = signal.filter(|v| v.is_finite());
        if matches!(self.stage, Stage::Start | Stage::Rates) {
            let outcome = &trial.outcome;
            self.start_costs
                .push((trial.id, outcome.seconds, outcome.flops));
        }
        self.told.push((trial.id, signal));
        if self.queue.is_empty() && self.told.len() == self.asked.len() {
            self.close_stage(space);
        }
    }

    fn waiting(&self) -> bool {
        self.queue.is_empty() && !self.asked.is_empty()
    }

    fn incumbent(&self) -> Option<TrialId> {
        self.head.as_ref().map(|h| h.trial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{Cell, DEFAULT_CELL};
    use crate::morphism::Morphism;
    use crate::network::NetworkArch;
    use crate::spaces::grown::{GrownSpace, Limits};
    use crate::strategy::replay;
    use crate::trial::{Outcome, Trial};

    fn space() -> GrownSpace {
        GrownSpace::new(Limits::default(), 8, 1, 28, 10).unwrap()
    }

    fn plan() -> GrowthPlan<NetworkArch> {
        let cell: Cell = DEFAULT_CELL.parse().unwrap();
        let horizon = 5_000_000_000_000;
        GrowthPlan {
            start: NetworkArch::uniform(cell, 8, 1, 1, 10),
            horizon,
            search: horizon * 3 / 10,
            seconds: None,
            train_images: 54_000,
            batch: 128,
            adapted: Vec::new(),
        }
    }

    type History = Vec<(ProposalOf<GrownSpace>, TrialOf<GrownSpace>)>;

    /// The defaults with three random starts (the default has none).
    fn four_starts() -> GrowingConfig {
        GrowingConfig {
            random_starts: 3,
            ..Default::default()
        }
    }

    /// Three decisions (the default has none, and plans its growth instead), three random
    /// starts and the other settings at their defaults.
    fn deciding() -> GrowingConfig {
        GrowingConfig {
            decisions: 3,
            epochs: 0.0,
            ..four_starts()
        }
    }

    /// Three decisions, two random starts, and probes scored on validation images.
    fn scored() -> GrowingConfig {
        GrowingConfig {
            signal: Signal::ValidLoss,
            random_starts: 2,
            ..deciding()
        }
    }

    /// Three decisions without random starts: the first decision probes the start network alone.
    fn one_start() -> GrowingConfig {
        GrowingConfig {
            random_starts: 0,
            ..deciding()
        }
    }

    /// Runs a search to its end, telling each proposal (with its trial number) the training loss
    /// `loss` gives it.
    fn drive(
        s: &mut GrowingSearch<GrownSpace>,
        space: &GrownSpace,
        loss: impl Fn(&ProposalOf<GrownSpace>, u64) -> f64,
    ) -> History {
        let mut history = Vec::new();
        let mut id = 0;
        loop {
            let p = match s.ask(space) {
                Ok(p) => p,
                Err(CoreError::Finished { .. }) => break,
                Err(e) => panic!("{e}"),
            };
            let trial = Trial::complete(
                TrialId(id),
                p.clone(),
                Outcome {
                    tail_loss: Some(loss(&p, id)),
                    score_loss: p.score.map(|_| loss(&p, id)),
                    epochs: 1.0,
                    seconds: 1.0,
                    ..Outcome::default()
                },
            );
            s.tell(space, &trial);
            history.push((p, trial));
            id += 1;
        }
        history
    }

    /// Runs a search to its end with a toy loss: bigger networks learn faster, and every trial
    /// lowers the loss a little.
    fn run(config: GrowingConfig) -> (GrowingSearch<GrownSpace>, History) {
        let space = space();
        let mut s = GrowingSearch::new(9, config.clone(), plan()).unwrap();
        let history = drive(&mut s, &space, |p, id| {
            1.0 / (space.cost(&p.genotype).params as f64).ln() - id as f64 * 1e-4
        });
        (s, history)
    }

    #[test]
    fn the_main_line_follows_one_schedule_and_probes_cost_the_same() {
        let space = space();
        let config = one_start();
        let (s, history) = run(config.clone());
        // Start, then per decision a main segment and a continuation with two children.
        assert_eq!(history.len(), 1 + 3 * (1 + 3));
        let start = &history[0].0;
        assert!(start.parent.is_none() && !start.inherit);
        assert_eq!(start.genotype, plan().start);
        let mut position = start.span.unwrap()[1];
        let mut i = 1;
        for _ in 0..3 {
            let main = &history[i].0;
            assert_eq!(main.mutation, Some(Mutation::Continue));
            assert!(!main.validate);
            assert_eq!(main.span.unwrap()[0], position);
            let probes = &history[i + 1..i + 4];
            let parent = main_trial(&history, i);
            let span = probes[0].0.span.unwrap();
            for (p, _) in probes {
                // Every probe starts from the main line's weights, through the same part of the
                // schedule, with the same compute (within one image).
                assert_eq!(p.parent, Some(parent));
                assert!(p.inherit);
                assert_eq!(p.span.unwrap(), span);
                let forward = space.cost(&p.genotype).flops;
                let flops = 3 * forward * p.budget.images.unwrap();
                let short = config.probe * plan().horizon as f64 - flops as f64;
                assert!(short >= 0.0 && short < (3 * forward) as f64, "{short}");
            }
            // The lowest loss wins, but a morphism must beat the continuation by the margin.
            let loss = |t: &TrialOf<GrownSpace>| t.tail_loss().unwrap();
            let continuation = &probes[0];
            let best_child = probes[1..]
                .iter()
                .min_by(|a, b| loss(&a.1).total_cmp(&loss(&b.1)))
                .unwrap();
            let winner = match loss(&best_child.1) < loss(&continuation.1) * (1.0 - config.margin) {
                true => best_child,
                false => continuation,
            };
            position = span[1];
            i += 4;
            if i < history.len() {
                assert_eq!(history[i].0.parent, Some(winner.1.id));
            } else {
                assert_eq!(s.incumbent(), Some(winner.1.id));
            }
        }
        // The delivered lineage's schedule ends where the final phase's share begins: its
        // compute so far over the lineage's.
        let lineage = 1.0 - config.waste();
        assert!(
            (position - (0.3 - config.waste()) / lineage).abs() < 1e-9,
            "{position}"
        );
    }

    #[test]
    fn with_the_valid_loss_signal_probes_are_scored_within_their_compute() {
        let space = space();
        let config = scored();
        let mut s = GrowingSearch::new(4, config.clone(), plan()).unwrap();
        // Only the scoring loss may decide: the training loss says the opposite.
        let history = drive(&mut s, &space, |p, _| match p.genotype == plan().start {
            true => 0.5,
            false => 0.9,
        });
        let history: History = history
            .into_iter()
            .map(|(p, mut t)| {
                t.outcome.tail_loss = t.outcome.tail_loss.map(|l| 1.4 - l);
                (p, t)
            })
            .collect();
        let mut replayed = GrowingSearch::new(4, config.clone(), plan()).unwrap();
        let trials: Vec<TrialOf<GrownSpace>> = history.iter().map(|h| h.1.clone()).collect();
        replay(&mut replayed, &space, &trials).unwrap();
        let last = trials.len() as u64;
        assert_eq!(replayed.incumbent(), Some(TrialId(last - 3)));
        for (p, _) in &history {
            let main = p.mutation == Some(Mutation::Continue) && p.score.is_none();
            if main {
                continue;
            }
            // The plan's probes are long enough for the whole scoring set.
            assert_eq!(p.score, Some(config.score_images));
            assert!(!p.validate);
            let forward = space.cost(&p.genotype).flops;
            let flops = 3 * forward * p.budget.images.unwrap() + forward * config.score_images;
            let short = config.probe * plan().horizon as f64 - flops as f64;
            assert!(short >= 0.0 && short < (3 * forward) as f64, "{short}");
        }
        // Two random starts beside the start network, all scored.
        assert_eq!(
            history[..3].iter().filter(|h| h.0.parent.is_none()).count(),
            3
        );
        assert!(
            GrowingSearch::<GrownSpace>::new(
                0,
                GrowingConfig {
                    score_images: 0,
                    ..config.clone()
                },
                plan()
            )
            .err()
            .unwrap()
            .to_string()
            .contains("score_images")
        );
    }

    #[test]
    fn on_a_small_budget_scoring_keeps_to_a_quarter_of_a_probe_and_pairs_its_probes() {
        let space = space();
        let config = scored();
        let horizon = 100_000_000_000;
        let small = GrowthPlan {
            horizon,
            search: horizon * 3 / 10,
            ..plan()
        };
        let mut s = GrowingSearch::new(4, config.clone(), small).unwrap();
        let history = drive(&mut s, &space, |_, id| 1.0 + (id % 3) as f64 * 0.1)
            .into_iter()
            .map(|h| h.0)
            .collect::<Vec<_>>();
        let mut stages: Vec<Vec<&ProposalOf<GrownSpace>>> = Vec::new();
        for p in history.iter().filter(|p| p.score.is_some()) {
            match stages.last_mut() {
                Some(stage) if stage[0].span == p.span => stage.push(p),
                _ => stages.push(vec![p]),
            }
        }
        assert_eq!(stages.len(), 1 + config.decisions);
        for stage in stages {
            let score = stage[0].score.unwrap();
            assert!(score < config.score_images, "{score}");
            // The first probe of a stage is the reference: its scoring is a quarter of a probe.
            let forward = space.cost(&stage[0].genotype).flops;
            let quarter = config.probe * horizon as f64 / 4.0;
            assert!((forward * score) as f64 <= quarter);
            assert!((forward * (score + 1)) as f64 > quarter);
            assert!(stage.iter().all(|p| p.score == Some(score)));
        }
    }

    fn main_trial(history: &History, i: usize) -> TrialId {
        history[i].1.id
    }

    #[test]
    fn a_search_where_nothing_pays_delivers_its_start_network() {
        let space = space();
        let mut s = GrowingSearch::new(3, deciding(), plan()).unwrap();
        // Every random start and every change of the network loses.
        let history = drive(&mut s, &space, |p, _| match p.genotype == plan().start {
            true => 0.5,
            false => 0.9,
        });
        let id = history.len() as u64;
        let head = s.incumbent().unwrap();
        assert_eq!(head, TrialId(id - 3), "the last decision's continuation");
    }

    #[test]
    fn three_random_networks_are_probed_against_the_start_and_the_best_goes_on() {
        let space = space();
        let mut s = GrowingSearch::new(6, deciding(), plan()).unwrap();
        // The second random network learns fastest.
        let history = drive(&mut s, &space, |p, id| match (p.parent, id) {
            (None, 2) => 0.3,
            _ => 0.5,
        });
        let starts: Vec<_> = history
            .iter()
            .take_while(|h| h.0.parent.is_none())
            .collect();
        assert_eq!(starts.len(), 4);
        assert_eq!(starts[0].0.genotype, plan().start);
        // Each from scratch, through the same part of the schedule, with the same compute.
        for (p, _) in &starts {
            assert!(!p.inherit && p.span == starts[0].0.span);
            let forward = space.cost(&p.genotype).flops;
            let short =
                0.015 * plan().horizon as f64 - (3 * forward * p.budget.images.unwrap()) as f64;
            assert!(short >= 0.0 && short < (3 * forward) as f64, "{short}");
        }
        let main = &history[4].0;
        assert_eq!(main.parent, Some(TrialId(2)));
        assert_eq!(main.genotype, starts[2].0.genotype);
    }

    #[test]
    fn without_growth_the_best_of_four_starts_is_the_search_s_choice() {
        let space = space();
        let config = GrowingConfig {
            epochs: 0.0,
            ..four_starts()
        };
        let mut s = GrowingSearch::new(6, config.clone(), plan()).unwrap();
        let history = drive(&mut s, &space, |p, id| match (p.parent, id) {
            (None, 3) => 0.3,
            _ => 0.5,
        });
        // The start and three random networks, each on 1.5% of the budget; nothing else: the
        // winner trains on with everything left, in the final phase.
        assert_eq!(history.len(), 4);
        assert!(history.iter().all(|h| h.0.parent.is_none()));
        assert_eq!(s.incumbent(), Some(TrialId(3)));
    }

    /// A plan of `epochs` epochs of the start network on 54,000 images, 30% for the final phase.
    fn epochs_of_start(epochs: f64) -> GrowthPlan<NetworkArch> {
        let forward = space().cost(&plan().start).flops as f64;
        let horizon = (epochs * 54_000.0 * 3.0 * forward) as u64;
        GrowthPlan {
            horizon,
            search: horizon * 7 / 10,
            ..plan()
        }
    }

    /// Epochs of 54,000 images that `share` of `plan`'s horizon trains `arch` for.
    fn epochs_of(plan: &GrowthPlan<NetworkArch>, share: f64, arch: &NetworkArch) -> f64 {
        share * plan.horizon as f64 / (3 * space().cost(arch).flops) as f64 / 54_000.0
    }

    /// Asserts that `share` of `plan` trains `arch` for closer to `target` epochs (on a log scale)
    /// than it would the same network one channel narrower or wider.
    fn assert_closest(plan: &GrowthPlan<NetworkArch>, share: f64, arch: &NetworkArch, target: f64) {
        let off = |a: &NetworkArch| (epochs_of(plan, share, a) / target).ln().abs();
        let c = arch.channels;
        let wider = Morphism::Widen { channels: c + 1 }.apply(arch).unwrap();
        assert!(off(arch) <= off(&wider), "width {c} for {target} epochs");
        if c > 2 {
            let narrower = Morphism::Narrow { channels: c - 1 }.apply(arch).unwrap();
            assert!(off(arch) <= off(&narrower), "width {c} for {target} epochs");
        }
    }

    /// Planned growth from starts of twice the planned epochs (6), with three random starts.
    fn growing() -> GrowingConfig {
        GrowingConfig {
            epochs: 6.0,
            grow_from: 2.0,
            ..four_starts()
        }
    }

    #[test]
    fn the_start_is_narrowed_to_grow_and_the_winner_grows_early_to_what_the_budget_can_train() {
        let space = space();
        let plan = epochs_of_start(16.0);
        let config = GrowingConfig {
            epochs: 12.0,
            ..growing()
        };
        let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
        // The start network wins its probes.
        let history = drive(&mut s, &space, |p, id| match (p.parent, id) {
            (None, 0) => 0.3,
            _ => 0.5,
        });
        assert_eq!(
            history.len(),
            6,
            "four starts, a segment, the grown network"
        );
        // The lineage trains the start for 15 epochs: it starts narrowed, from scratch, to the
        // widest width that the lineage trains for twice the planned 12.
        let lineage = 1.0 - config.waste();
        let start = &history[0].0.genotype;
        let narrowed = |c: usize| Morphism::Narrow { channels: c }.apply(&plan.start).unwrap();
        assert_eq!(start, &narrowed(start.channels));
        assert!(start.channels < 8);
        assert_closest(&plan, lineage, start, 24.0);
        // So are the random starts, narrowed or widened.
        for (p, _) in &history[1..4] {
            assert_closest(&plan, lineage, &p.genotype, 24.0);
        }
        let (before, grown) = (&history[4].0, &history[5].0);
        assert_eq!(before.parent, Some(TrialId(0)));
        assert_eq!(
            (before.mutation.clone(), &before.genotype),
            (Some(Mutation::Continue), start)
        );
        let Some(Mutation::Move(Morphism::Widen { channels })) = grown.mutation else {
            panic!("the main line widens: {:?}", grown.mutation);
        };
        assert_eq!(grown.parent, Some(TrialId(4)));
        assert!(grown.inherit && before.inherit);
        assert_eq!(grown.genotype.channels, channels);
        // The width the lineage's compute trains for closest to 12 epochs: the width the start
        // would have had with nothing grown.
        assert_closest(&plan, lineage, &grown.genotype, 12.0);
        assert!(channels > 8);
        // One schedule: the segment ends where the growth is planned, the grown network goes on
        // to the end of the search, and the budget's search part is spent, no more.
        let probe_end = history[0].0.span.unwrap()[1];
        assert_eq!(before.span.unwrap(), [probe_end, config.grow_at]);
        assert_eq!(grown.span.unwrap()[0], config.grow_at);
        let spent: f64 = history
            .iter()
            .map(|(p, _)| (p.budget.images.unwrap() * 3 * space.cost(&p.genotype).flops) as f64)
            .sum();
        let search = plan.search as f64;
        assert!(
            spent <= search && spent > search * 0.99,
            "{spent} of {search}"
        );
        assert_eq!(s.incumbent(), Some(TrialId(5)));
    }

    #[test]
    fn the_start_network_alone_starts_cheap_and_grows_from_its_weights() {
        let space = space();
        let plan = epochs_of_start(4.0);
        let config = GrowingConfig {
            random_starts: 0,
            ..growing()
        };
        assert_eq!(config.waste(), 0.0);
        let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
        let history = drive(&mut s, &space, |_, _| 0.5);
        assert_eq!(history.len(), 3, "the start, a segment, the grown network");
        let (start, before, grown) = (&history[0].0, &history[1].0, &history[2].0);
        // The start network, narrowed to what 4 epochs of it train for 12 epochs.
        let at = |c: usize| Morphism::Narrow { channels: c }.apply(&plan.start).unwrap();
        assert!(start.parent.is_none() && start.genotype == at(start.genotype.channels));
        assert_closest(&plan, 1.0, &start.genotype, 12.0);
        assert_eq!(before.mutation, Some(Mutation::Continue));
        assert!(grown.inherit && grown.parent == Some(TrialId(1)));
        assert!(matches!(
            grown.mutation,
            Some(Mutation::Move(Morphism::Widen { .. }))
        ));
        let width = grown.genotype.channels;
        assert!(width > start.genotype.channels && width < 8, "{width}");
        // Grown to the width trained for closest to the planned 6 epochs.
        assert_closest(&plan, 1.0, &grown.genotype, 6.0);
        assert_eq!(s.incumbent(), Some(TrialId(2)));
    }

    #[test]
    fn by_default_the_start_network_alone_is_sized_for_the_budget_and_nothing_grows() {
        let config = GrowingConfig::default();
        assert_eq!((config.random_starts, config.grow_from), (0, 1.0));
        for (epochs, narrower) in [(4.0, true), (64.0, false)] {
            let plan = epochs_of_start(epochs);
            let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
            let history = drive(&mut s, &space(), |_, _| 0.5);
            assert_eq!(history.len(), 1, "the start, then the final phase");
            let start = &history[0].0.genotype;
            assert_eq!(start.channels < 8, narrower);
            assert_closest(&plan, 1.0, start, config.epochs);
        }
    }

    /// A plan of 4 epochs of the start with one adapted start: an earlier search's network at
    /// C=4 that trained on 12 epochs' worth of images.
    fn one_adapted_start() -> (GrowthPlan<NetworkArch>, NetworkArch, Origin) {
        let earlier = Morphism::Narrow { channels: 4 }
            .apply(&plan().start)
            .unwrap();
        let origin = Origin {
            weights: crate::trial::WeightsHash([3; 32]),
            from: "old/best".into(),
            images: 12 * 54_000,
        };
        let plan = GrowthPlan {
            adapted: vec![(earlier.clone(), origin.clone())],
            ..epochs_of_start(4.0)
        };
        (plan, earlier, origin)
    }

    #[test]
    fn an_adapted_start_counts_its_earlier_training_and_grows_wider_than_the_plan_from_scratch() {
        let space = space();
        let (plan, earlier, origin) = one_adapted_start();
        let lineage = 1.0 - GrowingConfig::default().probe;
        let grown = |earlier_training: f64| {
            // No choice of rates: what is pinned is the plan.
            let config = GrowingConfig {
                earlier_training,
                adapted_rates: Vec::new(),
                ..GrowingConfig::default()
            };
            let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
            // The adapted start, probed after the start network, wins.
            let history = drive(&mut s, &space, |p, _| match p.origin {
                Some(_) => 0.3,
                None => 0.5,
            });
            assert_eq!(history.len(), 4, "two starts, a segment, the grown network");
            assert_eq!(history[1].0.origin.as_ref(), Some(&origin));
            assert_eq!(history[1].0.genotype, earlier);
            let (before, grown) = (&history[2].0, &history[3].0);
            assert_eq!(before.parent, Some(TrialId(1)));
            assert_eq!(grown.parent, Some(TrialId(2)));
            assert!(grown.inherit);
            let spent: f64 = history
                .iter()
                .map(|(p, _)| (p.budget.images.unwrap() * 3 * space.cost(&p.genotype).flops) as f64)
                .sum();
            assert!(spent <= plan.search as f64, "{spent} of {}", plan.search);
            grown.genotype.clone()
        };
        // Not counted: the width the budget trains for 9 epochs from scratch, as any start grows.
        let from_scratch = grown(0.0);
        assert_closest(&plan, lineage, &from_scratch, 9.0);
        // Counted: the width the budget and the earlier training together train for 9 epochs.
        let counted = grown(1.0);
        assert!(counted.channels > from_scratch.channels, "{counted:?}");
        let ratio =
            |a: &NetworkArch| space.cost(&earlier).flops as f64 / space.cost(a).flops as f64;
        let off = |a: &NetworkArch| {
            ((epochs_of(&plan, lineage, a) + 12.0 * ratio(a)) / 9.0)
                .ln()
                .abs()
        };
        let c = counted.channels;
        let wider = Morphism::Widen { channels: c + 1 }.apply(&counted).unwrap();
        let narrower = Morphism::Narrow { channels: c - 1 }
            .apply(&counted)
            .unwrap();
        assert!(
            off(&counted) <= off(&wider) && off(&counted) <= off(&narrower),
            "width {c}"
        );
    }

    #[test]
    fn an_adapted_start_grows_at_its_own_grow_point_and_one_from_scratch_at_grow_at() {
        let space = space();
        let (plan, _, _) = one_adapted_start();
        // The adapted start wins the starts' probes; the spans of the trials after them.
        let spans = |config: GrowingConfig, plan: &GrowthPlan<NetworkArch>| {
            let mut s = GrowingSearch::new(3, config, plan.clone()).unwrap();
            let history = drive(&mut s, &space, |p, _| match p.origin {
                Some(_) => 0.3,
                None => 0.5,
            });
            history
                .iter()
                .map(|(p, _)| (p.mutation.clone(), p.span.unwrap()))
                .collect::<Vec<_>>()
        };
        let config = GrowingConfig {
            grow_at: 0.5,
            adapted_grow_at: 0.1,
            adapted_rates: Vec::new(),
            ..GrowingConfig::default()
        };
        let adapted = spans(config.clone(), &plan);
        assert_eq!(adapted.len(), 4, "two starts, a segment, the grown network");
        assert_eq!(adapted[2].0, Some(Mutation::Continue));
        assert!(
            (adapted[2].1[1] - 0.1).abs() < 1e-12,
            "ends at adapted_grow_at: {adapted:?}"
        );
        assert!(matches!(adapted[3].0, Some(Mutation::Move(_))));
        assert!((adapted[3].1[0] - 0.1).abs() < 1e-12);
        // A grow point before the starts' probes end: the winner grows at once, no segment.
        let at_once = spans(
            GrowingConfig {
                adapted_grow_at: 0.001,
                ..config.clone()
            },
            &plan,
        );
        assert_eq!(at_once.len(), 3, "two starts, the grown network");
        assert!(matches!(at_once[2].0, Some(Mutation::Move(_))));
        assert_eq!(
            at_once[2].1[0], at_once[1].1[1],
            "grown where the probes end"
        );
        // A start from scratch that grows (grow_from > 1) keeps `grow_at`.
        let scratch = GrowthPlan {
            adapted: Vec::new(),
            ..plan.clone()
        };
        let from_scratch = spans(
            GrowingConfig {
                grow_from: 2.0,
                ..config
            },
            &scratch,
        );
        let segment = from_scratch
            .iter()
            .find(|(m, _)| *m == Some(Mutation::Continue))
            .expect("a segment before growth");
        assert!((segment.1[1] - 0.5).abs() < 1e-12, "{from_scratch:?}");
        // Bad values are named.
        let bad = GrowingConfig {
            adapted_grow_at: 1.0,
            ..GrowingConfig::default()
        };
        let Err(e) = GrowingSearch::<GrownSpace>::new(3, bad, plan) else {
            panic!("adapted_grow_at = 1 accepted");
        };
        assert!(
            e.to_string()
                .contains("adapted_grow_at: must be a share of the schedule in (0, 1)"),
            "{e}"
        );
    }

    #[test]
    fn probes_too_short_to_decide_leave_a_pre_adapted_search_to_the_earlier_winner() {
        let space = space();
        let earlier = Morphism::Narrow { channels: 4 }
            .apply(&plan().start)
            .unwrap();
        let origin = |i: u8| Origin {
            weights: crate::trial::WeightsHash([i; 32]),
            from: format!("old trial {i}"),
            images: 0,
        };
        let adapted = vec![(earlier.clone(), origin(1)), (earlier.clone(), origin(2))];
        // Every network from scratch beats the adapted ones in a probe.
        let loss = |p: &ProposalOf<GrownSpace>, _| match p.origin {
            Some(_) => 0.5,
            None => 0.3,
        };
        let steps = |p: &ProposalOf<GrownSpace>| p.budget.images.unwrap() / 128;
        // A quarter of an epoch: a probe of the earlier network would be 5 steps of 128 images.
        let plan = GrowthPlan {
            adapted: adapted.clone(),
            ..epochs_of_start(0.25)
        };
        // No choice of rates: what is pinned is the start (the rates' probes have a test of
        // their own, below).
        let config = GrowingConfig {
            random_starts: 1,
            adapted_rates: Vec::new(),
            ..GrowingConfig::default()
        };
        let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
        let history = drive(&mut s, &space, loss);
        // Nothing is probed: the delivered model starts alone, and its lineage is the whole
        // search.
        assert_eq!(history.len(), 1, "{history:?}");
        let first = &history[0].0;
        assert_eq!(first.origin, Some(origin(1)));
        assert!(first.inherit && first.parent.is_none());
        assert_eq!(first.span.unwrap()[0], 0.0);
        assert!(steps(first) < 16, "{}", steps(first));
        // The plan at this budget is narrower than the earlier network: nothing grows, and the
        // final phase trains it on.
        assert_eq!(s.incumbent(), Some(TrialId(0)));

        // Probes allowed to be short (0): the starts are probed and the network from scratch wins.
        let always = GrowingConfig {
            min_probe_steps: 0,
            ..config.clone()
        };
        let mut s = GrowingSearch::new(3, always, plan).unwrap();
        let history = drive(&mut s, &space, loss);
        assert!(history.len() >= 4, "{history:?}");
        assert!(history[..4].iter().all(|h| h.0.parent.is_none()));
        assert!(history[0].0.origin.is_none() && history[3].0.origin.is_some());
        let head = s.incumbent().unwrap();
        assert!(history[head.0 as usize].0.origin.is_none());

        // Four epochs: probes of 46 steps decide, and the better start wins.
        let plan = GrowthPlan {
            adapted,
            ..epochs_of_start(4.0)
        };
        let mut s = GrowingSearch::new(3, config.clone(), plan).unwrap();
        let history = drive(&mut s, &space, loss);
        assert!(steps(&history[2].0) >= 16, "{}", steps(&history[2].0));
        assert!(history[..4].iter().all(|h| h.0.parent.is_none()));
        assert_eq!(history[2].0.origin, Some(origin(1)));
    }

    #[test]
    fn with_grow_depth_the_winner_gains_cells_before_width() {
        let space = space();
        // A budget that pays for a residual cell a stage (at 16 epochs only a wider start does).
        let plan = epochs_of_start(64.0);
        let config = GrowingConfig {
            grow_depth: 2,
            ..growing()
        };
        let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
        let history = drive(&mut s, &space, |p, id| match (p.parent, id) {
            (None, 0) => 0.3,
            _ => 0.5,
        });
        let grown = &history.last().unwrap().0;
        let Some(Mutation::Move(Morphism::Scale { cells, channels })) = grown.mutation else {
            panic!("the main line deepens: {:?}", grown.mutation);
        };
        assert!((1..=2).contains(&cells) && grown.inherit);
        assert!(grown.genotype.stages.iter().all(|s| s.len() == 1 + cells));
        // The start is widened to what the lineage trains for twice 6 epochs; the lineage's
        // compute trains the grown network for closest to 6 epochs (log scale) of its widths.
        let lineage = 1.0 - config.waste();
        let start = &history[0].0.genotype;
        assert!(start.channels > 8);
        assert_closest(&plan, lineage, start, 12.0);
        let off = |c: usize| {
            let arch = Morphism::Scale { cells, channels: c }.apply(start).unwrap();
            (epochs_of(&plan, lineage, &arch) / 6.0).ln().abs()
        };
        assert!(
            off(channels) <= off(channels + 1) && off(channels) <= off(channels - 1),
            "{cells} cells, width {channels}"
        );
    }

    #[test]
    fn with_grow_depth_and_no_growth_the_start_is_the_deep_network_growth_would_reach() {
        let space = space();
        let plan = epochs_of_start(64.0);
        let loss = |p: &ProposalOf<GrownSpace>, id| match (p.parent, id) {
            (None, 0) => 0.3,
            _ => 0.5,
        };
        let grown = {
            let config = GrowingConfig {
                grow_depth: 1,
                ..growing()
            };
            let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
            drive(&mut s, &space, loss)
                .last()
                .unwrap()
                .0
                .genotype
                .clone()
        };
        assert!(grown.stages.iter().all(|s| s.len() == 2), "{grown:?}");
        let config = GrowingConfig {
            grow_depth: 1,
            grow_from: 1.0,
            ..growing()
        };
        let mut s = GrowingSearch::new(3, config.clone(), plan.clone()).unwrap();
        let history = drive(&mut s, &space, loss);
        // The planned network from scratch, and nothing grows from it.
        let start = &history[0].0;
        assert_eq!(start.genotype, grown);
        assert!(start.parent.is_none() && start.mutation.is_none());
        assert!(history.iter().all(|h| h.0.genotype.stages[0].len() == 2));
        let lineage = 1.0 - config.waste();
        // Its width trains for closest to the planned 6 epochs among its neighbours'.
        let c = grown.channels;
        let off = |arch: &NetworkArch| (epochs_of(&plan, lineage, arch) / 6.0).ln().abs();
        let wider = Morphism::Widen { channels: c + 1 }.apply(&grown).unwrap();
        let narrower = Morphism::Narrow { channels: c - 1 }.apply(&grown).unwrap();
        assert!(
            off(&grown) <= off(&wider) && off(&grown) <= off(&narrower),
            "width {c}"
        );
    }

    /// Runs a search whose networks train at `flops_per_second` (the start network wins its
    /// probes); each trial's outcome says what it cost. Returns the proposals and the seconds
    /// they took.
    fn run_timed(
        plan: GrowthPlan<NetworkArch>,
        flops_per_second: f64,
    ) -> Vec<(ProposalOf<GrownSpace>, f64)> {
        run_timed_with(growing(), plan, flops_per_second)
    }

    /// `run_timed` with the settings `config`; probes of the learning rates score lower the
    /// higher their rate.
    fn run_timed_with(
        config: GrowingConfig,
        plan: GrowthPlan<NetworkArch>,
        flops_per_second: f64,
    ) -> Vec<(ProposalOf<GrownSpace>, f64)> {
        let space = space();
        let mut s = GrowingSearch::new(3, config, plan.clone()).unwrap();
        let mut history = Vec::new();
        for id in 0.. {
            let p = match s.ask(&space) {
                Ok(p) => p,
                Err(CoreError::Finished { .. }) => break,
                Err(e) => panic!("{e}"),
            };
            let flops = 3 * space.cost(&p.genotype).flops * p.budget.images.unwrap();
            let seconds = flops as f64 / flops_per_second;
            let loss = match p.parent {
                None if p.genotype == plan.start => 0.3,
                _ => 0.5,
            };
            let outcome = Outcome {
                tail_loss: Some(loss),
                score_loss: p.score.map(|_| 1.0 / p.lr_scale),
                flops,
                seconds,
                ..Outcome::default()
            };
            s.tell(&space, &Trial::complete(TrialId(id), p.clone(), outcome));
            history.push((p, seconds));
        }
        history
    }

    /// A plan for 64 epochs of the start, the same as a time budget that stands for its horizon
    /// at 1 TFLOP a second (measured before the search), and the search's share of those seconds.
    fn timed_plan() -> (GrowthPlan<NetworkArch>, GrowthPlan<NetworkArch>, f64) {
        let planned = epochs_of_start(64.0);
        let seconds = planned.horizon as f64 / 1e12;
        let timed = GrowthPlan {
            seconds: Some(seconds),
            ..planned.clone()
        };
        let search_seconds = seconds * planned.search as f64 / planned.horizon as f64;
        (planned, timed, search_seconds)
    }

    /// Seconds a timed run took in all.
    fn took(history: &[(ProposalOf<GrownSpace>, f64)]) -> f64 {
        history.iter().map(|t| t.1).sum()
    }

    /// Asserts that a timed run used its search's seconds, within a percent and never more
    /// than a thousandth over.
    fn assert_keeps_to(history: &[(ProposalOf<GrownSpace>, f64)], search_seconds: f64) {
        let spent = took(history);
        assert!(
            spent <= search_seconds * 1.001 && spent > search_seconds * 0.99,
            "{spent} s of {search_seconds} s"
        );
    }

    #[test]
    fn with_a_time_budget_the_plan_is_made_again_from_the_winner_s_throughput() {
        // The networks train at a third of the measured throughput (still enough to grow).
        let (planned, timed, search_seconds) = timed_plan();
        // Planned on the first estimate, the search would take about three times its time.
        let naive = run_timed(planned, 1e12 / 3.0);
        assert!(took(&naive) > 2.5 * search_seconds);
        let history = run_timed(timed, 1e12 / 3.0);
        assert_keeps_to(&history, search_seconds);
        // It still grows, to a width that a third of the compute pays for.
        let width = |h: &[(ProposalOf<GrownSpace>, f64)]| match h.last().unwrap().0.mutation {
            Some(Mutation::Move(Morphism::Widen { channels })) => channels,
            ref m => panic!("the main line widens: {m:?}"),
        };
        assert!(width(&history) > 8 && width(&history) < width(&naive));
    }

    #[test]
    fn under_a_time_budget_the_probes_of_the_rates_count_in_the_time_the_search_keeps_to() {
        let (_, timed, search_seconds) = timed_plan();
        let config = GrowingConfig {
            rates: vec![1.0, 2.0],
            ..growing()
        };
        let history = run_timed_with(config, timed, 1e12 / 3.0);
        assert_eq!(history[0].0.span, Some([0.0, 1.0]));
        assert_eq!(history[1].0.span, Some([0.0, 1.0]));
        assert!(history[2..].iter().all(|h| h.0.lr_scale == 2.0));
        assert_keeps_to(&history, search_seconds);
    }

    #[test]
    fn under_a_time_budget_a_deep_start_from_scratch_costs_no_more_an_image_than_the_start() {
        let space = space();
        let config = GrowingConfig {
            grow_depth: 1,
            grow_from: 1.0,
            ..four_starts()
        };
        let first = |epochs: f64, timed: bool| {
            let plan = epochs_of_start(epochs);
            let plan = GrowthPlan {
                seconds: timed.then_some(plan.horizon as f64 / 1e12),
                ..plan
            };
            let mut s = GrowingSearch::new(3, config.clone(), plan).unwrap();
            s.ask(&space).unwrap().genotype
        };
        let start = plan().start;
        let depth = |g: &NetworkArch| g.stages[0].len();
        // A large budget plans a deep network costlier than the start: under a time budget,
        // whose compute is an estimate from the start's throughput, the start stays as it is.
        let deep = first(64.0, false);
        assert!(depth(&deep) == 2 && space.cost(&deep).flops > space.cost(&start).flops);
        assert_eq!(first(64.0, true), start);
        // A small one plans a cheaper deep network, which a time budget keeps.
        let deep = first(4.0, false);
        assert!(depth(&deep) == 2 && space.cost(&deep).flops < space.cost(&start).flops);
        assert_eq!(first(4.0, true), deep);
    }

    #[test]
    fn a_budget_too_small_for_a_wider_network_trains_the_narrowest_start_as_it_is() {
        let space = space();
        let mut s = GrowingSearch::new(3, four_starts(), epochs_of_start(0.25)).unwrap();
        let history = drive(&mut s, &space, |p, id| match (p.parent, id) {
            (None, 0) => 0.3,
            _ => 0.5,
        });
        assert_eq!(history.len(), 4);
        assert_eq!(history[0].0.genotype.channels, 2, "the narrowest planned");
        assert_eq!(s.incumbent(), Some(TrialId(0)));
    }

    #[test]
    fn without_planned_sizes_the_starts_are_probed_as_they_are() {
        let config = GrowingConfig {
            epochs: 0.0,
            ..four_starts()
        };
        let mut s = GrowingSearch::new(3, config.clone(), epochs_of_start(1.0)).unwrap();
        let history = drive(&mut s, &space(), |_, _| 0.5);
        assert_eq!(history[0].0.genotype, plan().start);
        assert!(history.iter().all(|h| h.0.genotype.channels == 8));
    }

    #[test]
    fn a_planned_growth_replays_to_the_same_search() {
        let space = space();
        let plan = epochs_of_start(16.0);
        let loss = |p: &ProposalOf<GrownSpace>, id: u64| {
            0.5 - (p.parent.is_none() as u64 * id) as f64 * 0.01
        };
        let mut s = GrowingSearch::new(8, growing(), plan.clone()).unwrap();
        let history = drive(&mut s, &space, loss);
        assert_eq!(history.len(), 6);
        let trials: Vec<TrialOf<GrownSpace>> = history.iter().map(|h| h.1.clone()).collect();
        let mut fresh = GrowingSearch::new(8, growing(), plan).unwrap();
        replay(&mut fresh, &space, &trials[..5]).unwrap();
        assert_eq!(fresh.ask(&space).unwrap(), history[5].0);
    }

    #[test]
    fn a_morphism_that_only_ties_does_not_replace_the_main_line() {
        let space = space();
        let config = GrowingConfig {
            decisions: 1,
            ..one_start()
        };
        for (child_loss, child_wins) in [(0.498, false), (0.49, true)] {
            let mut s = GrowingSearch::new(5, config.clone(), plan()).unwrap();
            let history = drive(&mut s, &space, |p, _| match p.mutation {
                Some(Mutation::Continue) | None => 0.5,
                Some(Mutation::Move(_)) => child_loss,
            });
            let id = history.len();
            // Trials: the start, the main segment, the continuation (2) and two children.
            assert_eq!(id, 5);
            let winner = s.incumbent().unwrap();
            assert_eq!(winner != TrialId(2), child_wins, "child loss {child_loss}");
        }
    }

    #[test]
    fn reproducible_and_resumable() {
        let space = space();
        let (_, a) = run(deciding());
        let (_, b) = run(deciding());
        assert_eq!(a, b);
        let trials: Vec<TrialOf<GrownSpace>> = a.iter().map(|h| h.1.clone()).collect();
        let mut fresh = GrowingSearch::new(9, deciding(), plan()).unwrap();
        replay(&mut fresh, &space, &trials[..7]).unwrap();
        assert_eq!(fresh.ask(&space).unwrap(), a[7].0);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let err = |c: GrowingConfig| {
            GrowingSearch::<GrownSpace>::new(0, c, plan())
                .err()
                .unwrap()
                .to_string()
        };
        assert!(
            err(GrowingConfig {
                probe: 1.5,
                ..four_starts()
            })
            .contains("probe")
        );
        // Ten decisions of three probes of 2% do not fit a search of 30%.
        assert!(
            err(GrowingConfig {
                decisions: 10,
                ..deciding()
            })
            .contains("final phase")
        );
        for (config, field) in [
            (
                GrowingConfig {
                    decisions: 1,
                    ..four_starts()
                },
                "decisions = 0 or epochs = 0",
            ),
            (
                GrowingConfig {
                    epochs: -1.0,
                    ..four_starts()
                },
                "epochs",
            ),
            (
                GrowingConfig {
                    grow_from: 0.5,
                    ..four_starts()
                },
                "grow_from",
            ),
            (
                GrowingConfig {
                    grow_at: 1.0,
                    ..four_starts()
                },
                "grow_at",
            ),
            (
                GrowingConfig {
                    earlier_training: f64::NAN,
                    ..four_starts()
                },
                "earlier_training",
            ),
            (
                GrowingConfig {
                    epochs: 0.0,
                    grow_depth: 1,
                    ..four_starts()
                },
                "grow_depth",
            ),
        ] {
            assert!(err(config).contains(field), "{field}");
        }
        assert!(
            GrowingSearch::<GrownSpace>::new(
                0,
                four_starts(),
                GrowthPlan {
                    train_images: 0,
                    ..plan()
                }
            )
            .err()
            .unwrap()
            .to_string()
            .contains("training set, which is empty")
        );
        assert!(
            err(GrowingConfig {
                preserving: 2.0,
                ..four_starts()
            })
            .contains("preserving")
        );
    }
    /// The default plan with three factors of the learning rate to choose from.
    fn with_rates() -> GrowingConfig {
        GrowingConfig {
            rates: vec![0.5, 1.0, 2.0],
            ..Default::default()
        }
    }

    /// FLOPs a proposal asks for: its training and its scoring.
    fn asked_flops(space: &GrownSpace, p: &ProposalOf<GrownSpace>) -> u64 {
        let forward = space.cost(&p.genotype).flops;
        3 * forward * p.budget.images.unwrap() + forward * p.score.unwrap_or(0)
    }

    #[test]
    fn the_rates_are_probed_first_on_schedules_of_their_own_and_the_lowest_score_sets_every_later_rate()
     {
        let space = space();
        let config = with_rates();
        let mut s = GrowingSearch::new(3, config.clone(), plan()).unwrap();
        // Twice the rate scores lowest.
        let history = drive(&mut s, &space, |p, _| match p.score {
            Some(_) => (p.lr_scale - 2.0).abs() + 0.1,
            None => 1.0,
        });
        let (rates, rest) = history.split_at(3);
        let start = &rates[0].0.genotype;
        let images = rates[0].0.budget.images.unwrap();
        for ((p, _), factor) in rates.iter().zip([0.5, 1.0, 2.0]) {
            // The network the main line starts as, from scratch, on the same batches and
            // images, each with a whole cosine of its own, scored on validation images.
            assert_eq!(&p.genotype, start);
            assert!(p.parent.is_none() && !p.inherit && p.origin.is_none());
            assert_eq!(p.span, Some([0.0, 1.0]));
            assert_eq!(p.lr_scale, factor);
            assert_eq!(p.init, Some(0), "from the same fresh weights");
            assert_eq!(p.budget.images, Some(images));
            assert_eq!(p.score, Some(config.score_images));
            assert!(!p.validate);
            let short = config.rate_probe * plan().horizon as f64 - asked_flops(&space, p) as f64;
            let image = 3 * space.cost(&p.genotype).flops;
            assert!(short >= 0.0 && short < image as f64, "{short}");
        }
        // The main line starts afresh after them, at the chosen rate, and so does all that
        // follows; the probes' compute is counted in the search's.
        assert_eq!(&rest[0].0.genotype, start);
        assert!(rest[0].0.parent.is_none());
        assert_eq!(rest[0].0.init, Some(0));
        assert!(rest.iter().all(|(p, _)| p.lr_scale == 2.0));
        assert_eq!(s.lr_scale(), 2.0);
        let spent: u64 = history.iter().map(|(p, _)| asked_flops(&space, p)).sum();
        assert!(spent <= plan().search, "{spent} > {}", plan().search);
        // A resumed study replays to the same choice.
        let mut replayed = GrowingSearch::new(3, config, plan()).unwrap();
        let trials: Vec<TrialOf<GrownSpace>> = history.iter().map(|h| h.1.clone()).collect();
        replay(&mut replayed, &space, &trials).unwrap();
        assert_eq!(replayed.lr_scale(), 2.0);
        assert_eq!(replayed.incumbent(), s.incumbent());
    }

    #[test]
    fn a_failed_probe_of_a_rate_is_not_chosen_and_with_none_left_the_rate_stays() {
        let space = space();
        for (failed, chosen) in [(vec![2], 0.5), (vec![0, 1, 2], 1.0)] {
            let mut s = GrowingSearch::new(3, with_rates(), plan()).unwrap();
            let asked: Vec<_> = (0..3).map(|_| s.ask(&space).unwrap()).collect();
            for (i, p) in asked.into_iter().enumerate() {
                // The highest rate would score lowest had it not diverged, then the lowest.
                let outcome = Outcome {
                    score_loss: Some([0.9, 1.0, 0.8][i]),
                    ..Outcome::default()
                };
                let mut trial = Trial::complete(TrialId(i as u64), p, outcome);
                if failed.contains(&i) {
                    trial.state = TrialState::Failed;
                }
                s.tell(&space, &trial);
            }
            assert_eq!(s.lr_scale(), chosen, "failed {failed:?}");
            assert_eq!(s.ask(&space).unwrap().lr_scale, chosen);
        }
    }

    #[test]
    fn probes_of_rates_too_short_to_decide_are_skipped_and_their_compute_goes_to_the_lineage() {
        let space = space();
        // A budget whose probes of a rate would train for fewer than `min_probe_steps` steps.
        let horizon = 150_000_000_000;
        let small = GrowthPlan {
            horizon,
            search: horizon * 3 / 10,
            ..plan()
        };
        let loss = |_: &ProposalOf<GrownSpace>, _| 1.0;
        let mut with = GrowingSearch::new(3, with_rates(), small.clone()).unwrap();
        let mut without = GrowingSearch::new(3, GrowingConfig::default(), small).unwrap();
        let a: Vec<_> = drive(&mut with, &space, loss)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let b: Vec<_> = drive(&mut without, &space, loss)
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(a, b, "the same search as without rates");
        assert_eq!(with.lr_scale(), 1.0);
    }

    #[test]
    fn with_an_adapted_start_the_rates_are_probed_on_it_from_its_weights() {
        let space = space();
        let cell: Cell = DEFAULT_CELL.parse().unwrap();
        let earlier = NetworkArch::uniform(cell, 4, 1, 1, 10);
        let origin = Origin {
            weights: crate::trial::WeightsHash([5; 32]),
            from: "old/best".into(),
            images: 0,
        };
        let adapted = GrowthPlan {
            adapted: vec![(earlier.clone(), origin.clone())],
            ..plan()
        };
        // `rates` are a search from scratch's; one from adapted networks chooses among
        // `adapted_rates`.
        let config = GrowingConfig {
            rates: vec![1.0, 3.0],
            adapted_rates: vec![1.0, 2.0],
            ..Default::default()
        };
        let mut s = GrowingSearch::new(3, config.clone(), adapted.clone()).unwrap();
        let history = drive(&mut s, &space, |p, _| match p.score {
            Some(_) => p.lr_scale,
            None => 1.0,
        });
        for ((p, _), factor) in history[..2].iter().zip([1.0, 2.0]) {
            assert_eq!(p.genotype, earlier);
            assert!(p.inherit);
            assert_eq!(p.origin.as_ref(), Some(&origin));
            assert_eq!(p.span, Some([0.0, 1.0]));
            assert_eq!(p.lr_scale, factor);
        }
        assert!(history[2..].iter().all(|(p, _)| p.score.is_none()));
        assert_eq!(s.lr_scale(), 1.0);
        // From scratch the same settings choose among `rates`.
        let mut scratch = GrowingSearch::new(3, config.clone(), plan()).unwrap();
        let history = drive(&mut scratch, &space, |p, _| match p.score {
            Some(_) => 1.0 / p.lr_scale,
            None => 1.0,
        });
        let probed: Vec<f64> = history[..2].iter().map(|(p, _)| p.lr_scale).collect();
        assert_eq!(probed, [1.0, 3.0]);
        assert!(history[..2].iter().all(|(p, _)| p.origin.is_none()));
        assert_eq!(scratch.lr_scale(), 3.0);
        // Without `adapted_rates`, a search from adapted networks chooses among `rates`.
        let plain = GrowingConfig {
            adapted_rates: Vec::new(),
            ..config
        };
        let mut s = GrowingSearch::new(3, plain, adapted).unwrap();
        let history = drive(&mut s, &space, |p, _| match p.score {
            Some(_) => 1.0 / p.lr_scale,
            None => 1.0,
        });
        assert!(history[..2].iter().all(|(p, _)| p.genotype == earlier));
        assert_eq!(s.lr_scale(), 3.0);
    }

    #[test]
    fn bad_rates_get_clear_errors() {
        let error = |config: GrowingConfig| {
            GrowingSearch::<GrownSpace>::new(0, config, plan())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let rates = |rates: Vec<f64>| GrowingConfig {
            rates,
            ..Default::default()
        };
        assert!(error(rates(vec![2.0])).contains("rates"));
        assert!(error(rates(vec![0.0, 1.0])).contains("must be positive, got 0"));
        assert!(error(rates(vec![1.0, f64::NAN])).contains("rates"));
        let adapted = GrowingConfig {
            adapted_rates: vec![1.0, -1.0],
            ..Default::default()
        };
        assert!(
            error(adapted)
                .contains("adapted_rates: factors of the learning rate must be positive, got -1")
        );
        let no_probe = GrowingConfig {
            rate_probe: 0.0,
            ..with_rates()
        };
        assert!(error(no_probe).contains("rate_probe"));
        // Ten rates of a tenth of the budget each do not fit in the search's 0.3.
        let too_many = GrowingConfig {
            rates: (1..=10).map(f64::from).collect(),
            rate_probe: 0.1,
            ..Default::default()
        };
        assert!(error(too_many).contains("10 learning rates of 0.1"));
        assert_eq!(error(with_rates()), "");
    }
}
