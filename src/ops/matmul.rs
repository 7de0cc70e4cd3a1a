//! Matrix products with a fused epilogue (shaders/matmul.wgsl).

use std::fmt;

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

/// How a matmul kernel splits the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `main`: operand tiles staged in workgroup memory, each of WX × WY
    /// threads computing TM × TN outputs (strided). For GPUs.
    Shared,
    /// `main_rows`: no workgroup memory and no barrier; a workgroup of WX
    /// threads owns 8 rows, each thread 8 columns (TM = TN = 8, WY = 1).
    /// For CPU adapters.
    Rows,
}

/// The shape of the work of one workgroup: WX × WY threads, each computing
/// TM × TN outputs, staging BK-deep slices of the operands (Shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulTiles {
    pub layout: Layout,
    pub wx: u32,
    pub wy: u32,
    pub tm: u32,
    pub tn: u32,
    pub bk: u32,
}

impl MatmulTiles {
    pub const fn new(wx: u32, wy: u32, tm: u32, tn: u32, bk: u32) -> Self {
        MatmulTiles {
            layout: Layout::Shared,
            wx,
            wy,
            tm,
            tn,
            bk,
        }
    }

    /// The barrier-free CPU layout with `wx` threads per workgroup.
    pub const fn rows(wx: u32) -> Self {
        MatmulTiles {
            layout: Layout::Rows,
            wx,
            wy: 1,
            tm: 8,
            tn: 8,
            bk: 0,
        }
    }

    /// Rows of C per workgroup.
    pub fn bm(&self) -> u32 {
        self.wy * self.tm
    }

    /// Columns of C per workgroup.
    pub fn bn(&self) -> u32 {
        self.wx * self.tn
    }

    pub fn workgroup_bytes(&self) -> u32 {
        match self.layout {
            Layout::Shared => 4 * self.bk * (self.bm() + self.bn()),
            Layout::Rows => 0,
        }
    }

    /// Whether the adapter can run this shape.
    pub fn fits(&self, limits: &wgpu::Limits) -> bool {
        let shape_ok = match self.layout {
            Layout::Shared => self.bk > 0 && self.tm > 0 && self.tn > 0,
            Layout::Rows => self.wy == 1 && self.tm == 8 && self.tn == 8,
        };
        shape_ok
            && self.wx * self.wy <= limits.max_compute_invocations_per_workgroup
            && self.wx <= limits.max_compute_workgroup_size_x
            && self.wy <= limits.max_compute_workgroup_size_y
            && self.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
    }

    /// The shape for an adapter. A CPU adapter (lavapipe) runs a
    /// workgroup's invocations as the SIMD lanes of one core and pays for
    /// every barrier, so it gets the barrier-free layout; a GPU gets many
    /// threads with a small register block and shared tiles.
    pub fn for_adapter(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Self {
        let preferred = match info.device_type {
            wgpu::DeviceType::Cpu => [Self::CPU, Self::GPU_SMALL, Self::SAFE],
            _ => [Self::GPU, Self::GPU_SMALL, Self::SAFE],
        };
        preferred
            .into_iter()
            .find(|t| t.fits(limits))
            .unwrap_or(Self::SAFE)
    }

    /// A CPU adapter: one SIMD width (8 threads) of 8 × 8 outputs each,
    /// 8 × 64 per workgroup, no workgroup memory (examples/matmul_tiles:
    /// 10 GFLOP/s on lavapipe at 512³, against 4.4 for the best shared-tile
    /// shape).
    pub const CPU: Self = Self::rows(8);
    /// A GPU: 256 threads of 4 × 4 outputs, 64 × 64 per workgroup.
    pub const GPU: Self = Self::new(16, 16, 4, 4, 16);
    pub const GPU_SMALL: Self = Self::new(8, 8, 4, 4, 8);
    /// Fits the WebGPU minimum limits.
    pub const SAFE: Self = Self::new(8, 8, 2, 2, 8);
}

impl fmt::Display for MatmulTiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layout {
            Layout::Shared => write!(
                f,
                "{}x{} per workgroup ({}x{} threads x {}x{} outputs, shared tiles {} deep)",
                self.bm(),
                self.bn(),
                self.wy,
                self.wx,
                self.tm,
                self.tn,
                self.bk
            ),
            Layout::Rows => write!(
                f,
                "{}x{} per workgroup ({} threads x 8x8 outputs, no workgroup memory)",
                self.bm(),
                self.bn(),
                self.wx
            ),
        }
    }
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

/// An elementwise function fused after a matmul or dispatched on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    None,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::LeakyRelu(_) => 1,
            Activation::Tanh => 2,
            Activation::Sigmoid => 3,
        }
    }

    pub(crate) fn slope(self) -> f32 {
        match self {
            Activation::LeakyRelu(s) => s,
            _ => 0.0,
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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    slope: f32,
}

const BINDINGS: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::Read),
    (3, Access::Read),
    (4, Access::ReadWrite),
];

/// The vec4 variants read A and B through vec4 views (bindings 5 and 6).
const BINDINGS_V4: &[(u32, Access)] = &[
    (5, Access::Read),
    (6, Access::Read),
    (3, Access::Read),
    (4, Access::ReadWrite),
];

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
    expect_len(OP, "A", a, m * k)?;
    expect_len(OP, "B", b, k * n)?;
    expect_len(OP, "C", c, m * n)?;
    if let Some(bias) = bias {
        expect_len(OP, "bias", bias, n)?;
    }
    let bias_t = bias.unwrap_or(a);
    expect_distinct(OP, &[("C", c)], &[("A", a), ("B", b), ("bias", bias_t)])?;
    let tiles = spec.tiles.unwrap_or(gpu.tiles);
    if !tiles.fits(&gpu.limits) {
        return Err(Error::shape(
            OP,
            format!("tile {tiles} does not fit this adapter"),
        ));
    }
    let (ta, tb) = spec.form.transposes();
    // On a CPU adapter, the vec4 variant of the product when its lengths
    // allow (see the shader).
    let (name, bindings) = match (tiles.layout, spec.form) {
        (Layout::Shared, _) => ("main", BINDINGS),
        (Layout::Rows, Form::NT) if k % 4 == 0 => ("main_rows_nt4", BINDINGS_V4),
        (Layout::Rows, Form::NN) if k % 4 == 0 && n % 4 == 0 => ("main_rows_nn4", BINDINGS_V4),
        (Layout::Rows, Form::TN) if m % 4 == 0 && n % 4 == 0 => ("main_rows_tn4", BINDINGS_V4),
        (Layout::Rows, _) => ("main_rows", BINDINGS),
    };
    let entry = Entry::new("matmul.wgsl", shaders::MATMUL, name, bindings)
        .with("WX", format!("{}u", tiles.wx))
        .with("WY", format!("{}u", tiles.wy))
        .with("TM", format!("{}u", tiles.tm))
        .with("TN", format!("{}u", tiles.tn))
        .with("BK", format!("{}u", tiles.bk.max(1)))
        .with("TRANS_A", ta)
        .with("TRANS_B", tb)
        .with("HAS_BIAS", bias.is_some())
        .with("ACCUMULATE", spec.accumulate)
        .with("ACT", format!("{}u", spec.activation.code()));
    let params = Params {
        m: expect_u32(OP, "M", m)?,
        n: expect_u32(OP, "N", n)?,
        k: expect_u32(OP, "K", k)?,
        slope: spec.activation.slope(),
    };
    let groups = [
        (n as u32).div_ceil(tiles.bn()),
        (m as u32).div_ceil(tiles.bm()),
        1,
    ];
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&params),
        &[a, b, bias_t, c],
        groups,
    )
}
