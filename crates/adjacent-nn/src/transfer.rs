//! Weight transfer for network morphisms: a child built from its parent's trained weights, so that
//! it starts where the parent ended instead of from scratch.

use adjacent_core::morphism::{Morphism, RESIDUAL_OUTPUT_EDGE, identity_cell, residual_cell};
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::nb201::Op;
use burn::module::{Module, Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::NnError;
use crate::net::{CellModule, Edge, Network, Reduction, ReluConvBn};

/// A copy of `parent` that shares nothing with it. burn's `clone` shares parameter ids and the
/// batch-norm running statistics (one store for all clones), so training a clone would move the
/// parent's statistics; a copy through a record does not.
pub fn independent_copy(
    parent: &Network,
    arch: &NetworkArch,
    device: &Device,
) -> Result<Network, NnError> {
    // `valid` folds pending batch-norm statistics in first.
    let record = parent.valid().into_record();
    Network::new(arch, device)
        .try_load_record(record)
        .map_err(|e| NnError::InvalidSetting {
            field: "parent".into(),
            reason: format!("the parent's weights do not fit its architecture: {e}"),
        })
}

/// The child of `parent` (whose architecture is `arch`) under `morphism`, with its architecture.
/// Every weight of the parent that still fits is kept; new weights are chosen so that a
/// function-preserving morphism leaves the logits unchanged (in evaluation mode).
pub fn morph(
    parent: &Network,
    arch: &NetworkArch,
    morphism: &Morphism,
    device: &Device,
) -> Result<(Network, NetworkArch), NnError> {
    let child_arch = morphism.apply(arch)?;
    let mut child = independent_copy(parent, arch, device)?;
    match *morphism {
        Morphism::AddConv { at, edge, op } => {
            let c = arch.stage_channels(at.stage);
            let kernel = if op == Op::NorConv1x1 { 1 } else { 3 };
            let mut conv = ReluConvBn::new(c, c, kernel, 1, device);
            // A zero batch-norm scale (and shift) makes the new edge output zero until it learns.
            conv.bn.gamma = Param::from_tensor(Tensor::zeros([c], device));
            child.stages[at.stage][at.index].edges[edge] = Edge::Conv(conv);
        }
        Morphism::GrowKernel { at, edge } => {
            let Edge::Conv(old) = &parent.stages[at.stage][at.index].edges[edge] else {
                return Err(NnError::InvalidSetting {
                    field: "morphism".into(),
                    reason: format!("{morphism}: the parent's edge is not a convolution"),
                });
            };
            let c = arch.stage_channels(at.stage);
            let mut conv = ReluConvBn::new(c, c, 3, 1, device);
            // The 1x1 kernel in the centre of a zero 3x3 kernel: the same convolution.
            let weight = old
                .conv
                .weight
                .val()
                .pad((1, 1, 1, 1), PadMode::Constant(0.0))
                .detach();
            conv.conv.weight = Param::from_tensor(weight);
            conv.bn = old.bn.clone();
            child.stages[at.stage][at.index].edges[edge] = Edge::Conv(conv);
        }
        Morphism::InsertIdentityCell { at } => {
            let cell = CellModule::new(&identity_cell(), arch.stage_channels(at.stage), device);
            child.stages[at.stage].insert(at.index, cell);
        }
        Morphism::InsertResidualCell { at } => {
            let c = arch.stage_channels(at.stage);
            let mut cell = CellModule::new(&residual_cell(), c, device);
            // The last convolution's output starts at zero, so the cell starts as its skip.
            if let Edge::Conv(conv) = &mut cell.edges[RESIDUAL_OUTPUT_EDGE] {
                conv.bn.gamma = Param::from_tensor(Tensor::zeros([c], device));
            }
            child.stages[at.stage].insert(at.index, cell);
        }
        Morphism::ReplaceOp { at, edge, op } => {
            let c = arch.stage_channels(at.stage);
            child.stages[at.stage][at.index].edges[edge] = Edge::new(op, c, device);
        }
        Morphism::RemoveCell { at } => {
            child.stages[at.stage].remove(at.index);
        }
        Morphism::Widen { .. } => {
            let wide = widen(&parent.valid(), arch, &child_arch);
            child = independent_copy(&wide, &child_arch, device)?;
        }
    }
    Ok((child, child_arch))
}

/// How a stage's channels grow: new channel `j` copies old channel `source[j]` and carries `share[j]`
/// of that channel's outgoing weights.
struct ChannelMap {
    source: Tensor<1, Int>,
    share: Tensor<1>,
    width: usize,
}

impl ChannelMap {
    /// Old channels keep their place; new ones copy the old ones cyclically. A channel with k
    /// copies splits its outgoing weights k : k-1 : ... : 1 (summing to 1), so that the copies
    /// receive different gradients and grow apart.
    fn new(old: usize, new: usize, device: &Device) -> Self {
        let source: Vec<usize> = (0..new).map(|j| j % old).collect();
        let copies = |i: usize| source.iter().filter(|&&s| s == i).count();
        let share: Vec<f32> = (0..new)
            .map(|j| {
                let (i, k) = (j % old, j / old);
                let n = copies(i);
                (n - k) as f32 / (n * (n + 1) / 2) as f32
            })
            .collect();
        let source: Vec<i64> = source.into_iter().map(|s| s as i64).collect();
        ChannelMap {
            source: Tensor::from_data(TensorData::new(source, [new]), device),
            share: Tensor::from_data(TensorData::new(share, [new]), device),
            width: new,
        }
    }
}

fn param<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(t.detach())
}

/// A convolution with its output channels mapped by `out` and its input channels by `inp`.
fn widen_conv(conv: &Conv2d, out: &ChannelMap, inp: Option<&ChannelMap>) -> Conv2d {
    let mut w = conv.weight.val().select(0, out.source.clone());
    if let Some(inp) = inp {
        w = w.select(1, inp.source.clone()) * inp.share.clone().reshape([1, inp.width, 1, 1]);
    }
    Conv2d {
        weight: param(w),
        ..conv.clone()
    }
}

fn widen_bn(bn: &BatchNorm, map: &ChannelMap) -> BatchNorm {
    let pick = |t: Tensor<1>| t.select(0, map.source.clone()).detach();
    BatchNorm {
        gamma: param(pick(bn.gamma.val())),
        beta: param(pick(bn.beta.val())),
        running_mean: RunningState::new(pick(bn.running_mean.value())),
        running_var: RunningState::new(pick(bn.running_var.value())),
        ..bn.clone()
    }
}

fn widen_relu_conv_bn(op: &ReluConvBn, out: &ChannelMap, inp: &ChannelMap) -> ReluConvBn {
    ReluConvBn {
        conv: widen_conv(&op.conv, out, Some(inp)),
        bn: widen_bn(&op.bn, out),
    }
}

/// Net2WiderNet on the whole network (in evaluation form, on its device).
fn widen(net: &Network, arch: &NetworkArch, wide: &NetworkArch) -> Network {
    let device = net.stem_bn.gamma.val().device();
    let maps: Vec<ChannelMap> = (0..arch.stages.len())
        .map(|s| ChannelMap::new(arch.stage_channels(s), wide.stage_channels(s), &device))
        .collect();
    let stages = net
        .stages
        .iter()
        .zip(&maps)
        .map(|(cells, map)| {
            cells
                .iter()
                .map(|cell| CellModule {
                    edges: cell
                        .edges
                        .iter()
                        .map(|e| match e {
                            Edge::Conv(op) => Edge::Conv(widen_relu_conv_bn(op, map, map)),
                            Edge::None(_) => Edge::None(Default::default()),
                            Edge::Skip(_) => Edge::Skip(Default::default()),
                            Edge::Pool(p) => Edge::Pool(p.clone()),
                        })
                        .collect(),
                })
                .collect()
        })
        .collect();
    let reductions = net
        .reductions
        .iter()
        .enumerate()
        .map(|(r, red)| {
            let (before, after) = (&maps[r], &maps[r + 1]);
            Reduction {
                conv_a: widen_relu_conv_bn(&red.conv_a, after, before),
                conv_b: widen_relu_conv_bn(&red.conv_b, after, after),
                pool: red.pool.clone(),
                shortcut: widen_conv(&red.shortcut, after, Some(before)),
            }
        })
        .collect();
    let last = maps.last().expect("three stages");
    let head = &net.classifier;
    let classes = head.weight.val().dims()[1];
    let weight = head.weight.val().select(0, last.source.clone())
        * last.share.clone().reshape([last.width, 1]);
    debug_assert_eq!(weight.dims(), [last.width, classes]);
    Network {
        stem_conv: widen_conv(&net.stem_conv, &maps[0], None),
        stem_bn: widen_bn(&net.stem_bn, &maps[0]),
        stages,
        reductions,
        head_bn: widen_bn(&net.head_bn, last),
        classifier: Linear {
            weight: param(weight),
            bias: head.bias.clone(),
        },
    }
}
