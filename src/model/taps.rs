//! Per-layer taps: named intermediate results of a forward pass, readable from the GPU forward
//! and from the CPU reference, with llama.cpp's callback names (`inp_embd`, `attn_norm-<il>`,
//! `attn_out-<il>` / `ssm_out-<il>` / `shortconv_out-<il>`, `ffn_inp-<il>`, `ffn_norm-<il>`,
//! `ffn_out-<il>`, `l_out-<il>`, `result_norm`, `result_output`). Comparing the two lists in
//! order shows where a new architecture's GPU path first leaves its reference
//! (`braid diff`).

use crate::gpu::ops::Recorder;
use crate::gpu::{GpuContext, GpuError};
use crate::memory::pool::f32_buf;

/// One tap: its name and its values, [n_tok, width] row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tap {
    pub name: String,
    pub width: u32,
    pub values: Vec<f32>,
}

/// Taps in the order the forward pass produced them.
pub type Taps = Vec<Tap>;

pub fn tap_name(name: &str, il: Option<usize>) -> String {
    match il {
        Some(il) => format!("{name}-{il}"),
        None => name.to_string(),
    }
}

/// Taps being captured on the GPU: each is copied into its own buffer at its point of the
/// submission, and read back after it.
#[derive(Default)]
pub(crate) struct GpuTaps {
    pending: Vec<(String, u32, wgpu::Buffer, u64)>,
}

impl GpuTaps {
    #[allow(clippy::too_many_arguments)]
    pub fn record(&mut self, r: &mut Recorder, name: &str, il: Option<usize>, src: &wgpu::Buffer, offset: u64, rows: u32, width: u32) {
        let n = rows as u64 * width as u64;
        let dst = f32_buf(r.ctx, "tap", n);
        r.copy(src, offset * 4, &dst, 0, n * 4);
        self.pending.push((tap_name(name, il), width, dst, n));
    }

    pub async fn read(self, ctx: &GpuContext) -> Result<Taps, GpuError> {
        let mut out = vec![];
        for (name, width, buf, n) in self.pending {
            out.push(Tap { name, width, values: ctx.read_f32(&buf, 0, n).await? });
        }
        Ok(out)
    }
}

/// Where two tap lists first differ by more than `tol` of the reference's largest magnitude
/// (per tap); `(name, max |a − b|, max |b|)` of every tap in order, and the first index over.
pub fn compare(got: &Taps, want: &Taps, tol: f32) -> (Vec<(String, f32, f32)>, Option<usize>) {
    let mut rows = vec![];
    let mut first = None;
    for (a, b) in got.iter().zip(want) {
        let scale = b.values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = if a.values.len() == b.values.len() {
            a.values.iter().zip(&b.values).map(|(x, y)| (x - y).abs()).fold(0f32, |m, v| if v.is_nan() { f32::INFINITY } else { m.max(v) })
        } else {
            f32::INFINITY
        };
        if first.is_none() && (d > tol * scale.max(1e-6) || a.name != b.name) {
            first = Some(rows.len());
        }
        rows.push((b.name.clone(), d, scale));
    }
    (rows, first)
}
