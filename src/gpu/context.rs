//! The device: limits planned from the model before it is requested, a pipeline cache,
//! error capture (wgpu's default handler panics; we record and report instead) and readback.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::error::GpuError;

/// What a model needs from the device, computed from its tensor index.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// The largest single binding that must work: one row of the widest tensor.
    pub min_binding: u64,
    /// The binding size that lets the largest tensor be bound whole (asked for, not required).
    pub wanted_binding: u64,
    /// Storage buffers one kernel binds at once.
    pub storage_buffers_per_stage: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// Lanes per subgroup, fewest and most (`wgpu::AdapterInfo::subgroup_min_size` / `_max_size`).
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    /// The device was given WebGPU's `shader-f16` (WGSL `f16`).
    pub shader_f16: bool,
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub adapter: AdapterSummary,
    /// The device has WGSL `subgroups`.
    pub subgroups: bool,
    /// The device has WGSL `f16` (WebGPU's `shader-f16`: 16-bit floats in storage buffers and
    /// arithmetic), requested wherever the adapter offers it.
    pub shader_f16: bool,
    pipelines: RefCell<HashMap<(&'static str, &'static str), Rc<Pipeline>>>,
    modules: RefCell<HashMap<&'static str, Rc<wgpu::ShaderModule>>>,
    /// Bind groups by (pipeline, bound buffer ranges): decode steps of the same shape bind the
    /// same buffers, so after the first step none is created (see [`GpuContext::bind_group`]).
    bind_groups: RefCell<HashMap<BindKey, wgpu::BindGroup>>,
    /// Free uniform and readback buffers by size (reused like scratch buffers).
    uniforms: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    staging: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    stats: std::cell::Cell<GpuStats>,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    part_limit: std::cell::Cell<u64>,
    /// Free scratch buffers by size (see [`GpuContext::take_scratch`]).
    scratch: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    kernels: std::cell::Cell<Option<MatKernel>>,
    chunked_scan: std::cell::Cell<Option<bool>>,
    /// A forced choice of fused dispatches (`set_fuse_dispatches`).
    fuse_dispatches: std::cell::Cell<Option<bool>>,
    /// A forced choice of shared x loads (`set_share_x`).
    share_x: std::cell::Cell<Option<bool>>,
    /// A forced choice of the KV cache's element type (`set_kv_f16`).
    kv_f16: std::cell::Cell<Option<bool>>,
    /// Per-kernel wall time when profiling (`braid bench --profile`; native only).
    profile: RefCell<Option<HashMap<(&'static str, &'static str), KernelTime>>>,
    /// The `BRAID_*` developer knobs, read once here.
    env: EnvKnobs,
}

/// The native developer knobs (`BRAID_*` environment variables; see each getter), read once
/// when the context is made so that recording a step never reads the environment. None on
/// the web. The `set_*` overrides take precedence.
#[derive(Debug, Clone, Copy, Default)]
struct EnvKnobs {
    /// `BRAID_KERNELS`: Some(true) for `rows`, Some(false) for anything else.
    rows: Option<bool>,
    /// `BRAID_XSHARE=0`.
    no_share_x: bool,
    /// `BRAID_SUBGROUPS`: Some(value != "0").
    subgroups: Option<bool>,
    /// `BRAID_SCAN`: Some(value == "chunked").
    chunked: Option<bool>,
    /// `BRAID_FUSE`: Some(value != "0").
    fuse: Option<bool>,
    /// `BRAID_MATVEC=rows`.
    matvec_rows: bool,
    /// `BRAID_F16`: `1` forces F16 KV caches on (where the adapter has `shader-f16`), `0` off;
    /// other values leave the default.
    f16: Option<bool>,
}

impl EnvKnobs {
    fn read() -> EnvKnobs {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let var = |k: &str| std::env::var(k).ok();
            EnvKnobs {
                rows: var("BRAID_KERNELS").map(|v| v == "rows"),
                no_share_x: var("BRAID_XSHARE").is_some_and(|v| v == "0"),
                subgroups: var("BRAID_SUBGROUPS").map(|v| v != "0"),
                chunked: var("BRAID_SCAN").map(|v| v == "chunked"),
                fuse: var("BRAID_FUSE").map(|v| v != "0"),
                matvec_rows: var("BRAID_MATVEC").is_some_and(|v| v == "rows"),
                f16: var("BRAID_F16").and_then(|v| match v.as_str() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }),
            }
        }
        #[cfg(target_arch = "wasm32")]
        EnvKnobs::default()
    }
}

/// Wall time of one kernel (shader module, entry point) summed over its dispatches while
/// profiling: each dispatch is submitted alone and waited for, so the time includes its
/// launch overhead (what a dispatch costs on this adapter) and nothing overlaps.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct KernelTime {
    pub dispatches: u64,
    pub seconds: f64,
}

/// A compute pipeline with its (automatic) bind group layout, fetched once.
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// What a bind group binds: the pipeline and every (binding, buffer, offset, size).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BindKey {
    pub pipeline: usize,
    pub entries: Vec<(u32, wgpu::Buffer, u64, u64)>,
}

/// Counters of GPU work, for benchmarks (`braid bench` reports them per decoded token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuStats {
    pub dispatches: u64,
    pub bind_groups_created: u64,
    pub submits: u64,
    pub buffers_created: u64,
}

/// Most cached bind groups; the cache is emptied when it would grow past this.
pub const BIND_GROUP_CACHE_MAX: usize = 4096;

/// Scratch buffers up to this size are pooled between submissions.
pub const SCRATCH_POOL_MAX_BYTES: u64 = 1 << 20;
/// Pooled scratch buffers kept per size.
pub const SCRATCH_KEEP: usize = 64;

/// Which matrix kernel family to use (chosen per adapter; tests force each one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatKernel {
    /// One workgroup per row, workgroup reduction (GPUs without subgroups).
    Workgroup,
    /// One invocation per row or a few rows (CPU adapters), as chosen for one bound by
    /// arithmetic (SwiftShader).
    Rows,
    /// As `Rows`, with the wider kernels of a load-bound CPU adapter (lavapipe: 8 rows per
    /// invocation where [`GpuContext::load_bound`] picks them).
    RowsWide,
    /// Subgroup per row for decode, else as `Rows`/`Workgroup` by adapter.
    Subgroup,
}

impl GpuContext {
    /// Find an adapter, check it can hold a model with `req`, and request a device with the
    /// limits the model needs (as much binding size as the adapter allows, up to what the
    /// largest tensor wants). Fails with [`GpuError::DeviceLimits`] naming what is missing.
    pub async fn new(req: &Requirements) -> Result<GpuContext, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY | wgpu::Backends::BROWSER_WEBGPU;
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let have = adapter.limits();
        let mut missing = vec![];
        let max_bind = have.max_storage_buffer_binding_size.min(have.max_buffer_size);
        if max_bind < req.min_binding {
            missing.push(format!(
                "maxStorageBufferBindingSize {} < {} (one row of the widest tensor)",
                max_bind, req.min_binding
            ));
        }
        if have.max_storage_buffers_per_shader_stage < req.storage_buffers_per_stage {
            missing.push(format!(
                "maxStorageBuffersPerShaderStage {} < {}",
                have.max_storage_buffers_per_shader_stage, req.storage_buffers_per_stage
            ));
        }
        if !missing.is_empty() {
            return Err(GpuError::DeviceLimits(missing.join("; ")));
        }
        let mut limits = wgpu::Limits::downlevel_defaults();
        limits.max_storage_buffer_binding_size =
            have.max_storage_buffer_binding_size.min(req.wanted_binding.max(limits.max_storage_buffer_binding_size));
        limits.max_buffer_size = have.max_buffer_size.min(req.wanted_binding.max(limits.max_buffer_size));
        limits.max_storage_buffers_per_shader_stage =
            have.max_storage_buffers_per_shader_stage.min(req.storage_buffers_per_stage.max(8));
        limits.max_compute_workgroup_storage_size = have.max_compute_workgroup_storage_size;
        limits.max_compute_invocations_per_workgroup = have.max_compute_invocations_per_workgroup;
        limits.max_compute_workgroup_size_x = have.max_compute_workgroup_size_x;
        limits.max_compute_workgroups_per_dimension = have.max_compute_workgroups_per_dimension;
        let info = adapter.get_info();
        // Subgroup reductions where the adapter has them (both software adapters do), 16-bit
        // floats where it has them (lavapipe and most GPUs; not SwiftShader).
        let features = adapter.features() & (wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("braid"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut l) = lost_sink.lock() {
                *l = Some(format!("{reason:?}: {msg}"));
            }
        });
        Ok(GpuContext {
            device,
            queue,
            limits,
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            adapter: AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
                subgroup_min_size: info.subgroup_min_size,
                subgroup_max_size: info.subgroup_max_size,
                shader_f16: features.contains(wgpu::Features::SHADER_F16),
            },
            pipelines: RefCell::new(HashMap::new()),
            modules: RefCell::new(HashMap::new()),
            bind_groups: RefCell::new(HashMap::new()),
            uniforms: RefCell::new(HashMap::new()),
            staging: RefCell::new(HashMap::new()),
            stats: std::cell::Cell::new(GpuStats::default()),
            profile: RefCell::new(None),
            errors,
            lost,
            part_limit: std::cell::Cell::new(u64::MAX),
            scratch: RefCell::new(HashMap::new()),
            kernels: std::cell::Cell::new(None),
            chunked_scan: std::cell::Cell::new(None),
            fuse_dispatches: std::cell::Cell::new(None),
            share_x: std::cell::Cell::new(None),
            kv_f16: std::cell::Cell::new(None),
            env: EnvKnobs::read(),
        })
    }

    /// The largest byte range one binding may cover (and one buffer may have).
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size).min(self.part_limit.get()) & !3
    }

    /// Split tensors into parts of at most `bytes` even where the device allows more (tests
    /// exercise the multi-part path this way on any adapter).
    pub fn set_part_limit(&self, bytes: u64) {
        self.part_limit.set(bytes.max(4));
    }

    /// CPU adapters (lavapipe, SwiftShader) run one-row-per-invocation kernels faster than
    /// workgroup reductions (barriers are costly there). `BRAID_KERNELS=rows|workgroup`
    /// overrides natively.
    pub fn prefers_row_kernels(&self) -> bool {
        match self.kernels.get() {
            Some(MatKernel::Rows | MatKernel::RowsWide) => return true,
            Some(MatKernel::Workgroup) => return false,
            _ => {}
        }
        if let Some(rows) = self.env.rows {
            return rows;
        }
        self.adapter.device_type == "Cpu"
    }

    /// A CPU adapter whose matrix kernels are bound by storage loads rather than arithmetic:
    /// Mesa's lavapipe (llvmpipe's JIT runs every storage load as a loop over the SIMD lanes),
    /// where more rows per invocation (fewer x loads per weight) pay. SwiftShader's JIT is
    /// bound by the dequantizing arithmetic instead and runs the same kernels slower (Q6_K
    /// with 8 rows: 1.8× slower there, 22% faster on lavapipe).
    /// A forced kernel family decides (`RowsWide`: yes).
    pub fn load_bound(&self) -> bool {
        if let Some(k) = self.kernels.get() {
            return k == MatKernel::RowsWide;
        }
        self.adapter.device_type == "Cpu" && self.adapter.name.contains("llvmpipe")
    }

    /// The CPU adapters' kernels share x loads through subgroup broadcasts (`x16_sg` in
    /// `shaders/matvec_subgroup.wgsl`): each lane of 8 loads 2 of a chunk's 16 x groups instead
    /// of all 16. Needs subgroups of exactly 8 lanes holding 8 consecutive invocations, so that
    /// a workgroup of 8 is one subgroup and one of 16 two (lavapipe on 256-bit SIMD: its SIMD
    /// vector is the subgroup). Row kernels only (CPU adapters); `BRAID_XSHARE=0` turns it off
    /// natively.
    pub fn share_x(&self) -> bool {
        let able = self.subgroups && self.adapter.subgroup_min_size == 8 && self.adapter.subgroup_max_size == 8;
        if let Some(v) = self.share_x.get() {
            return v && able;
        }
        if self.env.no_share_x {
            return false;
        }
        able && self.prefers_row_kernels()
    }

    /// Force shared x loads on (where the adapter can: `share_x` still needs 8-lane subgroups)
    /// or off; `None` restores the default. For tests that run both forms.
    pub fn set_share_x(&self, v: Option<bool>) {
        self.share_x.set(v);
    }

    /// Use the subgroup matrix–vector kernel (`BRAID_SUBGROUPS=0` turns it off natively).
    pub fn use_subgroups(&self) -> bool {
        if let Some(k) = self.kernels.get() {
            return k == MatKernel::Subgroup && self.subgroups;
        }
        if let Some(on) = self.env.subgroups {
            return on && self.subgroups;
        }
        // On CPU adapters one row per invocation measured faster (lavapipe, Q8_0 decode:
        // 4.2 vs 2.7 tok/s on a mamba2-370m shape).
        self.subgroups && self.adapter.device_type != "Cpu"
    }

    /// Use the chunked (SSD) scan for a prefill of `n_tok` tokens: on GPUs from two chunks
    /// up (it exposes parallelism over tokens); on CPU adapters the sequential scan, already
    /// parallel over d_inner, is faster. `set_chunked_scan` forces either.
    pub fn use_chunked_scan(&self, n_tok: u32) -> bool {
        self.chunked_forced(n_tok).unwrap_or(n_tok >= 64 && !self.prefers_row_kernels())
    }

    /// A forced choice of chunked vs sequential recurrences (`set_chunked_scan`, else natively
    /// `BRAID_SCAN=chunked|sequential`); `None`: the caller's default.
    fn chunked_forced(&self, n_tok: u32) -> Option<bool> {
        let forced = self.chunked_scan.get().or(self.env.chunked);
        forced.map(|v| v && n_tok > 1)
    }

    /// Use the chunked (WY) DeltaNet form for a batch of `n_tok` tokens of one session: from
    /// one 64-token chunk up (the sequential recurrence is n_tok dependent steps of a d_k·d_v
    /// state per head), except where the recurrence keeps its state column in registers
    /// (`fast_recurrence`: `dn_scan_sg` on CPU adapters with 8-lane subgroups), which beats
    /// the chunked form there (lavapipe, qwen3.5-0.8b, 128-token prompt: 2.1 against 37 ms
    /// of DeltaNet kernels per prompt token). `BRAID_SCAN` / `set_chunked_scan` force either.
    pub fn use_chunked_delta(&self, n_tok: u32, fast_recurrence: bool) -> bool {
        self.chunked_forced(n_tok).unwrap_or(n_tok >= 64 && !fast_recurrence)
    }

    pub fn set_chunked_scan(&self, v: Option<bool>) {
        self.chunked_scan.set(v);
    }

    /// Fuse work into neighbouring dispatches (on by default): Mamba2's conv into in_proj's
    /// epilogue and its one-group norm between the scan and out_proj's epilogue (decode
    /// steps), a gated FFN's gate and up projections into one paired dispatch, and the
    /// pre-norms into the products or post-norms that add into the residual before them
    /// (decode steps of one token; `ops::NormOut`). `set_fuse_dispatches` or natively `BRAID_FUSE=0` turns it off, so tests and benchmarks
    /// can compare both forms.
    pub fn fuse_dispatches(&self) -> bool {
        if let Some(v) = self.fuse_dispatches.get() {
            return v;
        }
        self.env.fuse.unwrap_or(true)
    }

    /// Keep KV caches in F16 (as llama.cpp does by default, `--cache-type-k f16`): half the
    /// bytes per token a session holds and attention reads. By default on GPUs with
    /// `shader-f16`; CPU adapters keep F32 (lavapipe has `shader-f16`, but there the
    /// conversions cost what the bytes save: a 1,000-token prefill of small-qwen3 5% slower,
    /// decode the same). Models loaded afterwards take it (a
    /// pool's element type is fixed when the model is made). `set_kv_f16`, or natively
    /// `BRAID_F16=1` / `BRAID_F16=0`, forces either (F16 only where the device has
    /// `shader-f16`).
    pub fn kv_f16(&self) -> bool {
        let forced = self.kv_f16.get().or(self.env.f16);
        self.shader_f16 && forced.unwrap_or(self.adapter.device_type != "Cpu")
    }

    /// Force F16 KV caches on (where the device has `shader-f16`) or off for models loaded
    /// from now on; `None` restores the default. For tests that run both forms.
    pub fn set_kv_f16(&self, v: Option<bool>) {
        self.kv_f16.set(v);
    }

    /// The one-row decode kernel forced for comparisons (`BRAID_MATVEC=rows`, native only).
    pub fn forced_matvec_rows(&self) -> bool {
        self.env.matvec_rows
    }

    pub fn set_fuse_dispatches(&self, v: Option<bool>) {
        self.fuse_dispatches.set(v);
    }

    /// Force a kernel family (`None`: choose by adapter).
    pub fn set_kernels(&self, k: Option<MatKernel>) {
        self.kernels.set(k);
    }

    /// Fails if the device was lost or a GPU error was recorded since the last check.
    pub fn check(&self) -> Result<(), GpuError> {
        if let Some(l) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(GpuError::DeviceLost(l));
        }
        let errs = self.errors.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default();
        if !errs.is_empty() {
            let e = errs.join("\n");
            if e.to_lowercase().contains("out of memory") {
                return Err(GpuError::OutOfMemory(e));
            }
            return Err(GpuError::Validation(e));
        }
        Ok(())
    }

    /// Counters since the device was created.
    pub fn stats(&self) -> GpuStats {
        self.stats.get()
    }

    /// Start (clearing what was measured) or stop timing every dispatch on its own (slow:
    /// one submit and wait per dispatch). Native only; a no-op in the browser.
    pub fn set_profiling(&self, on: bool) {
        *self.profile.borrow_mut() = (on && !cfg!(target_arch = "wasm32")).then(HashMap::new);
    }

    pub(crate) fn profiling(&self) -> bool {
        self.profile.borrow().is_some()
    }

    /// Submit one dispatch's commands, wait for them and add the wall time to `kernel`.
    pub(crate) fn submit_timed(&self, kernel: (&'static str, &'static str), commands: wgpu::CommandBuffer) {
        #[cfg(not(target_arch = "wasm32"))]
        let t = std::time::Instant::now();
        self.queue.submit([commands]);
        self.count(|s| s.submits += 1);
        self.poll_wait();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(m) = self.profile.borrow_mut().as_mut() {
            let e = m.entry(kernel).or_default();
            e.dispatches += 1;
            e.seconds += t.elapsed().as_secs_f64();
        }
        #[cfg(target_arch = "wasm32")]
        let _ = kernel;
    }

    /// What profiling measured: ("module:entry", time), slowest first.
    pub fn kernel_times(&self) -> Vec<(String, KernelTime)> {
        let mut v: Vec<_> = self.profile.borrow().iter().flatten().map(|((m, e), t)| (format!("{m}:{e}"), *t)).collect();
        v.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
        v
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut GpuStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    fn create_buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.count(|s| s.buffers_created += 1);
        self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false })
    }

    /// A storage buffer of `bytes` (a multiple of 16) for intermediate results of one
    /// submission, from the pool of buffers returned by [`GpuContext::give_scratch`]
    /// (uninitialised: the kernels write before they read). Decode steps reuse the same few
    /// dozen small buffers instead of creating them for every token.
    pub fn take_scratch(&self, bytes: u64) -> wgpu::Buffer {
        if let Some(b) = self.scratch.borrow_mut().get_mut(&bytes).and_then(Vec::pop) {
            return b;
        }
        self.create_buffer(
            "scratch",
            bytes,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::INDIRECT,
        )
    }

    /// Return scratch buffers once the submission that uses them is queued (later
    /// submissions run after it, so they may reuse them). Only small buffers are kept
    /// (prefill-sized ones are freed): at most [`SCRATCH_KEEP`] of each size. They go back in
    /// reverse order, so that a step of the same shape takes the very same buffers again
    /// (and finds its bind groups cached).
    pub fn give_scratch(&self, bufs: impl IntoIterator<Item = wgpu::Buffer>) {
        let bufs: Vec<wgpu::Buffer> = bufs.into_iter().collect();
        let mut pool = self.scratch.borrow_mut();
        for b in bufs.into_iter().rev() {
            if b.size() <= SCRATCH_POOL_MAX_BYTES {
                let v = pool.entry(b.size()).or_default();
                if v.len() < SCRATCH_KEEP {
                    v.push(b);
                }
            }
        }
    }

    /// A uniform buffer of `bytes` (pooled; give it back with [`GpuContext::give_uniform`]).
    pub fn take_uniform(&self, bytes: u64) -> wgpu::Buffer {
        if let Some(b) = self.uniforms.borrow_mut().get_mut(&bytes).and_then(Vec::pop) {
            return b;
        }
        self.create_buffer("dispatch params", bytes, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST)
    }

    pub fn give_uniform(&self, b: wgpu::Buffer) {
        let mut pool = self.uniforms.borrow_mut();
        let v = pool.entry(b.size()).or_default();
        if v.len() < SCRATCH_KEEP {
            v.push(b);
        }
    }

    /// The bind group of `pipeline` with `entries` bound (the params uniform among them),
    /// cached when `cacheable` (every bound buffer outlives the submission and is reused by
    /// later steps of the same shape). Buffers a cached group holds stay alive until
    /// [`GpuContext::forget_bind_groups`] or the cache overflows.
    pub fn bind_group(&self, pipeline: &Rc<Pipeline>, entries: &[(u32, &wgpu::Buffer, u64, u64)], cacheable: bool) -> wgpu::BindGroup {
        let key = cacheable.then(|| BindKey {
            pipeline: Rc::as_ptr(pipeline) as usize,
            entries: entries.iter().map(|(b, buf, o, s)| (*b, (*buf).clone(), *o, *s)).collect(),
        });
        if let Some(k) = &key {
            if let Some(g) = self.bind_groups.borrow().get(k) {
                return g.clone();
            }
        }
        let e: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|(b, buf, offset, size)| wgpu::BindGroupEntry {
                binding: *b,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: buf, offset: *offset, size: wgpu::BufferSize::new(*size) }),
            })
            .collect();
        self.count(|s| s.bind_groups_created += 1);
        let g = self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.layout, entries: &e });
        if let Some(k) = key {
            let mut cache = self.bind_groups.borrow_mut();
            if cache.len() >= BIND_GROUP_CACHE_MAX {
                cache.clear();
            }
            cache.insert(k, g.clone());
        }
        g
    }

    /// Drop every cached bind group (call when buffers they bind are replaced, e.g. a memory
    /// pool grows, so the old buffers can be freed).
    pub fn forget_bind_groups(&self) {
        self.bind_groups.borrow_mut().clear();
    }

    /// A compute pipeline for `entry` of the shader `name` (its WGSL `source`), created once.
    pub fn pipeline(&self, name: &'static str, source: &dyn Fn() -> String, entry: &'static str) -> Rc<Pipeline> {
        if let Some(p) = self.pipelines.borrow().get(&(name, entry)) {
            return p.clone();
        }
        let module = self
            .modules
            .borrow_mut()
            .entry(name)
            .or_insert_with(|| {
                Rc::new(self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(source().into()),
                }))
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
        let layout = pipeline.get_bind_group_layout(0);
        let p = Rc::new(Pipeline { pipeline, layout });
        self.pipelines.borrow_mut().insert((name, entry), p.clone());
        p
    }

    /// Let the native backend make progress (a no-op on the web, where the browser does).
    pub fn poll_wait(&self) {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Copy `size` bytes at `offset` of `src` (which needs COPY_SRC) back to the CPU.
    pub async fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>, GpuError> {
        let cap = size.next_multiple_of(4).max(4);
        let staging = match self.staging.borrow_mut().get_mut(&cap).and_then(Vec::pop) {
            Some(b) => b,
            None => self.create_buffer("readback", cap, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
        };
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        self.count(|s| s.submits += 1);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..size).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.poll_wait();
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::Readback(e.to_string())),
            Err(_) => return Err(GpuError::Readback("map callback dropped".into())),
        }
        self.check()?;
        let data = staging
            .slice(..size)
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        let mut pool = self.staging.borrow_mut();
        let v = pool.entry(cap).or_default();
        if v.len() < 4 {
            v.push(staging);
        }
        Ok(data)
    }

    pub async fn read_f32(&self, src: &wgpu::Buffer, offset: u64, count: u64) -> Result<Vec<f32>, GpuError> {
        let bytes = self.read_bytes(src, offset, count * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
