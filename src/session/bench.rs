//! The benchmark `braid bench` and the JS API's `model.bench()` run: prefill and greedy
//! decode through the public session operations, next to the adapter's own yardsticks (a vec4
//! copy and a read-only pass over the same bytes, measured in the same run), so each speed
//! comes with the share of the adapter's bandwidth it reaches.
//!
//! Decode's share: weight bytes one decoded token reads ([`GpuModel::weight_bytes_per_token`])
//! × tokens/s ÷ the yardstick's GB/s. The copy yardstick counts read + write bytes (what
//! llama.cpp's and WebLLM's bandwidth figures count); the read yardstick only reads.

use super::{Session, SessionError};
use crate::gpu::ops::{Recorder, Shader};
use crate::gpu::{params, AdapterSummary, GpuContext, GpuError};
use crate::memory::pool::f32_buf;
use crate::model::forward::{argmax, GpuModel};

/// Seconds on a monotonic clock: `Instant` natively, `performance.now()` on the web (window
/// or worker), `Date.now()` where neither exists.
pub fn now_seconds() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<std::time::Instant> = OnceLock::new();
        T0.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        let get = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined());
        let perf = get(&js_sys::global(), "performance");
        let now = perf.as_ref().and_then(|p| get(p, "now")).and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match (perf, now) {
            (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or_else(js_sys::Date::now) / 1000.0,
            _ => js_sys::Date::now() / 1000.0,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Tokens of the prompt evaluated in one step (ids `(i·7919 + 13) mod n_vocab`).
    pub prompt_tokens: usize,
    /// Greedy decode steps after the prompt (argmax on the GPU, 4 bytes read back per step).
    pub gen_tokens: usize,
    /// Batched decode: for each N here, N sessions advance together for min(gen, 8) steps.
    pub batch: Vec<usize>,
    /// Bytes each yardstick kernel moves per dispatch (at most half the largest binding).
    pub yardstick_bytes: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { prompt_tokens: 128, gen_tokens: 32, batch: vec![], yardstick_bytes: 256 << 20 }
    }
}

/// GPU work per decoded token in the steady state (steps 2..gen).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PerToken {
    pub dispatches: f64,
    /// `dispatches` ÷ the model's layers (the embedding, LM head and argmax included).
    pub dispatches_per_layer: f64,
    pub bind_groups_created: f64,
    pub submits: f64,
    pub buffers_created: f64,
}

/// One batched-decode measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Batched {
    pub sessions: usize,
    pub steps: usize,
    /// Tokens per second over all sessions.
    pub tok_s: f64,
    pub step_ms: f64,
}

/// The results (`braid bench --json` prints this object; the JS API returns it with
/// camelCase keys).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub prefill_tokens: usize,
    /// Prompt tokens per second, one step for the whole prompt (logits of the last read back).
    pub prefill_tok_s: f64,
    pub decode_tokens: usize,
    /// Greedy decode tokens per second (each step waits for its token).
    pub decode_tok_s: f64,
    /// Weight bytes one decoded token reads (of MoE experts only the k used).
    pub weight_bytes_per_token: u64,
    /// weight_bytes_per_token × decode_tok_s, GB/s.
    pub decode_effective_gb_s: f64,
    /// The vec4 copy kernel, read + write bytes per second / 1e9.
    pub copy_gb_s: f64,
    /// The read-only kernel, bytes read per second / 1e9.
    pub read_gb_s: f64,
    pub fraction_of_copy: f64,
    pub fraction_of_read: f64,
    pub adapter: AdapterSummary,
    pub batched_decode: Vec<Batched>,
    pub per_decoded_token: PerToken,
    /// Bytes of weights on the GPU.
    pub gpu_bytes: u64,
    /// "active only" for mixtures of experts, else "none".
    pub experts_counted: &'static str,
    /// The KV cache's element type on the GPU: "f16" (the device has shader-f16), "f32", or
    /// "none" for models without attention.
    pub kv_cache_type: &'static str,
    /// Bytes of K and V rows one token adds to a session (global attention layers).
    pub kv_bytes_per_token: u64,
}

/// The benchmark's prompt: `n` ids `(i·7919 + 13) mod n_vocab` (spread over the vocabulary).
pub fn prompt_ids(n: usize, n_vocab: u32) -> Vec<u32> {
    (0..n).map(|i| (i as u32).wrapping_mul(7919).wrapping_add(13) % n_vocab.max(1)).collect()
}

/// Run the benchmark on a loaded model: a warm-up step (pipelines compile), the prompt in one
/// step, `gen` greedy steps, the batched decodes, then the two yardsticks.
///
/// Errors: what the steps return (context full cannot happen: sessions are sized to fit), or
/// a lost device.
pub async fn bench(m: &GpuModel, o: &BenchOptions) -> Result<BenchReport, SessionError> {
    let ctx = m.ctx().clone();
    let (p, g) = (o.prompt_tokens.max(1), o.gen_tokens);
    let v = m.hp.n_vocab;
    let prompt = prompt_ids(p, v);
    let n_ctx = (p + g + 2) as u32;
    // Warm-up: the prompt's and the decode step's pipelines and buffers.
    let mut s: Session = m.new_session(n_ctx);
    m.forward(&mut s, &prompt[..p.min(8)], false).await?;
    m.step_greedy(&mut s, 0).await?;
    drop(s);

    let mut s = m.new_session(n_ctx);
    let t0 = now_seconds();
    let logits = m.forward(&mut s, &prompt, false).await?;
    let prefill = now_seconds() - t0;
    let mut next = argmax(&logits);
    let mut stats0 = ctx.stats();
    let t1 = now_seconds();
    for i in 0..g {
        next = m.step_greedy(&mut s, next).await?;
        if i == 0 {
            // The first step makes the decode shape's buffers and bind groups; the counters
            // below are the steady state after it.
            stats0 = ctx.stats();
        }
    }
    let decode = now_seconds() - t1;
    drop(s);
    let st = ctx.stats();
    let per = |a: u64, b: u64| (a - b) as f64 / g.saturating_sub(1).max(1) as f64;
    let per_decoded_token = PerToken {
        dispatches: per(st.dispatches, stats0.dispatches),
        dispatches_per_layer: per(st.dispatches, stats0.dispatches) / m.hp.n_layer.max(1) as f64,
        bind_groups_created: per(st.bind_groups_created, stats0.bind_groups_created),
        submits: per(st.submits, stats0.submits),
        buffers_created: per(st.buffers_created, stats0.buffers_created),
    };

    let mut batched_decode = vec![];
    for &n in &o.batch {
        let steps = g.clamp(1, 8);
        let mut ss: Vec<Session> = (0..n).map(|_| m.new_session((16 + steps) as u32)).collect();
        for (i, s) in ss.iter_mut().enumerate() {
            let pr: Vec<u32> = (0..8).map(|j| ((i * 31 + j * 7 + 1) as u32) % v).collect();
            m.append(s, &pr, false).await?;
        }
        let t = now_seconds();
        for k in 0..steps {
            let toks: Vec<u32> = (0..n).map(|i| ((i * 13 + k * 5 + 3) as u32) % v).collect();
            let mut refs: Vec<&mut Session> = ss.iter_mut().collect();
            m.step_many(&mut refs, &toks).await?;
        }
        let secs = now_seconds() - t;
        batched_decode.push(Batched { sessions: n, steps, tok_s: (n * steps) as f64 / secs, step_ms: 1e3 * secs / steps as f64 });
    }

    let bytes = (o.yardstick_bytes.min(ctx.max_binding() / 2) & !1023).max(1 << 20);
    let copy_gb_s = yardstick(&ctx, "copy", bytes, 8).await?;
    let read_gb_s = yardstick(&ctx, "read_sweep", bytes, 8).await?;
    let weight_bytes_per_token = m.weight_bytes_per_token();
    let (prefill_tok_s, decode_tok_s) = (p as f64 / prefill, g as f64 / decode);
    let eff = weight_bytes_per_token as f64 * decode_tok_s / 1e9;
    let layout = m.memory_layout();
    Ok(BenchReport {
        prefill_tokens: p,
        prefill_tok_s,
        decode_tokens: g,
        decode_tok_s,
        weight_bytes_per_token,
        decode_effective_gb_s: eff,
        copy_gb_s,
        read_gb_s,
        fraction_of_copy: eff / copy_gb_s,
        fraction_of_read: eff / read_gb_s,
        adapter: ctx.adapter.clone(),
        batched_decode,
        per_decoded_token,
        gpu_bytes: m.weights.gpu_bytes(),
        experts_counted: if m.has_experts() { "active only" } else { "none" },
        kv_cache_type: layout.kv_cache_type(),
        kv_bytes_per_token: layout.kv_bytes_per_token(),
    })
}

/// GB/s of `reps` dispatches of `shaders/copy.wgsl`'s `entry` over `bytes` (copy: read +
/// write counted; read_sweep: bytes read), after one untimed dispatch; completion is awaited through
/// a 4-byte readback, so it works the same natively and in the browser.
pub async fn yardstick(ctx: &GpuContext, entry: &'static str, bytes: u64, reps: u32) -> Result<f64, GpuError> {
    use params::copy as c;
    let src = f32_buf(ctx, "yardstick src", bytes / 4);
    let dst = f32_buf(ctx, "yardstick dst", if entry == "copy" { bytes / 4 } else { 4 });
    let vec4s = bytes / 16;
    let (invocations, moved) = if entry == "copy" { (vec4s, 2 * bytes) } else { (vec4s.div_ceil(c::READS), bytes) };
    let run = |reps: u32| {
        let mut r = Recorder::new(ctx);
        let (gx, gy) = r.grid(invocations);
        let pr = c::Params { groups_x: gx, stride: gx * gy * 64, never: 1.0, _c: 0 };
        for _ in 0..reps {
            r.dispatch(Shader::Copy, entry, &[(c::src, &src), (c::dst, &dst)], &pr, (gx, gy, 1));
        }
        r.submit();
    };
    run(1);
    ctx.read_bytes(&dst, 0, 4).await?;
    let t0 = now_seconds();
    run(reps);
    ctx.read_bytes(&dst, 0, 4).await?;
    let secs = now_seconds() - t0;
    Ok(moved as f64 * reps as f64 / secs / 1e9)
}
