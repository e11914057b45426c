//! adjacent-oneshot: one-shot search over the NAS-Bench-201 cell space. One supernet holds every
//! candidate cell, and a method learns which cell to return while the candidates share its
//! weights. Every method returns a cell of the benchmark's space, so that the table can judge it
//! exactly. A new method is one file here behind [`Method`], named in [`MethodKind`].
//!
//! - `darts`, `darts2`: DARTS (Liu et al., 2019), first order and second order (the unrolled step
//!   with its finite-difference Hessian-vector product).
//! - `darts-pt`: DARTS-PT with fixed alpha (Wang et al., 2021), the remedy for DARTS's collapse
//!   onto parameter-free operations: a uniformly weighted supernet, then each edge keeps the
//!   operation whose removal costs the supernet the most accuracy.
//! - `gdas`: GDAS (Dong and Yang, 2019), one Gumbel-sampled operation per edge.
//! - `spos`: single-path one-shot (Guo et al., 2020): uniform paths, then evolution over the
//!   trained supernet.
//! - `rsws`: random search with weight sharing (Li and Talwalkar, 2019).
//! - `enas`: ENAS (Pham et al., 2018): a policy trained by REINFORCE with a moving-average
//!   baseline samples the paths.
//!
//! The weights train on one half of the training split and the architecture on the other half
//! (DARTS's protocol); the methods without architecture weights score candidates on that half.

pub mod darts;
pub mod darts_pt;
mod enas;
mod gdas;
mod rsws;
mod spos;
pub mod supernet;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Instant;

use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT};
use adjacent_core::strategy::derive_seed;
use burn::module::{Module, ModuleMapper, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use adjacent_data::loader::{self, Batch, Plan};
use adjacent_data::{ImageSet, Normalization};
use adjacent_nn::NnError;
use adjacent_nn::train::{Devices, clip_global_norm};
pub use supernet::{Choice, OPS, Supernet};

/// The one-shot methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    Darts,
    Darts2,
    #[serde(rename = "darts-pt")]
    DartsPt,
    Gdas,
    Spos,
    Rsws,
    Enas,
}

impl MethodKind {
    pub const ALL: [MethodKind; 7] = [
        MethodKind::Darts,
        MethodKind::Darts2,
        MethodKind::DartsPt,
        MethodKind::Gdas,
        MethodKind::Spos,
        MethodKind::Rsws,
        MethodKind::Enas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Darts => "darts",
            MethodKind::Darts2 => "darts2",
            MethodKind::DartsPt => "darts-pt",
            MethodKind::Gdas => "gdas",
            MethodKind::Spos => "spos",
            MethodKind::Rsws => "rsws",
            MethodKind::Enas => "enas",
        }
    }

    /// The method named `name`, or an error that lists the methods.
    pub fn from_name(name: &str) -> Result<MethodKind, NnError> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| NnError::InvalidSetting {
                field: "method".into(),
                reason: format!(
                    "unknown method {name:?}; valid methods: {}",
                    Self::ALL.map(MethodKind::name).join(", ")
                ),
            })
    }
}

/// Settings of one one-shot search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneShotConfig {
    pub method: MethodKind,
    /// Channels of the supernet's first stage (C).
    pub channels: usize,
    /// Cells per stage (N).
    pub cells: usize,
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// The weights' SGD: peak learning rate, cosine-annealed to `min_lr` over the search.
    pub lr: f64,
    pub min_lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    /// The architecture weights' Adam (DARTS, GDAS).
    pub arch_lr: f64,
    pub arch_weight_decay: f64,
    /// ENAS's policy: Adam's learning rate on its logits, and its steps per epoch (each scores
    /// one sampled path on one batch of the architecture half).
    pub policy_lr: f64,
    pub policy_steps: usize,
    /// Candidates SPOS and RSWS score on the trained supernet.
    pub candidates: usize,
    /// Images of the architecture half that score a candidate (SPOS, RSWS, an operation's
    /// removal in DARTS-PT) or a policy sample (ENAS, per batch).
    pub score_images: usize,
    /// DARTS-PT: epochs of fine-tuning after each edge is decided (none after the last).
    #[serde(default)]
    pub tune_epochs: usize,
}

impl Default for OneShotConfig {
    /// NAS-Bench-201's settings for its one-shot baselines, at the sizes the command defaults to.
    fn default() -> Self {
        OneShotConfig {
            method: MethodKind::Gdas,
            channels: 16,
            cells: 5,
            epochs: 50,
            batch: 64,
            seed: 0,
            lr: 0.025,
            min_lr: 0.001,
            momentum: 0.9,
            weight_decay: 5e-4,
            clip_norm: 5.0,
            arch_lr: 3e-4,
            arch_weight_decay: 1e-3,
            policy_lr: 0.05,
            policy_steps: 50,
            candidates: 100,
            score_images: 1000,
            tune_epochs: 1,
        }
    }
}

impl OneShotConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |field: &str, reason: String| {
            Err(NnError::InvalidSetting {
                field: field.into(),
                reason,
            })
        };
        for (field, value, least) in [
            ("channels", self.channels, 1),
            ("cells", self.cells, 1),
            ("epochs", self.epochs, 1),
            // Batch norm needs two images to normalize by.
            ("batch", self.batch, 2),
            ("candidates", self.candidates, 1),
            ("policy_steps", self.policy_steps, 1),
            ("score_images", self.score_images, 1),
        ] {
            if value < least {
                return bad(field, format!("must be at least {least}, got {value}"));
            }
        }
        for (field, value) in [
            ("lr", self.lr),
            ("arch_lr", self.arch_lr),
            ("policy_lr", self.policy_lr),
        ] {
            if !(value > 0.0 && value.is_finite()) {
                return bad(field, format!("must be a positive number, got {value}"));
            }
        }
        if !(0.0..=self.lr).contains(&self.min_lr) {
            return bad("min_lr", format!("must be in [0, lr], got {}", self.min_lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(
                "momentum",
                format!("must be in [0, 1), got {}", self.momentum),
            );
        }
        for (field, value) in [
            ("weight_decay", self.weight_decay),
            ("arch_weight_decay", self.arch_weight_decay),
            ("clip_norm", self.clip_norm),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return bad(field, format!("must be >= 0, got {value}"));
            }
        }
        Ok(())
    }
}

/// What a method trains on: the weights' half and the architecture's half of the training split.
pub struct Context<'a> {
    pub weights_set: &'a ImageSet,
    pub arch_set: &'a ImageSet,
    pub norm: &'a Normalization,
    pub devices: &'a Devices,
    pub config: &'a OneShotConfig,
}

/// A batch as tensors on the training device.
pub struct Tensors {
    pub images: Tensor<4>,
    pub labels: Tensor<1, Int>,
}

impl Context<'_> {
    fn tensors(&self, b: &Batch, set: &ImageSet) -> Tensors {
        let device = &self.devices.train;
        Tensors {
            images: Tensor::<4>::from_data(
                TensorData::new(
                    b.images.clone(),
                    [b.size, set.channels, set.height, set.width],
                ),
                device,
            ),
            labels: Tensor::<1, Int>::from_data(
                TensorData::new(b.labels.clone(), [b.size]),
                device,
            ),
        }
    }

    /// Steps in one epoch: one per batch of the weights' half.
    pub fn steps_per_epoch(&self) -> usize {
        self.weights_set.len().div_ceil(self.config.batch)
    }

    /// Calls `step(index, weights batch, architecture batch)` for every batch of the weights' half
    /// in a shuffled order, each paired with a batch of the architecture half (cycled when that
    /// half is smaller). `step` may stop the epoch with an error.
    fn for_each_pair(
        &self,
        epoch: usize,
        mut step: impl FnMut(usize, Tensors, Tensors) -> Result<(), NnError>,
    ) -> Result<(), NnError> {
        let seed = derive_seed(self.config.seed, epoch as u64);
        // make_batch takes an rng, and draws nothing from it without augmentation.
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 1));
        let arch_order = self.arch_set.random_order(derive_seed(seed, 1));
        let arch_chunks: Vec<&[usize]> = arch_order.chunks(self.config.batch).collect();
        let plan = Plan {
            batch: self.config.batch,
            shuffle: Some(seed),
            augment: false,
        };
        let mut index = 0;
        let stopped = loader::for_each_batch(self.weights_set, self.norm, plan, |b| {
            let chunk = arch_chunks[index % arch_chunks.len()];
            let arch = loader::make_batch(self.arch_set, self.norm, chunk, false, &mut rng);
            let pair = (
                self.tensors(&b, self.weights_set),
                self.tensors(&arch, self.arch_set),
            );
            let result = step(index, pair.0, pair.1);
            index += 1;
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        });
        stopped.map_or(Ok(()), Err)
    }

    /// `count` batches of the architecture half drawn at random (seeded by `epoch`).
    fn arch_batches(&self, epoch: usize, count: usize) -> Vec<Tensors> {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.config.seed, 3000 + epoch as u64));
        (0..count)
            .map(|_| {
                let chunk: Vec<usize> = (0..self.config.batch.min(self.arch_set.len()))
                    .map(|_| rng.random_range(0..self.arch_set.len()))
                    .collect();
                let b = loader::make_batch(self.arch_set, self.norm, &chunk, false, &mut rng);
                self.tensors(&b, self.arch_set)
            })
            .collect()
    }

    /// `score_images` images of the architecture half drawn at random (seeded), as batches: what
    /// a candidate is scored on. Drawn, not the first ones: a data set stored class by class
    /// (ImageFolder) would give batches of one class, and batch norm, normalizing each batch by
    /// its own statistics when scoring, would then remove what tells the classes apart.
    pub fn score_batches(&self) -> Vec<Tensors> {
        let n = self.config.score_images.min(self.arch_set.len());
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.config.seed, 5000));
        let mut indices = self
            .arch_set
            .random_order(derive_seed(self.config.seed, 5000));
        indices.truncate(n);
        indices
            .chunks(self.config.batch.max(256))
            .map(|chunk| {
                let b = loader::make_batch(self.arch_set, self.norm, chunk, false, &mut rng);
                self.tensors(&b, self.arch_set)
            })
            .collect()
    }
}

/// Mean cross-entropy of `logits` against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}

/// Share of correct predictions.
fn accuracy_of(logits: Tensor<2>, labels: Tensor<1, Int>) -> (usize, usize) {
    let n = labels.dims()[0];
    let predicted = logits.argmax(1).flatten::<1>(0, 1);
    let right = predicted.equal(labels).int().sum().into_scalar::<i64>() as usize;
    (right, n)
}

/// Accuracy (%) of `cell`'s path through `net` on `batches`, its batch norm normalizing each batch
/// by the batch's own statistics (the supernet's running statistics mix every path, so each
/// candidate's are recomputed from the batch, as NAS-Bench-201's one-shot baselines do).
pub(crate) fn path_accuracy(net: &Supernet, cell: &Cell, batches: &[Tensors]) -> f64 {
    // Parameters that track no gradient, so that no autodiff graph is recorded: a graph that is
    // never run backward is kept, and SPOS's hundreds of scoring passes filled 24 GB with them.
    let path = net.subnet(cell).no_grad();
    accuracy_over(batches, |images| path.forward(images))
}

/// Accuracy (%) of the logits `forward` gives for each batch's images.
pub(crate) fn accuracy_over(batches: &[Tensors], forward: impl Fn(Tensor<4>) -> Tensor<2>) -> f64 {
    let (mut right, mut seen) = (0, 0);
    for b in batches {
        let (r, n) = accuracy_of(forward(b.images.clone()), b.labels.clone());
        right += r;
        seen += n;
    }
    100.0 * right as f64 / seen.max(1) as f64
}

/// The supernet's weights' optimizer: SGD with momentum, weight decay and gradient clipping,
/// on a cosine schedule over the whole search.
pub struct WeightsOptimizer {
    optim: ModuleOptimizer,
    clip_norm: f64,
    lr: f64,
    min_lr: f64,
    total_steps: usize,
    step: usize,
}

impl WeightsOptimizer {
    pub fn new(config: &OneShotConfig, total_steps: usize) -> Self {
        WeightsOptimizer {
            optim: SgdConfig::new()
                .with_momentum(Some(
                    MomentumConfig::new()
                        .with_momentum(config.momentum)
                        .with_dampening(0.0)
                        .with_nesterov(false),
                ))
                .with_weight_decay(
                    (config.weight_decay > 0.0)
                        .then(|| WeightDecayConfig::new(config.weight_decay as f32)),
                )
                .init(),
            clip_norm: config.clip_norm,
            lr: config.lr,
            min_lr: config.min_lr,
            total_steps: total_steps.max(1),
            step: 0,
        }
    }

    /// The learning rate of the current step.
    pub fn lr(&self) -> f64 {
        let progress = self.step as f64 / self.total_steps as f64;
        self.min_lr
            + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// One step training the supernet on `batch` through `choice`; returns the updated supernet
    /// and the loss (an error if it is not a number).
    pub fn step_on(
        &mut self,
        net: Supernet,
        choice: &Choice,
        batch: Tensors,
        epoch: usize,
    ) -> Result<(Supernet, f64), NnError> {
        let loss = cross_entropy(net.forward(batch.images, choice), batch.labels);
        let value = loss.clone().into_scalar::<f32>() as f64;
        check_finite(value, epoch)?;
        Ok((self.step(net, loss), value))
    }

    /// One step on `loss`'s gradients; returns the updated supernet.
    pub fn step(&mut self, net: Supernet, loss: Tensor<1>) -> Supernet {
        let mut grads = GradientsParams::from_grads(loss.backward(), &net);
        if self.clip_norm > 0.0 {
            clip_global_norm(&net, &mut grads, self.clip_norm);
        }
        let lr = self.lr();
        self.step += 1;
        self.optim.step(lr, net, grads)
    }
}

/// The architecture weights of DARTS and GDAS, and ENAS's policy: a logit per edge and operation,
/// shared by every cell.
#[derive(Module, Debug)]
pub struct ArchParams {
    /// `[6, 5]`: a row per edge, a column per operation of [`OPS`].
    pub alpha: Param<Tensor<2>>,
}

impl ArchParams {
    /// Logits drawn from N(0, std^2) (DARTS initializes them at 1e-3 scale).
    pub fn new(std: f64, device: &Device) -> Self {
        ArchParams {
            alpha: Param::from_tensor(Tensor::random(
                [EDGE_COUNT, OPS.len()],
                Distribution::Normal(0.0, std),
                device,
            )),
        }
    }

    /// Softmax over each edge's operations.
    pub fn weights(&self) -> Tensor<2> {
        softmax(self.alpha.val(), 1)
    }

    /// The probabilities, row by row.
    pub fn probabilities(&self) -> Vec<[f64; 5]> {
        let values: Vec<f32> = self
            .weights()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 values");
        values
            .chunks(OPS.len())
            .map(|row| std::array::from_fn(|o| row[o] as f64))
            .collect()
    }
}

/// The cell with the most likely operation of every edge of `probabilities` (ties: the first).
pub fn argmax_cell(probabilities: &[[f64; 5]]) -> Cell {
    Cell::new(std::array::from_fn(|e| {
        let row = probabilities[e];
        let best = (0..OPS.len())
            .reduce(|a, b| if row[b] > row[a] { b } else { a })
            .expect("five ops");
        OPS[best]
    }))
}

/// A cell with every edge's operation drawn uniformly.
pub fn uniform_cell(rng: &mut ChaCha8Rng) -> Cell {
    Cell::new(std::array::from_fn(|_| OPS[rng.random_range(0..OPS.len())]))
}

/// `module` with `scale * grads` added to every parameter that has a gradient (a virtual step of
/// DARTS's second order, or a finite-difference probe).
pub fn add_scaled<M: Module>(module: M, grads: &GradientsParams, scale: f64) -> M {
    struct AddScaled<'a> {
        grads: &'a GradientsParams,
        scale: f64,
    }
    impl ModuleMapper for AddScaled<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(g) = self.grads.get::<D>(param.id) else {
                return param;
            };
            let scale = self.scale;
            param.map(|t| {
                let moved = t.inner() + g.mul_scalar(scale);
                Tensor::from_inner(moved).require_grad()
            })
        }
    }
    module.map(&mut AddScaled { grads, scale })
}

/// What one epoch of a method did.
#[derive(Debug, Clone, Default)]
pub struct EpochStats {
    /// Mean training loss of the weights' steps.
    pub train_loss: f64,
    /// Mean loss of the architecture's steps on the other half (DARTS, GDAS), if any.
    pub arch_loss: Option<f64>,
    /// ENAS: the mean reward (accuracy % of the sampled paths on their batches).
    pub reward: Option<f64>,
    /// GDAS: the Gumbel-softmax temperature of the epoch.
    pub tau: Option<f64>,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, or for DARTS-PT's selection records the number of edges decided.
    pub epoch: usize,
    /// The cell the method would return now (the argmax of its distribution); `null` for SPOS and
    /// RSWS, which choose only at the end.
    pub cell: Option<String>,
    /// Per edge, the probability of each operation (alpha's softmax, or ENAS's policy).
    pub probabilities: Option<Vec<[f64; 5]>>,
    /// Per operation, its mean probability over the edges.
    pub op_share: Option<BTreeMap<String, f64>>,
    /// Mean training loss of the epoch (for a DARTS-PT selection record, of the fine-tuning after
    /// it; `null` where none ran).
    pub train_loss: Option<f64>,
    pub arch_loss: Option<f64>,
    pub reward: Option<f64>,
    pub tau: Option<f64>,
    /// DARTS-PT: the edge decided by this record, after the supernet's training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<darts_pt::EdgeDecision>,
    pub lr: f64,
    pub seconds: f64,
}

/// A method: trains the supernet epoch by epoch, then returns a cell.
pub trait Method {
    /// One epoch over the weights' half; returns the updated supernet.
    fn epoch(
        &mut self,
        net: Supernet,
        ctx: &Context,
        epoch: usize,
        weights: &mut WeightsOptimizer,
    ) -> Result<(Supernet, EpochStats), NnError>;

    /// The method's distribution over operations now, if it has one.
    fn probabilities(&self) -> Option<Vec<[f64; 5]>>;

    /// Epochs of the weights' training `derive` runs (they extend the learning-rate schedule).
    fn tuning_epochs(&self) -> usize {
        0
    }

    /// The cell this method returns from the trained supernet, and the supernet after it (a
    /// method may train it further with `weights`, reporting to `observe`). By default the most
    /// likely operation of every edge under [`Method::probabilities`] (DARTS, GDAS, ENAS); a
    /// method without a distribution derives its own.
    fn derive(
        &mut self,
        net: Supernet,
        _ctx: &Context,
        _weights: &mut WeightsOptimizer,
        _observe: &mut dyn FnMut(&EpochRecord),
    ) -> Result<(Supernet, Cell), NnError> {
        let probabilities = self
            .probabilities()
            .expect("a method without a distribution derives its own cell");
        Ok((net, argmax_cell(&probabilities)))
    }
}

/// The method of `config`, with its state initialized on the training device.
pub fn method(config: &OneShotConfig, devices: &Devices) -> Box<dyn Method> {
    match config.method {
        MethodKind::Darts => Box::new(darts::Darts::new(config, &devices.train, false)),
        MethodKind::Darts2 => Box::new(darts::Darts::new(config, &devices.train, true)),
        MethodKind::DartsPt => Box::new(darts_pt::DartsPt::new(config)),
        MethodKind::Gdas => Box::new(gdas::Gdas::new(config, &devices.train)),
        MethodKind::Spos => Box::new(spos::Spos::new(config)),
        MethodKind::Rsws => Box::new(rsws::Rsws::new(config)),
        MethodKind::Enas => Box::new(enas::Enas::new(config, &devices.train)),
    }
}

/// One epoch of the weights alone: every batch of the weights' half trains the supernet through
/// the choice `choose` gives for it. Returns the supernet and the mean loss.
pub(crate) fn weights_epoch(
    mut net: Supernet,
    ctx: &Context,
    epoch: usize,
    weights: &mut WeightsOptimizer,
    mut choose: impl FnMut() -> Choice,
) -> Result<(Supernet, f64), NnError> {
    let (mut sum, mut steps) = (0.0, 0usize);
    ctx.for_each_pair(epoch, |_, train, _| {
        let value;
        (net, value) = weights.step_on(net.clone(), &choose(), train, epoch)?;
        sum += value;
        steps += 1;
        Ok(())
    })?;
    Ok((net, sum / steps.max(1) as f64))
}

/// One epoch of uniform single-path training (SPOS, RSWS): every step trains the path of a cell
/// drawn uniformly, on a batch of the weights' half.
pub(crate) fn uniform_epoch(
    net: Supernet,
    ctx: &Context,
    epoch: usize,
    weights: &mut WeightsOptimizer,
    seed: u64,
) -> Result<(Supernet, EpochStats), NnError> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 2000 + epoch as u64));
    let (net, train_loss) = weights_epoch(net, ctx, epoch, weights, || {
        Choice::Path(uniform_cell(&mut rng))
    })?;
    Ok((
        net,
        EpochStats {
            train_loss,
            ..EpochStats::default()
        },
    ))
}

/// An error when a step's loss is not a number.
pub(crate) fn check_finite(loss: f64, epoch: usize) -> Result<(), NnError> {
    match loss.is_finite() {
        true => Ok(()),
        false => Err(NnError::Diverged { epoch, loss }),
    }
}

/// The share of each operation, averaged over the edges.
pub fn op_share(probabilities: &[[f64; 5]]) -> BTreeMap<String, f64> {
    OPS.iter()
        .enumerate()
        .map(|(o, op)| {
            let mean = probabilities.iter().map(|row| row[o]).sum::<f64>()
                / probabilities.len().max(1) as f64;
            (op.name().to_string(), mean)
        })
        .collect()
}

/// What a whole search returns.
pub struct OneShotResult {
    pub supernet: Supernet,
    pub cell: Cell,
    pub history: Vec<EpochRecord>,
    pub seconds: f64,
}

/// Runs `config`'s method for `config.epochs` epochs on a fresh supernet, then derives its cell.
/// `observe` sees every epoch's record as it is made.
pub fn search(
    ctx: &Context,
    input_channels: usize,
    classes: usize,
    observe: &mut dyn FnMut(&EpochRecord),
) -> Result<OneShotResult, NnError> {
    let config = ctx.config;
    config.validate()?;
    if ctx.weights_set.is_empty() || ctx.arch_set.is_empty() {
        return Err(NnError::InvalidSetting {
            field: "data".into(),
            reason: "both halves of the training split need images".into(),
        });
    }
    let started = Instant::now();
    ctx.devices.train.seed(config.seed);
    let mut net = Supernet::new(
        config.channels,
        config.cells,
        input_channels,
        classes,
        &ctx.devices.train,
    );
    let mut method = method(config, ctx.devices);
    let total_epochs = config.epochs + method.tuning_epochs();
    let mut weights = WeightsOptimizer::new(config, total_epochs * ctx.steps_per_epoch());
    let mut history = Vec::new();
    let mut record = |r: &EpochRecord| {
        observe(r);
        history.push(r.clone());
    };
    for epoch in 1..=config.epochs {
        let epoch_started = Instant::now();
        let lr = weights.lr();
        let (trained, stats) = method.epoch(net, ctx, epoch, &mut weights)?;
        net = trained;
        let probabilities = method.probabilities();
        record(&EpochRecord {
            epoch,
            cell: probabilities.as_ref().map(|p| argmax_cell(p).to_string()),
            op_share: probabilities.as_deref().map(op_share),
            probabilities,
            train_loss: Some(stats.train_loss),
            arch_loss: stats.arch_loss,
            reward: stats.reward,
            tau: stats.tau,
            decision: None,
            lr,
            seconds: epoch_started.elapsed().as_secs_f64(),
        });
    }
    let (net, cell) = method.derive(net, ctx, &mut weights, &mut record)?;
    Ok(OneShotResult {
        supernet: net,
        cell,
        history,
        seconds: started.elapsed().as_secs_f64(),
    })
}
