//! Pre-adaptation: a trained network carried to another task (other classes, other input
//! channels, another image size), keeping what it learned instead of starting again.
//!
//! - The stem: the network pools globally, so any image size fits. Another number of input
//!   channels gets every new channel's filter as the sum of the old channels' filters over the
//!   new channel count: a grey filter copied to three colour channels divided by three, colour
//!   filters summed for grey. So a grey image repeated in three channels (or a colour image whose
//!   channels are equal) gives what the old network gave.
//! - The head: kept when the classes are the same (by name, in order); otherwise a new classifier
//!   for the new classes, and the old one kept beside it (`NetworkArch::heads`), with the old
//!   task's classes and normalization in the card, so that the old task can still be scored.

use adjacent_data::{ImageSet, Normalization};
use burn::module::Param;
use burn::nn::{Initializer, LinearConfig};
use burn::tensor::Device;

use crate::checkpoint::{ModelCard, OldTask};
use crate::error::NnError;
use crate::net::Network;
use crate::transfer::independent_copy;

/// The task a network is adapted to.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub input_channels: usize,
    pub height: usize,
    pub width: usize,
    pub class_names: Vec<String>,
    /// The new task's input normalization (its training images').
    pub normalization: Normalization,
}

impl Task {
    /// The task of training images `set`, normalized by `normalization` (measured on it).
    pub fn of(set: &ImageSet, normalization: Normalization) -> Task {
        Task {
            input_channels: set.channels,
            height: set.height,
            width: set.width,
            class_names: set.class_names.clone(),
            normalization,
        }
    }
}

/// `model` (as `card` describes it) adapted to `task`; `origin` says where it came from (kept with
/// its old task). The new classifier, when one is needed, starts at zero, on `device`.
pub fn adapt(
    model: &Network,
    card: &ModelCard,
    task: &Task,
    origin: &str,
    device: &Device,
) -> Result<(Network, ModelCard), NnError> {
    if task.input_channels == 0 || task.class_names.len() < 2 {
        return Err(NnError::InvalidSetting {
            field: "task".into(),
            reason: format!(
                "a task needs input channels and at least 2 classes, got {} channels and {} classes",
                task.input_channels,
                task.class_names.len()
            ),
        });
    }
    let mut net = independent_copy(model, &card.arch, device)?;
    let mut arch = card.arch.clone();
    let mut old_tasks: Vec<OldTask> = card
        .old_tasks
        .iter()
        .map(|t| OldTask {
            normalization: normalization_for(&t.normalization, task.input_channels),
            ..t.clone()
        })
        .collect();
    if arch.input_channels != task.input_channels {
        let weight = net.stem_conv.weight.val();
        let summed = weight.sum_dim(1) / task.input_channels as f32;
        net.stem_conv.weight =
            Param::from_tensor(summed.repeat_dim(1, task.input_channels).detach());
        arch.input_channels = task.input_channels;
    }
    if card.class_names != task.class_names {
        let last = arch.stage_channels(arch.stages.len() - 1);
        // Zeros (as BiT's new heads): the adapted network starts at the uniform prediction, and
        // the trunk's gradients, which pass through the head's weights, start at zero and grow as
        // the head learns to read the features, instead of a random head's errors disturbing them.
        let fresh = LinearConfig::new(last, task.class_names.len())
            .with_initializer(Initializer::Zeros)
            .init(device);
        net.heads
            .push(std::mem::replace(&mut net.classifier, fresh));
        arch.heads.push(arch.classes);
        arch.classes = task.class_names.len();
        old_tasks.push(OldTask {
            class_names: card.class_names.clone(),
            height: card.height,
            width: card.width,
            normalization: normalization_for(&card.normalization, task.input_channels),
            origin: origin.to_string(),
        });
    }
    arch.validate()?;
    let card = ModelCard {
        arch,
        height: task.height,
        width: task.width,
        normalization: task.normalization.clone(),
        class_names: task.class_names.clone(),
        old_tasks,
    };
    Ok((net, card))
}

/// A normalization for `channels` input channels: the same when it has them; a grey one
/// repeated for colour (a grey image is fed as three equal channels); otherwise the channels'
/// mean of means and of deviations for every channel.
pub fn normalization_for(norm: &Normalization, channels: usize) -> Normalization {
    if norm.mean.len() == channels {
        return norm.clone();
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    Normalization {
        mean: vec![mean(&norm.mean); channels],
        std: vec![mean(&norm.std); channels],
    }
}
