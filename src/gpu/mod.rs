//! The GPU context, the bottom floor: instance, adapter choice, device,
//! queue and limits ([`Gpu`]), buffers and views of them ([`tensor`]), and
//! WGSL made into prepared dispatches ([`kernel`]).
//!
//! One [`Gpu`] is opened per process and shared by everything that
//! dispatches work. It owns the pipeline cache and a small typed store in
//! which the ops above keep what they chose for this adapter (the matmul
//! tile shape), so this floor names none of them.

pub mod kernel;
pub mod tensor;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use kernel::PipelineCache;

/// lavapipe's (and llvmpipe's) worker threads, an environment variable the
/// driver reads once, when it loads.
pub const SOFTWARE_THREADS: &str = "LP_NUM_THREADS";

/// On a machine of at most 4 cores where [`SOFTWARE_THREADS`] is not set,
/// sets it to twice the cores. lavapipe splits each dispatch's workgroups
/// into one equal run per worker thread, so with one thread a core a
/// dispatch lasts as long as its slowest core's run; where cores are
/// shared (a small virtual machine, as in CI) one core is often slower,
/// and with two runs a core the idle one takes another run. On 2 vCPUs
/// the MLP step at B = 64 measured 14% faster (medians of six interleaved
/// runs: 48.8 -> 41.9 ms; the kernels alone 1-3%); 8 threads no faster than
/// 4. Nothing else reads the variable: GPUs are untouched.
///
/// # Safety
/// It writes the process environment: call it before any other thread
/// exists (first thing in `main`).
pub unsafe fn spread_software_adapter_work() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if std::env::var_os(SOFTWARE_THREADS).is_none() && cores <= 4 {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var(SOFTWARE_THREADS, (2 * cores).to_string()) };
    }
}

/// A graphics API to run on, as given to `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    /// The names `--backend` takes.
    pub const NAMES: [&'static str; 4] = ["vulkan", "metal", "dx12", "gl"];

    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "metal" | "mtl" => Ok(BackendChoice::Metal),
            "dx12" | "d3d12" => Ok(BackendChoice::Dx12),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            _ => Err(Error::UnknownBackend(s.to_string())),
        }
    }
}

/// How to choose the adapter: a backend and a part of the adapter's name.
/// Left empty, `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` are honoured, and the
/// most capable adapter wins (discrete, integrated, virtual, then CPU).
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: Option<BackendChoice>,
    pub adapter: Option<String>,
}

/// Creates the instance. The descriptor is built from the environment so
/// that `WGPU_BACKEND` is honoured; an explicit backend overrides it.
pub fn instance(backend: Option<BackendChoice>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = backend {
        desc.backends = b.backends();
    }
    wgpu::Instance::new(desc)
}

fn backends_text(backend: Option<BackendChoice>) -> String {
    match backend {
        Some(b) => format!("backend {b:?}"),
        None => match std::env::var("WGPU_BACKEND") {
            Ok(v) => format!("WGPU_BACKEND={v}"),
            Err(_) => "all backends".to_string(),
        },
    }
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        _ => 2,
    }
}

/// Every adapter the instance can see, best first.
pub fn enumerate(backend: Option<BackendChoice>) -> Vec<wgpu::Adapter> {
    let inst = instance(backend);
    let backends = backend.map_or(wgpu::Backends::all(), |b| b.backends());
    let mut adapters = pollster::block_on(inst.enumerate_adapters(backends));
    adapters.sort_by_key(|a| {
        let i = a.get_info();
        (type_rank(i.device_type), backend_rank(i.backend))
    });
    adapters
}

/// Picks the adapter that `opts` asks for, or explains why there is none.
pub fn choose_adapter(opts: &GpuOptions) -> Result<wgpu::Adapter> {
    let adapters = enumerate(opts.backend);
    if adapters.is_empty() {
        return Err(Error::NoAdapter {
            backends: backends_text(opts.backend),
        });
    }
    let wanted = opts
        .adapter
        .clone()
        .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
        .filter(|s| !s.is_empty());
    let Some(wanted) = wanted else {
        return Ok(adapters.into_iter().next().expect("not empty"));
    };
    let needle = wanted.to_lowercase();
    let names: Vec<String> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("  {} ({:?})", i.name, i.backend)
        })
        .collect();
    adapters
        .into_iter()
        .find(|a| a.get_info().name.to_lowercase().contains(&needle))
        .ok_or_else(|| Error::AdapterNotFound {
            wanted,
            backend: opts
                .backend
                .map(|b| format!(" on {b:?}"))
                .unwrap_or_default(),
            available: names.join("\n"),
        })
}

/// The open device and everything known about its adapter.
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pub(crate) pipelines: PipelineCache,
    /// What the ops chose for this adapter, one value per type.
    chosen: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
    /// The first error the device reported outside an error scope, if any.
    failure: Arc<Mutex<Option<String>>>,
    /// Bytes of tensor buffers created so far (never decreases): a
    /// training step must leave it unchanged.
    pub(crate) created_bytes: std::sync::atomic::AtomicU64,
}

impl Gpu {
    /// Opens the adapter `opts` asks for with the limits the kernels need.
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        let adapter = choose_adapter(opts)?;
        Gpu::from_adapter(adapter)
    }

    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        // Subgroups serve the CPU adapters' matmul (ops::matmul).
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadergan"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;

        let failure = Arc::new(Mutex::new(None::<String>));
        {
            let failure = failure.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                if f.is_none() {
                    *f = Some(e.to_string());
                }
            }));
        }
        {
            let failure = failure.clone();
            device.set_device_lost_callback(move |_reason, msg| {
                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                if f.is_none() {
                    *f = Some(format!("device lost: {msg}"));
                }
            });
        }
        Ok(Gpu {
            adapter,
            device,
            queue,
            info,
            limits,
            features,
            pipelines: PipelineCache::default(),
            chosen: Default::default(),
            failure,
            created_bytes: Default::default(),
        })
    }

    /// The smallest and largest subgroup the device's shaders may run
    /// in, if it has subgroups.
    pub fn subgroups(&self) -> Option<(u32, u32)> {
        self.features
            .contains(wgpu::Features::SUBGROUP)
            .then_some((self.info.subgroup_min_size, self.info.subgroup_max_size))
    }

    /// The value of type T an op chose for this adapter, if any.
    pub fn chosen<T: Any + Send + Clone>(&self) -> Option<T> {
        let map = self.chosen.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Keeps an op's choice for this adapter (replacing the last of its type).
    pub fn choose<T: Any + Send>(&self, value: T) {
        let mut map = self.chosen.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// A one-line description: name, backend, type and driver.
    pub fn describe(&self) -> String {
        describe_info(&self.info)
    }

    /// Bytes of tensor buffers created on this device so far.
    pub fn created_bytes(&self) -> u64 {
        self.created_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fails if the device has reported an error or been lost.
    pub fn check(&self) -> Result<()> {
        let f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match &*f {
            Some(msg) => Err(Error::DeviceLost(msg.clone())),
            None => Ok(()),
        }
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        self.check()
    }
}

pub fn describe_info(i: &wgpu::AdapterInfo) -> String {
    let mut s = format!("{} ({:?}, {:?}", i.name, i.backend, i.device_type);
    if !i.driver.is_empty() {
        let _ = write!(s, ", {}", i.driver);
    }
    if !i.driver_info.is_empty() {
        let _ = write!(s, " {}", i.driver_info);
    }
    // A software adapter's thread count, where it was set.
    if i.device_type == wgpu::DeviceType::Cpu
        && let Ok(n) = std::env::var(SOFTWARE_THREADS)
    {
        let _ = write!(s, ", {SOFTWARE_THREADS}={n}");
    }
    s.push(')');
    s
}

/// The report `shadergan adapters` prints for one adapter.
pub fn adapter_report(adapter: &wgpu::Adapter) -> String {
    let i = adapter.get_info();
    let l = adapter.limits();
    let f = adapter.features();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut s = String::new();
    let _ = writeln!(s, "{}", i.name);
    let _ = writeln!(s, "  backend:                      {:?}", i.backend);
    let _ = writeln!(s, "  device type:                  {:?}", i.device_type);
    let _ = writeln!(s, "  driver:                       {}", i.driver);
    let _ = writeln!(s, "  driver info:                  {}", i.driver_info);
    let _ = writeln!(
        s,
        "  max storage buffer binding:   {} MiB",
        l.max_storage_buffer_binding_size >> 20
    );
    let _ = writeln!(
        s,
        "  max buffer size:              {} MiB",
        l.max_buffer_size >> 20
    );
    let _ = writeln!(
        s,
        "  storage buffers per stage:    {}",
        l.max_storage_buffers_per_shader_stage
    );
    let _ = writeln!(
        s,
        "  workgroup storage:            {} bytes",
        l.max_compute_workgroup_storage_size
    );
    let _ = writeln!(
        s,
        "  invocations per workgroup:    {}",
        l.max_compute_invocations_per_workgroup
    );
    let _ = writeln!(
        s,
        "  workgroups per dimension:     {}",
        l.max_compute_workgroups_per_dimension
    );
    let subgroups = f.contains(wgpu::Features::SUBGROUP);
    let _ = writeln!(
        s,
        "  subgroups:                    {}{}",
        yes(subgroups),
        if subgroups {
            format!(" (size {}..{})", i.subgroup_min_size, i.subgroup_max_size)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "  f16:                          {}",
        yes(f.contains(wgpu::Features::SHADER_F16))
    );
    // The shapes an f16 or f32 matrix-unit path could use (none where the
    // adapter lacks wgpu's cooperative matrices).
    let shapes: Vec<String> = if f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        adapter
            .cooperative_matrix_properties()
            .iter()
            .map(|c| {
                format!(
                    "{}x{}x{} {:?}->{:?}",
                    c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let _ = writeln!(
        s,
        "  cooperative matrices:         {}",
        if shapes.is_empty() {
            "no".to_string()
        } else {
            shapes.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "  timestamp queries:            {}{}",
        yes(f.contains(wgpu::Features::TIMESTAMP_QUERY)),
        if f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
            " (inside passes too)"
        } else {
            ""
        }
    );
    s
}
