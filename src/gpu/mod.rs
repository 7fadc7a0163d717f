//! The GPU: adapter, device and queue; buffer creation checked against the device's
//! limits; readback that works both natively and in the browser; and (in `dispatch`) the
//! pipeline cache and prepared dispatches every op is built from. Knows nothing about ops.

mod dispatch;

use std::sync::{Arc, Mutex};

pub(crate) use dispatch::uniform;
pub use dispatch::{groups_for, run, time_ms, Dispatch, Shader, Uniform, View, WORKGROUP_SIZE};

use crate::error::Error;

/// A connected GPU with the limits it was created with.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// Adapter name, backend and device type, as a person would want to read them.
    pub adapter_info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Most workgroups along x before a dispatch spills into y: the device limit,
    /// lowered by tests to force every kernel onto a 2-D grid.
    pub max_workgroups_per_dim: u32,
    pipelines: Arc<Mutex<dispatch::PipelineCache>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Readbacks in flight, by id: a lost device fails them, since a destroyed device may
    /// never answer their map_async (the page's training worker then hung, now and then).
    waiting: Arc<Mutex<Vec<(u64, MapSender)>>>,
    next_wait: Arc<std::sync::atomic::AtomicU64>,
}

type MapSender = Sender<Result<(), wgpu::BufferAsyncError>>;

/// Buffer sizes are in bytes; element counts are f32/u32 words.
pub const WORD: u64 = 4;

impl Gpu {
    /// Finds an adapter and opens a device with the adapter's own limits (so large
    /// storage buffers work where the hardware allows them).
    pub async fn new() -> Result<Gpu, Error> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoGpu(format!("no GPU adapter was found ({e})")))?;
        let adapter_info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-mnist"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoGpu(format!("the GPU adapter refused a device ({e})")))?;
        let lost = Arc::new(Mutex::new(None));
        let waiting: Arc<Mutex<Vec<(u64, MapSender)>>> = Default::default();
        let (lost_in_callback, waiting_in_callback) = (lost.clone(), waiting.clone());
        device.set_device_lost_callback(move |reason, message| {
            *lost_in_callback.lock().unwrap() = Some(format!("{reason:?}: {message}"));
            for (_, sender) in waiting_in_callback.lock().unwrap().drain(..) {
                sender.send(Err(wgpu::BufferAsyncError));
            }
        });
        // Natively, an error no call site captured (work on a lost device, or a bug) fails
        // the next readback with its message, instead of wgpu's default of aborting the
        // process, so the trainer can save its last good checkpoint first. (Browsers only
        // log such errors, and the page watches for a lost device itself.)
        #[cfg(not(target_arch = "wasm32"))]
        let failed = lost.clone();
        #[cfg(not(target_arch = "wasm32"))]
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            failed.lock().unwrap().get_or_insert_with(|| format!("wgpu error: {e}"));
        }));
        Ok(Gpu {
            device,
            queue,
            adapter_info,
            max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
            limits,
            pipelines: Default::default(),
            lost,
            waiting,
            next_wait: Default::default(),
        })
    }

    /// One line that names the adapter, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
    pub fn describe(&self) -> String {
        let i = &self.adapter_info;
        // Browsers' WebGPU hides the adapter's name from wgpu; say what it is instead of "0".
        let name = match (i.name.is_empty(), i.backend) {
            (false, _) => i.name.clone(),
            (true, wgpu::Backend::BrowserWebGpu) => "WebGPU adapter".to_string(),
            (true, _) => format!("vendor {:#x}", i.vendor),
        };
        format!("{name} ({:?}, {:?})", i.backend, i.device_type)
    }

    /// Whether the adapter runs on the CPU (lavapipe, SwiftShader, WARP): a software
    /// adapter, which the CPU engine outruns.
    pub fn is_software(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// The error that ended the device, if it was lost.
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().unwrap().clone()
    }

    /// A storage buffer of `words` 32-bit elements, checked against the binding limit.
    pub fn storage(&self, label: &str, words: usize) -> Result<wgpu::Buffer, Error> {
        let size = (words.max(1) as u64) * WORD;
        self.check_size(label, size)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data`.
    pub fn storage_from<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<wgpu::Buffer, Error> {
        let buffer = self.storage(label, std::mem::size_of_val(data).div_ceil(4))?;
        self.write(&buffer, 0, data);
        Ok(buffer)
    }

    /// Writes `data` at word `offset` of `buffer` (queued; lands before the next submit).
    pub fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, offset_words: u64, data: &[T]) {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return;
        }
        // write_buffer needs a multiple of 4 bytes.
        if bytes.len().is_multiple_of(4) {
            self.queue.write_buffer(buffer, offset_words * WORD, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().div_ceil(4) * 4, 0);
            self.queue.write_buffer(buffer, offset_words * WORD, &padded);
        }
    }

    /// A small uniform buffer holding `params`.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, params: &T) -> wgpu::Buffer {
        let bytes = bytemuck::bytes_of(params);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len() as u64).next_multiple_of(16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    fn check_size(&self, label: &str, size: u64) -> Result<(), Error> {
        let max = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if size > max {
            return Err(Error::TooLarge(format!(
                "buffer '{label}' needs {size} bytes, over this GPU's limit of {max} bytes per storage binding"
            )));
        }
        Ok(())
    }

    /// Submits one command buffer.
    pub fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit(Some(encoder.finish()));
    }

    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Copies `words` elements from word `offset` of `src` back to the CPU. Waits for all
    /// work submitted before it.
    pub async fn read<T: bytemuck::Pod>(&self, src: &wgpu::Buffer, offset_words: u64, words: usize) -> Result<Vec<T>, Error> {
        let size = words as u64 * WORD;
        if size == 0 {
            return Ok(Vec::new());
        }
        if let Some(reason) = self.lost_reason() {
            return Err(Error::DeviceLost(format!("the GPU device was lost or failed ({reason})")));
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.encoder();
        encoder.copy_buffer_to_buffer(src, offset_words * WORD, &staging, 0, size);
        self.submit(encoder);
        let (sender, receiver) = oneshot();
        let id = self.next_wait.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.waiting.lock().unwrap().push((id, sender.clone()));
        if self.lost_reason().is_some() {
            // Lost between the check above and the registration: fail now.
            sender.clone().send(Err(wgpu::BufferAsyncError));
        }
        staging.map_async(wgpu::MapMode::Read, .., move |result| sender.send(result));
        let forget = || self.waiting.lock().unwrap().retain(|(i, _)| *i != id);
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.device.poll(wgpu::PollType::wait_indefinitely()) {
            forget();
            return Err(Error::DeviceLost(format!("waiting for the GPU failed: {e}")));
        }
        let mapped = receiver.await;
        forget();
        mapped.map_err(|e| {
            Error::DeviceLost(match self.lost_reason() {
                Some(reason) => format!("the GPU device was lost ({reason})"),
                None => format!("reading a result back from the GPU failed ({e})"),
            })
        })?;
        let data = {
            let view = staging.get_mapped_range(..).map_err(|e| Error::DeviceLost(format!("mapping a GPU buffer failed: {e:?}")))?;
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
    }

    /// Waits until the GPU has finished everything submitted so far.
    pub async fn finish(&self) -> Result<(), Error> {
        let probe = self.storage("finish-probe", 1)?;
        self.read::<u32>(&probe, 0, 1).await.map(|_| ())
    }
}

/// A one-value channel whose receiver is a future: map_async's callback sends, the
/// reader awaits (natively the value is already there after `poll`).
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, sent: false, waker: None }));
    (Sender(slot.clone()), Receiver(slot))
}

struct Slot<T> {
    value: Option<T>,
    sent: bool,
    waker: Option<std::task::Waker>,
}
struct Sender<T>(Arc<Mutex<Slot<T>>>);
impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

impl<T> Sender<T> {
    /// The first value sent is the one received; later ones are dropped.
    fn send(self, value: T) {
        let mut slot = self.0.lock().unwrap();
        if slot.sent {
            return;
        }
        slot.sent = true;
        slot.value = Some(value);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl<T> std::future::Future for Receiver<T> {
    type Output = T;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let mut slot = self.0.lock().unwrap();
        match slot.value.take() {
            Some(value) => std::task::Poll::Ready(value),
            None => {
                slot.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}
