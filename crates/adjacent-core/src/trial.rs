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

/// The training budget a strategy asks for (ignored by tabular evaluators, which have one fixed
/// budget).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    /// Training images to pass forward and backward; `None` leaves it to the evaluator's default.
    pub images: Option<u64>,
}

/// What a strategy asks to be evaluated next.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<G> {
    pub genotype: G,
    /// The trial this one starts from (its weights, for trained evaluators), if any.
    pub parent: Option<TrialId>,
    /// The move that turned the parent into this genotype, in words.
    pub mutation: Option<String>,
    /// Start from the parent's trained weights (a network morphism) instead of from scratch.
    pub inherit: bool,
    pub budget: Budget,
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
}

impl<G> Proposal<G> {
    /// A proposal with no parent: a genotype sampled or chosen afresh.
    pub fn fresh(genotype: G) -> Self {
        Proposal {
            genotype,
            parent: None,
            mutation: None,
            inherit: false,
            budget: Budget::default(),
            span: None,
            validate: true,
            score: None,
        }
    }

    /// A proposal one move away from `parent`.
    pub fn child(genotype: G, parent: TrialId, mutation: impl ToString) -> Self {
        Proposal {
            genotype,
            parent: Some(parent),
            mutation: Some(mutation.to_string()),
            inherit: false,
            budget: Budget::default(),
            span: None,
            validate: true,
            score: None,
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

    /// The same proposal, trained on `images` training images.
    pub fn with_images(self, images: u64) -> Self {
        Proposal {
            budget: Budget {
                images: Some(images),
            },
            ..self
        }
    }
}

/// What an evaluation returns: the search signal and what it cost. It holds no accuracy that a
/// search is judged by: nothing a strategy sees can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Validation accuracy in percent: the search signal (none when the trial was not validated).
    pub valid_acc: Option<f64>,
    /// Mean training loss over the last quarter of the trial's steps: a signal that costs no
    /// validation (none for tabular evaluations).
    #[serde(default)]
    pub train_loss: Option<f64>,
    /// Mean loss on the scoring images (the first validation images) after training: the signal of
    /// a scored proposal.
    #[serde(default)]
    pub score_loss: Option<f64>,
    /// Epochs of training the evaluation stands for.
    pub epochs: f64,
    /// Seconds spent (simulated or measured).
    pub seconds: f64,
}

/// A proposal with its identity and, once evaluated, its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial<G> {
    pub id: TrialId,
    pub genotype: G,
    pub parent: Option<TrialId>,
    pub mutation: Option<String>,
    pub state: TrialState,
    /// Set when `state` is `Complete`.
    pub outcome: Option<Outcome>,
}

impl<G> Trial<G> {
    /// The training loss signal of a complete trial.
    pub fn train_loss(&self) -> Option<f64> {
        match self.state {
            TrialState::Complete => self.outcome.and_then(|o| o.train_loss),
            _ => None,
        }
    }

    /// The scoring loss of a complete, scored trial.
    pub fn score_loss(&self) -> Option<f64> {
        match self.state {
            TrialState::Complete => self.outcome.and_then(|o| o.score_loss),
            _ => None,
        }
    }

    /// The validation accuracy of a complete, validated trial.
    pub fn valid_acc(&self) -> Option<f64> {
        match self.state {
            TrialState::Complete => self.outcome.and_then(|o| o.valid_acc),
            _ => None,
        }
    }
}
