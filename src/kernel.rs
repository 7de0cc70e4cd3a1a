//! From WGSL to a recorded dispatch.
//!
//! - [`specialize`] rewrites a shader's `const` declarations (tile sizes,
//!   fused epilogues, loss kinds), so one source serves many variants and
//!   each variant is compiled with its constants known.
//! - [`validate`] parses and validates WGSL with naga, without a device.
//! - The pipeline cache compiles each (shader, entry point, constants)
//!   once per device.
//! - A [`Kernel`] is one prepared dispatch: pipeline, bind group, parameters
//!   and workgroup count, all made when a model is built, so recording a
//!   training step allocates and compiles nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// How a binding is declared in the shader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One entry point of one shader, with its storage bindings (binding
/// number, access) in the order the wrapper passes tensors. Binding 0 is
/// always the uniform parameter block.
#[derive(Clone, Debug)]
pub struct Entry {
    pub shader: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    pub bindings: &'static [(u32, Access)],
    /// `const` declarations to rewrite: (name, WGSL expression).
    pub consts: Vec<(&'static str, String)>,
}

impl Entry {
    pub fn new(
        shader: &'static str,
        source: &'static str,
        entry: &'static str,
        bindings: &'static [(u32, Access)],
    ) -> Entry {
        Entry {
            shader,
            source,
            entry,
            bindings,
            consts: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Entry {
        self.consts.push((name, value.to_string()));
        self
    }

    fn key(&self) -> String {
        let mut k = format!("{}::{}", self.shader, self.entry);
        for (n, v) in &self.consts {
            k.push_str(&format!(" {n}={v}"));
        }
        k
    }

    /// The WGSL source with this entry's constants substituted.
    pub fn wgsl(&self) -> Result<String> {
        specialize(self.source, &self.consts).map_err(|reason| Error::Shader {
            shader: self.shader.to_string(),
            entry: self.entry.to_string(),
            reason,
        })
    }
}

/// Replaces the value of each named module-scope `const` declaration
/// (`const NAME: type = value;`, one per line). Fails if one is missing.
pub fn specialize(source: &str, consts: &[(&str, String)]) -> std::result::Result<String, String> {
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    for (name, value) in consts {
        let prefix = format!("const {name}:");
        let line = lines
            .iter_mut()
            .find(|l| l.starts_with(&prefix))
            .ok_or_else(|| format!("no `const {name}` to specialise"))?;
        let eq = line
            .find('=')
            .ok_or_else(|| format!("`const {name}` has no value"))?;
        *line = format!("{} = {value};", &line[..eq].trim_end());
    }
    Ok(lines.join("\n") + "\n")
}

/// Parses and validates WGSL with naga, as a device would before compiling.
pub fn validate(source: &str) -> std::result::Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(source))?;
    Ok(module)
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Compiled pipelines by (shader, entry point, constants).
#[derive(Default)]
pub(crate) struct PipelineCache {
    map: Mutex<HashMap<String, Arc<Pipeline>>>,
}

/// One prepared dispatch, ready to be recorded into a compute pass.
#[derive(Clone)]
pub struct Kernel {
    pub label: String,
    pipeline: Arc<Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    _params: wgpu::Buffer,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernel({} {:?})", self.label, self.workgroups)
    }
}

impl Kernel {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

impl Gpu {
    fn pipeline(&self, entry: &Entry) -> Result<Arc<Pipeline>> {
        let key = entry.key();
        if let Some(p) = self.pipelines.map.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let source = entry.wgsl()?;
        validate(&source).map_err(|reason| Error::Shader {
            shader: entry.shader.to_string(),
            entry: entry.entry.to_string(),
            reason,
        })?;
        let storage = |access: Access| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage {
                read_only: access == Access::Read,
            },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let mut layout_entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for &(binding, access) in entry.bindings {
            layout_entries.push(wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: storage(access),
                count: None,
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&key),
                entries: &layout_entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&key),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        // Buffer bounds stay checked. Loop bounding and division guards are
        // off: every loop here has a uniform bound and every divisor is a
        // size the wrappers have checked to be non-zero, and with them on
        // the driver cannot unroll the register blocks (matmul runs about
        // 2x slower on lavapipe).
        let mut checks = wgpu::ShaderRuntimeChecks::checked();
        checks.force_loop_bounding = false;
        checks.int_div_checks = false;
        // SAFETY: the shaders are this crate's own, validated by naga above;
        // their loops terminate and their divisors are non-zero (see above).
        let module = unsafe {
            self.device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(entry.shader),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                },
                checks,
            )
        };
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&key),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry.entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader {
                shader: entry.shader.to_string(),
                entry: entry.entry.to_string(),
                reason: e.to_string(),
            });
        }
        let p = Arc::new(Pipeline { pipeline, layout });
        self.pipelines.map.lock().unwrap().insert(key, p.clone());
        Ok(p)
    }

    /// Prepares one dispatch of `entry` with the given parameter block and
    /// tensors (one per storage binding, in the entry's order).
    pub fn kernel(
        &self,
        entry: &Entry,
        params: &[u8],
        tensors: &[&Tensor],
        workgroups: [u32; 3],
    ) -> Result<Kernel> {
        assert_eq!(
            tensors.len(),
            entry.bindings.len(),
            "{}::{}: tensors do not match bindings",
            entry.shader,
            entry.entry
        );
        let max = self.limits.max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&w| w > max) {
            return Err(Error::TooLarge {
                what: format!("{}::{} dispatch {workgroups:?}", entry.shader, entry.entry),
                bytes: *workgroups.iter().max().unwrap() as u64,
                limit: max as u64,
                limit_name: "max_compute_workgroups_per_dimension",
            });
        }
        let pipeline = self.pipeline(entry)?;
        let mut block = params.to_vec();
        block.resize(params.len().div_ceil(16).max(1) * 16, 0);
        let params = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &block,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        for (&(binding, _), t) in entry.bindings.iter().zip(tensors) {
            entries.push(wgpu::BindGroupEntry {
                binding,
                resource: t.binding(),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry.entry),
            layout: &pipeline.layout,
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader {
                shader: entry.shader.to_string(),
                entry: entry.entry.to_string(),
                reason: format!("binding the tensors failed: {e}"),
            });
        }
        Ok(Kernel {
            label: entry.key(),
            pipeline,
            bind_group,
            workgroups,
            _params: params,
        })
    }

    /// Records kernels, in order, into one compute pass of `encoder`.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, kernels: &[&Kernel]) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadergan"),
            timestamp_writes: None,
        });
        for k in kernels {
            k.record(&mut pass);
        }
    }

    /// Records kernels into one encoder, submits it once and waits.
    pub fn run(&self, kernels: &[&Kernel]) -> Result<()> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        self.record(&mut encoder, kernels);
        self.queue.submit([encoder.finish()]);
        self.wait()
    }

    /// A 2-D grid of workgroups covering `groups` workgroups in all, for
    /// kernels that flatten (x, y) into one index.
    pub fn grid(&self, groups: u32) -> [u32; 3] {
        let max = self.limits.max_compute_workgroups_per_dimension.max(1);
        if groups <= max {
            [groups.max(1), 1, 1]
        } else {
            [max, groups.div_ceil(max), 1]
        }
    }
}
