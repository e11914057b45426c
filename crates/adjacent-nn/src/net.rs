//! Networks from architectures: the NAS-Bench-201 skeleton with one genotype per cell.

use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::nb201::{Cell, EDGES, Op};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use adjacent_kernels::batch_norm::batch_norm;
use adjacent_kernels::conv;

/// ReLU, convolution (no bias), batch norm: the benchmark's `nor_conv` operations.
#[derive(Module, Debug)]
pub struct ReluConvBn {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ReluConvBn {
    pub fn new(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        ReluConvBn {
            conv: Conv2dConfig::new([cin, cout], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, conv::relu_conv2d(&self.conv, x))
    }
}

/// The `none` operation: the edge carries nothing.
#[derive(Module, Debug, Default)]
pub struct Zero;

/// The `skip_connect` operation.
#[derive(Module, Debug, Default)]
pub struct Skip;

/// The `avg_pool_3x3` operation, as in the benchmark: stride 1, padding 1, padded zeros not
/// counted.
pub fn cell_pool() -> AvgPool2d {
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(false)
        .init()
}

/// One edge of a cell.
// burn has no Module for Box, so the conv variant stays inline; a cell has only six edges.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Edge {
    None(Zero),
    Skip(Skip),
    Conv(ReluConvBn),
    Pool(AvgPool2d),
}

impl Edge {
    pub fn new(op: Op, channels: usize, device: &Device) -> Self {
        match op {
            Op::None => Edge::None(Zero),
            Op::SkipConnect => Edge::Skip(Skip),
            Op::NorConv1x1 => Edge::Conv(ReluConvBn::new(channels, channels, 1, 1, device)),
            Op::NorConv3x3 => Edge::Conv(ReluConvBn::new(channels, channels, 3, 1, device)),
            Op::AvgPool3x3 => Edge::Pool(cell_pool()),
        }
    }

    /// The edge's output, or `None` for the zero operation.
    pub fn forward(&self, x: Tensor<4>) -> Option<Tensor<4>> {
        match self {
            Edge::None(_) => None,
            Edge::Skip(_) => Some(x),
            Edge::Conv(op) => Some(op.forward(x)),
            Edge::Pool(pool) => Some(pool.forward(x)),
        }
    }
}

/// A NAS-Bench-201 cell: node j sums its edges from every node i < j; node 3 is the output.
#[derive(Module, Debug)]
pub struct CellModule {
    pub edges: Vec<Edge>,
}

impl CellModule {
    pub fn new(cell: &Cell, channels: usize, device: &Device) -> Self {
        CellModule {
            edges: cell
                .ops()
                .into_iter()
                .map(|op| Edge::new(op, channels, device))
                .collect(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (shape, device) = (x.shape(), x.device());
        let mut nodes: [Option<Tensor<4>>; 4] = [Some(x), None, None, None];
        for (e, &(from, to)) in EDGES.iter().enumerate() {
            let Some(input) = nodes[from].clone() else {
                continue;
            };
            if let Some(out) = self.edges[e].forward(input) {
                nodes[to] = Some(match nodes[to].take() {
                    Some(sum) => sum + out,
                    None => out,
                });
            }
        }
        // A cell with no path from input to output computes zero.
        nodes[3]
            .take()
            .unwrap_or_else(|| Tensor::zeros(shape, &device))
    }
}

/// The residual reduction block between stages: a 3x3 stride-2 ReLU-conv-BN, a 3x3 ReLU-conv-BN,
/// and a shortcut of 2x2 average pooling and a 1x1 convolution.
#[derive(Module, Debug)]
pub struct Reduction {
    pub conv_a: ReluConvBn,
    pub conv_b: ReluConvBn,
    pub pool: AvgPool2d,
    pub shortcut: Conv2d,
}

impl Reduction {
    pub fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Reduction {
            conv_a: ReluConvBn::new(cin, cout, 3, 2, device),
            conv_b: ReluConvBn::new(cout, cout, 3, 1, device),
            // Ceil mode, so that odd sizes halve as the strided conv does (5 -> 3, not 2); on even
            // sizes it is the benchmark's plain 2x2 pooling.
            pool: AvgPool2dConfig::new([2, 2])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .with_count_include_pad(false)
                .init(),
            shortcut: Conv2dConfig::new([cin, cout], [1, 1])
                .with_bias(false)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = self.conv_b.forward(self.conv_a.forward(x.clone()));
        residual + conv::conv2d(&self.shortcut, self.pool.forward(x))
    }
}

/// A whole network of the NAS-Bench-201 skeleton.
#[derive(Module, Debug)]
pub struct Network {
    pub stem_conv: Conv2d,
    pub stem_bn: BatchNorm,
    /// Stages, each a list of cells.
    pub stages: Vec<Vec<CellModule>>,
    /// Reduction blocks before stages 1 and 2.
    pub reductions: Vec<Reduction>,
    pub head_bn: BatchNorm,
    pub classifier: Linear,
    /// Earlier tasks' classifiers (`NetworkArch::heads`), oldest first: kept, not computed.
    pub heads: Vec<Linear>,
}

impl Network {
    /// A freshly initialized network for `arch` (which must pass `NetworkArch::validate`).
    pub fn new(arch: &NetworkArch, device: &Device) -> Self {
        let c = arch.channels;
        let stages = arch
            .stages
            .iter()
            .enumerate()
            .map(|(s, cells)| {
                cells
                    .iter()
                    .map(|cell| CellModule::new(cell, arch.stage_channels(s), device))
                    .collect()
            })
            .collect();
        let reductions = (1..arch.stages.len())
            .map(|s| Reduction::new(arch.stage_channels(s - 1), arch.stage_channels(s), device))
            .collect();
        let last = arch.stage_channels(arch.stages.len() - 1);
        Network {
            stem_conv: Conv2dConfig::new([arch.input_channels, c], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(c).init(device),
            stages,
            reductions,
            head_bn: BatchNormConfig::new(last).init(device),
            classifier: LinearConfig::new(last, arch.classes).init(device),
            heads: arch
                .heads
                .iter()
                .map(|&classes| LinearConfig::new(last, classes).init(device))
                .collect(),
        }
    }

    /// The same network computing earlier task `head`'s classifier (an index into `heads`)
    /// instead of its own.
    pub fn with_head(mut self, head: usize) -> Self {
        let old = self.heads.swap_remove(head);
        self.classifier = old;
        self.heads.clear();
        self
    }

    /// Logits for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        Skeleton {
            stem_conv: &self.stem_conv,
            stem_bn: &self.stem_bn,
            reductions: &self.reductions,
            head_bn: &self.head_bn,
            classifier: &self.classifier,
        }
        .forward(images, self.stages.len(), |s, mut x| {
            for cell in &self.stages[s] {
                x = cell.forward(x);
            }
            x
        })
    }
}

/// The skeleton around the cells (stem, reductions between the stages, head), borrowed from a
/// network or a supernet.
pub struct Skeleton<'a> {
    pub stem_conv: &'a Conv2d,
    pub stem_bn: &'a BatchNorm,
    pub reductions: &'a [Reduction],
    pub head_bn: &'a BatchNorm,
    pub classifier: &'a Linear,
}

impl Skeleton<'_> {
    /// Logits for `images`, with `stage(s, x)` running the cells of stage `s` of `stages`.
    pub fn forward(
        &self,
        images: Tensor<4>,
        stages: usize,
        mut stage: impl FnMut(usize, Tensor<4>) -> Tensor<4>,
    ) -> Tensor<2> {
        let mut x = batch_norm(self.stem_bn, conv::conv2d(self.stem_conv, images));
        for s in 0..stages {
            if s > 0 {
                x = self.reductions[s - 1].forward(x);
            }
            x = stage(s, x);
        }
        let x = relu(batch_norm(self.head_bn, x));
        let [batch, channels, _, _] = x.dims();
        let pooled = x.mean_dim(3).mean_dim(2).reshape([batch, channels]);
        self.classifier.forward(pooled)
    }
}
