//! Recording kernel dispatches: each call binds buffers and a small parameter block and
//! records one dispatch; `finish` encodes them all into one compute pass of one command
//! buffer and submits it once.

use std::rc::Rc;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::QUANT_WGSL;
use super::tensor::GpuTensor;
use crate::gguf::GgmlType;

pub const MATMUL_WGSL: &str = include_str!("../../shaders/matmul.wgsl");
pub const NORM_WGSL: &str = include_str!("../../shaders/norm.wgsl");
pub const ROPE_WGSL: &str = include_str!("../../shaders/rope.wgsl");
pub const ATTENTION_WGSL: &str = include_str!("../../shaders/attention.wgsl");
pub const SSM_WGSL: &str = include_str!("../../shaders/ssm.wgsl");
pub const ELEMENTWISE_WGSL: &str = include_str!("../../shaders/elementwise.wgsl");
pub const COPY_WGSL: &str = include_str!("../../shaders/copy.wgsl");
pub const SSD_WGSL: &str = include_str!("../../shaders/ssd.wgsl");
pub const ARGMAX_WGSL: &str = include_str!("../../shaders/argmax.wgsl");
pub const MATVEC_SUBGROUP_WGSL: &str = include_str!("../../shaders/matvec_subgroup.wgsl");

/// The matmul shader instantiated for one weight type: (cache name, decoder, block, cache
/// name of the variant with the subgroup kernel).
pub fn matmul_variant(ty: GgmlType) -> Option<(&'static str, &'static str, u32, &'static str)> {
    use GgmlType::*;
    Some(match ty {
        F32 => ("matmul_f32", "load_f32x4", 4, "matmul_sg_f32"),
        F16 => ("matmul_f16", "load_f16x4", 4, "matmul_sg_f16"),
        BF16 => ("matmul_bf16", "load_bf16x4", 4, "matmul_sg_bf16"),
        Q4_0 => ("matmul_q4_0", "load_q4_0", 32, "matmul_sg_q4_0"),
        Q4_1 => ("matmul_q4_1", "load_q4_1", 32, "matmul_sg_q4_1"),
        Q5_0 => ("matmul_q5_0", "load_q5_0", 32, "matmul_sg_q5_0"),
        Q5_1 => ("matmul_q5_1", "load_q5_1", 32, "matmul_sg_q5_1"),
        Q8_0 => ("matmul_q8_0", "load_q8_0", 32, "matmul_sg_q8_0"),
        IQ4_NL => ("matmul_iq4_nl", "load_iq4_nl", 32, "matmul_sg_iq4_nl"),
        MXFP4 => ("matmul_mxfp4", "load_mxfp4", 32, "matmul_sg_mxfp4"),
        Q4_K => ("matmul_q4_k", "load_q4_k", 256, "matmul_sg_q4_k"),
        Q5_K => ("matmul_q5_k", "load_q5_k", 256, "matmul_sg_q5_k"),
        Q6_K => ("matmul_q6_k", "load_q6_k", 256, "matmul_sg_q6_k"),
        _ => return None,
    })
}

fn matmul_source(ty: GgmlType, subgroups: bool) -> String {
    let (_, load, block, _) = matmul_variant(ty).expect("supported type");
    let body = if subgroups { format!("{MATMUL_WGSL}\n{MATVEC_SUBGROUP_WGSL}") } else { MATMUL_WGSL.to_string() };
    let dot = match ty {
        GgmlType::Q8_0 => "dot_q8_0",
        GgmlType::Q4_0 => "dot_q4_0",
        GgmlType::Q4_K => "dot_q4_k",
        GgmlType::Q5_K => "dot_q5_k",
        GgmlType::Q6_K => "dot_q6_k",
        _ => "dot_generic",
    };
    let body = body.replace("LOAD_FN", load).replace("DOT_FN", dot).replace("BLOCKu", &format!("{block}u"));
    // Browsers require the `enable` directive; naga (native) rejects it and needs none.
    let enable = subgroups && cfg!(target_arch = "wasm32");
    format!("{}{QUANT_WGSL}\n{body}", if enable { "enable subgroups;\n" } else { "" })
}

/// Shader family: cache name and source.
#[derive(Clone, Copy)]
pub enum Shader {
    Matmul(GgmlType),
    /// The matmul module with the subgroup kernel appended.
    MatmulSg(GgmlType),
    Norm,
    Rope,
    Attention,
    Ssm,
    Elementwise,
    Copy,
    Ssd,
    Argmax,
}

impl Shader {
    fn name(self) -> &'static str {
        match self {
            Shader::Matmul(t) => matmul_variant(t).map_or("matmul_unsupported", |v| v.0),
            Shader::MatmulSg(t) => matmul_variant(t).map_or("matmul_unsupported", |v| v.3),
            Shader::Norm => "norm",
            Shader::Rope => "rope",
            Shader::Attention => "attention",
            Shader::Ssm => "ssm",
            Shader::Elementwise => "elementwise",
            Shader::Copy => "copy",
            Shader::Ssd => "ssd",
            Shader::Argmax => "argmax",
        }
    }
    fn source(self) -> String {
        match self {
            Shader::Matmul(t) => matmul_source(t, false),
            Shader::MatmulSg(t) => matmul_source(t, true),
            Shader::Norm => NORM_WGSL.into(),
            Shader::Rope => ROPE_WGSL.into(),
            Shader::Attention => ATTENTION_WGSL.into(),
            Shader::Ssm => SSM_WGSL.into(),
            Shader::Elementwise => ELEMENTWISE_WGSL.into(),
            Shader::Copy => COPY_WGSL.into(),
            Shader::Ssd => SSD_WGSL.into(),
            Shader::Argmax => ARGMAX_WGSL.into(),
        }
    }
}

struct Recorded {
    pipeline: Rc<wgpu::ComputePipeline>,
    bufs: Vec<(u32, wgpu::Buffer)>,
    /// Binding, byte offset and size of the parameters in the submission's uniform buffer.
    params: (u32, u64, u64),
    groups: (u32, u32, u32),
}

/// Records the dispatches of one submission. Their parameters go into one uniform buffer
/// (at aligned offsets) and their bind groups are made at submit; scratch buffers taken with
/// [`Recorder::scratch`] go back to the device's pool after the submit.
pub struct Recorder<'a> {
    pub ctx: &'a GpuContext,
    list: Vec<Recorded>,
    params: Vec<u32>,
    held: Vec<wgpu::Buffer>,
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a GpuContext) -> Recorder<'a> {
        Recorder { ctx, list: vec![], params: vec![], held: vec![] }
    }

    /// A storage buffer of `n` f32 for this submission only (pooled between submissions).
    pub fn scratch(&mut self, n: u64) -> wgpu::Buffer {
        let b = self.ctx.take_scratch((n.max(1) * 4).next_multiple_of(16));
        self.held.push(b.clone());
        b
    }

    /// Record `entry` of `shader` with `bufs` at bindings 0.. in order, and `params` as a
    /// uniform at binding `bufs.len()` (or at `param_binding` when given).
    pub fn dispatch(
        &mut self,
        shader: Shader,
        entry: &'static str,
        bufs: &[(u32, &wgpu::Buffer)],
        params: &[u32],
        param_binding: u32,
        groups: (u32, u32, u32),
    ) {
        let src = move || shader.source();
        let pipeline = self.ctx.pipeline(shader.name(), &src, entry);
        // Each dispatch's parameters start at an offset the device allows for uniform
        // bindings; uniform structs are sized in multiples of 16 bytes.
        let align = (self.ctx.limits.min_uniform_buffer_offset_alignment as usize / 4).max(4);
        self.params.resize(self.params.len().next_multiple_of(align), 0);
        let offset = self.params.len() as u64 * 4;
        let size = params.len().div_ceil(4) * 4;
        self.params.extend_from_slice(params);
        self.params.resize(offset as usize / 4 + size, 0);
        let bufs = bufs.iter().map(|(b, buf)| (*b, (*buf).clone())).collect();
        self.list.push(Recorded { pipeline, bufs, params: (param_binding, offset, size as u64 * 4), groups });
    }

    /// Workgroups for `n` invocations of 64 as a 2-D grid, and the x count to pass to the shader.
    pub fn grid(&self, n: u64) -> (u32, u32) {
        super::kernels::grid(self.ctx, n)
    }

    /// y[t, row0..] (+)= alpha · W · x[t] for every part of `w`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &mut self,
        w: &GpuTensor,
        x: &wgpu::Buffer,
        x_offset: u32,
        x_stride: u32,
        y: &wgpu::Buffer,
        y_offset: u32,
        y_stride: u32,
        n_tok: u32,
        alpha: f32,
        accumulate: bool,
    ) {
        let k = w.info.ne0() as u32;
        let per_row = self.ctx.prefers_row_kernels();
        if n_tok == 1 && self.ctx.use_subgroups() {
            for part in &w.parts {
                let (gx, gy) = self.rows_grid(part.n_rows.div_ceil(8));
                let params = [
                    k, part.n_rows as u32, 1, part.row0 as u32, x_offset, x_stride, y_offset, y_stride,
                    part.head_word as u32, accumulate as u32, alpha.to_bits(), gx,
                ];
                self.dispatch(Shader::MatmulSg(w.info.ty), "matvec_subgroup", &[(0, &part.buffer), (1, x), (2, y)], &params, 3, (gx, gy, 1));
            }
            return;
        }
        for part in &w.parts {
            let (gx, gy) = if per_row { self.grid(part.n_rows) } else { self.rows_grid(part.n_rows) };
            let params = [
                k, part.n_rows as u32, n_tok, part.row0 as u32, x_offset, x_stride, y_offset, y_stride,
                part.head_word as u32, accumulate as u32, alpha.to_bits(), gx,
            ];
            self.dispatch(
                Shader::Matmul(w.info.ty),
                match (per_row, n_tok) {
                    (true, 1) => "matvec_rows",
                    (true, _) => "matmul_rows",
                    _ => "matmul",
                },
                &[(0, &part.buffer), (1, x), (2, y)],
                &params,
                3,
                (gx, gy, n_tok.div_ceil(if per_row { 16 } else { 8 })),
            );
        }
    }

    /// y[t, :] = alpha · W[tokens[t], :] (embedding lookup from any weight type).
    pub fn embed(&mut self, w: &GpuTensor, tokens: &wgpu::Buffer, n_tok: u32, y: &wgpu::Buffer, alpha: f32) {
        let k = w.info.ne0() as u32;
        for part in &w.parts {
            let (gx, gy) = self.grid(n_tok as u64 * k as u64 / 4);
            let params = [k, part.n_rows as u32, n_tok, part.row0 as u32, 0, 0, 0, k, part.head_word as u32, 0, alpha.to_bits(), gx];
            self.dispatch(Shader::Matmul(w.info.ty), "embed", &[(0, &part.buffer), (2, y), (4, tokens)], &params, 3, (gx, gy, 1));
        }
    }

    fn rows_grid(&self, rows: u64) -> (u32, u32) {
        let max = self.ctx.limits.max_compute_workgroups_per_dimension as u64;
        if rows <= max {
            (rows.max(1) as u32, 1)
        } else {
            let y = rows.div_ceil(max);
            (rows.div_ceil(y) as u32, y as u32)
        }
    }

    /// Encode everything into one compute pass and submit.
    pub fn submit(self) {
        let ctx = self.ctx;
        if self.params.is_empty() {
            ctx.give_scratch(self.held);
            return;
        }
        let ubuf = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dispatch params"),
            contents: bytemuck::cast_slice(&self.params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let binds: Vec<wgpu::BindGroup> = self
            .list
            .iter()
            .map(|r| {
                let (binding, offset, size) = r.params;
                let mut entries: Vec<wgpu::BindGroupEntry> =
                    r.bufs.iter().map(|(b, buf)| wgpu::BindGroupEntry { binding: *b, resource: buf.as_entire_binding() }).collect();
                entries.push(wgpu::BindGroupEntry {
                    binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: &ubuf, offset, size: wgpu::BufferSize::new(size) }),
                });
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &r.pipeline.get_bind_group_layout(0),
                    entries: &entries,
                })
            })
            .collect();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for (r, bind) in self.list.iter().zip(&binds) {
                pass.set_pipeline(&r.pipeline);
                pass.set_bind_group(0, bind, &[]);
                pass.dispatch_workgroups(r.groups.0, r.groups.1, r.groups.2);
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.give_scratch(self.held);
    }
}
