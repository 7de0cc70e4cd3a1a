//! Matrix products with a fused epilogue (matmul.wgsl): the three
//! products of a dense layer, with bias and activation applied as each
//! output is stored. The tile shape per adapter and its search are in
//! [`tiles`]; the f64 reference is [`reference`].

pub mod tiles;

use super::activation::Activation;
use super::conv::{Conv2d, ConvProduct};
use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;
pub use tiles::{Layout, MatmulTiles, Tuning, tiles, tune};

pub const WGSL: &str = include_str!("matmul.wgsl");

/// Which operands are stored transposed (see the shader's header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// C = A · Bᵀ, A [M, K], B [N, K]: a dense layer's forward, X · Wᵀ.
    NT,
    /// C = A · B, A [M, K], B [K, N]: the input gradient, dY · W.
    NN,
    /// C = Aᵀ · B, A [K, M], B [K, N]: the weight gradient, dYᵀ · X.
    TN,
}

impl Form {
    fn transposes(self) -> (bool, bool) {
        match self {
            Form::NT => (false, true),
            Form::NN => (false, false),
            Form::TN => (true, false),
        }
    }
}

/// C[m, n] = act(op(A) · op(B) (+ C) (+ bias)).
#[derive(Clone, Copy, Debug)]
pub struct Matmul {
    pub form: Form,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub activation: Activation,
    /// Add the product to what C holds instead of overwriting it.
    pub accumulate: bool,
    /// A tile shape other than the adapter's (for tuning and tests).
    pub tiles: Option<MatmulTiles>,
    /// One of a convolution's products, its operands gathered (ops::conv
    /// makes these).
    pub conv: Option<(ConvProduct, Conv2d)>,
}

impl Matmul {
    pub fn new(form: Form, m: usize, n: usize, k: usize) -> Self {
        Matmul {
            form,
            m,
            n,
            k,
            activation: Activation::None,
            accumulate: false,
            tiles: None,
            conv: None,
        }
    }

    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    pub fn accumulate(mut self, yes: bool) -> Self {
        self.accumulate = yes;
        self
    }

    pub fn tiles(mut self, t: MatmulTiles) -> Self {
        self.tiles = Some(t);
        self
    }

    /// 2·M·N·K.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// Prepares C = act(op(A) · op(B) (+ C) (+ bias)).
pub fn matmul(
    gpu: &Gpu,
    spec: &Matmul,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    c: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "matmul";
    let Matmul { m, n, k, .. } = *spec;
    if m == 0 || n == 0 || k == 0 {
        return Err(Error::shape(OP, format!("empty product {m}x{n}x{k}")));
    }
    // A convolution's operands are gathered: ops::conv checks their sizes.
    if spec.conv.is_none() {
        expect_len(OP, "A", a, m * k)?;
        expect_len(OP, "B", b, k * n)?;
        expect_len(OP, "C", c, m * n)?;
    }
    if let Some(bias) = bias {
        // A convolution's bias is per channel: per row.
        expect_len(OP, "bias", bias, if spec.conv.is_some() { m } else { n })?;
    }
    let bias_t = bias.unwrap_or(a);
    expect_distinct(OP, &[("C", c)], &[("A", a), ("B", b), ("bias", bias_t)])?;
    let tiles = spec.tiles.unwrap_or_else(|| tiles(gpu));
    if !tiles.fits(&gpu.limits) {
        return Err(Error::shape(
            OP,
            format!("tile {tiles} does not fit this adapter"),
        ));
    }
    let (ta, tb) = spec.form.transposes();
    let tiles = tiles.fitted(m, n);
    // On a CPU adapter, the vec4 variant of the product when its lengths
    // allow (see the shader).
    let (name, vec4) = match (tiles.layout, spec.form) {
        (Layout::Shared, _) => ("main", false),
        (Layout::Rows, _) if tiles.tm == 1 => ("main_rows_1", false),
        (Layout::Rows, _) if spec.conv.is_some() => ("main_rows_conv", false),
        (Layout::Rows, Form::NT) if k % 4 == 0 => ("main_rows_nt4", true),
        (Layout::Rows, Form::NN) if k % 4 == 0 && n % 4 == 0 => ("main_rows_nn4", true),
        (Layout::Rows, Form::TN) if m % 4 == 0 && n % 4 == 0 => ("main_rows_tn4", true),
        (Layout::Rows, _) => ("main_rows", false),
    };
    let entry = Entry::new("matmul.wgsl", WGSL, name)
        .with("WX", format!("{}u", tiles.wx))
        .with("WY", format!("{}u", tiles.wy))
        .with("TM", format!("{}u", tiles.tm))
        .with("TN", format!("{}u", tiles.tn))
        .with("BK", format!("{}u", tiles.bk.max(1)))
        .with("TRANS_A", ta)
        .with("TRANS_B", tb)
        .with("HAS_BIAS", bias.is_some())
        .with("ACCUMULATE", spec.accumulate)
        .with("ACT", format!("{}u", spec.activation.code()))
        .with(
            "CONV",
            format!("{}u", spec.conv.map_or(0, |(p, _)| p.code())),
        );
    let entry = match spec.conv {
        Some((_, g)) => g.specialise(entry)?,
        None => entry,
    };
    let uniforms = [
        ("m", expect_u32(OP, "M", m)?.into()),
        ("n", expect_u32(OP, "N", n)?.into()),
        ("k", expect_u32(OP, "K", k)?.into()),
        ("slope", spec.activation.slope().into()),
    ];
    // A convolution's input product runs one sub-pixel class of positions
    // per workgroup z (matmul.wgsl).
    let classes = match spec.conv {
        Some((ConvProduct::Input, g)) => expect_u32(OP, "stride", g.stride * g.stride)?,
        _ => 1,
    };
    let groups = [
        (n as u32).div_ceil(tiles.bn()),
        (m as u32).div_ceil(tiles.bm()),
        classes,
    ];
    let (a_name, b_name) = if vec4 { ("a_v4", "b_v4") } else { ("a", "b") };
    // Without a bias the shader never reads it, but still binds it.
    let tensors = [(a_name, a), (b_name, b), ("bias", bias_t), ("c", c)];
    gpu.kernel(&entry, &uniforms, &tensors, groups)
}

/// The f64 references of the products and of the whole fused kernel.
pub mod reference {
    use super::Form;
    use crate::ops::activation::{Activation, reference::activate};

    /// op(A) · op(B) for a [`Form`]; A, B row-major as the shader stores
    /// them.
    pub fn matmul<T: Copy + Into<f64>>(
        form: Form,
        m: usize,
        n: usize,
        k: usize,
        a: &[T],
        b: &[T],
    ) -> Vec<f64> {
        let at = |i: usize, p: usize| match form {
            Form::TN => a[p * m + i].into(),
            _ => a[i * k + p].into(),
        };
        let bt = |p: usize, j: usize| match form {
            Form::NT => b[j * k + p].into(),
            _ => b[p * n + j].into(),
        };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
        c
    }

    /// The matmul kernel's whole computation: act(op(A)·op(B) (+ C) (+ bias)).
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_fused<T: Copy + Into<f64>>(
        form: Form,
        m: usize,
        n: usize,
        k: usize,
        a: &[T],
        b: &[T],
        bias: Option<&[T]>,
        c_old: Option<&[T]>,
        act: Activation,
    ) -> Vec<f64> {
        let mut c = matmul(form, m, n, k, a, b);
        for i in 0..m {
            for j in 0..n {
                let v = &mut c[i * n + j];
                if let Some(old) = c_old {
                    *v += old[i * n + j].into();
                }
                if let Some(bias) = bias {
                    *v += bias[j].into();
                }
                *v = activate(act, *v);
            }
        }
        c
    }
}
