//! What a block sees while one forward step is recorded on the GPU: the recorder, the
//! weights, the memory pools, the batch's per-token and per-sequence tables, and the taps
//! that copy named intermediates out. Blocks read a normed input `h` and write their output
//! through an [`Out`] (usually accumulated into the residual stream with the layer's scale).

use crate::gpu::ops::{Act, Epilogue, MatmulIo, NormOut, Recorder, ScaledInput, Shader};
use crate::gpu::params;
use crate::gpu::GpuTensor;
use crate::memory::Pools;

use super::plan::T;
use super::taps::GpuTaps;

/// The tokens of one forward step, laid out for the kernels (uploaded once per step).
pub(crate) struct BatchBuffers {
    pub tokens: wgpu::Buffer,
    /// Per token: (position, offset of its session's block table in `tables`, batch index of
    /// its session's first token, 0).
    pub meta: wgpu::Buffer,
    /// The sessions' block tables, one after another (one entry per position block).
    pub tables: wgpu::Buffer,
    /// The window layers' tables at the same offsets (ring blocks), when the model has any.
    pub ring_tables: Option<wgpu::Buffer>,
    /// Per session: (first token, token count, state slot, 0).
    pub seqs: wgpu::Buffer,
    pub n_seqs: u32,
    /// The state slot when the batch is one session (the chunked scan handles one).
    pub single_slot: Option<u32>,
    /// Every session has one token (a decode step): token t is session t, so per-session
    /// work can run in a per-token epilogue (the Mamba2 conv in in_proj's).
    pub one_token_each: bool,
}

/// Where a block writes its [n_tok, width] result: `buf = alpha · result (+ buf)`.
#[derive(Clone, Copy)]
pub(crate) struct Out<'b> {
    pub buf: &'b wgpu::Buffer,
    pub alpha: f32,
    pub accumulate: bool,
    /// The RMSNorm that reads `buf` next, for the block's last product to make in its store
    /// when it can ([`NormOut`]; see [`Graph::take_normed`]). Blocks pass `Out` to that
    /// product alone.
    pub norm: Option<NextNorm<'b>>,
    /// Where the result's rows go in `buf`: floats before token 0's, and between tokens'
    /// (0: the result's width, rows packed).
    pub offset: u32,
    pub stride: u32,
}

/// The next pre-norm of a residual add: its weight, and the buffer that is to hold `x · w`
/// and the partial sums of squares ([width + partials] floats).
#[derive(Clone, Copy)]
pub(crate) struct NextNorm<'b> {
    pub w: T,
    pub h: &'b wgpu::Buffer,
}

impl<'b> Out<'b> {
    /// `buf = result` (a fresh intermediate).
    pub fn fresh(buf: &'b wgpu::Buffer) -> Out<'b> {
        Out { buf, alpha: 1.0, accumulate: false, norm: None, offset: 0, stride: 0 }
    }

    /// The result as columns `offset ..` of rows `stride` floats apart (attention's stacked
    /// `[q | k | v]` rows).
    pub fn rows_at(self, offset: u32, stride: u32) -> Out<'b> {
        Out { offset, stride, ..self }
    }

    /// `buf += alpha · result` (the residual stream).
    pub fn add(buf: &'b wgpu::Buffer, alpha: f32) -> Out<'b> {
        Out { buf, alpha, accumulate: true, norm: None, offset: 0, stride: 0 }
    }
}

pub(crate) struct Graph<'a> {
    pub r: Recorder<'a>,
    pub tensors: &'a [GpuTensor],
    pub pools: &'a Pools,
    pub batch: &'a BatchBuffers,
    /// Tokens in this step.
    pub n: u32,
    /// RMSNorm epsilon.
    pub eps: f32,
    pub taps: Option<GpuTaps>,
    /// Partial sums a product left for an [`Out::norm`] since the last [`Graph::take_normed`].
    pub normed: Option<u32>,
}

impl<'a> Graph<'a> {
    pub fn t(&self, i: T) -> &'a GpuTensor {
        &self.tensors[i]
    }

    /// The single buffer of a small F32 tensor.
    pub fn vec(&self, i: T) -> &'a wgpu::Buffer {
        &self.tensors[i].parts[0].buffer
    }

    /// `out = alpha · W·x (+ bias)` for the step's tokens, rows of `x` of W's row length.
    pub fn linear(&mut self, w: T, bias: Option<T>, x: &wgpu::Buffer, out: Out, width: u32) {
        self.linear_act(w, bias, x, out, width, Act::None);
    }

    /// As [`Graph::linear`] with an activation in the product's epilogue (see [`Act`]).
    pub fn linear_act(&mut self, w: T, bias: Option<T>, x: &wgpu::Buffer, out: Out, width: u32, act: Act) {
        self.linear_io(w, bias, x, out, width, act, Epilogue::None);
    }

    /// As [`Graph::linear`] with a fused epilogue (see [`Epilogue`]).
    pub fn linear_epi(&mut self, w: T, x: &wgpu::Buffer, out: Out, width: u32, epi: Epilogue) {
        self.linear_io(w, None, x, out, width, Act::None, epi);
    }

    #[allow(clippy::too_many_arguments)]
    fn linear_io(&mut self, w: T, bias: Option<T>, x: &wgpu::Buffer, out: Out, width: u32, act: Act, epi: Epilogue) {
        let t = self.t(w);
        let bias = bias.map(|b| self.vec(b));
        let k = t.info.ne0() as u32;
        // The next pre-norm in the store, where the kernel can make it (one token, one part).
        let norm_out = out.norm.filter(|_| out.accumulate && matches!(epi, Epilogue::None | Epilogue::RmsScale { .. })).and_then(|nn| {
            let rows = self.r.norm_out_rows(t, self.n)?;
            debug_assert!(self.normed.is_none(), "two products made the same pre-norm");
            self.normed = Some(width.div_ceil(rows));
            Some(NormOut { w: self.vec(nn.w), h: nn.h, base: self.n * width })
        });
        let y_stride = if out.stride == 0 { width } else { out.stride };
        let io = MatmulIo { x, x_offset: 0, x_stride: k, y: out.buf, y_offset: out.offset, y_stride, n_tok: self.n, alpha: out.alpha, accumulate: out.accumulate, bias, act, epi, norm_out };
        self.r.matmul_io(t, io);
    }

    /// After a block whose [`Out::norm`] was `Some`: whether its last product (or post-norm)
    /// made the norm into `h` ([n_tok, width] values, then the partial sums). If so, the
    /// products that read `h` from now on apply the norm's scale
    /// ([`Recorder::set_scaled_input`]); if not, `h` is plain again and the caller runs the
    /// norm. Either way the previous scaled input ends here.
    pub fn take_normed(&mut self, h: &wgpu::Buffer, width: u32) -> bool {
        let count = self.normed.take();
        let base = self.n * width;
        self.r.set_scaled_input(count.map(|count| ScaledInput { buf: h.clone(), base, count, width, eps: self.eps }));
        count.is_some()
    }

    /// Whether two matrices can run as one paired product ([`Epilogue::Pair`]): the same type,
    /// shape and parts (pairing is on, see [`GpuContext::fuse_dispatches`](crate::gpu::GpuContext)).
    pub fn pairable(&self, a: T, b: T) -> bool {
        let (a, b) = (self.t(a), self.t(b));
        self.r.ctx.fuse_dispatches()
            && a.info.ty == b.info.ty
            && a.info.dims == b.info.dims
            && a.parts.len() == b.parts.len()
            && a.parts.iter().zip(&b.parts).all(|(p, q)| p.n_rows == q.n_rows && p.row0 == q.row0 && p.head_word == q.head_word)
    }

    /// A fresh [n_tok, width] scratch buffer.
    pub fn scratch(&mut self, width: u32) -> wgpu::Buffer {
        self.r.scratch(self.n as u64 * width as u64)
    }

    /// Norm parameters for `rows` rows of `width` values, contiguous, one weight row, plain.
    fn norm_params(&self, rows: u32, width: u32) -> params::norm::Params {
        params::norm::Params { n: width, n_rows: rows, w_rows: 1, eps: self.eps, x_stride: width, y_stride: width, alpha: 1.0, ..Default::default() }
    }

    /// y[rows] = RMSNorm(x[x_offset + rows]) · w for `rows` rows of `width` values.
    pub fn rms_norm(&mut self, x: &wgpu::Buffer, x_offset: u32, w: T, y: &wgpu::Buffer, rows: u32, width: u32) {
        let p = params::norm::Params { x_offset, ..self.norm_params(rows, width) };
        let wb = self.vec(w);
        self.norm_rows("rms_norm", Some(x), wb, y, p);
    }

    /// `out = RMSNorm(x) · w` over the step's [n_tok, width] rows, or with `out.accumulate`
    /// `out += alpha · RMSNorm(x) · w` in the same dispatch (a post-norm joining the residual).
    /// With `out.norm` (accumulating) the same dispatch makes the next pre-norm's input from
    /// the new rows (`rms_norm_add_next`: `x · w_next` and one sum of squares per row into
    /// the norm's `h`; see [`Graph::take_normed`]).
    pub fn rms_norm_into(&mut self, x: &wgpu::Buffer, w: T, out: Out, width: u32) {
        debug_assert!(out.accumulate || out.alpha == 1.0, "a scaled norm that does not accumulate");
        let p = params::norm::Params { accumulate: out.accumulate as u32, alpha: out.alpha, ..self.norm_params(self.n, width) };
        let wb = self.vec(w);
        match out.norm.filter(|_| out.accumulate) {
            Some(nn) => {
                use params::norm as b;
                debug_assert!(self.normed.is_none(), "two dispatches made the same pre-norm");
                self.normed = Some(1);
                let p = b::Params { h_base: self.n * width, ..p };
                let wn = self.vec(nn.w);
                // The readers of what h held before (the block's products) are recorded.
                self.r.set_scaled_input(None);
                self.r.dispatch(Shader::Norm, "rms_norm_add_next", &[(b::x, x), (b::w, wb), (b::y, out.buf), (b::w_next, wn), (b::h, nn.h)], &p, (self.n, 1, 1));
            }
            None => self.norm_rows("rms_norm", Some(x), wb, out.buf, p),
        }
    }

    /// RMSNorm in place of `rows` contiguous rows of `width` values, row r scaled by weight
    /// row `r % w_rows` (grouped norms, per-head q/k norms).
    pub fn rms_norm_rows_inplace(&mut self, y: &wgpu::Buffer, w: T, rows: u32, width: u32, w_rows: u32) {
        let p = params::norm::Params { w_rows, ..self.norm_params(rows, width) };
        let wb = self.vec(w);
        self.norm_rows("rms_norm_inplace", None, wb, y, p);
    }

    /// RMSNorm in place of `rows` contiguous rows of `width` values, then · SiLU(gate) with
    /// `gate` laid out as y (the gated DeltaNet's output norm, llama.cpp
    /// `build_norm_gated`): one dispatch for norm and gate.
    pub fn rms_norm_rows_inplace_gated(&mut self, y: &wgpu::Buffer, w: T, rows: u32, width: u32, gate: &wgpu::Buffer) {
        let p = params::norm::Params { gate: 1, ..self.norm_params(rows, width) };
        let wb = self.vec(w);
        self.norm_rows("rms_norm_inplace", Some(gate), wb, y, p);
    }

    /// y[y_offset + r·y_stride ..][..width] = RMSNorm(x[x_offset + r·x_stride ..][..width]) · w
    /// for the step's `rows` rows (column slices of wider rows: Mamba-1's dt | B | C).
    #[allow(clippy::too_many_arguments)]
    pub fn rms_norm_strided(&mut self, x: &wgpu::Buffer, x_offset: u32, x_stride: u32, w: T, y: &wgpu::Buffer, y_offset: u32, y_stride: u32, rows: u32, width: u32) {
        let p = params::norm::Params { x_offset, x_stride, y_offset, y_stride, ..self.norm_params(rows, width) };
        let wb = self.vec(w);
        self.norm_rows("rms_norm", Some(x), wb, y, p);
    }

    /// One workgroup per row, in dispatches of at most 65,535 rows (a whole number of weight
    /// rows each). Without `x` (an in-place norm without gate) the weights stand in for it.
    fn norm_rows(&mut self, entry: &'static str, x: Option<&wgpu::Buffer>, w: &wgpu::Buffer, y: &wgpu::Buffer, p: params::norm::Params) {
        use params::norm as b;
        let step = (65535 / p.w_rows) * p.w_rows;
        let mut r0 = 0;
        while r0 < p.n_rows {
            let rows = step.min(p.n_rows - r0);
            let q = b::Params { n_rows: rows, x_offset: p.x_offset + r0 * p.x_stride, y_offset: p.y_offset + r0 * p.y_stride, ..p };
            self.r.dispatch(Shader::Norm, entry, &[(b::x, x.unwrap_or(w)), (b::w, w), (b::y, y)], &q, (rows, 1, 1));
            r0 += rows;
        }
    }

    /// The causal depthwise conv of Mamba2, Mamba-1 and DeltaNet (`shaders/conv.wgsl`):
    /// `channels` values of each [n_tok, x_stride] row of `x` from `x_offset`, `w`
    /// [channels, d_conv] taps, optional bias, SiLU, into y [n_tok, channels]; the window is
    /// carried in `state` [slots, channels, d_conv − 1], per session of the batch.
    #[allow(clippy::too_many_arguments)]
    pub fn causal_conv(&mut self, x: &wgpu::Buffer, x_offset: u32, x_stride: u32, channels: u32, d_conv: u32, w: T, bias: Option<T>, state: &wgpu::Buffer, y: &wgpu::Buffer) {
        use params::conv as c;
        let p = c::Params { n_tok: self.n, channels, d_conv, x_stride, has_bias: bias.is_some() as u32, x_offset, ..Default::default() };
        let wb = self.vec(w);
        // Without a bias the taps stand in for the unused binding.
        let bb = bias.map_or(wb, |b| self.vec(b));
        let batch = self.batch;
        self.r.dispatch(Shader::Conv, "causal_conv", &[(c::x, x), (c::w, wb), (c::bias, bb), (c::state, state), (c::y, y), (c::seqs, &batch.seqs)], &p, (channels.div_ceil(64), batch.n_seqs, 1));
    }

    /// An elementwise kernel of `elementwise.wgsl` over `len` values: `a = f(a, b)`.
    pub fn elementwise(&mut self, entry: &'static str, a: &wgpu::Buffer, b: Option<&wgpu::Buffer>, len: u32, alpha: f32) {
        use params::elementwise as e;
        let (gx, gy) = self.r.grid(len as u64);
        let p = e::Params { n: len, a_offset: 0, b_offset: 0, groups_x: gx, alpha };
        match b {
            Some(b) => self.r.dispatch(Shader::Elementwise, entry, &[(e::a, a), (e::b, b)], &p, (gx, gy, 1)),
            None => self.r.dispatch(Shader::Elementwise, entry, &[(e::a, a)], &p, (gx, gy, 1)),
        }
    }

    /// `out = alpha · src (+ out)` over [n_tok, width] (when a result must be kept apart for
    /// a tap, then added to the residual).
    pub fn add_into(&mut self, src: &wgpu::Buffer, out: Out, width: u32) {
        let len = self.n * width;
        if !out.accumulate {
            self.r.copy(src, 0, out.buf, 0, len as u64 * 4);
            if out.alpha != 1.0 {
                // out = alpha · out: add (alpha − 1)·src to the copy
                self.elementwise("add_scaled", out.buf, Some(src), len, out.alpha - 1.0);
            }
            return;
        }
        self.elementwise("add_scaled", out.buf, Some(src), len, out.alpha);
    }

    /// Copy [rows, width] of `buf` out as the tap `name` (`-il` appended for a layer).
    pub fn tap(&mut self, name: &str, il: Option<usize>, buf: &wgpu::Buffer, offset_rows: u32, rows: u32, width: u32) {
        if let Some(taps) = self.taps.as_mut() {
            taps.record(&mut self.r, name, il, buf, offset_rows as u64 * width as u64, rows, width);
        }
    }

    /// Whether taps are being captured (blocks then keep their outputs apart).
    pub fn tapping(&self) -> bool {
        self.taps.is_some()
    }
}
