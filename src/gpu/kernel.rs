//! From WGSL to a recorded dispatch.
//!
//! - [`specialize`] rewrites a shader's `const` declarations (tile sizes,
//!   fused epilogues, loss kinds), so one source serves many variants and
//!   each variant is compiled with its constants known.
//! - [`compile`] puts the shared prelude (src/gpu/prelude.wgsl) before a
//!   shader and parses and validates the whole with naga, without a device.
//! - [`reflect`] reads from the WGSL what an entry point binds: its storage
//!   buffers (name, binding, read or written), the layout of its uniform
//!   block and the textures it reads. A wrapper names the tensors, textures
//!   and uniform fields it passes,
//!   and a name, a type or an access that does not match the shader is an
//!   error when the kernel is made: no Rust copy of a shader's struct or
//!   binding list can drift from it.
//! - The pipeline cache compiles each (shader, entry point, constants)
//!   once per device.
//! - A [`Kernel`] is one prepared dispatch: pipeline, bind group, uniform
//!   block and workgroup count, all made when a model is built, so
//!   recording a training step allocates and compiles nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::Gpu;
use super::tensor::{Tensor, Texture};
use crate::error::{Error, Result};

/// The helpers every shader may call (sigmoid, log1p, the activations,
/// the flat index of a 2-D grid of workgroups).
pub const PRELUDE: &str = include_str!("prelude.wgsl");

/// One entry point of one shader, with the `const` values it is compiled
/// with.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The shader's file name, for messages and cache keys.
    pub shader: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    /// `const` declarations to rewrite: (name, WGSL expression).
    pub consts: Vec<(&'static str, String)>,
}

impl Entry {
    pub fn new(shader: &'static str, source: &'static str, entry: &'static str) -> Entry {
        Entry {
            shader,
            source,
            entry,
            consts: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Entry {
        self.consts.push((name, value.to_string()));
        self
    }

    /// The pipeline cache's key, and a kernel's label.
    pub fn key(&self) -> String {
        let mut k = format!("{}::{}", self.shader, self.entry);
        for (n, v) in &self.consts {
            k.push_str(&format!(" {n}={v}"));
        }
        k
    }

    /// The WGSL the device compiles: the prelude, then the shader with this
    /// entry's constants substituted.
    pub fn wgsl(&self) -> Result<String> {
        let own = specialize(self.source, &self.consts).map_err(|r| self.error(r))?;
        Ok(with_prelude(&own))
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Shader {
            shader: self.shader.to_string(),
            entry: self.entry.to_string(),
            reason: reason.into(),
        }
    }
}

/// A shader's source with the prelude before it, as devices compile it.
pub fn with_prelude(source: &str) -> String {
    format!("{PRELUDE}\n{source}")
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
    compile(source).map(|(m, _)| m)
}

/// Parses and validates WGSL, keeping naga's analysis of what each entry
/// point uses.
pub fn compile(
    source: &str,
) -> std::result::Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    // Subgroup operations are allowed: the one shader that uses them is
    // compiled only for devices that have them (ops::matmul).
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default() | naga::valid::Capabilities::SUBGROUP,
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(source))?;
    Ok((module, info))
}

/// The scalar type of a uniform field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U32,
    I32,
    F32,
}

/// A value for one field of a shader's uniform block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    U32(u32),
    I32(i32),
    F32(f32),
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::U32(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::I32(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F32(v)
    }
}

impl Value {
    fn scalar(self) -> Scalar {
        match self {
            Value::U32(_) => Scalar::U32,
            Value::I32(_) => Scalar::I32,
            Value::F32(_) => Scalar::F32,
        }
    }

    fn bytes(self) -> [u8; 4] {
        match self {
            Value::U32(v) => v.to_le_bytes(),
            Value::I32(v) => v.to_le_bytes(),
            Value::F32(v) => v.to_le_bytes(),
        }
    }
}

/// A storage buffer an entry point uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    pub name: String,
    pub binding: u32,
    /// Declared `read_write` (else `read`).
    pub written: bool,
}

/// The uniform block an entry point uses: one struct of 4-byte scalars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uniform {
    pub binding: u32,
    /// The struct's size in bytes.
    pub size: u32,
    /// (name, byte offset, type) of each field.
    pub fields: Vec<(String, u32, Scalar)>,
}

/// What an entry point binds, read from its WGSL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reflection {
    pub storage: Vec<Storage>,
    pub uniform: Option<Uniform>,
    /// Sampled 2-D float textures (`texture_2d<f32>`, read by
    /// `textureLoad`), by name and binding.
    pub textures: Vec<(String, u32)>,
}

/// Reads the bindings of entry point `entry` from validated WGSL: every
/// global it uses, directly or through the functions it calls. Everything
/// lives in bind group 0; a uniform is a struct of u32, i32 and f32.
pub fn reflect(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    entry: &str,
) -> std::result::Result<Reflection, String> {
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| format!("no entry point `{entry}`"))?;
    let uses = info.get_entry_point(index);
    let mut storage = Vec::new();
    let mut uniform = None;
    let mut textures = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        if uses[handle].is_empty() {
            continue;
        }
        let name = var.name.clone().unwrap_or_default();
        let Some(binding) = &var.binding else {
            continue; // workgroup memory and private globals
        };
        if binding.group != 0 {
            return Err(format!("{name} is in bind group {}, not 0", binding.group));
        }
        match var.space {
            naga::AddressSpace::Storage { access } => storage.push(Storage {
                name,
                binding: binding.binding,
                written: access.contains(naga::StorageAccess::STORE),
            }),
            naga::AddressSpace::Uniform => {
                let naga::TypeInner::Struct { members, span } = &module.types[var.ty].inner else {
                    return Err(format!("uniform {name} is not a struct"));
                };
                let mut fields = Vec::new();
                for m in members {
                    let ty = match module.types[m.ty].inner {
                        naga::TypeInner::Scalar(s) if s.width == 4 => match s.kind {
                            naga::ScalarKind::Uint => Scalar::U32,
                            naga::ScalarKind::Sint => Scalar::I32,
                            naga::ScalarKind::Float => Scalar::F32,
                            _ => return Err(format!("uniform field {name} has an odd type")),
                        },
                        _ => return Err(format!("uniform {name}: fields must be 4-byte scalars")),
                    };
                    fields.push((m.name.clone().unwrap_or_default(), m.offset, ty));
                }
                if uniform.is_some() {
                    return Err("more than one uniform block".into());
                }
                uniform = Some(Uniform {
                    binding: binding.binding,
                    size: *span,
                    fields,
                });
            }
            naga::AddressSpace::Handle => match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class:
                        naga::ImageClass::Sampled {
                            kind: naga::ScalarKind::Float,
                            multi: false,
                        },
                } => textures.push((name, binding.binding)),
                _ => {
                    return Err(format!(
                        "{name}: the only textures supported are texture_2d<f32>"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "{name}: only storage, uniform and texture bindings are supported"
                ));
            }
        }
    }
    storage.sort_by_key(|s| s.binding);
    textures.sort_by_key(|t| t.1);
    Ok(Reflection {
        storage,
        uniform,
        textures,
    })
}

impl Uniform {
    /// The block's bytes with the named values: every field is given
    /// exactly once (fields whose names start with `_` are padding, left
    /// zero), each with its declared type.
    pub fn encode(&self, values: &[(&str, Value)]) -> std::result::Result<Vec<u8>, String> {
        let mut bytes = vec![0u8; self.size.div_ceil(16).max(1) as usize * 16];
        for (name, value) in values {
            let (_, offset, ty) = self
                .fields
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| format!("the uniform block has no field `{name}`"))?;
            if *ty != value.scalar() {
                return Err(format!("field `{name}` is {ty:?}, given {value:?}"));
            }
            if values.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(format!("field `{name}` given twice"));
            }
            bytes[*offset as usize..][..4].copy_from_slice(&value.bytes());
        }
        if let Some((missing, _, _)) = self
            .fields
            .iter()
            .find(|(n, _, _)| !n.starts_with('_') && !values.iter().any(|(v, _)| v == n))
        {
            return Err(format!("field `{missing}` is not given"));
        }
        Ok(bytes)
    }
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    reflection: Reflection,
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
    _uniform: Option<wgpu::Buffer>,
    /// A dispatch recorded right after this one, in the same pass (a split
    /// product's sum of its slices, an unfolded convolution's product).
    then: Option<Box<Kernel>>,
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
        if let Some(next) = &self.then {
            next.record(pass);
        }
    }

    /// This kernel with `next` dispatched right after it, as one.
    pub fn then(mut self, next: Kernel) -> Kernel {
        let next = match self.then.take() {
            Some(t) => t.then(next),
            None => next,
        };
        self.then = Some(Box::new(next));
        self
    }

    /// The dispatches it records.
    pub fn dispatches(&self) -> usize {
        1 + self.then.as_ref().map_or(0, |t| t.dispatches())
    }

    /// The labels of the dispatches it records, in order.
    pub fn labels(&self) -> Vec<&str> {
        let mut v = vec![self.label.as_str()];
        if let Some(t) = &self.then {
            v.extend(t.labels());
        }
        v
    }

    /// What the entry point binds, as its WGSL declares it.
    pub fn reflection(&self) -> &Reflection {
        &self.pipeline.reflection
    }
}

impl Gpu {
    fn pipeline(&self, entry: &Entry) -> Result<Arc<Pipeline>> {
        let key = entry.key();
        if let Some(p) = self.pipelines.map.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let source = entry.wgsl()?;
        let (module, info) = compile(&source).map_err(|r| entry.error(r))?;
        let reflection = reflect(&module, &info, entry.entry).map_err(|r| entry.error(r))?;
        let buffer = |ty| wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let slot = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: buffer(ty),
            count: None,
        };
        let mut layout_entries: Vec<_> = reflection
            .uniform
            .iter()
            .map(|u| slot(u.binding, wgpu::BufferBindingType::Uniform))
            .collect();
        for s in &reflection.storage {
            let ty = wgpu::BufferBindingType::Storage {
                read_only: !s.written,
            };
            layout_entries.push(slot(s.binding, ty));
        }
        for (_, binding) in &reflection.textures {
            layout_entries.push(wgpu::BindGroupLayoutEntry {
                binding: *binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
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
            return Err(entry.error(e.to_string()));
        }
        let p = Arc::new(Pipeline {
            pipeline,
            layout,
            reflection,
        });
        self.pipelines.map.lock().unwrap().insert(key, p.clone());
        Ok(p)
    }

    /// Prepares one dispatch of `entry`: `uniforms` names a value for every
    /// field of its uniform block and `tensors` a tensor for every storage
    /// buffer it uses, by the names the WGSL gives them.
    pub fn kernel(
        &self,
        entry: &Entry,
        uniforms: &[(&str, Value)],
        tensors: &[(&str, &Tensor)],
        workgroups: [u32; 3],
    ) -> Result<Kernel> {
        self.kernel_with_textures(entry, uniforms, tensors, &[], workgroups)
    }

    /// [`Gpu::kernel`] for an entry point that also reads textures, each
    /// named as its WGSL names it.
    pub fn kernel_with_textures(
        &self,
        entry: &Entry,
        uniforms: &[(&str, Value)],
        tensors: &[(&str, &Tensor)],
        textures: &[(&str, &Texture)],
        workgroups: [u32; 3],
    ) -> Result<Kernel> {
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
        let r = &pipeline.reflection;
        let mut entries = Vec::new();
        let uniform = match &r.uniform {
            Some(u) => {
                let block = u.encode(uniforms).map_err(|m| entry.error(m))?;
                let buffer = self
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("uniforms"),
                        contents: &block,
                        usage: wgpu::BufferUsages::UNIFORM,
                    });
                Some((u.binding, buffer))
            }
            None if uniforms.is_empty() => None,
            None => return Err(entry.error("uniform values given, but it has no uniform block")),
        };
        if let Some((binding, buffer)) = &uniform {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            });
        }
        for (name, _) in tensors {
            if !r.storage.iter().any(|s| s.name == *name) {
                return Err(entry.error(format!("it does not use a storage buffer `{name}`")));
            }
        }
        for s in &r.storage {
            let mut given = tensors.iter().filter(|(n, _)| *n == s.name);
            let (Some((_, t)), None) = (given.next(), given.next()) else {
                return Err(entry.error(format!(
                    "storage buffer `{}` must be given exactly once",
                    s.name
                )));
            };
            entries.push(wgpu::BindGroupEntry {
                binding: s.binding,
                resource: t.binding(),
            });
        }
        for (name, _) in textures {
            if !r.textures.iter().any(|(n, _)| n == name) {
                return Err(entry.error(format!("it does not use a texture `{name}`")));
            }
        }
        for (tex_name, binding) in &r.textures {
            let mut given = textures.iter().filter(|(n, _)| n == tex_name);
            let (Some((_, t)), None) = (given.next(), given.next()) else {
                return Err(entry.error(format!("texture `{tex_name}` must be given exactly once")));
            };
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: wgpu::BindingResource::TextureView(t.view()),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry.entry),
            layout: &pipeline.layout,
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(entry.error(format!("binding the tensors failed: {e}")));
        }
        Ok(Kernel {
            label: entry.key(),
            pipeline,
            bind_group,
            workgroups,
            _uniform: uniform.map(|(_, b)| b),
            then: None,
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
    /// kernels that flatten (x, y) into one index (`flat_index` in the
    /// prelude).
    pub fn grid(&self, groups: u32) -> [u32; 3] {
        let max = self.limits.max_compute_workgroups_per_dimension.max(1);
        if groups <= max {
            [groups.max(1), 1, 1]
        } else {
            [max, groups.div_ceil(max), 1]
        }
    }
}
