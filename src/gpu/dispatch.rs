//! What every op shares, and nothing op-specific: compiled pipelines (once per GPU), views
//! into buffers, uniform blocks that mirror their WGSL structs, and a prepared dispatch
//! (pipeline + bind group + grid) that a training step records again and again without
//! creating anything.

use std::collections::HashMap;

use super::{Gpu, WORD};
use crate::error::{shape_err, Error};

/// Threads per workgroup for the one-dimensional (elementwise) kernels; matches
/// `WORKGROUP_SIZE` in shaders/common.wgsl.
pub const WORKGROUP_SIZE: u32 = 256;

/// Helpers every shader starts with (indexing over a 2-D grid of workgroups).
const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

/// A WGSL file: its name (for labels and the cache) and its text.
#[derive(Clone, Copy)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<(&'static str, &'static str), wgpu::ComputePipeline>,
}

impl Gpu {
    /// The pipeline for one entry point, compiled on first use.
    pub fn pipeline(&self, shader: Shader, entry: &'static str) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap();
        if let Some(p) = cache.pipelines.get(&(shader.name, entry)) {
            return p.clone();
        }
        let module = cache
            .modules
            .entry(shader.name)
            .or_insert_with(|| {
                let source = format!("{COMMON_WGSL}\n{}", shader.source);
                self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                })
            })
            .clone();
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        cache.pipelines.insert((shader.name, entry), pipeline.clone());
        pipeline
    }
}

/// A uniform block whose layout mirrors a WGSL struct of the same name, field by field;
/// tests/uniforms.rs reads each struct out of its shader and compares. Declared with
/// [`uniform!`](crate::gpu::uniform).
pub trait Uniform: bytemuck::Pod {
    /// The WGSL struct's name.
    const NAME: &'static str;
    /// Each field's name and Rust type, in order.
    const FIELDS: &'static [(&'static str, &'static str)];
}

/// Declares a `#[repr(C)]` bytemuck struct of 32-bit fields (padding included, as
/// `_p0`, `_p1`, ...) and implements [`Uniform`] for it, so its field list can be checked
/// against the WGSL struct it mirrors.
macro_rules! uniform {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $field: $ty),*
        }

        impl $crate::gpu::Uniform for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),*];
        }
    };
}
pub(crate) use uniform;

/// A range of 32-bit words in a buffer: a tensor. Many views share the flat parameter
/// and gradient buffers; their offsets are aligned for binding.
#[derive(Clone, Debug)]
pub struct View {
    pub buffer: wgpu::Buffer,
    /// Offset in words.
    pub offset: u64,
    /// Length in words.
    pub len: usize,
}

impl View {
    /// The whole buffer.
    pub fn whole(buffer: &wgpu::Buffer) -> View {
        View { buffer: buffer.clone(), offset: 0, len: (buffer.size() / WORD) as usize }
    }

    /// Words `offset..offset + len` of `buffer`.
    pub fn range(buffer: &wgpu::Buffer, offset: u64, len: usize) -> View {
        View { buffer: buffer.clone(), offset, len }
    }

    /// A fresh buffer of `len` words.
    pub fn new(gpu: &Gpu, label: &str, len: usize) -> Result<View, Error> {
        Ok(View { buffer: gpu.storage(label, len)?, offset: 0, len })
    }

    /// A fresh buffer holding `data`.
    pub fn from_slice<T: bytemuck::Pod>(gpu: &Gpu, label: &str, data: &[T]) -> Result<View, Error> {
        let buffer = gpu.storage_from(label, data)?;
        Ok(View { buffer, offset: 0, len: std::mem::size_of_val(data) / 4 })
    }

    /// Overwrites the view with `data` (queued).
    pub fn write<T: bytemuck::Pod>(&self, gpu: &Gpu, data: &[T]) {
        debug_assert!(std::mem::size_of_val(data) <= self.len * 4);
        gpu.write(&self.buffer, self.offset, data);
    }

    /// Reads the view back.
    pub async fn read<T: bytemuck::Pod>(&self, gpu: &Gpu) -> Result<Vec<T>, Error> {
        gpu.read(&self.buffer, self.offset, self.len).await
    }

    /// Checks that the view holds exactly `len` words.
    pub fn expect(&self, what: &str, len: usize) -> Result<&View, Error> {
        if self.len != len {
            return Err(shape_err!("{what} has {} elements, expected {len}", self.len));
        }
        Ok(self)
    }

    fn binding(&self, index: u32) -> wgpu::BindGroupEntry<'_> {
        wgpu::BindGroupEntry {
            binding: index,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.buffer,
                offset: self.offset * WORD,
                size: wgpu::BufferSize::new(self.len.max(1) as u64 * WORD),
            }),
        }
    }
}

/// One recorded-once, run-many compute dispatch.
pub struct Dispatch {
    pub label: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
}

impl Dispatch {
    /// Prepares `entry` of `shader` with `params` at binding 0 and each view at its
    /// binding (exactly the bindings the entry point uses), over `workgroups`
    /// workgroups, spread over a 2-D grid when they exceed the per-dimension limit.
    pub fn new<P: bytemuck::Pod>(
        gpu: &Gpu,
        shader: Shader,
        entry: &'static str,
        params: &P,
        views: &[(u32, &View)],
        workgroups: u64,
    ) -> Result<Dispatch, Error> {
        let pipeline = gpu.pipeline(shader, entry);
        let uniform = gpu.uniform(entry, params);
        let align = gpu.limits.min_storage_buffer_offset_alignment as u64;
        for (_, v) in views {
            if !(v.offset * WORD).is_multiple_of(align) {
                return Err(shape_err!("{entry}: a view at word {} is not aligned to {align} bytes", v.offset));
            }
            if (v.offset + v.len as u64) * WORD > v.buffer.size() {
                return Err(shape_err!("{entry}: a view runs past the end of its buffer"));
            }
        }
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        entries.extend(views.iter().map(|(binding, v)| v.binding(*binding)));
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Ok(Dispatch { label: entry, pipeline, bind_group, grid: grid(gpu, workgroups)? })
    }

    /// Records this dispatch into a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.grid[0], self.grid[1], self.grid[2]);
    }
}

/// Spreads `workgroups` over x and y so no dimension exceeds the device limit; shaders
/// recover the linear workgroup index with `workgroup_index` (common.wgsl) and skip the
/// few extra workgroups of the last row.
fn grid(gpu: &Gpu, workgroups: u64) -> Result<[u32; 3], Error> {
    let max_x = gpu.max_workgroups_per_dim as u64;
    let max_y = gpu.limits.max_compute_workgroups_per_dimension as u64;
    let workgroups = workgroups.max(1);
    let y = workgroups.div_ceil(max_x);
    if y > max_y {
        return Err(Error::TooLarge(format!("{workgroups} workgroups exceed {max_x} x {max_y}")));
    }
    let x = workgroups.div_ceil(y);
    Ok([x as u32, y as u32, 1])
}

impl Gpu {
    /// Records one compute pass with `record` and submits it: one command buffer.
    pub fn run_pass(&self, record: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
        let mut encoder = self.encoder();
        record(&mut encoder.begin_compute_pass(&Default::default()));
        self.submit(encoder);
    }
}

/// Runs dispatches in order in one compute pass and submits them.
pub fn run(gpu: &Gpu, dispatches: &[&Dispatch]) {
    gpu.run_pass(|pass| dispatches.iter().for_each(|d| d.record(pass)));
}

/// Milliseconds per run of `dispatches` (in order), run `reps` times in one compute pass
/// and waited for: how the kernel profile and the autotuner time kernels.
pub async fn time_ms(gpu: &Gpu, dispatches: &[&Dispatch], reps: usize) -> Result<f64, Error> {
    let t = crate::clock::now_ms();
    gpu.run_pass(|pass| (0..reps).for_each(|_| dispatches.iter().for_each(|d| d.record(pass))));
    gpu.finish().await?;
    Ok((crate::clock::now_ms() - t) / reps as f64)
}

/// Workgroups needed for `n` threads at `WORKGROUP_SIZE` per workgroup.
pub fn groups_for(n: usize) -> u64 {
    (n as u64).div_ceil(WORKGROUP_SIZE as u64)
}
