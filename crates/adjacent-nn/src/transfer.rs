//! Weight transfer for network morphisms: a child built from its parent's trained weights, so that
//! it starts where the parent ended instead of from scratch.

use adjacent_core::morphism::{
    CellAt, Morphism, RESIDUAL_OUTPUT_EDGE, identity_cell, residual_cell,
};
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
        Morphism::Narrow { .. } => {
            let thin = narrow(&parent.valid(), arch, &child_arch);
            child = independent_copy(&thin, &child_arch, device)?;
        }
        Morphism::Scale { cells, channels } => {
            // Residual cells appended one by one, each the identity at its start; then the width.
            let (mut net, mut net_arch) = (child, arch.clone());
            for stage in 0..arch.stages.len() {
                for _ in 0..cells {
                    let at = CellAt {
                        stage,
                        index: net_arch.stages[stage].len(),
                    };
                    (net, net_arch) = morph(
                        &net,
                        &net_arch,
                        &Morphism::InsertResidualCell { at },
                        device,
                    )?;
                }
            }
            if channels > arch.channels {
                (net, net_arch) = morph(&net, &net_arch, &Morphism::Widen { channels }, device)?;
            }
            debug_assert_eq!(net_arch, child_arch);
            child = net;
        }
    }
    Ok((child, child_arch))
}

/// How a stage's channels change: new channel `i` takes the incoming weights of old channel
/// `pick[i]`, and a consumer's new input `i` is the sum of its old inputs `j` weighted by
/// `mix[j][i]`.
struct ChannelMap {
    pick: Tensor<1, Int>,
    /// `[old, new]`.
    mix: Tensor<2>,
    width: usize,
}

impl ChannelMap {
    fn new(pick: Vec<usize>, mix: Vec<f32>, old: usize, device: &Device) -> Self {
        let width = pick.len();
        debug_assert_eq!(mix.len(), old * width);
        let pick: Vec<i64> = pick.into_iter().map(|s| s as i64).collect();
        ChannelMap {
            pick: Tensor::from_data(TensorData::new(pick, [width]), device),
            mix: Tensor::from_data(TensorData::new(mix, [old, width]), device),
            width,
        }
    }

    /// Widening: old channels keep their place; new ones copy the old ones cyclically. A channel
    /// with k copies splits its outgoing weights k : k-1 : ... : 1 (summing to 1), so that the
    /// copies receive different gradients and grow apart.
    fn widen(old: usize, new: usize, device: &Device) -> Self {
        let source: Vec<usize> = (0..new).map(|j| j % old).collect();
        let copies = |i: usize| source.iter().filter(|&&s| s == i).count();
        let mut mix = vec![0f32; old * new];
        for (j, &i) in source.iter().enumerate() {
            let (k, n) = (j / old, copies(i));
            mix[i * new + j] = (n - k) as f32 / (n * (n + 1) / 2) as f32;
        }
        Self::new(source, mix, old, device)
    }

    /// Narrowing to `new` channels, given each old channel's incoming parameters (`units[j]`)
    /// and importance: the closest two channels merge, the less important into the other, until
    /// `new` remain; a merged channel's outgoing weights are added to its survivor's. Channels
    /// that copy one another (distance 0) merge first, and exactly.
    fn narrow(units: &[Vec<f32>], importance: &[f32], new: usize, device: &Device) -> Self {
        let old = units.len();
        let distance = |a: usize, b: usize| -> f32 {
            units[a]
                .iter()
                .zip(&units[b])
                .map(|(x, y)| (x - y) * (x - y))
                .sum()
        };
        let mut d = vec![0f32; old * old];
        for a in 0..old {
            for b in a + 1..old {
                d[a * old + b] = distance(a, b);
            }
        }
        let mut owner: Vec<usize> = (0..old).collect();
        let mut alive = vec![true; old];
        for _ in new..old {
            let (mut best, mut pair) = (f32::INFINITY, (0, 0));
            for a in (0..old).filter(|&a| alive[a]) {
                for b in (a + 1..old).filter(|&b| alive[b]) {
                    if d[a * old + b] < best {
                        (best, pair) = (d[a * old + b], (a, b));
                    }
                }
            }
            let (a, b) = pair;
            let (keep, go) = if importance[b] > importance[a] {
                (b, a)
            } else {
                (a, b)
            };
            alive[go] = false;
            owner
                .iter_mut()
                .filter(|o| **o == go)
                .for_each(|o| *o = keep);
        }
        let kept: Vec<usize> = (0..old).filter(|&j| alive[j]).collect();
        let mut mix = vec![0f32; old * new];
        for (j, o) in owner.iter().enumerate() {
            let i = kept.binary_search(o).expect("an owner is alive");
            mix[j * new + i] = 1.0;
        }
        Self::new(kept, mix, old, device)
    }
}

fn param<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(t.detach())
}

/// A convolution with its output channels picked by `out` and its input channels mixed by `inp`.
fn resize_conv(conv: &Conv2d, out: &ChannelMap, inp: Option<&ChannelMap>) -> Conv2d {
    let mut w = conv.weight.val().select(0, out.pick.clone());
    if let Some(inp) = inp {
        let [o, _, kh, kw] = w.dims();
        // [out, in, kh, kw] -> [out * kw * kh, in] x [in, new] -> [out, new, kh, kw]
        w = w
            .swap_dims(1, 3)
            .reshape([o * kw * kh, inp.mix.dims()[0]])
            .matmul(inp.mix.clone())
            .reshape([o, kw, kh, inp.width])
            .swap_dims(1, 3);
    }
    Conv2d {
        weight: param(w),
        ..conv.clone()
    }
}

fn resize_bn(bn: &BatchNorm, map: &ChannelMap) -> BatchNorm {
    let pick = |t: Tensor<1>| t.select(0, map.pick.clone()).detach();
    BatchNorm {
        gamma: param(pick(bn.gamma.val())),
        beta: param(pick(bn.beta.val())),
        running_mean: RunningState::new(pick(bn.running_mean.value())),
        running_var: RunningState::new(pick(bn.running_var.value())),
        ..bn.clone()
    }
}

fn resize_relu_conv_bn(op: &ReluConvBn, out: &ChannelMap, inp: &ChannelMap) -> ReluConvBn {
    ReluConvBn {
        conv: resize_conv(&op.conv, out, Some(inp)),
        bn: resize_bn(&op.bn, out),
    }
}

/// The network with every stage's channels changed by its map (in evaluation form, on its
/// device): Net2WiderNet, or its reverse.
fn resize(net: &Network, maps: &[ChannelMap]) -> Network {
    let stages = net
        .stages
        .iter()
        .zip(maps)
        .map(|(cells, map)| {
            cells
                .iter()
                .map(|cell| CellModule {
                    edges: cell
                        .edges
                        .iter()
                        .map(|e| match e {
                            Edge::Conv(op) => Edge::Conv(resize_relu_conv_bn(op, map, map)),
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
                conv_a: resize_relu_conv_bn(&red.conv_a, after, before),
                conv_b: resize_relu_conv_bn(&red.conv_b, after, after),
                pool: red.pool.clone(),
                shortcut: resize_conv(&red.shortcut, after, Some(before)),
            }
        })
        .collect();
    let last = maps.last().expect("three stages");
    let head = &net.classifier;
    let weight = last.mix.clone().transpose().matmul(head.weight.val());
    Network {
        stem_conv: resize_conv(&net.stem_conv, &maps[0], None),
        stem_bn: resize_bn(&net.stem_bn, &maps[0]),
        stages,
        reductions,
        head_bn: resize_bn(&net.head_bn, last),
        classifier: Linear {
            weight: param(weight),
            bias: head.bias.clone(),
        },
    }
}

/// Net2WiderNet on the whole network (in evaluation form).
fn widen(net: &Network, arch: &NetworkArch, wide: &NetworkArch) -> Network {
    let device = net.stem_bn.gamma.val().device();
    let maps: Vec<ChannelMap> = (0..arch.stages.len())
        .map(|s| ChannelMap::widen(arch.stage_channels(s), wide.stage_channels(s), &device))
        .collect();
    resize(net, &maps)
}

/// Net2Net in reverse on the whole network (in evaluation form): each stage's channels merge, by
/// what produces them, down to the narrow architecture's width.
fn narrow(net: &Network, arch: &NetworkArch, narrow: &NetworkArch) -> Network {
    let device = net.stem_bn.gamma.val().device();
    let maps: Vec<ChannelMap> = (0..arch.stages.len())
        .map(|s| {
            let (units, importance) = stage_units(net, s, arch.stage_channels(s));
            ChannelMap::narrow(&units, &importance, narrow.stage_channels(s), &device)
        })
        .collect();
    resize(net, &maps)
}

/// Each channel of stage `stage` (of `width`) as the parameters that produce it (the rows of every
/// convolution writing into the stage and its batch norm's four vectors), and its importance (the
/// sum of those batch norms' |scale|).
fn stage_units(net: &Network, stage: usize, width: usize) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut units = vec![Vec::new(); width];
    let mut importance = vec![0f32; width];
    let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 parameters");
    let add_conv = |conv: &Conv2d, units: &mut [Vec<f32>]| {
        let w = conv.weight.val();
        let row = w.dims()[1..].iter().product::<usize>();
        let w = w.into_data().try_to_vec::<f32>().expect("f32 parameters");
        for (unit, chunk) in units.iter_mut().zip(w.chunks(row)) {
            unit.extend_from_slice(chunk);
        }
    };
    let add_bn = |bn: &BatchNorm, units: &mut [Vec<f32>], importance: &mut [f32]| {
        let gamma = values(bn.gamma.val());
        for (i, g) in gamma.iter().enumerate() {
            importance[i] += g.abs();
        }
        let vectors = [
            gamma,
            values(bn.beta.val()),
            values(bn.running_mean.value()),
            values(bn.running_var.value()),
        ];
        for v in vectors {
            for (unit, x) in units.iter_mut().zip(v) {
                unit.push(x);
            }
        }
    };
    if stage == 0 {
        add_conv(&net.stem_conv, &mut units);
        add_bn(&net.stem_bn, &mut units, &mut importance);
    } else {
        let red = &net.reductions[stage - 1];
        for op in [&red.conv_a, &red.conv_b] {
            add_conv(&op.conv, &mut units);
            add_bn(&op.bn, &mut units, &mut importance);
        }
        add_conv(&red.shortcut, &mut units);
    }
    for edge in net.stages[stage].iter().flat_map(|c| &c.edges) {
        if let Edge::Conv(op) = edge {
            add_conv(&op.conv, &mut units);
            add_bn(&op.bn, &mut units, &mut importance);
        }
    }
    if stage + 1 == net.stages.len() {
        add_bn(&net.head_bn, &mut units, &mut importance);
    }
    (units, importance)
}
