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
use crate::gpu::tensor::{Tensor, Texture};
pub use tiles::{Layout, MatmulTiles, Tuning, tiles, tune};

/// The products with the CPU adapters' entry points that load every
/// operand themselves (any adapter).
pub const WGSL: &str = concat!(
    include_str!("matmul.wgsl"),
    include_str!("matmul_alone.wgsl"),
    include_str!("matmul_b_buffer.wgsl")
);
/// The same with the CPU entry points that share A's rows across a
/// subgroup (adapters with subgroups of 8 or more lanes).
pub const WGSL_LANES: &str = concat!(
    include_str!("matmul.wgsl"),
    include_str!("matmul_lanes.wgsl"),
    include_str!("matmul_b_buffer.wgsl")
);
/// [`WGSL_LANES`] with the vec4 kernels' B fetched from a texture
/// ([`matmul_b_texture`]).
pub const WGSL_LANES_TEXTURE: &str = concat!(
    include_str!("matmul.wgsl"),
    include_str!("matmul_lanes.wgsl"),
    include_str!("matmul_b_texture.wgsl")
);

/// The three modules by name, as kernels and the shader tests name them.
pub const SHADER: (&str, &str) = (
    "matmul.wgsl + matmul_alone.wgsl + matmul_b_buffer.wgsl",
    WGSL,
);
pub const SHADER_LANES: (&str, &str) = (
    "matmul.wgsl + matmul_lanes.wgsl + matmul_b_buffer.wgsl",
    WGSL_LANES,
);
pub const SHADER_LANES_TEXTURE: (&str, &str) = (
    "matmul.wgsl + matmul_lanes.wgsl + matmul_b_texture.wgsl",
    WGSL_LANES_TEXTURE,
);

/// Whether the CPU kernels of tile `tiles` take their lanes form, which
/// needs whole subgroups of 8 lanes or more (and alone reads B from a
/// texture).
fn lanes(gpu: &Gpu, tiles: &MatmulTiles) -> bool {
    tiles.lanes
        && tiles.layout == Layout::Rows
        && gpu
            .subgroups()
            .is_some_and(|(min, max)| min >= 8 && tiles.wx.is_multiple_of(max))
}

/// Whether this adapter's products can read B from a texture
/// ([`matmul_b_texture`]): its tile's CPU kernels take the lanes form.
pub fn reads_b_textures(gpu: &Gpu) -> bool {
    lanes(gpu, &tiles(gpu))
}

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

    /// B's shape as stored: [N, K] for NT, else [K, N].
    pub fn b_stored(&self) -> [usize; 2] {
        match self.form {
            Form::NT => [self.n, self.k],
            Form::NN | Form::TN => [self.k, self.n],
        }
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
    product(gpu, spec, a, b, None, bias, c)
}

/// [`matmul`] fetching B from `b_texture`, a copy of B as stored (NT:
/// [N, K]; NN and TN: [K, N]), where this adapter's kernel reads B as
/// vec4s (a CPU adapter's vec4 kernels with subgroups: plain products
/// whose lengths are multiples of 4, not split): there a texel fetch is
/// a gather, faster than a storage load (docs/design.md). Elsewhere B
/// comes from `b`. The same bits either way.
pub fn matmul_b_texture(
    gpu: &Gpu,
    spec: &Matmul,
    a: &Tensor,
    (b, b_texture): (&Tensor, &Texture),
    bias: Option<&Tensor>,
    c: &Tensor,
) -> Result<Kernel> {
    let [rows, cols] = spec.b_stored();
    if (b_texture.rows, b_texture.cols) != (rows, cols) {
        return Err(Error::shape(
            "matmul",
            format!(
                "B's texture is {} x {}; B is stored {rows} x {cols}",
                b_texture.rows, b_texture.cols
            ),
        ));
    }
    product(gpu, spec, a, b, Some(b_texture), bias, c)
}

fn product(
    gpu: &Gpu,
    spec: &Matmul,
    a: &Tensor,
    b: &Tensor,
    b_texture: Option<&Texture>,
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
    let split = split_k(spec);
    // The thin kernel for thin products; on a CPU adapter, the vec4
    // variant of the product when its lengths allow (see the shader).
    let (name, vec4) = match (tiles.layout, spec.form) {
        (Layout::Shared, _) if is_thin(m, n) => ("main_thin", false),
        (Layout::Shared, _) => ("main", false),
        // A CPU adapter's rows kernel puts columns side by side: fewer than
        // 4 columns leave most lanes idle, fewer than 4 rows have
        // `main_rows_1`.
        (Layout::Rows, _) if is_thin(m, n) && n < 4 => ("main_thin", false),
        (Layout::Rows, _) if tiles.tm == 1 => ("main_rows_1", false),
        (Layout::Rows, _) if spec.conv.is_some() => ("main_rows_conv", false),
        (Layout::Rows, Form::NT) if k % 4 == 0 => ("main_rows_nt4", true),
        (Layout::Rows, Form::NN) if k % 4 == 0 && n % 4 == 0 => ("main_rows_nn4", true),
        (Layout::Rows, Form::TN) if m % 4 == 0 && n % 4 == 0 => ("main_rows_tn4", true),
        (Layout::Rows, _) => ("main_rows", false),
    };
    // Workgroup z: a convolution's input product runs one sub-pixel class
    // of positions per workgroup z (matmul.wgsl); a split product one
    // slice of k.
    let (slices, k_slice) = split.unwrap_or((1, k));
    let z = match spec.conv {
        Some((ConvProduct::Input, g)) => expect_u32(OP, "stride", g.stride * g.stride)?,
        _ => slices as u32,
    };
    // A CPU adapter's convolution products run unfolded (matmul.wgsl) where
    // their operands are whole vec4s and fit the budget: the forward and
    // input products by `main_rows_nt4`, the weight gradient by
    // `main_rows_nn4`.
    let classes = z as usize;
    let unfolded = name == "main_rows_conv"
        && k % 4 == 0
        && match spec.conv {
            Some((ConvProduct::Forward | ConvProduct::Input, _)) => {
                classes * n * k * 4 <= UNFOLD_BYTES
            }
            _ => false,
        };
    let weight_unfolded = name == "main_rows_conv"
        && matches!(spec.conv, Some((ConvProduct::Weight, _)))
        && k % 4 == 0
        && n % 4 == 0
        && (m + n) * k * 4 <= UNFOLD_BYTES;
    // Only the vec4 kernels (and the unfolded convolutions, which run on
    // them) have the 16- and 32-row forms.
    let vec4_rows = matches!(name, "main_rows_nt4" | "main_rows_nn4" | "main_rows_tn4")
        || unfolded
        || weight_unfolded;
    let tiles = match tiles.layout {
        Layout::Rows if !vec4_rows => MatmulTiles {
            tm: tiles.tm.min(8),
            ..tiles
        },
        _ => tiles,
    };
    let lanes = lanes(gpu, &tiles);
    let b_texture = b_texture.filter(|_| lanes && vec4 && spec.conv.is_none() && split.is_none());
    let (shader, source) = match (lanes, b_texture) {
        (true, Some(_)) => SHADER_LANES_TEXTURE,
        (true, None) => SHADER_LANES,
        (false, _) => SHADER,
    };
    // A split product's first pass writes plain sums; the epilogue belongs
    // to the second.
    let specialised = |name, epilogue: bool| {
        let entry = Entry::new(shader, source, name)
            .with("WX", format!("{}u", tiles.wx))
            .with("WY", format!("{}u", tiles.wy))
            .with("TM", format!("{}u", tiles.tm))
            .with("TN", format!("{}u", tiles.tn))
            .with("BK", format!("{}u", tiles.bk.max(1)))
            .with("TRANS_A", ta)
            .with("TRANS_B", tb)
            .with("HAS_BIAS", epilogue && bias.is_some())
            .with("ACCUMULATE", epilogue && spec.accumulate)
            .with(
                "ACT",
                format!("{}u", if epilogue { spec.activation.code() } else { 0 }),
            )
            .with(
                "CONV",
                format!("{}u", spec.conv.map_or(0, |(p, _)| p.code())),
            )
            .with("SPLIT", split.is_some())
            .with("THIN", format!("{THIN}u"));
        match spec.conv {
            Some((_, g)) => g.specialise(entry),
            None => Ok(entry),
        }
    };
    let uniforms = [
        ("m", expect_u32(OP, "M", m)?.into()),
        ("n", expect_u32(OP, "N", n)?.into()),
        ("k", expect_u32(OP, "K", k)?.into()),
        ("slope", spec.activation.slope().into()),
        ("k_slice", expect_u32(OP, "K", k_slice)?.into()),
        ("slices", expect_u32(OP, "slices", slices)?.into()),
    ];
    let groups = if name == "main_thin" {
        let [x, y, _] = gpu.grid(expect_u32(OP, "outputs", m * n)?.div_ceil(THIN));
        [x, y, z]
    } else {
        [
            (n as u32).div_ceil(tiles.bn()),
            (m as u32).div_ceil(tiles.bm()),
            z,
        ]
    };
    let (a_name, b_name) = if vec4 { ("a_v4", "b_v4") } else { ("a", "b") };
    // The unfolds' workgroups: a thread per vec4 of the unfolded operand.
    let unfold_grid = |len: usize, z: u32| -> Result<[u32; 3]> {
        let [x, y, _] = gpu.grid(expect_u32(OP, "unfolded", len / 4)?.div_ceil(THIN));
        Ok([x, y, z])
    };
    // A convolution's forward or input product, unfolded.
    if unfolded {
        let grid = |len: usize| unfold_grid(len, z);
        let cols = gpu.zeros(classes * n * k)?;
        let mut first = gpu.kernel(
            &specialised("unfold", false)?,
            &uniforms,
            &[("b", b), ("cols", &cols)],
            grid(n * k)?,
        )?;
        let mut a = a;
        let w_cols;
        if matches!(spec.conv, Some((ConvProduct::Input, _))) {
            w_cols = gpu.zeros(classes * m * k)?;
            let taps = gpu.kernel(
                &specialised("unfold_weights", false)?,
                &uniforms,
                &[("a", a), ("cols", &w_cols)],
                grid(m * k)?,
            )?;
            first = taps.then(first);
            a = &w_cols;
        }
        let product = gpu.kernel(
            &specialised("main_rows_nt4", true)?,
            &uniforms,
            &[("a_v4", a), ("b_v4", &cols), ("bias", bias_t), ("c", c)],
            groups,
        )?;
        return Ok(first.then(product));
    }
    // A convolution's weight gradient, unfolded: `unfold_weights` writes
    // dy as a matrix [out_c, positions], `unfold` im2col(x) [positions,
    // taps] as for the forward product (n and k swapped), and
    // `main_rows_nn4` multiplies them (matmul.wgsl).
    let (mut name, mut a_name, mut b_name, mut a, mut b) = (name, a_name, b_name, a, b);
    let mut unfold = None;
    let (dy_rows, x_cols);
    if weight_unfolded {
        let grid = |len: usize| unfold_grid(len, 1);
        dy_rows = gpu.zeros(m * k)?;
        x_cols = gpu.zeros(n * k)?;
        let mut swapped = uniforms;
        swapped[1].1 = uniforms[2].1;
        swapped[2].1 = uniforms[1].1;
        let rows = gpu.kernel(
            &specialised("unfold_weights", false)?,
            &uniforms,
            &[("a", a), ("cols", &dy_rows)],
            grid(m * k)?,
        )?;
        let cols = gpu.kernel(
            &specialised("unfold", false)?,
            &swapped,
            &[("b", b), ("cols", &x_cols)],
            grid(n * k)?,
        )?;
        unfold = Some(rows.then(cols));
        (name, a_name, b_name) = ("main_rows_nn4", "a_v4", "b_v4");
        (a, b) = (&dy_rows, &x_cols);
    }
    // The operands and C; the kernels with adjacent columns also store C
    // four elements at a time, through `c_v4` (the same tensor).
    let c_v4 = matches!(name, "main_rows_nn4" | "main_rows_tn4");
    let bound = |c| {
        let mut t = vec![(a_name, a), ("bias", bias_t), ("c", c)];
        if b_texture.is_none() {
            t.push((b_name, b));
        }
        if c_v4 {
            t.push(("c_v4", c));
        }
        t
    };
    let textures: Vec<(&str, &Texture)> = b_texture.map(|t| ("b_tex", t)).into_iter().collect();
    let product = match split {
        None => {
            // Without a bias the shader never reads it, but still binds it.
            let entry = specialised(name, true)?;
            gpu.kernel_with_textures(&entry, &uniforms, &bound(c), &textures, groups)?
        }
        Some((slices, _)) => {
            // Split-K: the slices' copies of C, then their sum in order into C.
            let parts = gpu.zeros(slices * m * n)?;
            let first = gpu.kernel(
                &specialised(name, false)?,
                &uniforms,
                &bound(&parts),
                groups,
            )?;
            let [x, y, _] = gpu.grid(expect_u32(OP, "outputs", m * n)?.div_ceil(THIN));
            let sum = gpu.kernel(
                &specialised("sum_slices", true)?,
                &uniforms,
                &[("parts", &parts), ("bias", bias_t), ("c", c)],
                [x, y, 1],
            )?;
            first.then(sum)
        }
    };
    Ok(match unfold {
        Some(u) => u.then(product),
        None => product,
    })
}

/// Threads a workgroup of `main_thin`, `sum_slices` and the unfolds (THIN
/// in the shader, set from here).
const THIN: u32 = 64;

/// The most a convolution's product unfolds on a CPU adapter (im2col of
/// all classes; for the weight gradient dy's rows and im2col together); a
/// larger one is gathered as it is multiplied.
const UNFOLD_BYTES: usize = 64 << 20;

/// A product with an M or N of 1 to 4 and few outputs (a logit layer and
/// its gradients): one thread an output (`main_thin`).
pub fn is_thin(m: usize, n: usize) -> bool {
    m.min(n) <= 4 && m * n <= 1 << 16
}

/// The slices of k of a product with few outputs and a long k, and their
/// length: (slices, k_slice), or None to sum k whole. A function of the
/// shape alone (never of the adapter or the tile), so that every adapter
/// and tile adds each output's products in the same order. A convolution's
/// forward and input products, which store NCHW and have many outputs, are
/// not split.
pub fn split_k(spec: &Matmul) -> Option<(usize, usize)> {
    const SLICE: usize = 2048;
    const MAX_SLICES: usize = 64;
    let Matmul { m, n, k, .. } = *spec;
    let row_major = !matches!(
        spec.conv,
        Some((ConvProduct::Forward | ConvProduct::Input, _))
    );
    if !row_major || k < 2 * SLICE || m * n > 1 << 16 {
        return None;
    }
    // A multiple of 16, so that a slice is whole vec4s and whole BK tiles.
    let k_slice = SLICE.max(k.div_ceil(MAX_SLICES).next_multiple_of(16));
    Some((k.div_ceil(k_slice), k_slice))
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
