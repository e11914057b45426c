//! Convolutions written for this engine's shapes (3x3 and 1x1 kernels, stride 1 and 2, small
//! channel counts, batches of 64-256), plugged into burn as an operation of its own on the `flex`
//! backend and on `Autodiff<flex>` with its own backward pass. On any other backend (`cuda`), or for
//! a convolution these kernels do not cover, burn's own convolution runs.
//!
//! Every kernel works image by image in burn's NCHW layout, so nothing is transposed: the forward
//! pass is `W [Co, Ci*K*K] x col [Ci*K*K, Ho*Wo]`, which is the output image in NCHW; the input
//! gradient is `W^T x dY` scattered back (col2im); the weight gradient is `dY x col^T` summed over
//! the images. A 1x1 convolution of stride 1 needs no col at all. Images are split among rayon's
//! threads, each with its own buffers, and each matrix product runs on one thread.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{Autodiff, Flex};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Bytes, DType, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

/// The geometry of one convolution: input `[n, ci, h, w]`, weight `[co, ci, k, k]`, square stride
/// and symmetric padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }

    /// Rows of an image's col matrix: `ci * k * k`.
    fn col_rows(&self) -> usize {
        self.ci * self.k * self.k
    }

    /// Output pixels of one image.
    fn out_pixels(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// A 1x1 convolution of stride 1 without padding reads its input as the col matrix.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }

    /// A buffer for one image's col matrix (empty for a pointwise convolution, which needs none).
    fn col_buffer(&self) -> Vec<f32> {
        let len = match self.is_pointwise() {
            true => 0,
            false => self.col_rows() * self.out_pixels(),
        };
        vec![0.0f32; len]
    }

    /// Image `x`'s col matrix: `x` itself for a pointwise convolution, else built in `buffer`.
    fn col<'a>(&self, x: &'a [f32], buffer: &'a mut [f32]) -> &'a [f32] {
        match self.is_pointwise() {
            true => x,
            false => {
                im2col(self, x, buffer);
                buffer
            }
        }
    }

    fn in_len(&self) -> usize {
        self.ci * self.h * self.w
    }

    fn out_len(&self) -> usize {
        self.co * self.out_pixels()
    }
}

/// `dst[m, n] (+)= lhs[m, k] x rhs[k, n]`, every matrix given by its row and column strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the slices hold every element the strides reach (checked above in debug builds,
    // and by construction from the geometry), and `dst` is not aliased by `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// The range of output columns `ow` whose input column `ow * stride - pad + kw` lies in `[0, w)`.
fn valid_range(out: usize, w: usize, stride: usize, pad: usize, kw: usize) -> (usize, usize) {
    // ow * stride + kw >= pad  and  ow * stride + kw < w + pad
    let first = pad.saturating_sub(kw).div_ceil(stride);
    let end = if w + pad > kw {
        (w + pad - kw).div_ceil(stride).min(out)
    } else {
        0
    };
    (first.min(end), end)
}

/// Fills `col [ci*k*k, ho*wo]` from one image `x [ci, h, w]`.
fn im2col(g: &Geometry, x: &[f32], col: &mut [f32]) {
    let (ho, wo) = (g.out_h(), g.out_w());
    let pixels = ho * wo;
    for c in 0..g.ci {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for kh in 0..g.k {
            for kw in 0..g.k {
                let row = (c * g.k + kh) * g.k + kw;
                let dst = &mut col[row * pixels..(row + 1) * pixels];
                let (first, end) = valid_range(wo, g.w, g.stride, g.pad, kw);
                for oh in 0..ho {
                    let out = &mut dst[oh * wo..(oh + 1) * wo];
                    let ih = (oh * g.stride + kh) as isize - g.pad as isize;
                    if ih < 0 || ih >= g.h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                    out[..first].fill(0.0);
                    out[end..].fill(0.0);
                    if first == end {
                        continue;
                    }
                    if g.stride == 1 {
                        let start = first + kw - g.pad;
                        out[first..end].copy_from_slice(&src[start..start + end - first]);
                    } else {
                        for (ow, o) in out.iter_mut().enumerate().take(end).skip(first) {
                            *o = src[ow * g.stride + kw - g.pad];
                        }
                    }
                }
            }
        }
    }
}

/// Adds `col [ci*k*k, ho*wo]` back into one image's gradient `dx [ci, h, w]` (which it zeroes
/// first): the adjoint of [`im2col`].
fn col2im(g: &Geometry, col: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    let (ho, wo) = (g.out_h(), g.out_w());
    let pixels = ho * wo;
    for c in 0..g.ci {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for kh in 0..g.k {
            for kw in 0..g.k {
                let row = (c * g.k + kh) * g.k + kw;
                let src = &col[row * pixels..(row + 1) * pixels];
                let (first, end) = valid_range(wo, g.w, g.stride, g.pad, kw);
                for oh in 0..ho {
                    let ih = (oh * g.stride + kh) as isize - g.pad as isize;
                    if ih < 0 || ih >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                    let s = &src[oh * wo..(oh + 1) * wo];
                    if first == end {
                        continue;
                    }
                    if g.stride == 1 {
                        let start = first + kw - g.pad;
                        for (d, v) in dst[start..start + end - first]
                            .iter_mut()
                            .zip(&s[first..end])
                        {
                            *d += v;
                        }
                    } else {
                        for (ow, v) in s.iter().enumerate().take(end).skip(first) {
                            dst[ow * g.stride + kw - g.pad] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Images a rayon task takes at once. Fixed, not derived from the thread count, so that the weight
/// gradient sums its per-task parts in the same order on any machine: training is reproducible
/// for a seed.
const IMAGES_PER_TASK: usize = 4;

/// The forward pass: `y [n, co, ho, wo]` of `x [n, ci, h, w]` and `weight [co, ci, k, k]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (rows, pixels) = (g.col_rows(), g.out_pixels());
    let mut y = vec![0.0f32; g.n * g.out_len()];
    let chunk = IMAGES_PER_TASK;
    y.par_chunks_mut(chunk * g.out_len())
        .zip(x.par_chunks(chunk * g.in_len()))
        .for_each_init(
            || g.col_buffer(),
            |buffer, (ys, xs)| {
                for (yb, xb) in ys.chunks_mut(g.out_len()).zip(xs.chunks(g.in_len())) {
                    let col = g.col(xb, buffer);
                    matmul(
                        g.co,
                        pixels,
                        rows,
                        yb,
                        false,
                        weight,
                        (rows, 1),
                        col,
                        (pixels, 1),
                    );
                }
            },
        );
    y
}

/// The input gradient `dx [n, ci, h, w]` of the output gradient `dy [n, co, ho, wo]`.
pub fn backward_input(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (rows, pixels) = (g.col_rows(), g.out_pixels());
    let mut dx = vec![0.0f32; g.n * g.in_len()];
    let chunk = IMAGES_PER_TASK;
    dx.par_chunks_mut(chunk * g.in_len())
        .zip(dy.par_chunks(chunk * g.out_len()))
        .for_each_init(
            || g.col_buffer(),
            |col, (dxs, dys)| {
                for (dxb, dyb) in dxs.chunks_mut(g.in_len()).zip(dys.chunks(g.out_len())) {
                    // W^T [rows, co] x dY [co, pixels]: the col matrix's gradient.
                    let weight_t_dy = |dst: &mut [f32]| {
                        matmul(
                            rows,
                            pixels,
                            g.co,
                            dst,
                            false,
                            weight,
                            (1, rows),
                            dyb,
                            (pixels, 1),
                        )
                    };
                    match g.is_pointwise() {
                        true => weight_t_dy(dxb),
                        false => {
                            weight_t_dy(col);
                            col2im(g, col, dxb);
                        }
                    }
                }
            },
        );
    dx
}

/// The weight gradient `dw [co, ci, k, k]`: the sum over images of `dY x col^T`.
pub fn backward_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (rows, pixels) = (g.col_rows(), g.out_pixels());
    let chunk = IMAGES_PER_TASK;
    x.par_chunks(chunk * g.in_len())
        .zip(dy.par_chunks(chunk * g.out_len()))
        .map_init(
            || g.col_buffer(),
            |buffer, (xs, dys)| {
                let mut dw = vec![0.0f32; g.co * rows];
                for (xb, dyb) in xs.chunks(g.in_len()).zip(dys.chunks(g.out_len())) {
                    let col = g.col(xb, buffer);
                    // dY [co, pixels] x col^T [pixels, rows]
                    matmul(
                        g.co,
                        rows,
                        pixels,
                        &mut dw,
                        true,
                        dyb,
                        (pixels, 1),
                        col,
                        (1, pixels),
                    );
                }
                dw
            },
        )
        .collect::<Vec<_>>()
        .into_iter()
        // The tasks' parts in task order, whichever thread ran them.
        .reduce(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0f32; g.co * rows])
}

/// The geometry of `conv` on input of shape `dims`, if these kernels cover it (no bias, no
/// dilation, no groups, a square kernel, square stride and symmetric padding).
fn geometry(conv: &Conv2d, dims: [usize; 4]) -> Option<Geometry> {
    let [k, kw] = conv.kernel_size;
    let [stride, stride_w] = conv.stride;
    let pad = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && top == bottom && top == right =>
        {
            top
        }
        PaddingConfig2d::Valid => 0,
        _ => return None,
    };
    let [co, ci_w, ..] = conv.weight.dims();
    let [n, ci, h, w] = dims;
    let plain = conv.bias.is_none()
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && k == kw
        && stride == stride_w
        && ci == ci_w
        && h + 2 * pad >= k
        && w + 2 * pad >= k;
    plain.then_some(Geometry {
        n,
        ci,
        h,
        w,
        co,
        k,
        stride,
        pad,
    })
}

/// The environment variable that turns adjacent's kernels (these convolutions and the fused batch
/// norm of [`crate::batch_norm`]) off (`ADJACENT_KERNELS=burn`), for comparing them with burn's.
pub const SWITCH: &str = "ADJACENT_KERNELS";

thread_local! {
    /// Set while [`with_burn_kernels`] runs on this thread.
    static BURN_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with burn's convolution and batch norm instead of adjacent's kernels on this thread
/// (for comparisons in one process: tests, benchmarks).
pub fn with_burn_kernels<R>(f: impl FnOnce() -> R) -> R {
    let before = BURN_HERE.with(|b| b.replace(true));
    let result = f();
    BURN_HERE.with(|b| b.set(before));
    result
}

/// Whether these kernels are on: unless `ADJACENT_KERNELS=burn`, or inside [`with_burn_kernels`].
pub(crate) fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let by_environment =
        *ENABLED.get_or_init(|| std::env::var(SWITCH).map_or(true, |v| v != "burn"));
    by_environment && !BURN_HERE.with(|b| b.get())
}

/// Whether these kernels cover `conv` on `x`'s shape (elsewhere burn's convolution runs).
pub fn covers(conv: &Conv2d, x: &Tensor<4>) -> bool {
    geometry(conv, x.dims()).is_some()
}

/// Whether `x` lives where these kernels run: f32 on flex, with or without autodiff.
pub fn runs_kernels(x: &Tensor<4>) -> bool {
    x.dtype() == DType::F32
        && (x.clone().try_into_primitive::<Autodiff<Flex>>().is_ok()
            || x.clone().try_into_primitive::<Flex>().is_ok())
}

/// A flex tensor whose elements lie in order in its buffer (shared, not copied, when they already
/// do), so that [`f32s`] can read them.
pub(crate) fn to_contiguous(t: FlexTensor) -> FlexTensor {
    match t.as_slice::<f32>().is_some() {
        true => t,
        false => t.to_contiguous(),
    }
}

/// The elements of a tensor made by [`to_contiguous`], in order. Not the whole buffer: a view
/// (a slice of a larger tensor) starts at an offset into it.
pub(crate) fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (made by to_contiguous)")
}

/// A contiguous f32 flex tensor of `shape` holding `data`.
pub(crate) fn flex(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// The output of `conv` on `x`, through these kernels where they apply (f32 on flex, with or
/// without autodiff), through burn's convolution otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let Some(g) = geometry(conv, x.dims()).filter(|_| enabled()) else {
        return conv.forward(x);
    };
    if x.dtype() != DType::F32 {
        return conv.forward(x);
    }
    let weight = conv.weight.val();
    let out_shape = [g.n, g.co, g.out_h(), g.out_w()];
    // Training: both tensors on Autodiff<flex>.
    if let (Ok(xa), Ok(wa)) = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        weight.clone().try_into_primitive::<Autodiff<Flex>>(),
    ) {
        let out = ConvBackward { geometry: g }.record(xa, wa, out_shape);
        return Tensor::from_primitive::<Autodiff<Flex>>(out);
    }
    // Inference: both on flex.
    if let (Ok(xf), Ok(wf)) = (
        x.clone().try_into_primitive::<Flex>(),
        weight.try_into_primitive::<Flex>(),
    ) {
        let (xf, wf) = (to_contiguous(xf), to_contiguous(wf));
        let y = forward(&g, f32s(&xf), f32s(&wf));
        return Tensor::from_primitive::<Flex>(flex(y, &out_shape));
    }
    conv.forward(x)
}

/// The autodiff operation: its backward pass computes both gradients with the kernels above.
#[derive(Debug)]
struct ConvBackward {
    geometry: Geometry,
}

type AdTensor = <Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive;

impl ConvBackward {
    fn record(self, x: AdTensor, weight: AdTensor, out_shape: [usize; 4]) -> AdTensor {
        let g = self.geometry;
        let run = |x: &FlexTensor, w: &FlexTensor| {
            let (x, w) = (to_contiguous(x.clone()), to_contiguous(w.clone()));
            flex(forward(&g, f32s(&x), f32s(&w)), &out_shape)
        };
        match self
            .prepare::<NoCheckpointing>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = run(x.primitive(), weight.primitive());
                prep.finish((x_state, w_state), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(run(x.primitive(), weight.primitive())),
        }
    }
}

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let g = self.geometry;
        let [node_x, node_w] = ops.parents;
        let dy = to_contiguous(grads.consume::<Flex>(&ops.node));
        let (x_state, w_state) = ops.state;
        let x = to_contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let w = to_contiguous(checkpointer.retrieve_node_output::<FlexTensor>(w_state));
        if let Some(node) = node_x {
            let dx = backward_input(&g, f32s(&w), f32s(&dy));
            grads.register::<Flex>(node.id, flex(dx, &[g.n, g.ci, g.h, g.w]));
        }
        if let Some(node) = node_w {
            let dw = backward_weight(&g, f32s(&x), f32s(&dy));
            grads.register::<Flex>(node.id, flex(dw, &[g.co, g.ci, g.k, g.k]));
        }
    }
}
