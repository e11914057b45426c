//! The final phase of a search: the winner trained with what is left of the budget, so that what a
//! user receives (and what strategies are compared on) is a trained model, not a search signal.

use std::time::Instant;

use adjacent_core::compute;
use adjacent_core::network::NetworkArch;
use adjacent_core::strategy::derive_seed;
use adjacent_core::trial::{TrialId, TrialState, WeightsHash};
use serde::{Deserialize, Serialize};

use super::evaluator::Evaluator;
use crate::error::NnError;
use crate::net::Network;
use crate::train::RunEnd;

/// Where the final phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalStart {
    /// The winner's trained weights, with one fresh cosine schedule.
    Weights,
    /// The winner's architecture with fresh weights (as the published morphism searches score
    /// their winners).
    Scratch,
}

/// How a search ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinalPlan {
    /// The share of the whole budget kept for the final phase, in [0, 1); 0 ends the search with
    /// its best trial as it is. Whatever the search leaves unspent is added to it.
    pub share: f64,
    pub start: FinalStart,
}

impl FinalPlan {
    pub fn validate(&self) -> Result<(), NnError> {
        if !(0.0..1.0).contains(&self.share) {
            return Err(NnError::InvalidSetting {
                field: "final".into(),
                reason: format!(
                    "must be a share of the budget in [0, 1) (0: no final phase), got {}",
                    self.share
                ),
            });
        }
        Ok(())
    }
}

/// What the final phase did (summary.json's `final`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalRecord {
    pub arch: NetworkArch,
    /// The search trial whose network it trains further (or again, from scratch); none for `fixed`.
    pub trial: Option<u64>,
    pub start: FinalStart,
    pub state: TrialState,
    pub reason: Option<String>,
    pub images: usize,
    pub epochs: f64,
    /// Compute of the final phase: its training and its one validation.
    pub flops: u64,
    /// Peak learning rate of its cosine schedule.
    pub lr: f64,
    /// The part of the winner's schedule it trained through, when it continued that schedule.
    pub span: Option<[f64; 2]>,
    pub seconds: f64,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub train_loss: Option<f64>,
    pub valid_acc: Option<f64>,
    pub params: u64,
}

/// Seed index of the fresh weights of a final phase trained from scratch (distinct from every
/// trial's).
const FINAL_INDEX: u64 = u64::MAX;

/// Trains `arch` (from trial `trial`'s kept network, named by its hash, or from scratch) on `images` training images and
/// validates it once: through `span` of the schedule the winner followed (peak `lr`), or with a
/// cosine schedule of its own (from `child_lr` when it continues trained weights, `lr` from
/// scratch).
pub fn train_final(
    evaluator: &Evaluator,
    arch: &NetworkArch,
    trial: Option<(TrialId, Option<WeightsHash>)>,
    start: FinalStart,
    span: Option<[f64; 2]>,
    images: usize,
    observe: &mut dyn FnMut(usize, usize),
) -> Result<(Option<Network>, FinalRecord), NnError> {
    let started = Instant::now();
    let (model, lr) = match (start, trial) {
        (FinalStart::Weights, Some((t, hash))) => {
            let hash = hash.ok_or_else(|| NnError::InvalidSetting {
                field: "final".into(),
                reason: format!("trial {t}'s record names no kept network"),
            })?;
            let (model, stored) = evaluator.store.get(&hash, &evaluator.devices.train)?;
            if &stored != arch {
                return Err(NnError::InvalidSetting {
                    field: "final".into(),
                    reason: format!("trial {t}'s stored network is not the winner's architecture"),
                });
            }
            (model, evaluator.recipe.peak_lr(span, true))
        }
        _ => (
            evaluator.fresh(arch, FINAL_INDEX),
            evaluator.recipe.peak_lr(None, false),
        ),
    };
    let seed = derive_seed(evaluator.seed ^ 0x6669_6E61, FINAL_INDEX);
    let span = match start {
        FinalStart::Weights => span,
        FinalStart::Scratch => None,
    };
    let trained = evaluator.train(model, images, lr, span.unwrap_or([0.0, 1.0]), seed, observe)?;
    let forward = evaluator.data.forward_flops(arch);
    let mut record = FinalRecord {
        arch: arch.clone(),
        trial: trial.map(|t| t.0.0),
        start,
        state: TrialState::Failed,
        reason: None,
        images: trained.images,
        epochs: trained.images as f64 / evaluator.data.train.len() as f64,
        flops: compute::training_flops(forward, trained.images as u64),
        lr,
        span,
        seconds: 0.0,
        first_loss: trained.first_loss(),
        last_loss: trained.last_loss(),
        train_loss: trained.mean_loss(),
        valid_acc: None,
        params: arch.params(),
    };
    let model = match trained.end {
        RunEnd::Completed => {
            record.valid_acc = Some(evaluator.validate(&trained.model));
            record.flops += compute::eval_flops(forward, evaluator.data.valid.len() as u64);
            record.state = TrialState::Complete;
            Some(trained.model)
        }
        end @ RunEnd::Diverged { .. } => {
            record.reason = Some(format!("training {end}"));
            None
        }
    };
    record.seconds = started.elapsed().as_secs_f64();
    Ok((model, record))
}
