//! Kernel launchers. Shaders are `.wgsl` files embedded at build time; those that decode
//! weights are prefixed with `shaders/quant.wgsl`.

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::error::GpuError;
use super::tensor::{GpuTensor, TensorPart};
use crate::gguf::GgmlType;

pub const QUANT_WGSL: &str = include_str!("../../shaders/quant.wgsl");
pub const DEQUANT_WGSL: &str = include_str!("../../shaders/dequant.wgsl");

fn dequant_source() -> String {
    format!("{QUANT_WGSL}\n{DEQUANT_WGSL}")
}

fn dequant_entry(ty: GgmlType) -> Option<&'static str> {
    use GgmlType::*;
    Some(match ty {
        F32 => "dequant_f32", F16 => "dequant_f16", BF16 => "dequant_bf16",
        Q4_0 => "dequant_q4_0", Q4_1 => "dequant_q4_1", Q5_0 => "dequant_q5_0",
        Q5_1 => "dequant_q5_1", Q8_0 => "dequant_q8_0", IQ4_NL => "dequant_iq4_nl",
        MXFP4 => "dequant_mxfp4", Q4_K => "dequant_q4_k", Q5_K => "dequant_q5_k",
        Q6_K => "dequant_q6_k", Q2_K => "dequant_q2_k", Q3_K => "dequant_q3_k",
        IQ4_XS => "dequant_iq4_xs",
        _ => return None,
    })
}

/// Workgroups for `n` invocations of 64, as a 2-D grid within the per-dimension limit.
pub fn grid(ctx: &GpuContext, n: u64) -> (u32, u32) {
    let groups = n.div_ceil(64).max(1);
    let max = ctx.limits.max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        (groups as u32, 1)
    } else {
        let y = groups.div_ceil(max);
        (groups.div_ceil(y) as u32, y as u32)
    }
}

/// Dequantize blocks `blocks` (counted within the part) of one part of a tensor into a new
/// f32 buffer (STORAGE | COPY_SRC).
pub fn dequantize_part(
    ctx: &GpuContext,
    t: &GpuTensor,
    part: &TensorPart,
    blocks: std::ops::Range<u64>,
) -> Result<wgpu::Buffer, GpuError> {
    let ty = t.info.ty;
    let entry = dequant_entry(ty).ok_or_else(|| GpuError::UnsupportedType { tensor: t.info.name.clone(), ty: ty.name().into() })?;
    let n_blocks = blocks.end - blocks.start;
    let n_out = n_blocks * ty.block_size();
    let out = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("dequant out"),
        size: n_out * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let invocations = if ty.block_size() == 1 { n_blocks } else { n_out / 4 };
    let (gx, gy) = grid(ctx, invocations);
    use super::params::dequant as b;
    let params = b::Params { n_blocks: n_blocks as u32, head: part.head_word as u32, groups_x: gx, blk0: blocks.start as u32 };
    let ubuf = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("dequant params"),
        contents: bytemuck::bytes_of(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let pipeline = ctx.pipeline("dequant", &dequant_source, entry);
    let bind = ctx.bind_group(
        &pipeline,
        &[(b::weights.index, &part.buffer, 0, part.buffer.size()), (b::out.index, &out, 0, out.size()), (b::p.index, &ubuf, 0, ubuf.size())],
        false,
    );
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    ctx.queue.submit([enc.finish()]);
    ctx.check()?;
    Ok(out)
}

/// Dequantize rows `rows` of a tensor on the GPU and read them back (tests, `braid` tools).
pub async fn dequantize_rows(ctx: &GpuContext, t: &GpuTensor, rows: std::ops::Range<u64>) -> Result<Vec<f32>, GpuError> {
    let ne0 = t.info.ne0();
    let mut out = Vec::with_capacity(((rows.end - rows.start) * ne0) as usize);
    for part in &t.parts {
        let (a, b) = (rows.start.max(part.row0), rows.end.min(part.row0 + part.n_rows));
        if a >= b {
            continue;
        }
        let bpr = t.blocks_per_row();
        let buf = dequantize_part(ctx, t, part, (a - part.row0) * bpr..(b - part.row0) * bpr)?;
        out.extend(ctx.read_f32(&buf, 0, (b - a) * ne0).await?);
    }
    Ok(out)
}
