//! Tensors: ranges of 4-byte elements (f32 or u32) in GPU storage buffers.
//!
//! A tensor is a view: a buffer, a byte offset and a length. Several views
//! can share one buffer (an [`Arena`]), which is how a model keeps all its
//! parameters in one flat buffer that one Adam dispatch updates.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::Gpu;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Tensor {
    buffer: Arc<wgpu::Buffer>,
    offset: u64,
    len: usize,
}

impl Tensor {
    /// The number of 4-byte elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The byte offset of the first element in the buffer.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn byte_len(&self) -> u64 {
        self.len as u64 * 4
    }

    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.byte_len().max(4)),
        })
    }

    /// The first `len` elements of this view (same buffer and offset).
    pub fn prefix(&self, len: usize) -> Tensor {
        assert!(
            len <= self.len,
            "prefix of {len} elements from a tensor of {}",
            self.len
        );
        Tensor {
            buffer: self.buffer.clone(),
            offset: self.offset,
            len,
        }
    }

    /// Whether two views share any bytes.
    pub fn overlaps(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
            && self.offset < other.offset + other.byte_len()
            && other.offset < self.offset + self.byte_len()
    }
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A matrix of f32 [rows, cols] held as an rgba32float texture, texel
/// (q, r) = elements 4q .. 4q+3 of row r, for kernels that fetch an
/// operand with `textureLoad` (ops::matmul on CPU adapters). Filled from a
/// tensor by [`Gpu::copy_to_texture`] or from the host by
/// [`Gpu::write_texture`].
#[derive(Clone, Debug)]
pub struct Texture {
    texture: Arc<wgpu::Texture>,
    view: wgpu::TextureView,
    pub rows: usize,
    pub cols: usize,
}

impl Texture {
    pub fn view(&self) -> &wgpu::TextureView {
        &self.view
    }

    /// Records the copy [`Gpu::copy_to_texture`] has checked.
    pub(crate) fn record_fill(&self, encoder: &mut wgpu::CommandEncoder, src: &Tensor) {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &src.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: src.offset,
                    bytes_per_row: Some((self.cols * 4) as u32),
                    rows_per_image: None,
                },
            },
            self.texture.as_image_copy(),
            self.texture.size(),
        );
    }
}

/// Views carved out of one buffer, each aligned for binding.
pub struct Arena {
    /// The whole buffer as one tensor (padding between views included).
    pub whole: Tensor,
    pub views: Vec<Tensor>,
}

impl Arena {
    /// The buffer cut where view `at` begins: everything before it, and
    /// it with everything after it (padding included).
    pub fn split_at_view(&self, at: usize) -> (Tensor, Tensor) {
        let cut = self.views[at].offset;
        let head = Tensor {
            buffer: self.whole.buffer.clone(),
            offset: 0,
            len: (cut / 4) as usize,
        };
        let tail = Tensor {
            buffer: self.whole.buffer.clone(),
            offset: cut,
            len: self.whole.len - (cut / 4) as usize,
        };
        (head, tail)
    }
}

impl Gpu {
    /// Whether a matrix [rows, cols] fits a [`Texture`]: cols a multiple
    /// of 4, both within the adapter's 2-D texture size.
    pub fn texture_fits(&self, rows: usize, cols: usize) -> bool {
        let max = self.limits.max_texture_dimension_2d as usize;
        rows > 0 && cols > 0 && cols.is_multiple_of(4) && rows <= max && cols / 4 <= max
    }

    /// A texture for a matrix [rows, cols] ([`Gpu::texture_fits`]);
    /// zero-filled.
    pub fn texture(&self, rows: usize, cols: usize) -> Result<Texture> {
        let max = self.limits.max_texture_dimension_2d as usize;
        if !self.texture_fits(rows, cols) {
            return Err(Error::shape(
                "texture",
                format!(
                    "a matrix [{rows}, {cols}] does not fit a texture (columns a multiple of 4, at most {max} rows and {max} texels a row)"
                ),
            ));
        }
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("operand"),
            size: wgpu::Extent3d {
                width: (cols / 4) as u32,
                height: rows as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        Ok(Texture {
            texture: Arc::new(texture),
            view,
            rows,
            cols,
        })
    }

    /// Overwrites a texture with `data`, row-major [rows, cols] (queued).
    pub fn write_texture(&self, t: &Texture, data: &[f32]) -> Result<()> {
        if data.len() != t.rows * t.cols {
            return Err(Error::shape(
                "write_texture",
                format!(
                    "{} values for a texture of {} x {}",
                    data.len(),
                    t.rows,
                    t.cols
                ),
            ));
        }
        self.queue.write_texture(
            t.texture.as_image_copy(),
            bytemuck::cast_slice(data),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((t.cols * 4) as u32),
                rows_per_image: None,
            },
            t.texture.size(),
        );
        Ok(())
    }

    /// Whether [`Gpu::copy_to_texture`] can fill a texture of `cols`
    /// columns: a copy's rows are whole multiples of 256 bytes.
    pub fn copies_to_texture(cols: usize) -> bool {
        (cols * 4).is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize)
    }

    /// Records a copy of `src`, row-major [rows, cols], into `dst`.
    pub fn copy_to_texture(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &Tensor,
        dst: &Texture,
    ) -> Result<()> {
        if src.len != dst.rows * dst.cols || !Gpu::copies_to_texture(dst.cols) {
            return Err(Error::shape(
                "copy_to_texture",
                format!(
                    "{} elements into a texture of {} x {} (rows of a multiple of 64 columns)",
                    src.len, dst.rows, dst.cols
                ),
            ));
        }
        dst.record_fill(encoder, src);
        Ok(())
    }

    fn check_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        let limit = self.limits.max_buffer_size;
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                limit_name: "max_buffer_size",
            });
        }
        Ok(())
    }

    fn new_buffer(
        &self,
        label: &str,
        bytes: u64,
        init: Option<&[u8]>,
    ) -> Result<Arc<wgpu::Buffer>> {
        self.check_size(label, bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = match init {
            Some(contents) => self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: USAGE,
                }),
            None => self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: USAGE,
                mapped_at_creation: false,
            }),
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::OutOfMemory {
                what: format!("{label} ({bytes} bytes)"),
                reason: e.to_string(),
            });
        }
        self.created_bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(buffer))
    }

    /// A tensor of `len` zeros.
    pub fn zeros(&self, len: usize) -> Result<Tensor> {
        let bytes = (len.max(1) * 4) as u64;
        Ok(Tensor {
            buffer: self.new_buffer("tensor", bytes, None)?,
            offset: 0,
            len,
        })
    }

    /// A tensor holding `data`.
    pub fn upload(&self, data: &[f32]) -> Result<Tensor> {
        self.upload_words(bytemuck::cast_slice(data), data.len())
    }

    /// A tensor holding `data` as u32 elements.
    pub fn upload_u32(&self, data: &[u32]) -> Result<Tensor> {
        self.upload_words(bytemuck::cast_slice(data), data.len())
    }

    /// A tensor holding bytes packed four to an element (little-endian),
    /// zero-padded to a whole element.
    pub fn upload_bytes(&self, data: &[u8]) -> Result<Tensor> {
        let mut padded = data.to_vec();
        padded.resize(data.len().div_ceil(4).max(1) * 4, 0);
        self.upload_words(&padded, data.len().div_ceil(4))
    }

    fn upload_words(&self, bytes: &[u8], len: usize) -> Result<Tensor> {
        if bytes.is_empty() {
            return self.zeros(0);
        }
        Ok(Tensor {
            buffer: self.new_buffer("tensor", bytes.len() as u64, Some(bytes))?,
            offset: 0,
            len,
        })
    }

    /// One buffer holding a view of each length, every view starting on the
    /// adapter's storage-binding alignment; zero-filled.
    pub fn arena(&self, lens: &[usize]) -> Result<Arena> {
        let order: Vec<usize> = (0..lens.len()).collect();
        self.arena_in_order(lens, &order)
    }

    /// An arena whose views lie in the buffer in `order` (a permutation of
    /// the view indices), so a group of views can be made contiguous; the
    /// views are still returned by index.
    pub fn arena_in_order(&self, lens: &[usize], order: &[usize]) -> Result<Arena> {
        assert_eq!(order.len(), lens.len(), "order is not a permutation");
        let align = self.limits.min_storage_buffer_offset_alignment.max(4) as u64;
        let mut offsets = vec![u64::MAX; lens.len()];
        let mut end = 0u64;
        for &i in order {
            assert_eq!(offsets[i], u64::MAX, "order is not a permutation");
            offsets[i] = end;
            end = (end + lens[i] as u64 * 4).div_ceil(align) * align;
        }
        let bytes = end.max(4);
        let buffer = self.new_buffer("arena", bytes, None)?;
        let views = offsets
            .iter()
            .zip(lens)
            .map(|(&offset, &len)| Tensor {
                buffer: buffer.clone(),
                offset,
                len,
            })
            .collect();
        Ok(Arena {
            whole: Tensor {
                buffer,
                offset: 0,
                len: (bytes / 4) as usize,
            },
            views,
        })
    }

    /// Overwrites a tensor with `data` (queued; ordered before later submits).
    pub fn write(&self, t: &Tensor, data: &[f32]) -> Result<()> {
        self.write_words(t, bytemuck::cast_slice(data), data.len())
    }

    pub fn write_u32(&self, t: &Tensor, data: &[u32]) -> Result<()> {
        self.write_words(t, bytemuck::cast_slice(data), data.len())
    }

    fn write_words(&self, t: &Tensor, bytes: &[u8], len: usize) -> Result<()> {
        if len != t.len {
            return Err(Error::shape(
                "write",
                format!("{len} values for a tensor of {}", t.len),
            ));
        }
        if len > 0 {
            self.queue.write_buffer(&t.buffer, t.offset, bytes);
        }
        Ok(())
    }

    /// Fills a tensor with one f32 value.
    pub fn fill(&self, t: &Tensor, value: f32) -> Result<()> {
        self.write(t, &vec![value; t.len])
    }

    /// Copies a tensor back to the host, waiting for all work before it.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        Ok(bytemuck::cast_slice(&self.read_bytes(t)?).to_vec())
    }

    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        Ok(bytemuck::cast_slice(&self.read_bytes(t)?).to_vec())
    }

    fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        if t.len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: t.byte_len(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.buffer, t.offset, &staging, 0, t.byte_len());
        self.queue.submit([enc.finish()]);
        self.read_mapped(&staging)
    }

    /// The bytes of a MAP_READ buffer once the work submitted before is
    /// done (waits for it).
    pub fn read_mapped(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| Error::DeviceLost(e.to_string()))?
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| Error::DeviceLost(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }
}
