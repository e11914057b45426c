//! Trials: what a strategy proposes and what it hears back.

use serde::{Deserialize, Serialize};

/// A trial's number within its study, counting from 0 in the order trials were proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrialId(pub u64);

impl std::fmt::Display for TrialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The content hash (SHA-256) of a trained network as kept: its architecture and its weights.
/// A trial's record names the network it trained by this hash, and an inheriting child the network
/// it starts from, so that a child loads exactly what its parent's record names (never weights
/// that a lost worker wrote after its trial ran again elsewhere), and a damaged copy is caught.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WeightsHash(pub [u8; 32]);

impl std::fmt::Display for WeightsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for WeightsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeightsHash({self})")
    }
}

impl std::str::FromStr for WeightsHash {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not a weights hash (64 hexadecimal digits)");
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(WeightsHash(hash))
    }
}

impl Serialize for WeightsHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WeightsHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How far a trial has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    Pending,
    Running,
    Complete,
    Failed,
    Pruned,
}

impl TrialState {
    /// The state's name, as storages and reports write it (its serialized form).
    pub fn name(self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Failed => "failed",
            TrialState::Pruned => "pruned",
        }
    }

    /// The state of a name written by [`TrialState::name`].
    pub fn from_name(name: &str) -> Option<TrialState> {
        Some(match name {
            "pending" => TrialState::Pending,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "failed" => TrialState::Failed,
            "pruned" => TrialState::Pruned,
            _ => return None,
        })
    }
}

/// The training budget a strategy asks for (ignored by tabular evaluators, which have one fixed
/// budget).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TrialBudget {
    /// Training images to pass forward and backward; `None` leaves it to the evaluator's default.
    pub images: Option<u64>,
}

/// How a child comes from its parent: the parent's network itself, or one move of the space away
/// (`M`, the space's move). Recorded typed, so that an evaluator applies the very move the strategy
/// chose (a network morphism carries the parent's weights over).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mutation<M> {
    /// The parent's network, trained further (a continuation along one schedule, a promotion).
    Continue,
    /// One move of the search space.
    Move(M),
}

impl<M: std::fmt::Display> std::fmt::Display for Mutation<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mutation::Continue => f.write_str("continue"),
            Mutation::Move(m) => write!(f, "{m}"),
        }
    }
}

/// A network from outside the study that a trial starts from (pre-adaptation): its weights, kept
/// in the study's store under this hash before the study runs, and where they came from (an
/// earlier study's trial or model).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub weights: WeightsHash,
    pub from: String,
    /// Training images behind these weights, in the study they came from (their lineage's, final
    /// phase included): what the plan may count as training already done. 0 when unknown (records
    /// older than this field).
    #[serde(default)]
    pub images: u64,
}

/// What a strategy asks to be evaluated next: a genotype `G`, and how it came from its parent (`M`,
/// the space's move).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<G, M> {
    pub genotype: G,
    /// The trial this one starts from (its weights, for trained evaluators), if any.
    pub parent: Option<TrialId>,
    /// How it came from the parent.
    pub mutation: Option<Mutation<M>>,
    /// Start from the parent's trained weights (a network morphism) instead of from scratch.
    pub inherit: bool,
    pub budget: TrialBudget,
    /// The part of one learning-rate schedule this trial trains through, as fractions of it
    /// (`[0.2, 0.3]`), for strategies whose lineages follow one schedule through every change of
    /// the network; `None`: a schedule of the trial's own (a warm restart).
    pub span: Option<[f64; 2]>,
    /// Measure the validation accuracy after training (it costs a forward pass per validation
    /// image); a strategy that decides on the training loss can skip it.
    pub validate: bool,
    /// Measure the mean loss on the first this many validation images after training: a signal
    /// paired across trials (every trial scored on the same images) that costs a forward pass per
    /// image.
    pub score: Option<u64>,
    /// The outside network it starts from, if any (with `inherit`, instead of a parent's).
    pub origin: Option<Origin>,
    /// The factor the evaluator's peak learning rate is multiplied by for this trial (1: the
    /// recipe's rate; a strategy that chooses the rate for the data at hand sets it).
    pub lr_scale: f64,
    /// The index of the fresh weights a trial from scratch starts from (none: its own number):
    /// trials of one network with the same index start from the same weights, so that probes
    /// that differ in something else (a learning rate) are paired.
    pub init: Option<u64>,
}

impl<G, M> Proposal<G, M> {
    /// A proposal with no parent: a genotype sampled or chosen afresh.
    pub fn fresh(genotype: G) -> Self {
        Proposal {
            genotype,
            parent: None,
            mutation: None,
            inherit: false,
            budget: TrialBudget::default(),
            span: None,
            validate: true,
            score: None,
            origin: None,
            lr_scale: 1.0,
            init: None,
        }
    }

    /// A proposal with no parent that starts from the weights of an outside network.
    pub fn adapted(genotype: G, origin: Origin) -> Self {
        Proposal {
            inherit: true,
            origin: Some(origin),
            ..Proposal::fresh(genotype)
        }
    }

    /// A proposal that comes from `parent` by `mutation`.
    pub fn child(genotype: G, parent: TrialId, mutation: Mutation<M>) -> Self {
        Proposal {
            genotype,
            parent: Some(parent),
            mutation: Some(mutation),
            inherit: false,
            budget: TrialBudget::default(),
            span: None,
            validate: true,
            score: None,
            origin: None,
            lr_scale: 1.0,
            init: None,
        }
    }

    /// The same proposal, starting from the parent's trained weights.
    pub fn inheriting(self) -> Self {
        Proposal {
            inherit: true,
            ..self
        }
    }

    /// The same proposal, training through `span` of one learning-rate schedule.
    pub fn within(self, span: [f64; 2]) -> Self {
        Proposal {
            span: Some(span),
            ..self
        }
    }

    /// The same proposal, not validated.
    pub fn unvalidated(self) -> Self {
        Proposal {
            validate: false,
            ..self
        }
    }

    /// The same proposal, scored by its mean loss on the first `images` validation images.
    pub fn scored(self, images: u64) -> Self {
        Proposal {
            score: Some(images),
            ..self
        }
    }

    /// The same proposal, with its peak learning rate multiplied by `scale`.
    pub fn with_lr_scale(self, scale: f64) -> Self {
        Proposal {
            lr_scale: scale,
            ..self
        }
    }

    /// The same proposal, from the fresh weights of index `init` when it starts from scratch.
    pub fn initialised(self, init: u64) -> Self {
        Proposal {
            init: Some(init),
            ..self
        }
    }

    /// The same proposal, trained on `images` training images.
    pub fn with_images(self, images: u64) -> Self {
        Proposal {
            budget: TrialBudget {
                images: Some(images),
            },
            ..self
        }
    }
}

/// What an evaluation returns: the search signal and what it cost. It holds no accuracy that a
/// search is judged by: nothing a strategy sees can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// Validation accuracy in percent: the search signal (none when the trial was not validated).
    pub valid_acc: Option<f64>,
    /// Mean training loss over the trial.
    pub train_loss: Option<f64>,
    /// Mean training loss over the last quarter of the trial's steps: a signal that costs no
    /// validation (none for tabular evaluations).
    pub tail_loss: Option<f64>,
    /// Mean loss on the scoring images (the first validation images) after training: the signal of
    /// a scored proposal.
    pub score_loss: Option<f64>,
    /// Loss of the first training step: near the parent's last loss for an inheriting child.
    pub first_loss: Option<f64>,
    /// Mean loss of the last steps of training.
    pub last_loss: Option<f64>,
    /// For an inheriting trial: whether it started with exactly its parent's function.
    pub function_preserving: Option<bool>,
    /// Peak learning rate of the trial's schedule.
    pub lr: Option<f64>,
    /// Parameters of the network.
    pub params: Option<u64>,
    /// Epochs of training the evaluation stands for.
    pub epochs: f64,
    /// Training images passed forward and backward.
    pub images: u64,
    /// Compute of the trial (training, validation and scoring) in FLOPs of the cost model.
    pub flops: u64,
    /// Seconds spent (simulated or measured).
    pub seconds: f64,
    /// The trained network, as its evaluator kept it (none for tabular evaluations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightsHash>,
}

/// One trial as it is recorded: what a strategy is told, what a study's storage keeps, what
/// `trials.jsonl` and `adjacent study export` hold. The proposal it came from, its state, what it
/// measured and cost, and who ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial<G, M> {
    pub id: TrialId,
    pub state: TrialState,
    pub genotype: G,
    pub parent: Option<TrialId>,
    /// How it came from its parent.
    pub mutation: Option<Mutation<M>>,
    /// Started from the parent's weights.
    #[serde(default)]
    pub inherit: bool,
    /// The network an inheriting trial starts from: its parent's, as the parent's record names it,
    /// or its origin's (set when the trial is asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_weights: Option<WeightsHash>,
    /// The outside network it started from (pre-adaptation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Training images the proposal asked for (none: the evaluator's default).
    #[serde(default)]
    pub images_asked: Option<u64>,
    /// The part of one learning-rate schedule the trial trains through (none: a cycle of its own).
    #[serde(default)]
    pub span: Option<[f64; 2]>,
    /// Whether the proposal asked for a validation accuracy.
    #[serde(default = "yes")]
    pub validate: bool,
    /// Validation images the proposal asked to be scored on.
    #[serde(default)]
    pub score: Option<u64>,
    /// The factor of the peak learning rate the proposal asked for (1 unless a strategy chose
    /// the rate).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub lr_scale: f64,
    /// The index of the fresh weights it started from, when not its own number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<u64>,
    /// What the evaluation measured and cost (what a failed trial spent before it failed).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Why a failed trial failed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The worker that ran (or runs) the trial.
    #[serde(default)]
    pub worker: Option<String>,
    /// Times the trial was started (more than one after a worker was lost).
    #[serde(default)]
    pub attempts: u32,
    /// When the trial was proposed and when it ended, in seconds since the Unix epoch.
    #[serde(default)]
    pub asked_at: Option<f64>,
    #[serde(default)]
    pub finished_at: Option<f64>,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl<G, M> Trial<G, M> {
    /// A pending trial of `proposal`, numbered `id`.
    pub fn asked(id: TrialId, proposal: Proposal<G, M>) -> Self {
        Trial {
            id,
            state: TrialState::Pending,
            genotype: proposal.genotype,
            parent: proposal.parent,
            mutation: proposal.mutation,
            inherit: proposal.inherit,
            start_weights: None,
            origin: proposal.origin,
            images_asked: proposal.budget.images,
            span: proposal.span,
            validate: proposal.validate,
            score: proposal.score,
            lr_scale: proposal.lr_scale,
            init: proposal.init,
            outcome: Outcome::default(),
            reason: None,
            worker: None,
            attempts: 0,
            asked_at: None,
            finished_at: None,
        }
    }

    /// A complete trial of `proposal` with `outcome` (for drivers and tests).
    pub fn complete(id: TrialId, proposal: Proposal<G, M>, outcome: Outcome) -> Self {
        Trial {
            state: TrialState::Complete,
            outcome,
            ..Trial::asked(id, proposal)
        }
    }

    /// The proposal the trial was asked as.
    pub fn proposal(&self) -> Proposal<G, M>
    where
        G: Clone,
        M: Clone,
    {
        Proposal {
            genotype: self.genotype.clone(),
            parent: self.parent,
            mutation: self.mutation.clone(),
            inherit: self.inherit,
            budget: TrialBudget {
                images: self.images_asked,
            },
            span: self.span,
            validate: self.validate,
            score: self.score,
            origin: self.origin.clone(),
            lr_scale: self.lr_scale,
            init: self.init,
        }
    }

    /// Whether the trial has ended (complete, failed or pruned).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            TrialState::Complete | TrialState::Failed | TrialState::Pruned
        )
    }

    fn complete_outcome(&self) -> Option<&Outcome> {
        (self.state == TrialState::Complete).then_some(&self.outcome)
    }

    /// The tail training loss signal of a complete trial.
    pub fn tail_loss(&self) -> Option<f64> {
        self.complete_outcome().and_then(|o| o.tail_loss)
    }

    /// The scoring loss of a complete, scored trial.
    pub fn score_loss(&self) -> Option<f64> {
        self.complete_outcome().and_then(|o| o.score_loss)
    }

    /// The validation accuracy of a complete, validated trial.
    pub fn valid_acc(&self) -> Option<f64> {
        self.complete_outcome().and_then(|o| o.valid_acc)
    }
}

/// Trial `id` and its ancestors among `trials`, newest first: the line its network was trained
/// along. The walk ends at a parent `trials` does not hold, or at one it has passed already (a
/// damaged record whose parents loop).
pub fn lineage<G, M>(trials: &[Trial<G, M>], id: Option<TrialId>) -> Vec<&Trial<G, M>> {
    let by_id: std::collections::HashMap<TrialId, &Trial<G, M>> =
        trials.iter().map(|t| (t.id, t)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut line = Vec::new();
    let mut next = id;
    while let Some(trial) = next.and_then(|id| by_id.get(&id).copied()) {
        if !seen.insert(trial.id) {
            break;
        }
        line.push(trial);
        next = trial.parent;
    }
    line
}

/// The complete, validated trial with the highest validation accuracy among `trials`, the first
/// of them among equals.
pub fn fittest<'a, G: 'a, M: 'a>(
    trials: impl IntoIterator<Item = &'a Trial<G, M>>,
) -> Option<&'a Trial<G, M>> {
    trials.into_iter().filter(|t| t.valid_acc().is_some()).fold(
        None,
        |best: Option<&Trial<G, M>>, t| match best {
            Some(b) if b.valid_acc() >= t.valid_acc() => Some(b),
            _ => Some(t),
        },
    )
}
