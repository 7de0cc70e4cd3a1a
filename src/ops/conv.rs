//! Convolutions, NCHW as PyTorch (dilation 1, groups 1): torch.nn.Conv2d
//! and, from the same three products, ConvTranspose2d. Each product is the
//! tiled matmul of matmul.wgsl with its operands gathered as it loads them
//! (implicit GEMM, `CONV_*`), the bias and a fused activation applied as
//! it stores:
//!
//! - [`forward`]: y = conv(x, w) (+ bias), act;
//! - [`input_grad`]: dx = convᵀ(dy, w), each input summing the outputs it
//!   fed (a gather, no atomics); with a bias and an activation it is
//!   ConvTranspose2d's forward, whose weight [in, out, kh, kw] is the
//!   layout of the conv it transposes;
//! - [`weight_grad`]: dw = Σ dy ⊗ im2col(x); of a ConvTranspose2d too, with
//!   the roles of x and dy exchanged;
//! - bias gradients are channel sums (`ops::reduce::channel_sum`).

use super::activation::Activation;
use super::matmul::{Form, Matmul, MatmulTiles, matmul};
use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Entry;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::Tensor;

/// A convolution of x [batch, in_c, in_h, in_w] with w [out_c, in_c,
/// kernel_h, kernel_w] into y [batch, out_c, out_h, out_w].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv2d {
    pub batch: usize,
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub pad: usize,
    /// A tile shape other than the adapter's (for tests and tuning).
    pub tiles: Option<MatmulTiles>,
}

/// Which of a convolution's products a matmul computes (`CONV` in
/// matmul.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvProduct {
    Forward,
    Weight,
    Input,
}

impl ConvProduct {
    pub fn code(self) -> u32 {
        match self {
            ConvProduct::Forward => 1,
            ConvProduct::Weight => 2,
            ConvProduct::Input => 3,
        }
    }
}

/// (size + 2·pad − kernel) / stride + 1, or None where the kernel is
/// larger than the padded input or the stride is 0.
pub fn out_size(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = size + 2 * pad;
    (stride > 0 && kernel > 0 && kernel <= padded).then(|| (padded - kernel) / stride + 1)
}

impl Conv2d {
    pub fn out_h(&self) -> usize {
        out_size(self.in_h, self.kernel_h, self.stride, self.pad).unwrap_or(0)
    }

    pub fn out_w(&self) -> usize {
        out_size(self.in_w, self.kernel_w, self.stride, self.pad).unwrap_or(0)
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.in_c * self.in_h * self.in_w
    }

    pub fn y_len(&self) -> usize {
        self.batch * self.out_c * self.out_h() * self.out_w()
    }

    pub fn w_len(&self) -> usize {
        self.out_c * self.in_c * self.kernel_h * self.kernel_w
    }

    /// Fails unless every size is positive and the kernel fits the padded
    /// input.
    pub fn check(&self, op: &'static str) -> Result<()> {
        let sizes = [
            self.batch,
            self.in_c,
            self.in_h,
            self.in_w,
            self.out_c,
            self.kernel_h,
            self.kernel_w,
            self.stride,
        ];
        if sizes.contains(&0) {
            return Err(Error::shape(op, format!("a size of 0 in {self:?}")));
        }
        if self.out_h() == 0 || self.out_w() == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "a {}x{} kernel is larger than its {}x{} input padded by {}",
                    self.kernel_h, self.kernel_w, self.in_h, self.in_w, self.pad
                ),
            ));
        }
        Ok(())
    }

    /// The matmul shader's entry with this geometry's constants.
    pub(crate) fn specialise(&self, entry: Entry) -> Result<Entry> {
        const OP: &str = "conv2d";
        let u = |what, v| expect_u32(OP, what, v).map(|v| format!("{v}u"));
        Ok(entry
            .with("IN_C", u("channels", self.in_c)?)
            .with("IN_H", u("height", self.in_h)?)
            .with("IN_W", u("width", self.in_w)?)
            .with("OUT_C", u("channels", self.out_c)?)
            .with("OUT_H", u("height", self.out_h())?)
            .with("OUT_W", u("width", self.out_w())?)
            .with("KERNEL_H", u("kernel", self.kernel_h)?)
            .with("KERNEL_W", u("kernel", self.kernel_w)?)
            .with("STRIDE", u("stride", self.stride)?)
            .with("PAD", u("padding", self.pad)?))
    }

    fn product(&self, p: ConvProduct) -> Matmul {
        let (b, taps) = (self.batch, self.kernel_h * self.kernel_w);
        let outputs = b * self.out_h() * self.out_w();
        // Rows are channels, columns positions (see matmul.wgsl).
        let (form, m, n, k) = match p {
            ConvProduct::Forward => (Form::NN, self.out_c, outputs, self.in_c * taps),
            ConvProduct::Weight => (Form::TN, self.out_c, self.in_c * taps, outputs),
            // Per sub-pixel class of positions (matmul.wgsl): the largest
            // class's positions, and the taps that can feed one of them.
            ConvProduct::Input => {
                let per = |n: usize| n.div_ceil(self.stride);
                let positions = b * per(self.in_h) * per(self.in_w);
                let taps = per(self.kernel_h) * per(self.kernel_w);
                (Form::NN, self.in_c, positions, self.out_c * taps)
            }
        };
        Matmul {
            conv: Some((p, *self)),
            tiles: self.tiles,
            ..Matmul::new(form, m, n, k)
        }
    }

    /// Whether the kernel covers the whole unpadded input in one place (a
    /// 1 × 1 output): the convolution is then a dense layer on the
    /// flattened input, and its products are plain matmuls (DCGAN's last
    /// D layer, and as a transpose its first G layer).
    pub fn is_dense(&self) -> bool {
        self.pad == 0 && self.kernel_h == self.in_h && self.kernel_w == self.in_w
    }

    /// The plain product of a dense convolution (see [`Conv2d::is_dense`]):
    /// x is [batch, K] and w [out_c, K], K = in_c·kh·kw.
    fn dense(&self, p: ConvProduct) -> Matmul {
        let (b, k) = (self.batch, self.in_c * self.in_h * self.in_w);
        let spec = match p {
            ConvProduct::Forward => Matmul::new(Form::NT, b, self.out_c, k),
            ConvProduct::Weight => Matmul::new(Form::TN, self.out_c, k, b),
            ConvProduct::Input => Matmul::new(Form::NN, b, k, self.out_c),
        };
        Matmul {
            tiles: self.tiles,
            ..spec
        }
    }

    /// 2 · batch · out positions · out_c · in_c · kh · kw: the FLOP of each
    /// of the three products.
    pub fn flops(&self) -> f64 {
        self.product(ConvProduct::Forward).flops()
    }
}

/// y = act(conv(x, w) (+ bias)).
pub fn forward(
    gpu: &Gpu,
    g: &Conv2d,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    y: &Tensor,
    act: Activation,
) -> Result<Kernel> {
    const OP: &str = "conv2d";
    g.check(OP)?;
    expect_len(OP, "x", x, g.x_len())?;
    expect_len(OP, "w", w, g.w_len())?;
    expect_len(OP, "y", y, g.y_len())?;
    expect_distinct(OP, &[("y", y)], &[("x", x), ("w", w)])?;
    if g.is_dense() {
        let spec = g.dense(ConvProduct::Forward).activation(act);
        return matmul(gpu, &spec, x, w, bias, y);
    }
    let spec = g.product(ConvProduct::Forward).activation(act);
    matmul(gpu, &spec, w, x, bias, y)
}

/// dx = act(convᵀ(dy, w) (+ bias)): the input gradient of the convolution,
/// and ConvTranspose2d's forward (bias per input channel of the
/// convolution, the transpose's output channel).
pub fn input_grad(
    gpu: &Gpu,
    g: &Conv2d,
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    dx: &Tensor,
    act: Activation,
) -> Result<Kernel> {
    const OP: &str = "conv2d input gradient";
    g.check(OP)?;
    expect_len(OP, "dy", dy, g.y_len())?;
    expect_len(OP, "w", w, g.w_len())?;
    expect_len(OP, "dx", dx, g.x_len())?;
    expect_distinct(OP, &[("dx", dx)], &[("dy", dy), ("w", w)])?;
    // A dense product's bias would be per column, not per channel.
    if g.is_dense() && bias.is_none() {
        let spec = g.dense(ConvProduct::Input).activation(act);
        return matmul(gpu, &spec, dy, w, None, dx);
    }
    let spec = g.product(ConvProduct::Input).activation(act);
    matmul(gpu, &spec, w, dy, bias, dx)
}

/// dw = Σ over batch and positions of dy ⊗ im2col(x), [out_c, in_c, kh,
/// kw]; added to what dw holds with `accumulate`.
pub fn weight_grad(
    gpu: &Gpu,
    g: &Conv2d,
    dy: &Tensor,
    x: &Tensor,
    dw: &Tensor,
    accumulate: bool,
) -> Result<Kernel> {
    const OP: &str = "conv2d weight gradient";
    g.check(OP)?;
    expect_len(OP, "dy", dy, g.y_len())?;
    expect_len(OP, "x", x, g.x_len())?;
    expect_len(OP, "dw", dw, g.w_len())?;
    expect_distinct(OP, &[("dw", dw)], &[("dy", dy), ("x", x)])?;
    if g.is_dense() {
        let spec = g.dense(ConvProduct::Weight).accumulate(accumulate);
        return matmul(gpu, &spec, dy, x, None, dw);
    }
    let spec = g.product(ConvProduct::Weight).accumulate(accumulate);
    matmul(gpu, &spec, dy, x, None, dw)
}

/// The f64 references, written straight from the definition of a
/// convolution (not through the products above).
pub mod reference {
    use super::Conv2d;

    /// x[b, c, y, x] if inside the image, else None.
    fn pixel(g: &Conv2d, b: usize, c: usize, y: isize, x: isize) -> Option<usize> {
        let inside = y >= 0 && x >= 0 && (y as usize) < g.in_h && (x as usize) < g.in_w;
        inside.then(|| ((b * g.in_c + c) * g.in_h + y as usize) * g.in_w + x as usize)
    }

    /// Calls f(y index, x index, w index) for every term of the convolution.
    fn each_term(g: &Conv2d, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = (g.out_h(), g.out_w());
        for b in 0..g.batch {
            for co in 0..g.out_c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let yi = ((b * g.out_c + co) * oh + oy) * ow + ox;
                        for ci in 0..g.in_c {
                            for ky in 0..g.kernel_h {
                                for kx in 0..g.kernel_w {
                                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                    let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                    if let Some(xi) = pixel(g, b, ci, iy, ix) {
                                        let wi = ((co * g.in_c + ci) * g.kernel_h + ky)
                                            * g.kernel_w
                                            + kx;
                                        f(yi, xi, wi);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x, w) (+ bias per output channel).
    pub fn forward<T: Copy + Into<f64>>(
        g: &Conv2d,
        x: &[T],
        w: &[T],
        bias: Option<&[T]>,
    ) -> Vec<f64> {
        let plane = g.out_h() * g.out_w();
        let mut y: Vec<f64> = (0..g.y_len())
            .map(|i| bias.map_or(0.0, |b| b[i / plane % g.out_c].into()))
            .collect();
        each_term(g, |yi, xi, wi| y[yi] += x[xi].into() * w[wi].into());
        y
    }

    /// dx = convᵀ(dy, w) (+ bias per input channel): the input gradient,
    /// and ConvTranspose2d's forward.
    pub fn input_grad<T: Copy + Into<f64>>(
        g: &Conv2d,
        dy: &[T],
        w: &[T],
        bias: Option<&[T]>,
    ) -> Vec<f64> {
        let plane = g.in_h * g.in_w;
        let mut dx: Vec<f64> = (0..g.x_len())
            .map(|i| bias.map_or(0.0, |b| b[i / plane % g.in_c].into()))
            .collect();
        each_term(g, |yi, xi, wi| dx[xi] += dy[yi].into() * w[wi].into());
        dx
    }

    /// dw = Σ dy · x over every term.
    pub fn weight_grad<T: Copy + Into<f64>>(g: &Conv2d, dy: &[T], x: &[T]) -> Vec<f64> {
        let mut dw = vec![0.0; g.w_len()];
        each_term(g, |yi, xi, wi| dw[wi] += dy[yi].into() * x[xi].into());
        dw
    }
}
