//! Long prompts through the chunked prefill paths (gated DeltaNet's WY form, Mamba2's SSD)
//! against llama.cpp (tests/fixtures/golden-long, 200 tokens: three full 64-token chunks and a
//! partial one; made by scripts/make_goldens.sh): chunked and token-by-token recurrences, one
//! step and a prefill split across steps (state passed between chunks and between steps), and
//! the CPU reference.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/golden.rs"]
mod golden;
#[path = "support/sessions.rs"]
mod support;

use braid::loader::StreamLoader;
use braid::model::forward::GpuModel;
use braid::model::reference::RefModel;
use braid::synth::{write_model, SynthConfig, WeightType};
use golden::{fnv1a64, max_abs};

struct Long {
    preset: String,
    bytes: Vec<u8>,
    tokens: Vec<u32>,
    batch: Vec<Vec<f32>>,
    seq: Vec<Vec<f32>>,
}

fn longs(ctx: &braid::gpu::GpuContext) -> Vec<Long> {
    longs_for(ctx, concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-long"))
}

/// The fixtures of `dir` for the KV cache models on `ctx` get: with F16 caches, llama.cpp's
/// figures with its F16 cache (`<dir>-f16kv/`) for the models with attention.
fn longs_for(ctx: &braid::gpu::GpuContext, dir: &str) -> Vec<Long> {
    let mut all = longs_in(dir);
    if ctx.kv_f16() {
        let f16 = longs_in(&format!("{dir}-f16kv"));
        assert!(!f16.is_empty(), "{dir}-f16kv fixtures missing: rerun GOLDEN_KV=f16 scripts/make_goldens.sh");
        for l in &mut all {
            if let Some(h) = f16.iter().find(|h| h.preset == l.preset) {
                assert_eq!(h.tokens, l.tokens, "{}", l.preset);
                l.batch = h.batch.clone();
                l.seq = h.seq.clone();
            }
        }
    }
    all
}

fn longs_in(dir: &str) -> Vec<Long> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let rows = |v: &serde_json::Value| -> Vec<Vec<f32>> {
        v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
    };
    paths
        .iter()
        .map(|p| {
            let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            let preset = j["file"].as_str().unwrap().trim_end_matches("-f32.gguf").to_string();
            let mut bytes = vec![];
            write_model(&SynthConfig::preset(&preset).unwrap(), WeightType::parse("f32").unwrap(), 7, &mut bytes).unwrap();
            assert_eq!(format!("{:016x}", fnv1a64(&bytes)), j["fnv1a64"].as_str().unwrap(), "{preset}: rerun scripts/make_goldens.sh");
            Long {
                preset,
                bytes,
                tokens: j["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect(),
                batch: rows(&j["batch"]),
                seq: rows(&j["seq"]),
            }
        })
        .collect()
}

/// max |a − b| / max |b| over the last rows.
fn rel(got: &[f32], want: &[Vec<f32>]) -> f32 {
    let v = want[0].len();
    let tail = &got[got.len() - want.len() * v..];
    tail.chunks(v).zip(want).map(|(g, w)| g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / max_abs(w)).fold(0f32, f32::max)
}

#[test]
fn chunked_and_sequential_prefill_match_llama_cpp_on_long_prompts() {
    let ctx = support::context();
    let all = longs(&ctx);
    // The CPU reference keeps F32 rows: llama.cpp's F32-cache figures.
    let f32_cache = longs_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-long"));
    assert!(all.iter().any(|l| l.preset.contains("qwen3")), "no DeltaNet long goldens");
    for (l, l32) in all.iter().zip(&f32_cache) {
        let mut loader = StreamLoader::new(Some(l.bytes.len() as u64), Some(ctx.clone()));
        pollster::block_on(loader.feed(&l.bytes)).unwrap();
        let m = GpuModel::new(loader.finish().unwrap()).unwrap();
        for (mode, name) in [(Some(true), "chunked"), (Some(false), "sequential"), (None, "default")] {
            ctx.set_chunked_scan(mode);
            let mut s = m.new_session(256);
            let one = pollster::block_on(m.forward(&mut s, &l.tokens, true)).unwrap();
            // The same prompt in two steps (130 + 70): the state crosses a step boundary
            // in the middle of what would have been a chunk.
            let mut s2 = m.new_session(256);
            pollster::block_on(m.forward(&mut s2, &l.tokens[..130], false)).unwrap();
            let two = pollster::block_on(m.forward(&mut s2, &l.tokens[130..], true)).unwrap();
            let (eb, es, e2) = (rel(&one, &l.batch), rel(&one, &l.seq), rel(&two, &l.batch));
            eprintln!("{:<20} {name:<10} batch {eb:.2e} seq {es:.2e} split {e2:.2e}", l.preset);
            assert!(eb <= 1e-3 && es <= 1e-3 && e2 <= 1e-3, "{} {name}: {eb} {es} {e2}", l.preset);
        }
        ctx.set_chunked_scan(None);
        let r = RefModel::from_bytes(&l.bytes).unwrap();
        let mut st = r.new_state();
        let logits: Vec<f32> = r.eval(&mut st, &l.tokens).concat();
        let e = rel(&logits, &l32.batch);
        eprintln!("{:<20} reference  batch {e:.2e}", l.preset);
        assert!(e <= 1e-3, "{} reference: {e}", l.preset);
    }
}

/// RoPE at positions past 4,096 (tests/fixtures/golden-rope: a 4,500-token prompt): Llama 3's
/// rope_freqs, NEOX with q/k norms, Gemma 3's two bases with sliding windows whose rings turn
/// over dozens of times, linear scaling — llama.cpp's last 8 positions, batch and token by
/// token, against one Braid prefill.
#[test]
fn rope_far_out_matches_llama_cpp() {
    let ctx = support::context();
    let all = longs_for(&ctx, concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-rope"));
    assert!(all.len() >= 4 && all.iter().all(|l| l.tokens.len() > 4096), "golden-rope fixtures missing: rerun scripts/make_goldens.sh");
    for l in &all {
        let mut loader = StreamLoader::new(Some(l.bytes.len() as u64), Some(ctx.clone()));
        pollster::block_on(loader.feed(&l.bytes)).unwrap();
        let m = GpuModel::new(loader.finish().unwrap()).unwrap();
        let mut s = m.new_session(8192);
        let n = l.tokens.len();
        pollster::block_on(m.forward(&mut s, &l.tokens[..n - 8], false)).unwrap();
        let got = pollster::block_on(m.forward(&mut s, &l.tokens[n - 8..], true)).unwrap();
        let (eb, es) = (rel(&got, &l.batch), rel(&got, &l.seq));
        eprintln!("{:<14} positions {}..{}: batch {eb:.2e} seq {es:.2e}", l.preset, n - 8, n);
        assert!(eb <= 1e-3 && es <= 1e-3, "{}: {eb} {es}", l.preset);
    }
}

/// F16 KV caches (where the adapter has shader-f16: lavapipe has it, SwiftShader does not)
/// against llama.cpp with its default F16 cache (tests/fixtures/golden-kv16: the last 8
/// positions of a 200-token prompt, batch and token by token, on every family with attention),
/// as one prefill and as decode steps after a prefill, next to the F32 caches on the same files.
/// The F16 cache holds half the bytes per token and only F16 numbers (its session blob's rows,
/// F32 either way, are all exact F16 values; the F32 cache's are not), and its blobs restore
/// into a model with F32 caches, which continues as the F16 session does.
#[test]
fn f16_kv_caches_match_llama_cpp_with_its_f16_cache() {
    let ctx = support::context();
    assert!(ctx.shader_f16, "this test needs an adapter with shader-f16 (Mesa's lavapipe has it)");
    let all = longs_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-kv16"));
    assert!(all.len() >= 16, "golden-kv16 fixtures missing: rerun scripts/make_goldens.sh");
    for l in &all {
        let n = l.tokens.len();
        let run = |kv16: bool| {
            ctx.set_kv_f16(Some(kv16));
            let mut loader = StreamLoader::new(Some(l.bytes.len() as u64), Some(ctx.clone()));
            pollster::block_on(loader.feed(&l.bytes)).unwrap();
            let m = GpuModel::new(loader.finish().unwrap()).unwrap();
            ctx.set_kv_f16(None);
            assert_eq!(m.memory_layout().kv_f16, kv16, "{}: the pools' element type", l.preset);
            let mut s = m.new_session(256);
            let one = pollster::block_on(m.forward(&mut s, &l.tokens, true)).unwrap();
            let mut s2 = m.new_session(256);
            pollster::block_on(m.forward(&mut s2, &l.tokens[..n - 8], false)).unwrap();
            let mut steps = vec![];
            for &t in &l.tokens[n - 8..n - 1] {
                steps.extend(pollster::block_on(m.forward(&mut s2, &[t], true)).unwrap());
            }
            (m, s2, one, steps)
        };
        let (m16, s16, one16, steps16) = run(true);
        let (m32, _, one32, steps32) = run(false);
        let kv_tok = (m16.memory(&s16).kv_used, m32.memory_layout().kv_bytes_per_token() * (n as u64 - 1));
        assert_eq!(2 * kv_tok.0, kv_tok.1, "{}: F16 rows are half the bytes", l.preset);
        let seq = &l.seq[..7];
        let (b16, q16, b32, q32) = (rel(&one16, &l.batch), rel(&steps16, seq), rel(&one32, &l.batch), rel(&steps32, seq));
        // (llama.cpp also rounds q and the softmax weights to F16 in its products with an F16
        // cache; Braid keeps them F32, so the two F16 caches agree to about 1e-4, not closer.)
        let moved = rel(&steps16, &steps32.chunks(steps32.len() / 7).map(|c| c.to_vec()).collect::<Vec<_>>());
        eprintln!("{:<24} vs llama.cpp's F16 cache: F16 batch {b16:.2e} steps {q16:.2e}, F32 batch {b32:.2e} steps {q32:.2e}; F16 vs F32 {moved:.2e}", l.preset);
        assert!(b16 <= 1e-3 && q16 <= 1e-3, "{}: F16 cache {b16} {q16}", l.preset);
        assert!(moved > 0.0, "{}: the F16 cache changed nothing", l.preset);
        // The blobs carry F32 rows; those of the F16 cache are F16 numbers, all of them, and
        // those of the F32 cache are not.
        let blob = pollster::block_on(m16.save(&s16)).unwrap();
        let blob32 = pollster::block_on(m32.save(&m32.restore(&blob).unwrap())).unwrap();
        assert_eq!(blob.len(), blob32.len(), "{}: blob sizes", l.preset);
        let layout = m32.memory_layout();
        let header = blob.len() - 8 - layout.serialized_len(n as u32 - 1) as usize;
        let rows = |b: &[u8]| -> Vec<f32> {
            let kv_bytes = (layout.serialized_len(n as u32 - 1) - if layout.has_state() { layout.state_bytes() } else { 0 }) as usize;
            b[header..header + kv_bytes].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
        };
        let f16_exact = |x: &f32| half::f16::from_f32(*x).to_f32() == *x;
        let (r16, r32) = (rows(&blob), rows(&pollster::block_on(m32.save(&{
            let mut s = m32.new_session(256);
            pollster::block_on(m32.forward(&mut s, &l.tokens[..n - 1], false)).unwrap();
            s
        })).unwrap()));
        assert!(r16.iter().all(f16_exact), "{}: an F16 cache row that is not an F16 number", l.preset);
        assert!(!r32.iter().all(f16_exact), "{}: the F32 cache holds only F16 numbers", l.preset);
        // The F16 session's blob restores into the F32 model, which continues like it.
        let mut r32 = m32.restore(&blob).unwrap();
        let mut s16 = s16;
        let last = [l.tokens[n - 1]];
        let (a, b) = (pollster::block_on(m16.forward(&mut s16, &last, true)).unwrap(), pollster::block_on(m32.forward(&mut r32, &last, true)).unwrap());
        let cross = rel(&b, std::slice::from_ref(&a));
        let want = rel(&a, &l.seq[7..]);
        eprintln!("{:<24} restored into F32: vs the F16 session {cross:.2e}, F16 session vs llama.cpp {want:.2e}", l.preset);
        assert!(cross <= 1e-4 && want <= 1e-3, "{}: restored session {cross}, F16 session {want}", l.preset);
    }
}

/// Keys and values beyond F16's range (65504) are clamped to it when an F16 cache stores them,
/// not turned into infinities: tiny-llama with layer 0's K and V projections scaled by 1e5
/// gives finite logits with an F16 cache, as with an F32 one, prompt and decode steps.
#[test]
fn outsized_keys_and_values_stay_finite_in_an_f16_cache() {
    let ctx = support::context();
    assert!(ctx.shader_f16, "this test needs an adapter with shader-f16 (Mesa's lavapipe has it)");
    let mut bytes = vec![];
    write_model(&SynthConfig::preset("tiny-llama").unwrap(), WeightType::parse("f32").unwrap(), 7, &mut bytes).unwrap();
    let index = braid::gguf::read_index(&bytes[..], Some(bytes.len() as u64)).unwrap();
    for name in ["blk.0.attn_k.weight", "blk.0.attn_v.weight"] {
        let t = index.tensor(name).unwrap();
        let at = (index.data_start + t.offset) as usize;
        for c in bytes[at..at + t.n_bytes as usize].chunks_exact_mut(4) {
            let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * 1e5;
            c.copy_from_slice(&x.to_le_bytes());
        }
    }
    let toks: Vec<u32> = (0..16).map(|i| (i * 37 + 11) % 200).collect();
    let mut peak = 0f32;
    for kv16 in [true, false] {
        ctx.set_kv_f16(Some(kv16));
        let mut loader = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
        pollster::block_on(loader.feed(&bytes)).unwrap();
        let m = GpuModel::new(loader.finish().unwrap()).unwrap();
        ctx.set_kv_f16(None);
        assert_eq!(m.memory_layout().kv_f16, kv16);
        let mut s = m.new_session(64);
        let mut out = pollster::block_on(m.forward(&mut s, &toks, true)).unwrap();
        for t in [5, 9] {
            out.extend(pollster::block_on(m.forward(&mut s, &[t], true)).unwrap());
        }
        assert!(out.iter().all(|x| x.is_finite()), "kv_f16={kv16}: non-finite logits");
        // The F32 cache holds values past F16's range: the test exercises the clamp.
        if !kv16 {
            let blob = pollster::block_on(m.save(&s)).unwrap();
            peak = blob[28 + 4 * 18..blob.len() - 8].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).abs()).fold(0f32, f32::max);
        }
    }
    assert!(peak > 65504.0, "the scaled K / V rows peak at {peak}, inside F16's range");
}

/// An F32 file of `cfg` (random weights from `seed`) and its model on `ctx`.
fn synth_model(ctx: &std::rc::Rc<braid::gpu::GpuContext>, cfg: &SynthConfig, seed: u64) -> (Vec<u8>, GpuModel) {
    let mut bytes = vec![];
    write_model(cfg, WeightType::parse("f32").unwrap(), seed, &mut bytes).unwrap();
    let mut loader = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    pollster::block_on(loader.feed(&bytes)).unwrap();
    let m = GpuModel::new(loader.finish().unwrap()).unwrap();
    (bytes, m)
}

/// Whether the adapter can share loads through 8-lane subgroups (lavapipe must).
fn share_x_able(ctx: &braid::gpu::GpuContext) -> bool {
    ctx.set_share_x(Some(true));
    let able = ctx.share_x();
    ctx.set_share_x(None);
    if ctx.adapter.name.contains("llvmpipe") {
        assert!(able, "lavapipe without 8-lane subgroups");
    }
    able
}

/// Logits of the shared-kernel tests' script and the kernels that ran.
struct SharedRun {
    /// Session a: every row of the prompt (all tokens but the last 4) in one step.
    one: Vec<f32>,
    /// Session b: the prompt split at `split`; the rows of the second step.
    two: Vec<f32>,
    /// b: three decode steps after the prompt.
    steps: Vec<f32>,
    /// a and b one more token each, in one step.
    both: Vec<Vec<f32>>,
    kernels: Vec<String>,
}

/// The shared-kernel tests' script with shared x loads (`GpuContext::set_share_x`) on or off.
fn shared_run(ctx: &braid::gpu::GpuContext, m: &GpuModel, tokens: &[u32], split: usize, shared: bool) -> SharedRun {
    let n = tokens.len() - 4;
    ctx.set_share_x(Some(shared));
    ctx.set_profiling(true);
    let mut a = m.new_session(256);
    let one = pollster::block_on(m.forward(&mut a, &tokens[..n], true)).unwrap();
    let mut b = m.new_session(256);
    pollster::block_on(m.forward(&mut b, &tokens[..split], false)).unwrap();
    let two = pollster::block_on(m.forward(&mut b, &tokens[split..n], true)).unwrap();
    let mut steps = vec![];
    for &t in &tokens[n..n + 3] {
        steps.extend(pollster::block_on(m.forward(&mut b, &[t], false)).unwrap());
    }
    // a at position n, b at n + 3.
    let both = pollster::block_on(m.forward_multi(&mut [(&mut a, &tokens[n..n + 1]), (&mut b, &tokens[n + 3..n + 4])], false)).unwrap();
    let kernels = ctx.kernel_times().into_iter().map(|(k, _)| k).collect();
    ctx.set_profiling(false);
    ctx.set_share_x(None);
    SharedRun { one, two, steps, both, kernels }
}

/// The CPU adapters' attention kernel (`attention_sg`, shaders/attention_subgroup.wgsl: 8-lane
/// subgroups, G query heads of a KV head per workgroup; lavapipe) against the plain kernel and
/// the CPU reference, on head shapes that take each of its forms: heads of 32 to 256 dims, 1
/// to 8 query heads per workgroup, q/k norms, a sliding window (Gemma 3's ring), a gated
/// output (Qwen3.5). A 150-token prompt in one step (three key tiles) and split (130 + 20: the
/// pool's keys and the step's own), token-by-token steps after it, two sessions in one step.
#[test]
fn shared_attention_equals_the_plain_kernel_and_the_reference() {
    use braid::gpu::ops::attention_sg_shape;
    let ctx = support::context();
    let able = share_x_able(&ctx);
    eprintln!("attention_sg {}", if able { "on" } else { "not available on this adapter: checking the plain kernel only" });
    let shape = |preset: &str, n_head: u64, n_head_kv: u64, head_dim: u64| SynthConfig { n_head, n_head_kv, head_dim, ..SynthConfig::preset(preset).unwrap() };
    let configs = [
        ("qwen3 hd 128, 4 heads per KV head", shape("small-qwen3", 8, 2, 128)),
        ("llama hd 32, 8 heads per KV head", shape("small-llama", 16, 2, 32)),
        ("gemma3 hd 256 (2 of 4 per workgroup), window 6", shape("small-gemma3", 4, 1, 256)),
        ("gemma3 hd 64, window 6", SynthConfig::preset("small-gemma3").unwrap()),
        ("qwen35 gated, hd 64", SynthConfig::preset("small-qwen35").unwrap()),
        ("qwen3 hd 96, 3 heads per KV head", shape("small-qwen3", 6, 2, 96)),
    ];
    let mut forms = vec![];
    for (name, cfg) in &configs {
        let (bytes, m) = synth_model(&ctx, cfg, 11);
        let v = cfg.n_vocab as usize;
        let tokens: Vec<u32> = (0..154u32).map(|i| (i * 37 + 11) % cfg.n_vocab as u32).collect();
        let SharedRun { one, two, steps, both, kernels } = shared_run(&ctx, &m, &tokens, 130, true);
        let SharedRun { one: one0, two: two0, steps: steps0, both: both0, kernels: kernels0 } = shared_run(&ctx, &m, &tokens, 130, false);
        let sg = kernels.iter().filter(|k| k.ends_with(":attention_sg")).cloned().collect::<Vec<_>>();
        let expect = attention_sg_shape(cfg.head_dim as u32, (cfg.n_head / cfg.n_head_kv) as u32).filter(|_| able);
        assert_eq!(!sg.is_empty(), expect.is_some(), "{name}: kernels {kernels:?}");
        if let Some((nc, g)) = expect {
            assert!(sg.iter().all(|k| k.starts_with(&format!("attention_sg{}x{g}", 32 * nc))), "{name}: {sg:?}");
            forms.push((nc, g));
        }
        assert!(!kernels0.iter().any(|k| k.ends_with(":attention_sg")), "{name}: the plain run used {kernels0:?}");
        // Against the CPU reference: the prompt's last rows, then each step's.
        let r = RefModel::from_bytes(&bytes).unwrap();
        let mut st = r.new_state();
        let want = r.eval(&mut st, &tokens);
        let e_one = rel(&one, &want[146..150]);
        let e_two = rel(&two, &want[146..150]);
        let e_steps = rel(&steps, &want[150..153]);
        // a's step (position 150, token 150) is the reference's row 150, b's row 153.
        let e_both = rel(&both[0], &want[150..151]).max(rel(&both[1], &want[153..154]));
        // Shared against plain: the same sums in another order.
        let d = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / max_abs(&y[y.len() - v..]);
        let d_all = [d(&one, &one0), d(&two, &two0), d(&steps, &steps0), d(&both[0], &both0[0]), d(&both[1], &both0[1])].into_iter().fold(0f32, f32::max);
        eprintln!("{name:<48} vs reference: prompt {e_one:.2e} split {e_two:.2e} steps {e_steps:.2e} two sessions {e_both:.2e}; vs plain kernel {d_all:.2e}");
        assert!(e_one <= 1e-3 && e_two <= 1e-3 && e_steps <= 1e-3 && e_both <= 1e-3, "{name}: {e_one} {e_two} {e_steps} {e_both}");
        // With F16 caches a last-bit difference in one layer's output can flip the F16
        // rounding of the next layer's keys (2^-11 of a value): up to 1e-4 there (measured
        // 1.2e-5); 1e-5 with F32 caches (measured ≤ 4.4e-6).
        let tol = if ctx.kv_f16() { 1e-4 } else { 1e-5 };
        assert!(d_all <= tol, "{name}: shared vs plain kernel {d_all}");
    }
    if able {
        // Every chunk count edge and heads-per-workgroup count above ran.
        for f in [(4, 4), (1, 8), (8, 2), (2, 2), (3, 3)] {
            assert!(forms.contains(&f), "form {f:?} not run: {forms:?}");
        }
    }
}

/// The CPU adapters' DeltaNet recurrence (`dn_scan_sg`, shaders/delta_net_subgroup.wgsl: the
/// state column in registers, k and q by 8-lane broadcast; lavapipe) against the plain
/// `dn_scan` and the CPU reference, for key heads of 64 and 128 dims (Qwen3.5, Qwen3-Next): a
/// 40-token prompt token by token in one step and split (30 + 10), decode steps, two sessions
/// in one step.
#[test]
fn shared_delta_net_recurrence_equals_the_plain_kernel_and_the_reference() {
    let ctx = support::context();
    let able = share_x_able(&ctx);
    let configs = [
        ("qwen35, key heads of 64", SynthConfig::preset("small-qwen35").unwrap()),
        ("qwen35, key heads of 128", SynthConfig { d_state: 128, ..SynthConfig::preset("small-qwen35").unwrap() }),
        ("qwen3next", SynthConfig::preset("small-qwen3next").unwrap()),
    ];
    let mut sizes = vec![];
    for (name, cfg) in &configs {
        let (bytes, m) = synth_model(&ctx, cfg, 13);
        let v = cfg.n_vocab as usize;
        let tokens: Vec<u32> = (0..44u32).map(|i| (i * 29 + 5) % cfg.n_vocab as u32).collect();
        // The prompt token by token too (dn_scan's multi-token loop).
        ctx.set_chunked_scan(Some(false));
        let SharedRun { one, two, steps, both, kernels } = shared_run(&ctx, &m, &tokens, 30, true);
        let SharedRun { one: one0, two: two0, steps: steps0, both: both0, kernels: kernels0 } = shared_run(&ctx, &m, &tokens, 30, false);
        ctx.set_chunked_scan(None);
        let sg: Vec<&String> = kernels.iter().filter(|k| k.ends_with(":dn_scan_sg")).collect();
        assert_eq!(!sg.is_empty(), able, "{name}: kernels {kernels:?}");
        sizes.extend(sg.iter().map(|k| k.to_string()));
        assert!(!kernels0.iter().any(|k| k.ends_with(":dn_scan_sg")), "{name}: the plain run used {kernels0:?}");
        let r = RefModel::from_bytes(&bytes).unwrap();
        let mut st = r.new_state();
        let want = r.eval(&mut st, &tokens);
        let e = [rel(&one, &want[36..40]), rel(&two, &want[36..40]), rel(&steps, &want[40..43]), rel(&both[0], &want[40..41]), rel(&both[1], &want[43..44])]
            .into_iter()
            .fold(0f32, f32::max);
        let d = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / max_abs(&y[y.len() - v..]);
        let d_all = [d(&one, &one0), d(&two, &two0), d(&steps, &steps0), d(&both[0], &both0[0]), d(&both[1], &both0[1])].into_iter().fold(0f32, f32::max);
        eprintln!("{name:<28} {sg:?} vs reference {e:.2e}; vs plain kernel {d_all:.2e}");
        assert!(e <= 1e-3, "{name}: vs reference {e}");
        // As for attention_sg: 1e-4 with F16 caches (attention layers' keys round to F16).
        let tol = if ctx.kv_f16() { 1e-4 } else { 1e-5 };
        assert!(d_all <= tol, "{name}: shared vs plain kernel {d_all}");
    }
    if able {
        for s in ["delta_net_sg64:", "delta_net_sg128:"] {
            assert!(sizes.iter().any(|k| k.starts_with(s)), "{s} not run: {sizes:?}");
        }
    }
}
