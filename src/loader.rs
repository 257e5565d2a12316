//! Loading weights: GGUF bytes stream in chunk by chunk; the index is parsed as soon as it
//! has arrived, the device is requested with the limits the model needs (or the load fails
//! then, before the rest is downloaded), and each tensor goes into its GPU buffers as its
//! bytes pass. The whole file is never held in memory.

use std::rc::Rc;

use crate::gguf::{Event, GgufError, GgufIndex, GgufParser};
use crate::gpu::tensor::{part_bytes, TensorUploader};
use crate::gpu::{GpuContext, GpuError, GpuTensor, GpuWeights, Requirements};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("invalid GGUF: {0}")]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("reading the model failed: {0}")]
    Io(String),
    #[error("the load was aborted")]
    Aborted,
    /// The file is a valid GGUF but not a model Braid can run (found at the index, before
    /// the tensor data is downloaded).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

impl LoadError {
    /// The stable error code used by the JavaScript API.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Gguf(_) | LoadError::Io(_) => "GGUF_INVALID",
            LoadError::Gpu(e) => e.code(),
            LoadError::Aborted => "ABORTED",
            LoadError::Model(e) => e.code(),
        }
    }
}

/// What a model's tensors need from the device.
pub fn requirements(index: &GgufIndex) -> Requirements {
    let mut r = Requirements { min_binding: 4, wanted_binding: 4, storage_buffers_per_stage: 8 };
    for t in &index.tensors {
        let bpr = t.ne0() / t.ty.block_size();
        r.min_binding = r.min_binding.max(part_bytes(t.ty, bpr));
        r.wanted_binding = r.wanted_binding.max(part_bytes(t.ty, bpr * t.n_rows()));
    }
    r
}

/// GPU bytes the weights of `index` will take once uploaded (before any split into parts,
/// which adds at most a few bytes of rounding per part).
pub fn planned_gpu_bytes(index: &GgufIndex) -> u64 {
    index.tensors.iter().map(|t| part_bytes(t.ty, t.n_elements / t.ty.block_size())).sum()
}

/// Weights resident on one device (the name the loader's callers know them by).
pub type LoadedWeights = GpuWeights;

/// Progress of a load, for progress events.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadProgress {
    pub bytes_in: u64,
    pub total: Option<u64>,
    pub tensors_done: usize,
    pub tensors_total: usize,
}

/// Submit and wait after this many bytes were written, to bound staging memory natively.
const FLUSH_EVERY: u64 = 64 << 20;

pub struct StreamLoader {
    parser: GgufParser,
    ctx: Option<Rc<GpuContext>>,
    uploaders: Vec<Option<TensorUploader>>,
    tensors: Vec<Option<GpuTensor>>,
    since_flush: u64,
    progress: LoadProgress,
    check_model: bool,
    gpu_budget: Option<u64>,
}

impl StreamLoader {
    /// `total_len`: the file size when known (Content-Length, File.size), checked up front.
    /// `ctx`: an existing device to load onto; otherwise one is requested for this model.
    pub fn new(total_len: Option<u64>, ctx: Option<Rc<GpuContext>>) -> StreamLoader {
        let mut parser = GgufParser::new();
        if let Some(t) = total_len {
            parser = parser.with_total_len(t);
        }
        StreamLoader {
            parser,
            ctx,
            uploaders: vec![],
            tensors: vec![],
            since_flush: 0,
            progress: LoadProgress { total: total_len, ..Default::default() },
            check_model: false,
            gpu_budget: None,
        }
    }

    /// Check at the index that the file is a model Braid can run (architecture,
    /// hyperparameters, tensor roles and shapes), so that an unsupported model fails before
    /// its tensor data is downloaded.
    pub fn check_model(mut self) -> StreamLoader {
        self.check_model = true;
        self
    }

    /// Refuse (with `DEVICE_LIMITS`, at the index) a model whose weights would take more than
    /// `bytes` of GPU memory. WebGPU does not tell how much memory a device has; this is the
    /// caller's budget (phones, integrated GPUs, a tab that must leave room for others).
    pub fn gpu_budget(mut self, bytes: Option<u64>) -> StreamLoader {
        self.gpu_budget = bytes;
        self
    }

    pub fn progress(&self) -> LoadProgress {
        self.progress
    }

    pub fn index(&self) -> Option<&GgufIndex> {
        self.parser.index()
    }

    /// The next chunk of the file.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<(), LoadError> {
        self.progress.bytes_in += chunk.len() as u64;
        let events = self.parser.feed(chunk)?;
        for ev in events {
            match ev {
                Event::IndexReady => self.on_index().await?,
                Event::TensorData { tensor, data, .. } => {
                    let ctx = self.ctx.as_ref().ok_or(LoadError::Io("no device".into()))?;
                    if self.uploaders[tensor].is_none() {
                        let info = &self.parser.index().ok_or(LoadError::Io("no index".into()))?.tensors[tensor];
                        self.uploaders[tensor] = Some(TensorUploader::new(ctx, info)?);
                    }
                    if let Some(u) = self.uploaders[tensor].as_mut() {
                        u.push(&ctx.queue, data);
                    }
                    self.since_flush += data.len() as u64;
                }
                Event::TensorEnd { tensor } => {
                    if let Some(u) = self.uploaders[tensor].take() {
                        self.tensors[tensor] = Some(u.finish()?);
                        self.progress.tensors_done += 1;
                    }
                }
            }
        }
        if self.since_flush >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LoadError> {
        self.since_flush = 0;
        if let Some(ctx) = &self.ctx {
            ctx.queue.submit([]);
            ctx.poll_wait();
            ctx.check()?;
        }
        Ok(())
    }

    async fn on_index(&mut self) -> Result<(), LoadError> {
        let index = self.parser.index().ok_or(LoadError::Io("no index".into()))?;
        // Types Braid cannot run fail now, before the rest of the file is downloaded.
        if let Some(t) = index.tensors.iter().find(|t| !t.ty.is_supported()) {
            return Err(GpuError::UnsupportedType { tensor: t.name.clone(), ty: t.ty.name().into() }.into());
        }
        if self.check_model {
            crate::model::plan::ModelPlan::build(index)?;
        }
        if let Some(budget) = self.gpu_budget {
            let need = planned_gpu_bytes(index);
            if need > budget {
                return Err(GpuError::DeviceLimits(format!(
                    "the weights need {:.1} MiB of GPU memory, more than the budget of {:.1} MiB",
                    need as f64 / 1048576.0,
                    budget as f64 / 1048576.0
                ))
                .into());
            }
        }
        let req = requirements(index);
        let n = index.tensors.len();
        let ctx = match &self.ctx {
            Some(ctx) => {
                if ctx.max_binding() < req.min_binding {
                    return Err(GpuError::DeviceLimits(format!(
                        "maxStorageBufferBindingSize {} < {} (one row of the widest tensor)",
                        ctx.max_binding(),
                        req.min_binding
                    ))
                    .into());
                }
                ctx.clone()
            }
            None => Rc::new(GpuContext::new(&req).await?),
        };
        self.ctx = Some(ctx);
        self.uploaders = (0..n).map(|_| None).collect();
        self.tensors = (0..n).map(|_| None).collect();
        self.progress.tensors_total = n;
        Ok(())
    }

    /// The stream has ended: every tensor must be complete.
    pub fn finish(mut self) -> Result<LoadedWeights, LoadError> {
        self.parser.finish()?;
        self.flush()?;
        let index = self.parser.take_index().ok_or(LoadError::Io("no index".into()))?;
        let ctx = self.ctx.take().ok_or(LoadError::Io("no device".into()))?;
        let tensors: Option<Vec<GpuTensor>> = self.tensors.into_iter().collect();
        let tensors = tensors.ok_or(LoadError::Io("a tensor is incomplete".into()))?;
        Ok(LoadedWeights { index, ctx, tensors })
    }
}

/// Load a file from disk natively, in `chunk`-byte reads.
#[cfg(not(target_arch = "wasm32"))]
pub async fn load_file(path: &std::path::Path, ctx: Option<Rc<GpuContext>>, chunk: usize) -> Result<LoadedWeights, LoadError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| LoadError::Io(e.to_string()))?;
    let len = f.metadata().map_err(|e| LoadError::Io(e.to_string()))?.len();
    let mut loader = StreamLoader::new(Some(len), ctx);
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let n = f.read(&mut buf).map_err(|e| LoadError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        loader.feed(&buf[..n]).await?;
    }
    loader.finish()
}
