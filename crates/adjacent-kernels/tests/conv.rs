//! adjacent's convolution kernels against burn's convolution, a direct loop and central
//! differences, over every shape the networks use.

mod common;

use adjacent_kernels::conv::{self, Geometry};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, activation};
use common::{assert_close, seeded, values};

/// (batch, channels in, size, channels out, kernel, stride): the stem (1 and 3 channels in), the
/// cells' 3x3 and 1x1 convolutions, the reductions' strided 3x3 and their 1x1 shortcuts, odd
/// sizes (5, 7) and a batch of one.
const SHAPES: [(usize, usize, usize, usize, usize, usize); 12] = [
    (4, 1, 28, 8, 3, 1),
    (2, 3, 28, 3, 3, 1),
    (2, 5, 14, 5, 3, 1),
    (3, 3, 32, 16, 3, 1),
    (4, 8, 14, 8, 3, 1),
    (4, 8, 14, 8, 1, 1),
    (2, 8, 14, 16, 3, 2),
    (2, 8, 7, 16, 3, 2),
    (2, 16, 7, 32, 1, 1),
    (1, 4, 5, 6, 3, 1),
    (3, 4, 5, 6, 3, 2),
    (1, 5, 7, 3, 1, 1),
];

fn layer(ci: usize, co: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = k / 2;
    Conv2dConfig::new([ci, co], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// The geometry of a square input `size` wide under `layer`'s padding (half the kernel).
fn square(n: usize, ci: usize, size: usize, co: usize, k: usize, stride: usize) -> Geometry {
    Geometry {
        n,
        ci,
        h: size,
        w: size,
        co,
        k,
        stride,
        pad: k / 2,
        relu: false,
    }
}

/// The convolution as four nested loops over the output, for the forward pass.
fn direct(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (ho, wo) = (g.out_h(), g.out_w());
    let mut y = vec![0.0f32; g.n * g.co * ho * wo];
    for b in 0..g.n {
        for o in 0..g.co {
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut sum = 0.0f32;
                    for c in 0..g.ci {
                        for kh in 0..g.k {
                            for kw in 0..g.k {
                                let ih = (oh * g.stride + kh) as isize - g.pad as isize;
                                let iw = (ow * g.stride + kw) as isize - g.pad as isize;
                                if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
                                    continue;
                                }
                                sum += x[((b * g.ci + c) * g.h + ih as usize) * g.w + iw as usize]
                                    * w[((o * g.ci + c) * g.k + kh) * g.k + kw];
                            }
                        }
                    }
                    y[((b * g.co + o) * ho + oh) * wo + ow] = sum;
                }
            }
        }
    }
    y
}

#[test]
fn the_forward_pass_matches_burn_and_a_direct_loop() {
    let _seeded = seeded();
    let device = Device::flex();
    device.seed(3);
    for ((n, ci, size, co, k, stride), relu) in SHAPES.into_iter().flat_map(with_and_without_relu) {
        let conv = layer(ci, co, k, stride, &device);
        let x = Tensor::<4>::random([n, ci, size, size], Distribution::Normal(0.0, 1.0), &device);
        assert!(conv::covers(&conv, &x), "{n} {ci} {size} {co} {k} {stride}");
        let (ours, input) = match relu {
            true => (conv::relu_conv2d(&conv, x.clone()), activation::relu(x)),
            false => (conv::conv2d(&conv, x.clone()), x),
        };
        let ours = values(ours);
        let burns = values(conv.forward(input.clone()));
        let what =
            format!("forward n={n} ci={ci} {size}x{size} co={co} k={k} s={stride} relu={relu}");
        assert_close(&what, &ours, &burns, 1e-5);
        let g = square(n, ci, size, co, k, stride);
        let loops = direct(&g, &values(input), &values(conv.weight.val()));
        assert_close(&what, &ours, &loops, 1e-5);
    }
}

/// Each shape once as a plain convolution and once with the ReLU before it fused.
fn with_and_without_relu<T: Copy>(shape: T) -> [(T, bool); 2] {
    [(shape, false), (shape, true)]
}

/// The gradients of `sum(conv(x) * r)` (of `conv(relu(x))` with `relu`) with respect to x and the
/// weight.
fn gradients(
    conv: &Conv2d,
    x: &Tensor<4>,
    r: &Tensor<4>,
    ours: bool,
    relu: bool,
) -> (Vec<f32>, Vec<f32>) {
    let x = x.clone().require_grad();
    let weight = conv.weight.val().require_grad();
    let layer = Conv2d {
        weight: Param::from_tensor(weight.clone()),
        ..conv.clone()
    };
    let y = match (ours, relu) {
        (true, false) => conv::conv2d(&layer, x.clone()),
        (true, true) => conv::relu_conv2d(&layer, x.clone()),
        (false, false) => layer.forward(x.clone()),
        (false, true) => layer.forward(activation::relu(x.clone())),
    };
    let grads = (y * r.clone()).sum().backward();
    (
        values(x.grad(&grads).unwrap()),
        values(weight.grad(&grads).unwrap()),
    )
}

#[test]
fn both_gradients_match_burns_convolution() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(5);
    for ((n, ci, size, co, k, stride), relu) in SHAPES.into_iter().flat_map(with_and_without_relu) {
        let conv = layer(ci, co, k, stride, &device);
        let x = Tensor::<4>::random([n, ci, size, size], Distribution::Normal(0.0, 1.0), &device);
        assert!(conv::covers(&conv, &x));
        assert!(
            conv::runs_kernels(&x),
            "the autodiff tensor must take adjacent's kernels"
        );
        let out = square(n, ci, size, co, k, stride).out_h();
        let r = Tensor::<4>::random([n, co, out, out], Distribution::Normal(0.0, 1.0), &device);
        let (dx, dw) = gradients(&conv, &x, &r, true, relu);
        let (dx_burn, dw_burn) = gradients(&conv, &x, &r, false, relu);
        let what = format!("n={n} ci={ci} {size}x{size} co={co} k={k} s={stride} relu={relu}");
        assert_close(&format!("input gradient {what}"), &dx, &dx_burn, 1e-4);
        assert_close(&format!("weight gradient {what}"), &dw, &dw_burn, 1e-4);
    }
}

#[test]
fn both_gradients_match_central_differences() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(7);
    for (n, ci, size, co, k, stride) in [(2, 2, 5, 3, 3, 1), (1, 2, 7, 2, 3, 2), (2, 3, 4, 2, 1, 1)]
    {
        let conv = layer(ci, co, k, stride, &device);
        let x = Tensor::<4>::random([n, ci, size, size], Distribution::Normal(0.0, 1.0), &device);
        let out = square(n, ci, size, co, k, stride).out_h();
        let r = Tensor::<4>::random([n, co, out, out], Distribution::Normal(0.0, 1.0), &device);
        let (dx, dw) = gradients(&conv, &x, &r, true, false);
        let g = square(n, ci, size, co, k, stride);
        let (xv, wv, rv) = (values(x), values(conv.weight.val()), values(r));
        // The loss in f64 from the direct loop, so that the differences are not float noise.
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            direct(&g, x, w)
                .iter()
                .zip(&rv)
                .map(|(y, r)| *y as f64 * *r as f64)
                .sum()
        };
        let eps = 1e-2f32;
        let numeric = |v: &[f32], i: usize, of_x: bool| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += eps;
            down[i] -= eps;
            let (a, b) = match of_x {
                true => (loss(&up, &wv), loss(&down, &wv)),
                false => (loss(&xv, &up), loss(&xv, &down)),
            };
            ((a - b) / (2.0 * eps as f64)) as f32
        };
        let dx_num: Vec<f32> = (0..xv.len()).map(|i| numeric(&xv, i, true)).collect();
        let dw_num: Vec<f32> = (0..wv.len()).map(|i| numeric(&wv, i, false)).collect();
        assert_close("input gradient", &dx, &dx_num, 1e-3);
        assert_close("weight gradient", &dw, &dw_num, 1e-3);
    }
}

#[test]
fn training_with_the_kernels_is_reproducible() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    let run = || {
        device.seed(13);
        let conv = layer(8, 16, 3, 1, &device);
        let x = Tensor::<4>::random([40, 8, 12, 12], Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<4>::random([40, 16, 12, 12], Distribution::Normal(0.0, 1.0), &device);
        gradients(&conv, &x, &r, true, true)
    };
    // Bit for bit: the weight gradient sums its parts in a fixed order.
    assert_eq!(run(), run());
}

/// The fused batch norm in training: its output, its gradients (input, gamma, beta) and the running
/// statistics it leaves, against burn's batch norm.
#[test]
fn the_fused_batch_norm_matches_burns() {
    use adjacent_kernels::batch_norm::batch_norm;
    use burn::nn::{BatchNorm, BatchNormConfig};

    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(17);
    for [n, c, h, w] in [[4, 3, 5, 5], [1, 8, 7, 7], [16, 4, 1, 1], [3, 2, 8, 6]] {
        let gamma0 = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.3), &device);
        let beta0 = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.3), &device);
        let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.5, 2.0), &device);
        let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            // A layer of its own: clones of a batch norm share their running statistics.
            let layer: BatchNorm = BatchNormConfig::new(c).init(&device);
            let x = x.clone().require_grad();
            let gamma = gamma0.clone().require_grad();
            let beta = beta0.clone().require_grad();
            let layer = BatchNorm {
                gamma: Param::from_tensor(gamma.clone()),
                beta: Param::from_tensor(beta.clone()),
                ..layer
            };
            let y = match ours {
                true => batch_norm(&layer, x.clone()),
                false => conv::with_burn_kernels(|| batch_norm(&layer, x.clone())),
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            [
                values(y),
                values(x.grad(&grads).unwrap()),
                values(gamma.grad(&grads).unwrap()),
                values(beta.grad(&grads).unwrap()),
                values(layer.running_mean.value_sync()),
                values(layer.running_var.value_sync()),
            ]
        };
        let (ours, burns) = (run(true), run(false));
        let names = [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
            "running mean",
            "running variance",
        ];
        for ((name, a), b) in names.iter().zip(&ours).zip(&burns) {
            assert_close(&format!("{name} of {n}x{c}x{h}x{w}"), a, b, 1e-4);
        }
    }
}

/// A slice of a larger tensor (a view that starts at an offset into its buffer) is read from its
/// offset, in training and in inference.
#[test]
fn a_view_into_a_larger_tensor_is_read_from_its_offset() {
    let _seeded = seeded();
    for device in [Device::flex(), Device::flex().autodiff()] {
        device.seed(19);
        let conv = layer(3, 4, 3, 1, &device);
        let big = Tensor::<4>::random([5, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let x = big.narrow(0, 1, 3);
        assert_close(
            "a slice of the batch",
            &values(conv::conv2d(&conv, x.clone())),
            &values(conv.forward(x)),
            1e-5,
        );
    }
}

#[test]
fn the_input_gradient_of_any_padding_matches_burns() {
    // Stride 1 takes the input gradient as a convolution padded by k - 1 - pad: padding 0, 1
    // and 2 of a 3x3 kernel give it 2, 1 and 0.
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(9);
    for (pad, relu) in [(0, false), (0, true), (1, true), (2, false), (2, true)] {
        let conv = Conv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(&device);
        let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        assert!(conv::covers(&conv, &x));
        let out = 6 + 2 * pad - 2;
        let r = Tensor::<4>::random([2, 5, out, out], Distribution::Normal(0.0, 1.0), &device);
        let (dx, dw) = gradients(&conv, &x, &r, true, relu);
        let (dx_burn, dw_burn) = gradients(&conv, &x, &r, false, relu);
        assert_close(&format!("input gradient, pad {pad}"), &dx, &dx_burn, 1e-4);
        assert_close(&format!("weight gradient, pad {pad}"), &dw, &dw_burn, 1e-4);
    }
}

#[test]
fn both_ways_of_the_input_gradient_agree() {
    // Stride 1 runs the convolution of dY; the col2im path (any stride) must give the same.
    for (n, c, size, co, pad, relu) in [
        (2, 3, 7, 5, 1, true),
        (1, 8, 6, 4, 0, false),
        (3, 4, 5, 6, 2, true),
    ] {
        let g = Geometry {
            n,
            ci: c,
            h: size,
            w: size,
            co,
            k: 3,
            stride: 1,
            pad,
            relu,
        };
        let value =
            |i: usize, salt: usize| ((i * 7919 + salt * 104_729) % 997) as f32 / 498.5 - 1.0;
        let x: Vec<f32> = (0..n * c * size * size).map(|i| value(i, 1)).collect();
        let w: Vec<f32> = (0..co * c * 9).map(|i| value(i, 2)).collect();
        let dy: Vec<f32> = (0..n * co * g.out_h() * g.out_w())
            .map(|i| value(i, 3))
            .collect();
        let convolved = conv::backward_input_transposed(&g, &x, &w, &dy);
        let scattered = conv::backward_input_col2im(&g, &x, &w, &dy);
        assert_close(&format!("pad {pad}"), &convolved, &scattered, 1e-5);
    }
}

/// Values in [-1, 1), about half negative, from a seed.
fn pseudo(len: usize, salt: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + salt * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

#[test]
fn tiles_of_one_output_row_give_what_whole_images_give() {
    // Tiles of one byte hold one output row each (at least one), so every image is built and
    // multiplied row by row; the forward pass is then the same to the bit (each output element is
    // one product over the same terms), the weight gradient the same to float noise.
    for ((n, ci, size, co, k, stride), relu) in SHAPES.into_iter().flat_map(with_and_without_relu) {
        let g = Geometry {
            relu,
            ..square(n, ci, size, co, k, stride)
        };
        let x = pseudo(n * ci * size * size, 1);
        let w = pseudo(co * ci * k * k, 2);
        let dy = pseudo(n * co * g.out_h() * g.out_w(), 3);
        let what = format!("{g:?}");
        let whole = conv::forward_tiled(&g, &x, &w, usize::MAX);
        assert_eq!(conv::forward_tiled(&g, &x, &w, 1), whole, "forward {what}");
        let input: Vec<f32> = match relu {
            true => x.iter().map(|v| v.max(0.0)).collect(),
            false => x.clone(),
        };
        assert_close(
            &format!("forward {what}"),
            &whole,
            &direct(&g, &input, &w),
            1e-5,
        );
        assert_close(
            &format!("weight gradient {what}"),
            &conv::backward_weight_tiled(&g, &x, &dy, 1),
            &conv::backward_weight_tiled(&g, &x, &dy, usize::MAX),
            1e-5,
        );
    }
}
