//! The supernet: the NAS-Bench-201 skeleton whose every edge holds all five operations. Every
//! candidate cell is a path through it and shares its weights; a one-shot method either weighs the
//! operations of every edge by architecture weights (DARTS), samples one operation per edge while
//! keeping a gradient to the weights (GDAS), or runs one sampled path alone (SPOS, RSWS, ENAS).

use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT, EDGES, Op};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::AvgPool2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use adjacent_nn::net::{
    CellModule, Edge, Network, Reduction, ReluConvBn, Skeleton, Skip, Zero, cell_pool,
};

/// The operations in the order of the architecture weights' columns (`Op::ALL`).
pub const OPS: [Op; 5] = Op::ALL;

/// How a forward pass goes through the supernet's cells (the same for every cell, as in the
/// benchmark's one-shot methods).
#[derive(Debug, Clone)]
pub enum Choice {
    /// Every operation of every edge, weighted: `[6, 5]` weights, a row per edge (DARTS).
    Mixed(Tensor<2>),
    /// One operation per edge runs, `cell`'s; `weights` (`[6, 5]`, one-hot in value) carry the
    /// gradient to the architecture weights: the chosen op's output is scaled by its weight and
    /// the others' weights are added as zeros (GDAS's straight-through estimator).
    Sampled(Cell, Tensor<2>),
    /// `cell`'s path alone (SPOS, RSWS, ENAS, and scoring a candidate).
    Path(Cell),
    /// Every operation of every edge weighted by a constant, a row per edge (DARTS-PT's fixed
    /// alpha): an operation of weight zero does not run.
    Constant([[f32; 5]; EDGE_COUNT]),
}

/// One edge of a supernet cell: the parameters of every operation (`none` and `skip_connect`
/// have none).
#[derive(Module, Debug)]
pub struct MixedEdge {
    pub conv1x1: ReluConvBn,
    pub conv3x3: ReluConvBn,
    pub pool: AvgPool2d,
}

/// `w`'s element `[row, col]` as a tensor that broadcasts over an activation.
fn scalar(w: &Tensor<2>, row: usize, col: usize) -> Tensor<4> {
    w.clone()
        .slice([row..row + 1, col..col + 1])
        .reshape([1, 1, 1, 1])
}

impl MixedEdge {
    fn new(channels: usize, device: &Device) -> Self {
        MixedEdge {
            conv1x1: ReluConvBn::new(channels, channels, 1, 1, device),
            conv3x3: ReluConvBn::new(channels, channels, 3, 1, device),
            pool: cell_pool(),
        }
    }

    /// The edge of a plain network that runs `op` with this edge's parameters (shared, not copied).
    pub fn edge(&self, op: Op) -> Edge {
        match op {
            Op::None => Edge::None(Zero),
            Op::SkipConnect => Edge::Skip(Skip),
            Op::NorConv1x1 => Edge::Conv(self.conv1x1.clone()),
            Op::NorConv3x3 => Edge::Conv(self.conv3x3.clone()),
            Op::AvgPool3x3 => Edge::Pool(self.pool.clone()),
        }
    }

    /// `op` on `x`, or `None` for the zero operation.
    fn run(&self, op: Op, x: Tensor<4>) -> Option<Tensor<4>> {
        match op {
            Op::None => None,
            Op::SkipConnect => Some(x),
            Op::NorConv1x1 => Some(self.conv1x1.forward(x)),
            Op::NorConv3x3 => Some(self.conv3x3.forward(x)),
            Op::AvgPool3x3 => Some(self.pool.forward(x)),
        }
    }

    /// Edge `e`'s output under `choice`, or `None` where nothing reaches the node.
    fn forward(&self, e: usize, x: Tensor<4>, choice: &Choice) -> Option<Tensor<4>> {
        match choice {
            Choice::Path(cell) => self.run(cell.op(e), x),
            Choice::Mixed(w) => OPS
                .iter()
                .enumerate()
                .filter_map(|(o, &op)| Some(self.run(op, x.clone())? * scalar(w, e, o)))
                .reduce(|a, b| a + b),
            Choice::Sampled(cell, w) => {
                let chosen = cell.op(e);
                let zeros = || x.clone().mul_scalar(0.0);
                let out = self.run(chosen, x.clone()).unwrap_or_else(zeros);
                let at = OPS.iter().position(|&op| op == chosen).expect("an op");
                // The others' weights are zero in value; adding them gives them their gradient.
                let others = (0..OPS.len())
                    .filter(|&o| o != at)
                    .map(|o| scalar(w, e, o))
                    .reduce(|a, b| a + b)
                    .expect("five ops");
                Some(out * scalar(w, e, at) + others)
            }
            Choice::Constant(w) => OPS
                .iter()
                .zip(w[e])
                .filter(|&(_, weight)| weight != 0.0)
                .filter_map(|(&op, weight)| {
                    let out = self.run(op, x.clone())?;
                    Some(match weight {
                        1.0 => out,
                        _ => out.mul_scalar(weight),
                    })
                })
                .reduce(|a, b| a + b),
        }
    }
}

/// A supernet cell: node j sums its edges from every node i < j; node 3 is the output.
#[derive(Module, Debug)]
pub struct MixedCell {
    pub edges: Vec<MixedEdge>,
}

impl MixedCell {
    fn forward(&self, x: Tensor<4>, choice: &Choice) -> Tensor<4> {
        let mut nodes: [Option<Tensor<4>>; 4] = [Some(x.clone()), None, None, None];
        for (e, &(from, to)) in EDGES.iter().enumerate() {
            let Some(input) = nodes[from].clone() else {
                continue;
            };
            if let Some(out) = self.edges[e].forward(e, input, choice) {
                nodes[to] = Some(match nodes[to].take() {
                    Some(sum) => sum + out,
                    None => out,
                });
            }
        }
        nodes[3].take().unwrap_or_else(|| x.zeros_like())
    }
}

/// The NAS-Bench-201 skeleton with a supernet cell in every place.
#[derive(Module, Debug)]
pub struct Supernet {
    pub stem_conv: Conv2d,
    pub stem_bn: BatchNorm,
    pub stages: Vec<Vec<MixedCell>>,
    pub reductions: Vec<Reduction>,
    pub head_bn: BatchNorm,
    pub classifier: Linear,
}

impl Supernet {
    /// A freshly initialized supernet: `channels` (C) in the first stage, `cells` (N) per stage.
    pub fn new(
        channels: usize,
        cells: usize,
        input_channels: usize,
        classes: usize,
        device: &Device,
    ) -> Self {
        // Any cell: only the skeleton's sizes are read.
        let arch = Self::arch_for(
            Cell::from_index(0),
            channels,
            cells,
            input_channels,
            classes,
        );
        let stages = (0..arch.stages.len())
            .map(|s| {
                (0..cells)
                    .map(|_| MixedCell {
                        edges: (0..EDGE_COUNT)
                            .map(|_| MixedEdge::new(arch.stage_channels(s), device))
                            .collect(),
                    })
                    .collect()
            })
            .collect();
        let reductions = (1..arch.stages.len())
            .map(|s| Reduction::new(arch.stage_channels(s - 1), arch.stage_channels(s), device))
            .collect();
        let last = arch.stage_channels(arch.stages.len() - 1);
        Supernet {
            stem_conv: Conv2dConfig::new([input_channels, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(channels).init(device),
            stages,
            reductions,
            head_bn: BatchNormConfig::new(last).init(device),
            classifier: LinearConfig::new(last, classes).init(device),
        }
    }

    /// The architecture of `cell` in this skeleton.
    pub fn arch_for(
        cell: Cell,
        channels: usize,
        cells: usize,
        input_channels: usize,
        classes: usize,
    ) -> NetworkArch {
        NetworkArch::uniform(cell, channels, cells, input_channels, classes)
    }

    /// The plain network of `cell`, made of this supernet's parameters (shared: training it
    /// trains the supernet's).
    pub fn subnet(&self, cell: &Cell) -> Network {
        Network {
            stem_conv: self.stem_conv.clone(),
            stem_bn: self.stem_bn.clone(),
            stages: self
                .stages
                .iter()
                .map(|cells| {
                    cells
                        .iter()
                        .map(|mixed| CellModule {
                            edges: cell
                                .ops()
                                .iter()
                                .zip(&mixed.edges)
                                .map(|(&op, edge)| edge.edge(op))
                                .collect(),
                        })
                        .collect()
                })
                .collect(),
            reductions: self.reductions.clone(),
            head_bn: self.head_bn.clone(),
            classifier: self.classifier.clone(),
            heads: Vec::new(),
        }
    }

    /// Logits for a batch of images under `choice`.
    pub fn forward(&self, images: Tensor<4>, choice: &Choice) -> Tensor<2> {
        if let Choice::Path(cell) = choice {
            return self.subnet(cell).forward(images);
        }
        Skeleton {
            stem_conv: &self.stem_conv,
            stem_bn: &self.stem_bn,
            reductions: &self.reductions,
            head_bn: &self.head_bn,
            classifier: &self.classifier,
        }
        .forward(images, self.stages.len(), |s, mut x| {
            for cell in &self.stages[s] {
                x = cell.forward(x, choice);
            }
            x
        })
    }
}

/// About how many bytes a training step of the supernet holds at its peak: the activations the
/// backward pass keeps (a weighted forward keeps every operation's output, about 64 activations a
/// cell; a single path about 16), the parameters with their gradients and momentum, and the
/// second-order method's extra copies of both. An estimate for refusing a supernet that cannot
/// fit, not a measurement; `result.json` reports the measured peak.
pub fn memory_estimate(
    method: super::MethodKind,
    channels: usize,
    cells: usize,
    batch: usize,
    [input_channels, height, width]: [usize; 3],
) -> u64 {
    use super::MethodKind::*;
    let per_cell = match method {
        Darts | Darts2 | DartsPt => 64,
        Gdas | Spos | Rsws | Enas => 16,
    };
    let mut floats = 0u64;
    let (mut c, mut h, mut w) = (channels as u64, height as u64, width as u64);
    for stage in 0..3 {
        if stage > 0 {
            (c, h, w) = (2 * c, h.div_ceil(2), w.div_ceil(2));
        }
        // The cells, and about ten activations of a reduction block or the stem.
        floats += (cells as u64 * per_cell + 10) * c * h * w;
    }
    floats += (input_channels as u64) * height as u64 * width as u64;
    let activations = floats * batch as u64 * 4;
    // Parameters: per cell six 1x1 and six 3x3 convolutions (c*c*10 per edge), three copies
    // (values, gradients, momentum).
    let params: u64 = (0..3)
        .map(|s| {
            let c = (channels as u64) << s;
            cells as u64 * 6 * 10 * c * c
        })
        .sum::<u64>()
        * 4
        * 3;
    match method {
        // The unrolled weights and the two probes, and their graphs.
        Darts2 => 2 * activations + 3 * params,
        _ => activations + params,
    }
}
