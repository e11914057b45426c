//! Training and evaluation: SGD with momentum (PyTorch semantics), schedules from
//! `adjacent_core::schedule`, global gradient-norm clipping, label smoothing, and divergence
//! detection that ends a run with a result instead of a crash.

use std::ops::ControlFlow;
use std::time::Instant;

use adjacent_core::schedule::Schedule;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig, decay::WeightDecayConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::NnError;
use crate::net::Network;
use adjacent_data::loader::{self, Batch, Plan};
use adjacent_data::{ImageSet, Normalization};

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set; ignored when `images` is set.
    pub epochs: usize,
    /// Train on exactly this many images (passes over the reshuffled set, the last one cut short
    /// at a whole batch) instead of `epochs` whole passes; the schedule spans them.
    #[serde(default)]
    pub images: Option<usize>,
    /// The part of a longer schedule this run covers, as fractions of it: `[0, 1]` is the whole
    /// schedule; `[0.4, 0.7]` runs from 40% to 70% of it (the learning rate a run would have had
    /// there), so that several runs can follow one schedule through changes of the network.
    #[serde(default = "whole_schedule")]
    pub span: [f64; 2],
    pub batch: usize,
    /// Base learning rate; the schedule scales it.
    pub lr: f64,
    pub schedule: Schedule,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value.
    pub clip_norm: Option<f64>,
    /// Label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// Random crop with padding and horizontal flip.
    pub augment: bool,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            images: None,
            span: whole_schedule(),
            batch: 128,
            lr: 0.1,
            schedule: Schedule::Cosine,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            clip_norm: None,
            label_smoothing: 0.0,
            augment: false,
            seed: 0,
        }
    }
}

fn whole_schedule() -> [f64; 2] {
    [0.0, 1.0]
}

impl TrainConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |field: &str, reason: String| {
            Err(NnError::InvalidSetting {
                field: field.into(),
                reason,
            })
        };
        if self.epochs == 0 && self.images.is_none() {
            return bad("epochs", "must be at least 1".into());
        }
        let [from, to] = self.span;
        if !(0.0 <= from && from < to && to <= 1.0) {
            return bad(
                "span",
                format!("must be 0 <= from < to <= 1, got [{from}, {to}]"),
            );
        }
        if self.images == Some(0) {
            return bad("images", "must be at least 1".into());
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", format!("must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(
                "momentum",
                format!("must be in [0, 1), got {}", self.momentum),
            );
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                format!("must be >= 0, got {}", self.weight_decay),
            );
        }
        if self.clip_norm.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return bad("clip_norm", "must be a positive number".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(
                "label_smoothing",
                format!("must be in [0, 1), got {}", self.label_smoothing),
            );
        }
        Ok(())
    }
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Counting from 1.
    pub epoch: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    pub train_loss: f64,
    /// Accuracy (%) on the training batches as they were trained on.
    pub train_acc: f64,
    /// Accuracy (%) on the validation set after the epoch, if there is one.
    pub valid_acc: Option<f64>,
    pub seconds: f64,
    /// Images trained on in the epoch.
    pub images: usize,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RunEnd {
    Completed,
    /// The loss became NaN or infinite at this epoch and step (both from 1).
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
}

impl std::fmt::Display for RunEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunEnd::Completed => write!(f, "completed"),
            RunEnd::Diverged { epoch, step, loss } => {
                write!(f, "diverged at epoch {epoch}, step {step} (loss {loss})")
            }
        }
    }
}

/// Progress of a run, as it happens.
pub enum Event<'a> {
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f64,
        /// The learning rate of the step.
        lr: f64,
        /// Images the run has trained on, this step's included.
        trained: usize,
    },
    Epoch(&'a EpochReport),
}

/// Runs on a device: the training device (autodiff) and the plain one for evaluation.
#[derive(Debug, Clone)]
pub struct Devices {
    pub plain: Device,
    pub train: Device,
}

impl Devices {
    pub fn new(plain: Device) -> Self {
        Devices {
            train: plain.clone().autodiff(),
            plain,
        }
    }
}

/// Sums the squares of every parameter's gradient.
struct GradNormSq<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl ModuleVisitor for GradNormSq<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sum += g.square().sum().into_scalar::<f32>() as f64;
        }
    }
}

/// Multiplies every parameter's gradient by `scale`.
struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.scale));
        }
    }
}

/// The global L2 norm of `model`'s parameters' gradients.
pub fn grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut norm = GradNormSq { grads, sum: 0.0 };
    model.visit(&mut norm);
    norm.sum.sqrt()
}

/// Scales the gradients so that their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let total = grad_norm(model, grads);
    if total > max_norm {
        model.visit(&mut ScaleGrads {
            grads,
            scale: max_norm / (total + 1e-6),
        });
    }
    total
}

fn batch_tensors(b: &Batch, set: &ImageSet, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let images = Tensor::<4>::from_data(
        TensorData::new(
            b.images.clone(),
            [b.size, set.channels, set.height, set.width],
        ),
        device,
    );
    let labels = Tensor::<1, Int>::from_data(TensorData::new(b.labels.clone(), [b.size]), device);
    (images, labels)
}

/// Correct predictions in a batch.
fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let predicted = logits.argmax(1).flatten::<1>(0, 1);
    predicted.equal(labels).int().sum().into_scalar::<i64>() as usize
}

/// Runs `f` on every batch of `set` in order, without augmentation: the passes that score a model.
fn in_order(set: &ImageSet, norm: &Normalization, batch: usize, mut f: impl FnMut(Batch)) {
    loader::for_each_batch::<()>(
        set,
        norm,
        Plan {
            batch,
            shuffle: None,
            augment: false,
        },
        |b| {
            f(b);
            ControlFlow::Continue(())
        },
    );
}

/// Accuracy (%) of `model` on `set`, in evaluation mode (batch norm uses its running statistics).
pub fn evaluate(
    model: &Network,
    set: &ImageSet,
    norm: &Normalization,
    batch: usize,
    devices: &Devices,
) -> f64 {
    let model = model.valid();
    let mut right = 0usize;
    in_order(set, norm, batch, |b| {
        let (images, labels) = batch_tensors(&b, set, &devices.plain);
        right += correct(model.forward(images), labels);
    });
    100.0 * right as f64 / set.len().max(1) as f64
}

/// Mean cross-entropy of `model` on `set`, with batch norm normalising each batch by its own
/// statistics, as in training: a network trained for only a few steps is scored by what it has
/// learned, not by running statistics that have not caught up yet. It runs on the training device
/// and moves the model's running statistics, so score a model after it is saved.
pub fn batch_loss(
    model: &Network,
    set: &ImageSet,
    norm: &Normalization,
    batch: usize,
    devices: &Devices,
) -> f64 {
    let loss_fn = CrossEntropyLossConfig::new().init(&devices.train);
    let mut total = 0.0;
    in_order(set, norm, batch, |b| {
        let (images, labels) = batch_tensors(&b, set, &devices.train);
        let loss = loss_fn.forward(model.forward(images), labels);
        total += loss.into_scalar::<f64>() * b.size as f64;
    });
    total / set.len().max(1) as f64
}

/// Trains `model` on `train` for `config.epochs` epochs (or `config.images` images), evaluating on
/// `valid` after each epoch.
/// Returns the trained model, the epochs' reports and how the run ended; a diverged run returns the
/// model as it was at the last finite step.
pub fn train(
    mut model: Network,
    train: &ImageSet,
    valid: Option<&ImageSet>,
    norm: &Normalization,
    config: &TrainConfig,
    devices: &Devices,
    observe: &mut dyn FnMut(Event),
) -> Result<(Network, Vec<EpochReport>, RunEnd), NnError> {
    config.validate()?;
    if train.is_empty() {
        return Err(NnError::InvalidSetting {
            field: "data".into(),
            reason: "no training images".into(),
        });
    }
    let mut optim = SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(config.momentum)
                .with_dampening(0.0)
                .with_nesterov(config.nesterov),
        ))
        .with_weight_decay(
            (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32)),
        )
        .init();
    let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(&devices.train);
    let n = train.len();
    let steps = n.div_ceil(config.batch);
    // The run's length in epochs (fractional when it is given in images), which the schedule spans.
    let (epochs, total) = match config.images {
        Some(images) => (images.div_ceil(n), images as f64 / n as f64),
        None => (config.epochs, config.epochs as f64),
    };
    let mut trained = 0usize;
    let mut reports = Vec::new();
    for epoch in 1..=epochs {
        let started = Instant::now();
        let (mut loss_sum, mut right, mut seen, mut step, mut lr) =
            (0.0, 0usize, 0usize, 0usize, 0.0);
        let plan = Plan {
            batch: config.batch,
            shuffle: Some(adjacent_core::strategy::derive_seed(
                config.seed,
                epoch as u64,
            )),
            augment: config.augment,
        };
        let stopped = loader::for_each_batch(train, norm, plan, |b| {
            if config.images.is_some_and(|limit| trained + b.size > limit) {
                return ControlFlow::Break(None);
            }
            step += 1;
            let progress = match config.images {
                Some(_) => trained as f64 / n as f64,
                None => (epoch - 1) as f64 + (step - 1) as f64 / steps as f64,
            };
            let [from, to] = config.span;
            let progress = match (from, to) == (0.0, 1.0) {
                true => progress,
                false => (from + (to - from) * progress / total) * total,
            };
            lr = config.schedule.lr(config.lr, progress, total);
            let (images, labels) = batch_tensors(&b, train, &devices.train);
            let logits = model.forward(images);
            let loss = loss_fn.forward(logits.clone(), labels.clone());
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return ControlFlow::Break(Some(RunEnd::Diverged {
                    epoch,
                    step,
                    loss: loss_value,
                }));
            }
            right += correct(logits.detach(), labels);
            loss_sum += loss_value * b.size as f64;
            seen += b.size;
            trained += b.size;
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(max_norm) = config.clip_norm {
                clip_global_norm(&model, &mut grads, max_norm);
            }
            model = optim.step(lr, model.clone(), grads);
            observe(Event::Step {
                epoch,
                step,
                steps,
                loss: loss_value,
                lr,
                trained,
            });
            ControlFlow::Continue(())
        });
        if let Some(Some(end)) = stopped {
            return Ok((model, reports, end));
        }
        if seen == 0 {
            break;
        }
        let report = EpochReport {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: 100.0 * right as f64 / seen.max(1) as f64,
            valid_acc: valid.map(|v| evaluate(&model, v, norm, config.batch.max(256), devices)),
            seconds: started.elapsed().as_secs_f64(),
            images: seen,
        };
        observe(Event::Epoch(&report));
        reports.push(report);
    }
    Ok((model, reports, RunEnd::Completed))
}
