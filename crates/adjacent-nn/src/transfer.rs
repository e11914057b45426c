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
            let wide = widen(&parent.valid(), arch, &child_arch, device);
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

    /// Widening: old channels keep their place and their weights; no consumer reads the new
    /// ones yet (their outgoing weights are zero). Their incoming weights are placeholders (old
    /// channel 0's) that `graft_new_units` replaces with fresh ones.
    fn widen(old: usize, new: usize, device: &Device) -> Self {
        let source: Vec<usize> = (0..new).map(|j| if j < old { j } else { 0 }).collect();
        let mut mix = vec![0f32; old * new];
        for i in 0..old {
            mix[i * new + i] = 1.0;
        }
        Self::new(source, mix, old, device)
    }

    /// Narrowing to `new` channels, given each old channel's incoming parameters (`units[j]`),
    /// importance and outgoing weight (`read[j]`, what its consumers' weights on it add up to):
    /// a channel nothing reads goes first (into its closest), then the closest two channels
    /// merge, the less important into the other, until `new` remain; a merged channel's outgoing
    /// weights are added to its survivor's. So channels that nothing reads, and channels that
    /// copy one another (distance 0), go first and exactly.
    fn narrow(
        units: &[Vec<f32>],
        importance: &[f32],
        read: &[f32],
        new: usize,
        device: &Device,
    ) -> Self {
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
        let between = |a: usize, b: usize| d[a.min(b) * old + a.max(b)];
        for _ in new..old {
            let unread = (0..old).find(|&j| alive[j] && read[j] == 0.0);
            let (keep, go) = if let Some(go) = unread {
                let keep = (0..old)
                    .filter(|&k| alive[k] && k != go)
                    .min_by(|&a, &b| between(a, go).total_cmp(&between(b, go)))
                    .expect("more channels alive than are kept");
                (keep, go)
            } else {
                let (mut best, mut pair) = (f32::INFINITY, (0, 0));
                for a in (0..old).filter(|&a| alive[a]) {
                    for b in (a + 1..old).filter(|&b| alive[b]) {
                        if d[a * old + b] < best {
                            (best, pair) = (d[a * old + b], (a, b));
                        }
                    }
                }
                let (a, b) = pair;
                if importance[b] > importance[a] {
                    (b, a)
                } else {
                    (a, b)
                }
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
    // A head reads the last stage as the classifier does.
    let head = |head: &Linear| Linear {
        weight: param(last.mix.clone().transpose().matmul(head.weight.val())),
        bias: head.bias.clone(),
    };
    Network {
        stem_conv: resize_conv(&net.stem_conv, &maps[0], None),
        stem_bn: resize_bn(&net.stem_bn, &maps[0]),
        stages,
        reductions,
        head_bn: resize_bn(&net.head_bn, last),
        classifier: head(&net.classifier),
        heads: net.heads.iter().map(head).collect(),
    }
}

/// Widening of the whole network (in evaluation form): every old unit keeps its weights, and each
/// new unit is a fresh one (the incoming weights and batch norm of a new network of the wide
/// architecture) that nothing reads yet, so the function is kept exactly and the new units
/// differ from the old ones from the start. (Net2WiderNet's copies of old units, their outgoing
/// weights split, kept the function too, but a copy differs from its original only along the
/// one direction of their shared gradient: measured, growing C=2 to 3 that way at one epoch of
/// the control delivered 88.98% test accuracy, where C=3 from scratch gave 91.77.)
fn widen(net: &Network, arch: &NetworkArch, wide: &NetworkArch, device: &Device) -> Network {
    let on = net.stem_bn.gamma.val().device();
    let olds: Vec<usize> = (0..arch.stages.len())
        .map(|s| arch.stage_channels(s))
        .collect();
    let maps: Vec<ChannelMap> = olds
        .iter()
        .enumerate()
        .map(|(s, &old)| ChannelMap::widen(old, wide.stage_channels(s), &on))
        .collect();
    let fresh = Network::new(wide, device).valid();
    graft_new_units(resize(net, &maps), &fresh, &olds)
}

/// Rows `old..` of `kept` (a parameter over output units) taken from `fresh`.
fn with_fresh_rows<const D: usize>(kept: Tensor<D>, fresh: Tensor<D>, old: usize) -> Tensor<D> {
    let n = kept.dims()[0];
    if n == old {
        return kept;
    }
    let fresh = fresh.to_device(&kept.device());
    Tensor::cat(
        vec![kept.narrow(0, 0, old), fresh.narrow(0, old, n - old)],
        0,
    )
    .detach()
}

/// A convolution whose output units from `old` on take `fresh`'s weights on the old inputs (the
/// first `old_in`) and zero on the new ones: a new unit reads the old units, and nothing reads it
/// yet, not even another new unit (so a unit that nothing reads is exactly one whose outgoing
/// weights are all zero).
fn graft_conv(conv: &Conv2d, fresh: &Conv2d, old: usize, old_in: usize) -> Conv2d {
    let fresh = fresh.weight.val();
    let [o, i, kh, kw] = fresh.dims();
    let device = fresh.device();
    let fresh = match i > old_in {
        true => Tensor::cat(
            vec![
                fresh.narrow(1, 0, old_in),
                Tensor::zeros([o, i - old_in, kh, kw], &device),
            ],
            1,
        ),
        false => fresh,
    };
    Conv2d {
        weight: param(with_fresh_rows(conv.weight.val(), fresh, old)),
        ..conv.clone()
    }
}

fn graft_bn(bn: &BatchNorm, fresh: &BatchNorm, old: usize) -> BatchNorm {
    let rows = |a: Tensor<1>, b: Tensor<1>| with_fresh_rows(a, b, old);
    BatchNorm {
        gamma: param(rows(bn.gamma.val(), fresh.gamma.val())),
        beta: param(rows(bn.beta.val(), fresh.beta.val())),
        running_mean: RunningState::new(rows(bn.running_mean.value(), fresh.running_mean.value())),
        running_var: RunningState::new(rows(bn.running_var.value(), fresh.running_var.value())),
        ..bn.clone()
    }
}

fn graft_relu_conv_bn(
    op: &ReluConvBn,
    fresh: &ReluConvBn,
    old: usize,
    old_in: usize,
) -> ReluConvBn {
    ReluConvBn {
        conv: graft_conv(&op.conv, &fresh.conv, old, old_in),
        bn: graft_bn(&op.bn, &fresh.bn, old),
    }
}

/// `grown` with the incoming weights of every stage's units from `olds[stage]` on taken from
/// `fresh` (the same architecture): every convolution and batch norm that writes into the stage.
fn graft_new_units(grown: Network, fresh: &Network, olds: &[usize]) -> Network {
    let stages = grown
        .stages
        .iter()
        .zip(&fresh.stages)
        .zip(olds)
        .map(|((cells, fresh_cells), &old)| {
            cells
                .iter()
                .zip(fresh_cells)
                .map(|(cell, fresh_cell)| CellModule {
                    edges: cell
                        .edges
                        .iter()
                        .zip(&fresh_cell.edges)
                        .map(|(e, f)| match (e, f) {
                            (Edge::Conv(op), Edge::Conv(f)) => {
                                Edge::Conv(graft_relu_conv_bn(op, f, old, old))
                            }
                            (e, _) => e.clone(),
                        })
                        .collect(),
                })
                .collect()
        })
        .collect();
    let reductions = grown
        .reductions
        .iter()
        .zip(&fresh.reductions)
        .enumerate()
        .map(|(r, (red, f))| {
            let (before, old) = (olds[r], olds[r + 1]);
            Reduction {
                conv_a: graft_relu_conv_bn(&red.conv_a, &f.conv_a, old, before),
                conv_b: graft_relu_conv_bn(&red.conv_b, &f.conv_b, old, old),
                pool: red.pool.clone(),
                shortcut: graft_conv(&red.shortcut, &f.shortcut, old, before),
            }
        })
        .collect();
    let last = *olds.last().expect("three stages");
    Network {
        stem_conv: graft_conv(
            &grown.stem_conv,
            &fresh.stem_conv,
            olds[0],
            grown.stem_conv.weight.dims()[1],
        ),
        stem_bn: graft_bn(&grown.stem_bn, &fresh.stem_bn, olds[0]),
        stages,
        reductions,
        head_bn: graft_bn(&grown.head_bn, &fresh.head_bn, last),
        classifier: grown.classifier.clone(),
        heads: grown.heads.clone(),
    }
}

/// Net2Net in reverse on the whole network (in evaluation form): each stage's channels merge, by
/// what produces them, down to the narrow architecture's width.
fn narrow(net: &Network, arch: &NetworkArch, narrow: &NetworkArch) -> Network {
    let device = net.stem_bn.gamma.val().device();
    let maps: Vec<ChannelMap> = (0..arch.stages.len())
        .map(|s| {
            let width = arch.stage_channels(s);
            let (units, importance) = stage_units(net, s, width);
            let read = stage_reads(net, s, width);
            ChannelMap::narrow(
                &units,
                &importance,
                &read,
                narrow.stage_channels(s),
                &device,
            )
        })
        .collect();
    resize(net, &maps)
}

/// How much the rest of the network reads each channel of stage `stage` (of `width`): the sum of
/// the squared weights on it of every convolution that reads the stage, and of the classifier
/// after the last stage. 0: nothing reads it.
fn stage_reads(net: &Network, stage: usize, width: usize) -> Vec<f32> {
    let mut read = vec![0f32; width];
    let mut add = |per_input: Tensor<1>| {
        let values = per_input
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 parameters");
        for (r, v) in read.iter_mut().zip(values) {
            *r += v;
        }
    };
    // [out, in, kh, kw] -> one sum per input channel.
    let per_input = |w: Tensor<4>| {
        w.powi_scalar(2)
            .sum_dim(0)
            .sum_dim(2)
            .sum_dim(3)
            .reshape([width])
    };
    for edge in net.stages[stage].iter().flat_map(|c| &c.edges) {
        if let Edge::Conv(op) = edge {
            add(per_input(op.conv.weight.val()));
        }
    }
    if let Some(red) = net.reductions.get(stage) {
        add(per_input(red.conv_a.conv.weight.val()));
        add(per_input(red.shortcut.weight.val()));
    }
    if stage + 1 == net.stages.len() {
        // [in, out]
        add(net
            .classifier
            .weight
            .val()
            .powi_scalar(2)
            .sum_dim(1)
            .reshape([width]));
    }
    read
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
