//! The matmul tile shape per adapter: a default by adapter type, or the
//! winner of a short timed search the first time an adapter is used,
//! cached on disk per adapter and driver (`~/.cache/shadergan/tiles.json`,
//! or under `$XDG_CACHE_HOME`). The choice is kept in the [`Gpu`]'s store,
//! where [`tiles`] finds it.
//!
//! Every shape sums each output's products in the same order, so the
//! choice changes the speed, never the bits.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use super::{Form, Matmul, matmul};
use crate::error::Result;
use crate::gpu::Gpu;

/// How a matmul kernel splits the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `main`: operand tiles staged in workgroup memory, each of WX × WY
    /// threads computing TM × TN outputs (strided). For GPUs.
    Shared,
    /// `main_rows`: no workgroup memory and no barrier; a workgroup of WX
    /// threads owns TM rows (8, or 16 or 32 in the vec4 kernels), each thread 8
    /// columns (TN = 8, WY = 1). For CPU adapters.
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
    /// Rows: share A's rows across each subgroup (matmul_lanes.wgsl)
    /// where the adapter has subgroups of 8 lanes or more; `false` makes
    /// every thread load them (matmul_alone.wgsl), as on adapters without.
    pub lanes: bool,
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
            lanes: false,
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
            lanes: true,
        }
    }

    /// This Rows shape with 32 rows per workgroup instead of 8, where the
    /// product has a vec4 kernel (others keep 8): each load of B feeds four
    /// times the FMAs.
    pub const fn tall(self) -> Self {
        self.with_rows(32)
    }

    /// This Rows shape with `tm` rows per workgroup (1, 8, 16 or 32).
    pub const fn with_rows(self, tm: u32) -> Self {
        MatmulTiles { tm, ..self }
    }

    /// This Rows shape without the subgroup sharing of A's rows.
    pub const fn alone(self) -> Self {
        MatmulTiles {
            lanes: false,
            ..self
        }
    }

    /// The Rows layout fitted to a product of m × n: one row per thread
    /// (`main_rows_1`) under 4 rows, where 8 would mostly compute nothing,
    /// 8 under 16, 16 under 32, and no more threads than n's columns need.
    /// Each output still sums its products in the same order.
    pub fn fitted(self, m: usize, n: usize) -> Self {
        if self.layout != Layout::Rows {
            return self;
        }
        let needed = (n.div_ceil(self.tn as usize).next_power_of_two() as u32).max(1);
        let tm = match m {
            0..4 => 1,
            4..16 => self.tm.min(8),
            16..32 => self.tm.min(16),
            _ => self.tm,
        };
        MatmulTiles {
            wx: self.wx.min(needed),
            tm,
            ..self
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
            Layout::Rows => self.wy == 1 && matches!(self.tm, 1 | 8 | 16 | 32) && self.tn == 8,
        };
        shape_ok
            && self.wx > 0
            && self.wy > 0
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

    /// A CPU adapter: one SIMD width (8 threads) of 32 × 8 outputs each
    /// (8 × 8 where the product has no vec4 kernel), 32 × 64 per
    /// workgroup, no workgroup memory (examples/matmul_tiles: on lavapipe
    /// at 1024³, 44 to 50 GFLOP/s for NT and NN against 35 to 39 and 24
    /// with 16 rows, and far above the best shared-tile shape).
    pub const CPU: Self = Self::rows(8).tall();
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
                "{}x{} per workgroup ({} threads x {}x8 outputs, no workgroup memory{})",
                self.bm(),
                self.bn(),
                self.wx,
                self.tm,
                if self.lanes { "" } else { ", no subgroups" }
            ),
        }
    }
}

/// The tile shape matmuls on `gpu` use: the one [`tune`] chose, else the
/// adapter type's default.
pub fn tiles(gpu: &Gpu) -> MatmulTiles {
    gpu.chosen::<MatmulTiles>()
        .unwrap_or_else(|| MatmulTiles::for_adapter(&gpu.info, &gpu.limits))
}

/// The shapes tried on an adapter of this type.
pub fn candidates(device_type: wgpu::DeviceType) -> Vec<MatmulTiles> {
    let mut v = vec![
        MatmulTiles::rows(8).tall(),
        MatmulTiles::rows(16).tall(),
        MatmulTiles::rows(8).with_rows(16),
        MatmulTiles::rows(8),
        MatmulTiles::rows(16),
        MatmulTiles::rows(32),
        MatmulTiles::new(16, 16, 4, 4, 16),
        MatmulTiles::new(8, 8, 8, 8, 16),
        MatmulTiles::new(16, 8, 4, 8, 16),
        MatmulTiles::new(8, 8, 4, 4, 8),
    ];
    if device_type == wgpu::DeviceType::Cpu {
        // Shared tiles never won on a CPU adapter: keep the search short.
        v.retain(|t| t.layout == Layout::Rows);
    }
    v
}

/// The products [`tune`] times: the reference generator's two largest
/// layers and a square.
pub const TUNING_SHAPES: [(Form, usize, usize, usize); 3] = [
    (Form::NT, 64, 1024, 512),
    (Form::NT, 64, 784, 1024),
    (Form::NT, 256, 256, 256),
];

/// A timed product's operand of `len` values in [-0.5, 0.5): written,
/// because on a CPU adapter a buffer never written may read from one
/// shared page of zeros, always in cache.
pub fn operand(gpu: &Gpu, len: usize) -> Result<crate::gpu::tensor::Tensor> {
    let v: Vec<f32> = (0..len).map(|i| (i % 251) as f32 / 251.0 - 0.5).collect();
    gpu.upload(&v)
}

/// Seconds per product of each of `shapes` with tile `t`: the best of
/// `repeats` timings of three back-to-back dispatches, after a warm-up.
pub fn time(
    gpu: &Gpu,
    t: MatmulTiles,
    shapes: &[(Form, usize, usize, usize)],
    repeats: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for &(form, m, n, k) in shapes {
        let (a, b, c) = (
            operand(gpu, m * k)?,
            operand(gpu, k * n)?,
            gpu.zeros(m * n)?,
        );
        let kern = matmul(gpu, &Matmul::new(form, m, n, k).tiles(t), &a, &b, None, &c)?;
        gpu.run(&[&kern])?;
        let mut best = f64::INFINITY;
        for _ in 0..repeats {
            let start = Instant::now();
            gpu.run(&[&kern, &kern, &kern])?;
            best = best.min(start.elapsed().as_secs_f64() / 3.0);
        }
        out.push(best);
    }
    Ok(out)
}

/// How far [`tune`] may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// The cached shape if there is one, else the adapter type's default.
    CacheOnly,
    /// The cached shape, else a search (a few seconds) whose result is cached.
    CacheOrSearch,
    /// A new search, whatever the cache holds.
    Search,
}

fn cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("shadergan").join("tiles.json"))
}

/// The kernels' revision: raised when a change to matmul.wgsl may change
/// which shape wins, so that choices timed with older kernels are timed
/// again (2: the CPU layout's subgroup form; 3: its 16-row form; 4: its
/// 32-row form).
const KERNELS: u32 = 4;

fn key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {:?} | {} | {} | kernels {KERNELS}",
        info.name, info.backend, info.driver, info.driver_info
    )
}

/// A cache entry, as tiles.json stores it.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Cached {
    layout: String,
    wx: u32,
    wy: u32,
    tm: u32,
    tn: u32,
    bk: u32,
}

impl From<MatmulTiles> for Cached {
    fn from(t: MatmulTiles) -> Self {
        Cached {
            layout: format!("{:?}", t.layout),
            wx: t.wx,
            wy: t.wy,
            tm: t.tm,
            tn: t.tn,
            bk: t.bk,
        }
    }
}

impl Cached {
    fn tiles(&self) -> MatmulTiles {
        match self.layout.as_str() {
            "Rows" => MatmulTiles {
                tm: self.tm,
                ..MatmulTiles::rows(self.wx)
            },
            _ => MatmulTiles::new(self.wx, self.wy, self.tm, self.tn, self.bk),
        }
    }
}

/// The cache, or an empty one where it is missing or does not parse.
fn load() -> BTreeMap<String, Cached> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Chooses `gpu`'s tile shape as `mode` says. Returns a line saying what
/// happened. A cached shape this adapter cannot run is searched again.
pub fn tune(gpu: &Gpu, mode: Tuning) -> Result<String> {
    let mut cache = load();
    let k = key(&gpu.info);
    if mode != Tuning::Search {
        if let Some(t) = cache
            .get(&k)
            .map(Cached::tiles)
            .filter(|t| t.fits(&gpu.limits))
        {
            gpu.choose(t);
            return Ok(format!("matmul tile (cached): {t}"));
        }
        if mode == Tuning::CacheOnly {
            return Ok(format!("matmul tile (default): {}", tiles(gpu)));
        }
    }
    let mut best = (f64::INFINITY, tiles(gpu));
    for t in candidates(gpu.info.device_type)
        .into_iter()
        .filter(|t| t.fits(&gpu.limits))
    {
        let s: f64 = time(gpu, t, &TUNING_SHAPES, 3)?.iter().sum();
        if s < best.0 {
            best = (s, t);
        }
    }
    gpu.choose(best.1);
    cache.insert(k, best.1.into());
    if let Some(p) = cache_path() {
        let text = serde_json::to_string_pretty(&cache).expect("serialisable");
        // A cache that cannot be written only costs the search next time.
        let _ = std::fs::create_dir_all(p.parent().expect("a folder"));
        let _ = crate::files::write_atomic(&p, text.as_bytes());
    }
    Ok(format!("matmul tile (tuned now): {}", best.1))
}
