//! The matmul tile shape per adapter, chosen by a short timed search the
//! first time an adapter is used and cached on disk per adapter and driver
//! (`~/.cache/shadergan/tiles.json`, or under `$XDG_CACHE_HOME`).
//!
//! Every shape sums each output's products in the same order, so the
//! choice changes the speed, never the bits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::matmul::{Form, Layout, Matmul, MatmulTiles, matmul};

/// The shapes tried on an adapter of this type.
pub fn candidates(device_type: wgpu::DeviceType) -> Vec<MatmulTiles> {
    let mut v = vec![
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

fn cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("shadergan").join("tiles.json"))
}

fn key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {:?} | {} | {}",
        info.name, info.backend, info.driver, info.driver_info
    )
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Entry {
    layout: String,
    wx: u32,
    wy: u32,
    tm: u32,
    tn: u32,
    bk: u32,
}

impl From<MatmulTiles> for Entry {
    fn from(t: MatmulTiles) -> Self {
        Entry {
            layout: format!("{:?}", t.layout),
            wx: t.wx,
            wy: t.wy,
            tm: t.tm,
            tn: t.tn,
            bk: t.bk,
        }
    }
}

impl Entry {
    fn tiles(&self) -> MatmulTiles {
        match self.layout.as_str() {
            "Rows" => MatmulTiles::rows(self.wx),
            _ => MatmulTiles::new(self.wx, self.wy, self.tm, self.tn, self.bk),
        }
    }
}

fn load() -> BTreeMap<String, Entry> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Seconds for the tuning workload with `t`: the reference generator's
/// two largest layers, best of three.
fn measure(gpu: &Gpu, t: MatmulTiles) -> Result<f64> {
    let mut total = 0.0;
    for (m, n, k) in [(64, 1024, 512), (64, 784, 1024), (256, 256, 256)] {
        let (a, b, c) = (gpu.zeros(m * k)?, gpu.zeros(k * n)?, gpu.zeros(m * n)?);
        let kern = matmul(
            gpu,
            &Matmul::new(Form::NT, m, n, k).tiles(t),
            &a,
            &b,
            None,
            &c,
        )?;
        gpu.run(&[&kern])?;
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            gpu.run(&[&kern, &kern, &kern])?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        total += best;
    }
    Ok(total)
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

/// Sets `gpu.tiles` as `mode` says. Returns a line saying what happened.
pub fn tune(gpu: &mut Gpu, mode: Tuning) -> Result<String> {
    let mut cache = load();
    let k = key(&gpu.info);
    if mode != Tuning::Search {
        if let Some(e) = cache.get(&k) {
            let t = e.tiles();
            if t.fits(&gpu.limits) {
                gpu.tiles = t;
                return Ok(format!("matmul tile (cached): {t}"));
            }
        }
        if mode == Tuning::CacheOnly {
            return Ok(format!("matmul tile (default): {}", gpu.tiles));
        }
    }
    let mut best = (f64::INFINITY, gpu.tiles);
    for t in candidates(gpu.info.device_type)
        .into_iter()
        .filter(|t| t.fits(&gpu.limits))
    {
        let s = measure(gpu, t)?;
        if s < best.0 {
            best = (s, t);
        }
    }
    gpu.tiles = best.1;
    cache.insert(k, best.1.into());
    if let Some(p) = cache_path() {
        let text = serde_json::to_string_pretty(&cache).expect("serialisable");
        // A cache that cannot be written only costs the search next time.
        let _ = std::fs::create_dir_all(p.parent().expect("a folder"));
        let _ = crate::checkpoint::write_atomic(&p, text.as_bytes());
    }
    Ok(format!("matmul tile (tuned now): {}", best.1))
}
