//! Convolutions written for this engine's shapes (3x3 and 1x1 kernels, stride 1 and 2, small
//! channel counts, batches of 64-256), plugged into burn as an operation of its own on the `flex`
//! backend and on `Autodiff<flex>` with its own backward pass. On any other backend (`cuda`), or for
//! a convolution these kernels do not cover, burn's own convolution runs.
//!
//! Every kernel works image by image in burn's NCHW layout. Each image is first copied into a
//! zero-padded buffer (applying the ReLU that precedes every convolution of a cell, when fused), so
//! that the gathers below need no bounds checks. The forward pass is
//! `W [Co, Ci*K*K] x col [Ci*K*K, Ho*Wo]`, which is the output image in NCHW; the input gradient
//! is, for stride 1, the forward pass of `dY` by the weights flipped and transposed (padded by
//! `K - 1 - pad`), and for stride 2 `W^T x dY` scattered back (col2im); the weight gradient is
//! `dY x row [Ho*Wo, Ci*K*K]`, summed over the images, where `row` is the col matrix transposed
//! (built directly, im2row): the gemm crate runs that product 2-3x faster than `dY x col^T` at these
//! shapes (BENCHMARKS.md). The col and row matrices are built and multiplied in tiles of output
//! rows ([`TILE_BYTES`]), so that each tile is read from cache. A 1x1 convolution of stride 1
//! without ReLU reads its input as the col matrix, and a 3x3 one of stride 1 into at most eight
//! channels (the small networks a budget plans) is computed from the padded image directly, with
//! the same sums in the same order as the product (`convolve_direct3`). Images are split among rayon's threads, each
//! with its own buffers, and each matrix product runs on one thread.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

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
/// and symmetric padding; with `relu`, the convolution reads `max(x, 0)` (the ReLU before it, fused).
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
    pub relu: bool,
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

    /// The distance between the rows of a built col matrix: the output pixels, rounded up and
    /// then 64 bytes more, so that rows are never a multiple of 4 KiB apart. At 32x32 they were
    /// (1024 floats), and the forward product, which reads col in place, ran at 20 G
    /// multiply-adds/s against 35 with the rows 16 floats further apart (cache set conflicts).
    fn col_ld(&self) -> usize {
        Self::tile_ld(self.out_pixels())
    }

    /// For stride 1 (and padding below the kernel size), the geometry whose forward pass is this
    /// one's input gradient: the output gradient convolved with the weights transposed and
    /// flipped ([`flipped_transposed`]), padded by `k - 1 - pad`, gives `[ci, h, w]` back. Its
    /// product is `[ci, co*k*k] x [co*k*k, h*w]`, shaped like a forward pass, where the product
    /// `W^T x dY` before col2im sums only `co` terms per element and runs far below gemm's best.
    pub fn transposed(&self) -> Option<Geometry> {
        (self.stride == 1 && self.pad < self.k && !self.is_pointwise()).then(|| Geometry {
            n: self.n,
            ci: self.co,
            h: self.out_h(),
            w: self.out_w(),
            co: self.ci,
            k: self.k,
            stride: 1,
            pad: self.k - 1 - self.pad,
            relu: false,
        })
    }

    /// A 3x3 convolution of stride 1 from two channels or more into few, computed from the
    /// padded image directly ([`convolve_direct3`]): for these, building the col matrix (nine
    /// copies of the image) cost as much as the product, whose matrices are a few rows tall. From
    /// one channel (a grey stem) the product is faster (`--bench direct3`, BENCHMARKS.md).
    fn is_direct(&self) -> bool {
        self.k == 3
            && self.stride == 1
            && self.ci >= 2
            && self.co <= DIRECT_MAX_CO
            && DIRECT.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A 1x1 convolution of stride 1 without padding: its (padded) input is its col matrix.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }

    fn padded_h(&self) -> usize {
        self.h + 2 * self.pad
    }

    fn padded_w(&self) -> usize {
        self.w + 2 * self.pad
    }

    fn in_len(&self) -> usize {
        self.ci * self.h * self.w
    }

    fn out_len(&self) -> usize {
        self.co * self.out_pixels()
    }

    /// Image `x`'s convolution `y [co, ho*wo]` by `weight [co, ci*k*k]`, tile by tile of output
    /// rows: each tile's col matrix is built in `scratch` and multiplied while it is still in
    /// cache. A pointwise convolution reads its (padded) input as the col matrix.
    fn convolve_image(
        &self,
        x: &[f32],
        weight: &[f32],
        y: &mut [MaybeUninit<f32>],
        scratch: &mut Scratch<'_>,
        tile_bytes: usize,
    ) {
        let (rows, pixels, wo) = (self.col_rows(), self.out_pixels(), self.out_w());
        let product = |y: &mut [MaybeUninit<f32>], n: usize, col: &[f32], ld: usize| {
            matmul(
                self.co,
                n,
                rows,
                (y, pixels),
                false,
                weight,
                (rows, 1),
                col,
                (ld, 1),
            )
        };
        if self.is_pointwise() && !self.relu {
            return product(y, pixels, x, pixels);
        }
        let Scratch { padded, col } = scratch;
        pad_image(self, x, padded);
        if self.is_pointwise() {
            return product(y, pixels, padded, pixels);
        }
        if self.is_direct() {
            return convolve_direct3(self, padded, weight, y);
        }
        for tile in self.tiles(tile_bytes) {
            let (start, n) = (tile.start * wo, tile.len() * wo);
            let ld = Self::tile_ld(n);
            im2col(self, padded, col, ld, tile);
            product(&mut y[start..], n, col, ld);
        }
    }

    /// Adds image `x`'s weight gradient `dY [co, ho*wo] x row [ho*wo, ci*k*k]` into `dw`, tile by
    /// tile of output rows (`row` is the col matrix transposed, built in `scratch`).
    fn add_weight_gradient(
        &self,
        x: &[f32],
        dy: &[f32],
        dw: &mut [f32],
        scratch: &mut Scratch<'_>,
        tile_bytes: usize,
    ) {
        let (rows, pixels, wo) = (self.col_rows(), self.out_pixels(), self.out_w());
        let Scratch { padded, col } = scratch;
        pad_image(self, x, padded);
        for tile in self.tiles(tile_bytes) {
            let (start, n) = (tile.start * wo, tile.len() * wo);
            let row = &mut col[..rows * n];
            // Specialized for the kernel sizes the networks use, so the inner copies unroll.
            match self.k {
                1 => im2row(self, padded, row, 1, tile),
                3 => im2row3(self, padded, row, tile),
                k => im2row(self, padded, row, k, tile),
            }
            matmul(
                self.co,
                rows,
                n,
                (writable(dw), rows),
                true,
                &dy[start..],
                (pixels, 1),
                row,
                (rows, 1),
            );
        }
    }

    /// Output rows in one tile of the col (or row) matrix: as many as fit in `tile_bytes`, at
    /// least one.
    fn tile_rows(&self, tile_bytes: usize) -> usize {
        let per_row = self.col_rows() * self.out_w() * std::mem::size_of::<f32>();
        (tile_bytes / per_row.max(1)).clamp(1, self.out_h())
    }

    /// The distance between the rows of a tile of `pixels` output pixels in a col matrix.
    fn tile_ld(pixels: usize) -> usize {
        pixels.next_multiple_of(16) + 16
    }

    /// The output row ranges of the tiles, in order.
    fn tiles(&self, tile_bytes: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let (ho, step) = (self.out_h(), self.tile_rows(tile_bytes));
        (0..ho).step_by(step).map(move |oh| oh..(oh + step).min(ho))
    }
}

/// The default size of a tile of the col (or row) matrix, in bytes: half the 512 KiB level-2
/// cache of this project's machines, so that a tile is still in cache when the product reads it.
/// Whole images (1.2 MiB for 16 channels at 32x32) ran 1.05-1.17x slower on those largest layers,
/// and the same on the others (`cargo bench -p adjacent-nn --bench conv_tiles`, BENCHMARKS.md).
pub const TILE_BYTES: usize = 256 * 1024;

/// One thread's buffers for one geometry: a padded image and a col (or row) matrix. Their contents
/// are stale from earlier calls: every kernel writes what it then reads.
struct Scratch<'a> {
    /// `[ci, h + 2 pad, w + 2 pad]`: the image with a zero border (through the ReLU if fused), or
    /// its gradient; then [`PADDED_SLACK`] floats that only [`convolve_direct3`] reads.
    padded: &'a mut [f32],
    /// The col matrix (or its gradient, or the row matrix).
    col: &'a mut [f32],
}

thread_local! {
    /// Each thread's buffers, kept across calls and grown to the largest geometry seen (a few MB
    /// at most for these networks): allocated and zeroed per call, they and the zeroed outputs
    /// below made memset 4% of a step (perf, C=16, N=5, one thread; BENCHMARKS.md).
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's buffers sized for `g`.
fn with_scratch<R>(g: &Geometry, f: impl FnOnce(&mut Scratch<'_>) -> R) -> R {
    BUFFERS.with(|buffers| {
        let (padded, col) = &mut *buffers.borrow_mut();
        let padded_len = g.ci * g.padded_h() * g.padded_w();
        let col_len = g.col_rows() * g.col_ld();
        if padded.len() < padded_len + PADDED_SLACK {
            padded.resize(padded_len + PADDED_SLACK, 0.0);
        }
        if col.len() < col_len {
            col.resize(col_len, 0.0);
        }
        f(&mut Scratch {
            padded: &mut padded[..padded_len + PADDED_SLACK],
            col: &mut col[..col_len],
        })
    })
}

/// `dst[m, n] (+)= lhs[m, k] x rhs[k, n]`: `dst` row by row `dst_rs` apart, the others given by
/// their row and column strides. Without `accumulate`, `dst` is only written (it may be
/// uninitialized), and every element of its `m x n` block is.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    (dst, dst_rs): (&mut [MaybeUninit<f32>], usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    debug_assert!(m == 0 || n == 0 || dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the slices hold every element the strides reach (checked above in debug builds,
    // and by construction from the geometry), and `dst` is not aliased by `lhs` or `rhs`. gemm
    // reads `dst` only when told to accumulate, and callers then pass initialized memory.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            dst_rs as isize,
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

/// Output channels up to which a 3x3 convolution of stride 1 runs [`convolve_direct3`].
const DIRECT_MAX_CO: usize = 8;

/// Whether [`convolve_direct3`] runs where it applies (the default), or the col matrix and its
/// product do: [`set_direct3`].
static DIRECT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the direct 3x3 convolution for few output channels on or off in this process, for
/// comparing it with the col matrix's product in one process (`cargo bench -p adjacent-kernels
/// --bench direct3`). Both compute the same sums in the same order.
pub fn set_direct3(on: bool) {
    DIRECT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Output pixels a block of [`convolve_direct3`] keeps in registers, per output channel.
const DIRECT_BLOCK: usize = 16;

/// Floats after the last plane of a padded image: [`convolve_direct3`]'s last blocks read up to
/// this far past it (into outputs it discards).
const PADDED_SLACK: usize = DIRECT_BLOCK + 2;

/// A 3x3 convolution of stride 1 from the padded image `padded [ci, ph, pw]` (with
/// [`PADDED_SLACK`] floats after it) into `y [co, ho, wo]`. The outputs are computed on the
/// padded grid (output `q = oh * pw + ow` reads `padded[c][q + kh * pw + kw]`, one contiguous run
/// for every tap), in blocks of [`DIRECT_BLOCK`] pixels for up to four output channels at a time, so
/// that every input value loaded serves four products; the two columns of the grid past `wo` are
/// discarded.
fn convolve_direct3(g: &Geometry, padded: &[f32], weight: &[f32], y: &mut [MaybeUninit<f32>]) {
    let (pw, plane) = (g.padded_w(), g.padded_h() * g.padded_w());
    let offsets: Vec<usize> = (0..g.ci * 9)
        .map(|t| (t / 9) * plane + (t % 9 / 3) * pw + t % 3)
        .collect();
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        return unsafe { direct3_fma(g, padded, weight, y, &offsets) };
    }
    direct3(g, padded, weight, y, &offsets, |w, v, a| a + w * v);
}

/// [`direct3`] compiled for AVX2 and FMA, with fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn direct3_fma(
    g: &Geometry,
    padded: &[f32],
    weight: &[f32],
    y: &mut [MaybeUninit<f32>],
    offsets: &[usize],
) {
    direct3(g, padded, weight, y, offsets, |w: f32, v: f32, a: f32| {
        w.mul_add(v, a)
    });
}

/// [`convolve_direct3`] with `fma(w, v, a)` as its multiply-add; `offsets[t]` is where tap `t`
/// (channel, row and column of the kernel) starts in the padded image.
#[inline(always)]
fn direct3(
    g: &Geometry,
    padded: &[f32],
    weight: &[f32],
    y: &mut [MaybeUninit<f32>],
    offsets: &[usize],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let mut o = 0;
    while o < g.co {
        match g.co - o {
            1 => direct3_channels::<1>(g, padded, weight, y, o, offsets, fma),
            2 => direct3_channels::<2>(g, padded, weight, y, o, offsets, fma),
            3 => direct3_channels::<3>(g, padded, weight, y, o, offsets, fma),
            _ => direct3_channels::<4>(g, padded, weight, y, o, offsets, fma),
        }
        o += 4;
    }
}

/// [`direct3`] for the `NB` output channels from `first`.
#[inline(always)]
fn direct3_channels<const NB: usize>(
    g: &Geometry,
    padded: &[f32],
    weight: &[f32],
    y: &mut [MaybeUninit<f32>],
    first: usize,
    offsets: &[usize],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let pw = g.padded_w();
    let (ho, wo, taps) = (g.out_h(), g.out_w(), offsets.len());
    let pixels = ho * wo;
    let weights: [&[f32]; NB] = std::array::from_fn(|b| &weight[(first + b) * taps..][..taps]);
    let grid = ho * pw;
    let mut start = 0;
    while start < grid {
        let mut acc = [[0.0f32; DIRECT_BLOCK]; NB];
        for (t, &offset) in offsets.iter().enumerate() {
            let src: &[f32; DIRECT_BLOCK] = padded[start + offset..][..DIRECT_BLOCK]
                .try_into()
                .expect("a block of the padded image");
            for b in 0..NB {
                let w = weights[b][t];
                for (a, &v) in acc[b].iter_mut().zip(src) {
                    *a = fma(w, v, *a);
                }
            }
        }
        for (i, q) in (start..(start + DIRECT_BLOCK).min(grid)).enumerate() {
            let (oh, ow) = (q / pw, q % pw);
            if ow < wo {
                for b in 0..NB {
                    y[(first + b) * pixels + oh * wo + ow].write(acc[b][i]);
                }
            }
        }
        start += DIRECT_BLOCK;
    }
}

/// Copies one image `x [ci, h, w]` into the interior of `padded [ci, h + 2 pad, w + 2 pad]`
/// (whose border it zeroes), through the ReLU if fused.
fn pad_image(g: &Geometry, x: &[f32], padded: &mut [f32]) {
    let (ph, pw) = (g.padded_h(), g.padded_w());
    for (plane, src) in padded.chunks_mut(ph * pw).zip(x.chunks(g.h * g.w)) {
        plane[..g.pad * pw].fill(0.0);
        plane[(g.pad + g.h) * pw..].fill(0.0);
        for (row, src) in plane[g.pad * pw..(g.pad + g.h) * pw]
            .chunks_mut(pw)
            .zip(src.chunks(g.w))
        {
            // One store each side for the networks' padding of one: `fill` of a length known
            // only at run time calls memset (2% of a step, perf).
            match g.pad {
                0 => {}
                1 => {
                    row[0] = 0.0;
                    row[pw - 1] = 0.0;
                }
                pad => {
                    row[..pad].fill(0.0);
                    row[pad + g.w..].fill(0.0);
                }
            }
            let inner = &mut row[g.pad..g.pad + g.w];
            match g.relu {
                true => inner
                    .iter_mut()
                    .zip(src)
                    .for_each(|(d, &v)| *d = v.max(0.0)),
                false => copy_row(inner, src),
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of an image (7 to 34 floats here), in 8-float
/// moves (the last one overlapping the one before) instead of a call to `memmove`, whose call and
/// size dispatch cost more than the copy at these lengths (it was 6% of a step, perf).
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    const LANES: usize = 8;
    let len = dst.len();
    assert_eq!(len, src.len(), "copy_row: lengths differ");
    if len < LANES {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s);
        return;
    }
    let block = |dst: &mut [f32], src: &[f32], at: usize| {
        let s: [f32; LANES] = src[at..at + LANES].try_into().expect("8 floats");
        dst[at..at + LANES].copy_from_slice(&s);
    };
    let mut at = 0;
    while at + LANES < len {
        block(dst, src, at);
        at += LANES;
    }
    block(dst, src, len - LANES);
}

/// Fills the tile of output rows `tile` of `col [ci*k*k, ho*wo]` (rows `ld` apart, each holding
/// the tile's pixels) from one padded image.
fn im2col(g: &Geometry, padded: &[f32], col: &mut [f32], ld: usize, tile: Range<usize>) {
    let (wo, ph, pw) = (g.out_w(), g.padded_h(), g.padded_w());
    let pixels = tile.len() * wo;
    let mut rows = col.chunks_mut(ld);
    for plane in padded[..g.ci * ph * pw].chunks(ph * pw) {
        for kh in 0..g.k {
            for kw in 0..g.k {
                let dst = rows.next().expect("col has ci*k*k rows");
                for (oh, out) in tile.clone().zip(dst[..pixels].chunks_mut(wo)) {
                    let src = &plane[(oh * g.stride + kh) * pw + kw..];
                    match g.stride {
                        1 => copy_row(out, &src[..wo]),
                        s => out
                            .iter_mut()
                            .zip(src.iter().step_by(s))
                            .for_each(|(o, &v)| *o = v),
                    }
                }
            }
        }
    }
}

/// Fills `row [pixels, ci*k*k]` (the col matrix transposed) for the pixels of the output rows
/// `tile` from one padded image; `k` is the geometry's kernel size, passed as a constant by the
/// caller so that the copies unroll.
#[inline(always)]
fn im2row(g: &Geometry, padded: &[f32], row: &mut [f32], k: usize, tile: Range<usize>) {
    let (wo, ph, pw, rows) = (g.out_w(), g.padded_h(), g.padded_w(), g.col_rows());
    for (p, dst) in (tile.start * wo..tile.end * wo).zip(row.chunks_mut(rows)) {
        let (oh, ow) = (p / wo, p % wo);
        let corner = oh * g.stride * pw + ow * g.stride;
        for (c, dst) in dst.chunks_mut(k * k).enumerate() {
            let plane = &padded[c * ph * pw + corner..];
            for kh in 0..k {
                dst[kh * k..(kh + 1) * k].copy_from_slice(&plane[kh * pw..kh * pw + k]);
            }
        }
    }
}

/// [`im2row`] for 3x3 kernels: a channel's nine values of a pixel are its window's three rows, each
/// copied as four floats (one 16-byte move instead of an 8- and a 4-byte one), the fourth
/// overwritten by the next copy. The fourth float of the last row spills into the next channel's
/// slot (or, read, into the next channel's plane), so the last channel copies three floats alone.
fn im2row3(g: &Geometry, padded: &[f32], row: &mut [f32], tile: Range<usize>) {
    let (wo, ph, pw, rows) = (g.out_w(), g.padded_h(), g.padded_w(), g.col_rows());
    let plane = ph * pw;
    for (p, dst) in (tile.start * wo..tile.end * wo).zip(row.chunks_mut(rows)) {
        let (oh, ow) = (p / wo, p % wo);
        let corner = oh * g.stride * pw + ow * g.stride;
        for c in 0..g.ci - 1 {
            let (src, o) = (&padded[c * plane + corner..], c * 9);
            dst[o..o + 4].copy_from_slice(&src[..4]);
            dst[o + 3..o + 7].copy_from_slice(&src[pw..pw + 4]);
            dst[o + 6..o + 10].copy_from_slice(&src[2 * pw..2 * pw + 4]);
        }
        let (src, o) = (&padded[(g.ci - 1) * plane + corner..], (g.ci - 1) * 9);
        for kh in 0..3 {
            dst[o + kh * 3..o + kh * 3 + 3].copy_from_slice(&src[kh * pw..kh * pw + 3]);
        }
    }
}

/// Adds `col [ci*k*k, ho*wo]` (rows `col_ld` apart) into `padded [ci, h + 2 pad, w + 2 pad]`
/// (which it zeroes first): the adjoint of [`im2col`].
fn col2im(g: &Geometry, col: &[f32], padded: &mut [f32]) {
    padded.fill(0.0);
    let (ho, wo, ph, pw) = (g.out_h(), g.out_w(), g.padded_h(), g.padded_w());
    let mut rows = col.chunks(g.col_ld());
    for plane in padded[..g.ci * ph * pw].chunks_mut(ph * pw) {
        for kh in 0..g.k {
            for kw in 0..g.k {
                let src = rows.next().expect("col has ci*k*k rows");
                for (oh, s) in src[..ho * wo].chunks(wo).enumerate() {
                    let dst = &mut plane[(oh * g.stride + kh) * pw + kw..];
                    match g.stride {
                        // Apart so that the adds vectorize (a runtime step keeps them scalar).
                        1 => dst[..wo].iter_mut().zip(s).for_each(|(d, v)| *d += v),
                        step => dst
                            .iter_mut()
                            .step_by(step)
                            .zip(s)
                            .for_each(|(d, v)| *d += v),
                    }
                }
            }
        }
    }
}

/// The input gradient of one image from the gradient of its padded copy: the interior, and zero
/// where the fused ReLU cut the input (`x <= 0`).
fn unpad_gradient(g: &Geometry, padded: &[f32], x: &[f32], dx: &mut [MaybeUninit<f32>]) {
    let (ph, pw) = (g.padded_h(), g.padded_w());
    for ((plane, dst), src) in padded
        .chunks(ph * pw)
        .zip(dx.chunks_mut(g.h * g.w))
        .zip(x.chunks(g.h * g.w))
    {
        for ((row, d), xs) in plane[g.pad * pw..]
            .chunks(pw)
            .zip(dst.chunks_mut(g.w))
            .zip(src.chunks(g.w))
        {
            let inner = &row[g.pad..g.pad + g.w];
            match g.relu {
                true => d
                    .iter_mut()
                    .zip(inner.iter().zip(xs))
                    .for_each(|(d, (&v, &x))| {
                        d.write(if x > 0.0 { v } else { 0.0 });
                    }),
                false => {
                    d.write_copy_of_slice(inner);
                }
            }
        }
    }
}

/// `dst` seen as memory to write: sound because only initialized floats are ever written to it.
fn writable(dst: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and no caller writes an uninitialized value.
    unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// A vector of `len` floats filled by `fill`, which must write every element: the output buffers
/// of the kernels, spared the zeroing that `vec![0.0; len]` would do.
pub(crate) fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` elements (each caller's products and copies cover its whole
    // output; the kernel tests compare every element against burn's convolution).
    unsafe { v.set_len(len) };
    v
}

/// Images a rayon task takes at once. Fixed, not derived from the thread count, so that the weight
/// gradient sums its per-task parts in the same order on any machine: training is reproducible
/// for a seed.
const IMAGES_PER_TASK: usize = 4;

/// The forward pass: `y [n, co, ho, wo]` of `x [n, ci, h, w]` and `weight [co, ci, k, k]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    forward_tiled(g, x, weight, TILE_BYTES)
}

/// [`forward`] with col tiles of at most `tile_bytes` (at least one output row; `usize::MAX`:
/// whole images). The result is the same for any tile size.
pub fn forward_tiled(g: &Geometry, x: &[f32], weight: &[f32], tile_bytes: usize) -> Vec<f32> {
    convolve_images(g, x, weight, tile_bytes, |_, _| ())
}

/// The forward pass, with `finish(b, y_b)` run on each image's output as soon as it is written
/// (while it is still in cache); `b` is the image's index in the batch.
fn convolve_images(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    tile_bytes: usize,
    finish: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let chunk = IMAGES_PER_TASK;
    filled(g.n * g.out_len(), |y| {
        y.par_chunks_mut(chunk * g.out_len())
            .zip(x.par_chunks(chunk * g.in_len()))
            .enumerate()
            .for_each(|(task, (ys, xs))| {
                with_scratch(g, |scratch| {
                    let images = ys.chunks_mut(g.out_len()).zip(xs.chunks(g.in_len()));
                    for (i, (yb, xb)) in images.enumerate() {
                        g.convolve_image(xb, weight, yb, scratch, tile_bytes);
                        finish(task * chunk + i, yb);
                    }
                })
            })
    })
}

/// `weight [co, ci, k, k]` as `[ci, co, k, k]` with each kernel turned by 180 degrees: the
/// weights of [`Geometry::transposed`].
fn flipped_transposed(g: &Geometry, weight: &[f32]) -> Vec<f32> {
    let kk = g.k * g.k;
    let mut out = vec![0.0f32; g.ci * g.co * kk];
    for (o, per_out) in weight.chunks(g.ci * kk).enumerate() {
        for (c, kernel) in per_out.chunks(kk).enumerate() {
            let dst = &mut out[(c * g.co + o) * kk..][..kk];
            dst.iter_mut()
                .zip(kernel.iter().rev())
                .for_each(|(d, &v)| *d = v);
        }
    }
    out
}

/// Zeroes `dx` where the fused ReLU cut the input (`x <= 0`); every element of `dx` must have been
/// written. A select, not a branch: the signs of an activation are a coin toss to a predictor.
fn mask_relu(dx: &mut [MaybeUninit<f32>], x: &[f32]) {
    // SAFETY: MaybeUninit<f32> has f32's layout, and the callers' products wrote every element.
    let dx = unsafe { &mut *(dx as *mut [MaybeUninit<f32>] as *mut [f32]) };
    dx.iter_mut()
        .zip(x)
        .for_each(|(d, &x)| *d = if x > 0.0 { *d } else { 0.0 });
}

/// The input gradient `dx [n, ci, h, w]` of the output gradient `dy [n, co, ho, wo]`; `x` is the
/// input (read only where the ReLU is fused, for its mask). Stride 1 takes it as a convolution
/// ([`backward_input_transposed`]): 0.97-1.52x the speed of the product and col2im on the
/// networks' shapes, the most at few channels (`cargo bench -p adjacent-nn --bench input_gradient`).
pub fn backward_input(g: &Geometry, x: &[f32], weight: &[f32], dy: &[f32]) -> Vec<f32> {
    match g.transposed() {
        Some(_) => backward_input_transposed(g, x, weight, dy),
        None => backward_input_col2im(g, x, weight, dy),
    }
}

/// [`backward_input`] as the convolution of `dy` by the weights transposed and flipped
/// ([`Geometry::transposed`]); stride 1 only (panics otherwise).
pub fn backward_input_transposed(g: &Geometry, x: &[f32], weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let t = g
        .transposed()
        .expect("the input gradient as a convolution needs stride 1");
    let flipped = flipped_transposed(g, weight);
    convolve_images(&t, dy, &flipped, TILE_BYTES, |b, dxb| {
        if g.relu {
            mask_relu(dxb, &x[b * g.in_len()..][..g.in_len()]);
        }
    })
}

/// [`backward_input`] as `W^T x dY` (the col matrix's gradient) scattered back by col2im: any
/// stride.
pub fn backward_input_col2im(g: &Geometry, x: &[f32], weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (rows, pixels) = (g.col_rows(), g.out_pixels());
    let chunk = IMAGES_PER_TASK;
    filled(g.n * g.in_len(), |dx| {
        dx.par_chunks_mut(chunk * g.in_len())
            .zip(dy.par_chunks(chunk * g.out_len()))
            .zip(x.par_chunks(chunk * g.in_len()))
            .for_each(|((dxs, dys), xs)| {
                with_scratch(g, |scratch| {
                    let images = dxs
                        .chunks_mut(g.in_len())
                        .zip(dys.chunks(g.out_len()))
                        .zip(xs.chunks(g.in_len()));
                    for ((dxb, dyb), xb) in images {
                        // W^T [rows, co] x dY [co, pixels]: the col matrix's gradient.
                        let weight_t_dy = |dst: &mut [MaybeUninit<f32>], ld: usize| {
                            matmul(
                                rows,
                                pixels,
                                g.co,
                                (dst, ld),
                                false,
                                weight,
                                (1, rows),
                                dyb,
                                (pixels, 1),
                            )
                        };
                        match g.is_pointwise() {
                            // The col matrix is the image itself: its gradient is the input's.
                            true => {
                                weight_t_dy(dxb, pixels);
                                if g.relu {
                                    mask_relu(dxb, xb);
                                }
                            }
                            false => {
                                weight_t_dy(writable(scratch.col), g.col_ld());
                                col2im(g, scratch.col, scratch.padded);
                                unpad_gradient(g, scratch.padded, xb, dxb);
                            }
                        }
                    }
                })
            })
    })
}

/// The weight gradient `dw [co, ci, k, k]`: the sum over images of `dY x row`.
pub fn backward_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    backward_weight_tiled(g, x, dy, TILE_BYTES)
}

/// [`backward_weight`] with row tiles of at most `tile_bytes` (at least one output row;
/// `usize::MAX`: whole images). Tiles sum each image's products in a different order, so results
/// differ in the last bits between tile sizes (not between runs).
pub fn backward_weight_tiled(g: &Geometry, x: &[f32], dy: &[f32], tile_bytes: usize) -> Vec<f32> {
    let rows = g.col_rows();
    let chunk = IMAGES_PER_TASK;
    let parts = x
        .par_chunks(chunk * g.in_len())
        .zip(dy.par_chunks(chunk * g.out_len()))
        .map(|(xs, dys)| {
            with_scratch(g, |scratch| {
                let mut dw = vec![0.0f32; g.co * rows];
                for (xb, dyb) in xs.chunks(g.in_len()).zip(dys.chunks(g.out_len())) {
                    g.add_weight_gradient(xb, dyb, &mut dw, scratch, tile_bytes);
                }
                dw
            })
        })
        .collect::<Vec<_>>();
    sum_in_order(&parts, g.co * rows)
}

/// The element-wise sum of `parts` (each `len` long), each element summed in the parts' order
/// whichever thread runs it (so that training is reproducible for a seed), blocks of elements
/// split among rayon's threads: summed on one thread it was 1% of a two-thread step, the other
/// thread idle.
fn sum_in_order(parts: &[Vec<f32>], len: usize) -> Vec<f32> {
    const BLOCK: usize = 4096;
    let Some((first, rest)) = parts.split_first() else {
        return vec![0.0; len];
    };
    let mut sum = first.clone();
    sum.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(block, out)| {
            let start = block * BLOCK;
            for part in rest {
                out.iter_mut()
                    .zip(&part[start..])
                    .for_each(|(o, p)| *o += p);
            }
        });
    sum
}

/// The geometry of `conv` on input of shape `dims`, if these kernels cover it (no bias, no
/// dilation, no groups, a square kernel, square stride and symmetric padding).
fn geometry(conv: &Conv2d, dims: [usize; 4], relu: bool) -> Option<Geometry> {
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
        relu,
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
    geometry(conv, x.dims(), false).is_some()
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
    convolve(conv, x, false)
}

/// `conv` of `relu(x)`, the ReLU fused into the convolution where these kernels apply: it costs
/// no pass over the activation and no tensor of its own, forward or backward.
pub fn relu_conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    convolve(conv, x, true)
}

fn convolve(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let burns = |x: Tensor<4>| match relu {
        true => conv.forward(burn::tensor::activation::relu(x)),
        false => conv.forward(x),
    };
    let Some(g) = geometry(conv, x.dims(), relu).filter(|_| enabled()) else {
        return burns(x);
    };
    if x.dtype() != DType::F32 {
        return burns(x);
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
    burns(x)
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
            let dx = backward_input(&g, f32s(&x), f32s(&w), f32s(&dy));
            grads.register::<Flex>(node.id, flex(dx, &[g.n, g.ci, g.h, g.w]));
        }
        if let Some(node) = node_w {
            let dw = backward_weight(&g, f32s(&x), f32s(&dy));
            grads.register::<Flex>(node.id, flex(dw, &[g.co, g.ci, g.k, g.k]));
        }
    }
}
