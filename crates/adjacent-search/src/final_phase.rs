//! The final phase of a search: the winner trained with what is left of the budget, so that what a
//! user receives (and what strategies are compared on) is a trained model, not a search signal.
//! Its record is a trial record like the search's own: the winner is its parent.

use std::time::Instant;

use adjacent_core::compute;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::strategy::derive_seed;
use adjacent_core::study::now;
use adjacent_core::trial::{
    Mutation, Origin, Outcome, Proposal, Trial, TrialId, TrialState, WeightsHash,
};
use adjacent_nn::net::Network;
use adjacent_nn::train::RunEnd;
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::evaluator::TrainingEvaluator;

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

/// The final phase's record: a trial of the winner's network (its parent: the winning trial,
/// none for `fixed`), numbered after the search's trials.
pub type FinalTrial = Trial<NetworkArch, Morphism>;

/// The trial the final phase continues (or retrains): its id and the network it kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Winner {
    pub id: TrialId,
    pub weights: Option<WeightsHash>,
    /// The factor of the peak learning rate it trained with (the final phase keeps it).
    pub lr_scale: f64,
}

/// Seed index of the fresh weights of a final phase trained from scratch (distinct from every
/// trial's).
const FINAL_INDEX: u64 = u64::MAX;

/// Trains `arch` (from `winner`'s kept network, or from scratch) on `images` training images and
/// validates it once: through `span` of the schedule the winner followed (peak `lr`), or with a
/// cosine schedule of its own (from `child_lr` when it continues trained weights, `lr` from
/// scratch). `id` numbers its record.
#[allow(clippy::too_many_arguments)]
pub fn train_final(
    evaluator: &TrainingEvaluator,
    id: TrialId,
    arch: &NetworkArch,
    winner: Option<Winner>,
    start: FinalStart,
    span: Option<[f64; 2]>,
    images: usize,
    origin: Option<&Origin>,
    observe: &mut dyn FnMut(usize, usize),
) -> Result<(Option<Network>, FinalTrial), SearchError> {
    let started = Instant::now();
    let asked_at = now();
    let (model, lr, start_weights) = match (start, winner, origin) {
        // An outside network fine-tuned (`fixed --from`): a schedule of its own.
        (_, _, Some(origin)) => {
            let (model, stored) = evaluator
                .store
                .get(&origin.weights, &evaluator.devices.train)?;
            if &stored != arch {
                return Err(SearchError::invalid(
                    "from",
                    format!("the network adapted from {} is not {arch:?}", origin.from),
                ));
            }
            let lr = evaluator.recipe.peak_lr(None, true);
            (model, lr, Some(origin.weights))
        }
        (FinalStart::Weights, Some(w), None) => {
            let hash = w.weights.ok_or_else(|| {
                SearchError::invalid(
                    "final",
                    format!("trial {}'s record names no kept network", w.id),
                )
            })?;
            let (model, stored) = evaluator.store.get(&hash, &evaluator.devices.train)?;
            if &stored != arch {
                return Err(SearchError::invalid(
                    "final",
                    format!(
                        "trial {}'s stored network is not the winner's architecture",
                        w.id
                    ),
                ));
            }
            (model, evaluator.recipe.peak_lr(span, true), Some(hash))
        }
        _ => (
            evaluator.fresh(arch, FINAL_INDEX),
            evaluator.recipe.peak_lr(None, false),
            None,
        ),
    };
    // The rate a strategy chose for the winner is the rate of the data at hand.
    let lr_scale = winner.map_or(1.0, |w| w.lr_scale);
    let lr = lr * lr_scale;
    let seed = derive_seed(evaluator.seed ^ 0x6669_6E61, FINAL_INDEX);
    let span = match start {
        FinalStart::Weights => span,
        FinalStart::Scratch => None,
    };
    let trained = evaluator.train(model, images, lr, span.unwrap_or([0.0, 1.0]), seed, observe)?;
    let forward = evaluator.data.forward_flops(arch);
    let proposal = match (winner, origin) {
        (_, Some(origin)) => Proposal::adapted(arch.clone(), origin.clone()),
        (Some(w), None) => Proposal::child(arch.clone(), w.id, Mutation::Continue),
        (None, None) => Proposal::fresh(arch.clone()),
    };
    let proposal = match (start, span) {
        (FinalStart::Weights, _) if winner.is_some() => proposal.inheriting(),
        _ => proposal,
    };
    let proposal = match span {
        Some(span) => proposal.within(span),
        None => proposal,
    };
    let mut record = Trial::asked(
        id,
        proposal.with_images(images as u64).with_lr_scale(lr_scale),
    );
    record.start_weights = start_weights;
    record.asked_at = Some(asked_at);
    record.outcome = Outcome {
        lr: Some(lr),
        params: Some(arch.params()),
        images: trained.images as u64,
        epochs: trained.images as f64 / evaluator.data.train.len() as f64,
        flops: compute::training_flops(forward, trained.images as u64),
        first_loss: trained.first_loss(),
        last_loss: trained.last_loss(),
        train_loss: trained.mean_loss(),
        tail_loss: trained.tail_loss(),
        ..Outcome::default()
    };
    let model = match trained.end {
        RunEnd::Completed => {
            record.outcome.valid_acc = Some(evaluator.validate(&trained.model));
            record.outcome.flops += compute::eval_flops(forward, evaluator.data.valid.len() as u64);
            record.state = TrialState::Complete;
            Some(trained.model)
        }
        end @ RunEnd::Diverged { .. } => {
            record.state = TrialState::Failed;
            record.reason = Some(format!("training {end}"));
            None
        }
    };
    record.outcome.seconds = started.elapsed().as_secs_f64();
    record.finished_at = Some(now());
    Ok((model, record))
}
