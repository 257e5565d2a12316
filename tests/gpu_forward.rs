//! The GPU forward pass against llama.cpp (tests/fixtures/golden): every architecture,
//! F32 and quantized, as one batch and token by token.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/golden.rs"]
mod golden;

use std::rc::Rc;

use braid::gpu::{GpuContext, Requirements};
use braid::loader::StreamLoader;
use braid::model::forward::GpuModel;
use golden::{all_goldens_for, assert_cache_as_goldens, max_abs};

fn context() -> Rc<GpuContext> {
    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    Rc::new(pollster::block_on(GpuContext::new(&req)).expect("no WebGPU adapter (install mesa-vulkan-drivers)"))
}

fn load(ctx: &Rc<GpuContext>, bytes: &[u8]) -> GpuModel {
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    for c in bytes.chunks(1 << 16) {
        pollster::block_on(l.feed(c)).unwrap();
    }
    let m = GpuModel::new(l.finish().unwrap()).unwrap();
    assert_cache_as_goldens(ctx, &m);
    m
}

fn rel_err(got: &[f32], want: &[Vec<f32>], n_vocab: usize) -> f32 {
    got.chunks(n_vocab).zip(want).map(|(g, w)| {
        g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / max_abs(w)
    }).fold(0f32, f32::max)
}

#[test]
fn gpu_forward_matches_llama_cpp_batch_and_sequential() {
    let ctx = context();
    let goldens = all_goldens_for(&ctx);
    for g in &goldens {
        let bytes = g.model_bytes();
        let model = load(&ctx, &bytes);
        let v = model.hp.n_vocab as usize;
        let mut s = model.new_session(64);
        let batch = pollster::block_on(model.forward(&mut s, &g.tokens, true)).unwrap();
        let mut s2 = model.new_session(64);
        let mut seq = vec![];
        for &t in &g.tokens {
            seq.extend(pollster::block_on(model.forward(&mut s2, &[t], false)).unwrap());
        }
        // Quantized files: tight against llama.cpp on the exact-F32 twin (our kernels
        // dequantize exactly), loose against llama.cpp on the file itself (it quantizes
        // activations). The twin's golden is the `.twin` fixture of the same file.
        let tol = if g.quantized() { g.quantized_tolerance(&goldens) } else { 1e-3 };
        let (eb, es) = (rel_err(&batch, &g.batch, v), rel_err(&seq, &g.seq, v));
        let self_diff = rel_err(&batch, &seq.chunks(v).map(|c| c.to_vec()).collect::<Vec<_>>(), v);
        eprintln!("{:<36} batch {eb:.2e} seq {es:.2e} batch-vs-seq {self_diff:.2e} (tol {tol:.0e})", g.name);
        assert!(eb <= tol && es <= tol, "{}: batch {eb}, seq {es}", g.name);
        assert!(self_diff <= 1e-3, "{}: batch vs sequential {self_diff}", g.name);
    }
}

#[test]
fn quantized_files_match_llama_cpp_on_their_f32_twins() {
    let ctx = context();
    let goldens = all_goldens_for(&ctx);
    for twin in goldens.iter().filter(|g| g.twin) {
        // Run the quantized file itself, compare with llama.cpp on its twin.
        let q = goldens.iter().find(|g| !g.twin && g.preset == twin.preset && g.ty == twin.ty).unwrap();
        let model = load(&ctx, &q.model_bytes());
        let v = model.hp.n_vocab as usize;
        let mut s = model.new_session(64);
        let batch = pollster::block_on(model.forward(&mut s, &twin.tokens, true)).unwrap();
        let e = rel_err(&batch, &twin.batch, v);
        eprintln!("{:<36} vs twin {e:.2e}", q.name);
        assert!(e <= 1e-3, "{}: {e}", q.name);
    }
}

#[test]
fn chunked_scan_matches_llama_cpp() {
    // The SSD (chunked) prefill scan, forced on, against the same goldens: 12 tokens are
    // one partial chunk; 70 tokens (three chunks, the last partial) against the sequential
    // scan, with state carried into a following decode step.
    let ctx = context();
    ctx.set_chunked_scan(Some(true));
    // Every model with Mamba2 layers (not llama), F32 files and twins.
    for g in all_goldens_for(&ctx).iter().filter(|g| !g.quantized() && !g.preset.contains("llama")) {
        let model = load(&ctx, &g.model_bytes());
        let v = model.hp.n_vocab as usize;
        let mut s = model.new_session(128);
        let batch = pollster::block_on(model.forward(&mut s, &g.tokens, true)).unwrap();
        let e = rel_err(&batch, &g.batch, v);
        eprintln!("{:<36} chunked scan {e:.2e}", g.name);
        assert!(e <= 1e-3, "{}: {e}", g.name);
        let long: Vec<u32> = (0..70).map(|i| (i * 37 + 11) % model.hp.n_vocab).collect();
        let mut a = model.new_session(128);
        let la = pollster::block_on(model.forward(&mut a, &long, true)).unwrap();
        let na = pollster::block_on(model.forward(&mut a, &[5], false)).unwrap();
        ctx.set_chunked_scan(Some(false));
        let mut b = model.new_session(128);
        let lb = pollster::block_on(model.forward(&mut b, &long, true)).unwrap();
        let nb = pollster::block_on(model.forward(&mut b, &[5], false)).unwrap();
        ctx.set_chunked_scan(Some(true));
        let want: Vec<Vec<f32>> = lb.chunks(v).map(|c| c.to_vec()).chain([nb]).collect();
        let got: Vec<f32> = la.into_iter().chain(na).collect();
        let e = rel_err(&got, &want, v);
        eprintln!("{:<36} chunked vs sequential, 70 tokens + 1: {e:.2e}", g.name);
        assert!(e <= 1e-3, "{}: {e}", g.name);
    }
    ctx.set_chunked_scan(None);
}

#[test]
fn fused_dispatches_equal_separate_ones_and_llama_cpp() {
    // Fused dispatches (`GpuContext::fuse_dispatches`): decode steps fuse Mamba2's conv into
    // in_proj's epilogue (one dispatch less per layer) and a one-group `ssm_norm` into the
    // scan (y·w and partial Σ y²) and out_proj's epilogue (one more), the gated DeltaNet's
    // conv into its qkv projection's epilogue (one less); a gated FFN whose gate
    // and up have one type and shape runs them as one paired dispatch; a pre-norm whose
    // residual add is a stage's last product (one mixer, or a dense FFN) or a post-norm, and
    // whose readers are products (every mixer, an FFN — a mixture of experts' router, expert
    // and shared products too —, the LM head), is made in that
    // product's store (`NormOut`) or the post-norm's dispatch (one less); attention norms and
    // rotates its query head and the new key itself (one less); the embedding lookup makes
    // the first layer's pre-norm (one less). Token by token, both
    // forms against llama.cpp and each other, and the dispatches saved counted from the plan;
    // every golden model (several SSM groups, no norm, odd widths that keep the separate
    // scan, shared experts), F32 and quantized.
    use braid::model::blocks::ffn::DenseFfn;
    use braid::model::plan::{Ffn, Mixer};
    let ctx = context();
    let goldens = all_goldens_for(&ctx);
    let mut models = 0;
    for g in goldens.iter().filter(|g| !g.twin) {
        let model = load(&ctx, &g.model_bytes());
        let t = &model.weights.tensors;
        let paired = |f: &DenseFfn| {
            f.gate.is_some_and(|gate| {
                let (a, b) = (&t[gate], &t[f.up]);
                f.gate_b.is_none() && f.up_b.is_none() && a.info.ty == b.info.ty && a.info.dims == b.info.dims
            }) as u64
        };
        let mixers: u64 = model
            .plan
            .layers
            .iter()
            .flat_map(|l| &l.mixers)
            .map(|m| match m {
                Mixer::Mamba2(m) => {
                    let p = m.p;
                    let fits = p.d_inner % 4 == 0 && p.d_state % 4 == 0 && p.d_in_proj() % 4 == 0;
                    if fits { 1 + (m.norm.is_some() && p.n_group == 1) as u64 } else { 0 }
                }
                Mixer::DeltaNet(_) => 1,
                // The q/k norms and RoPE inside the attention dispatch.
                Mixer::Attention(a) => (a.rope.is_some() || a.q_norm.is_some()) as u64,
                _ => 0,
            })
            .sum();
        let ffns: u64 = model
            .plan
            .layers
            .iter()
            .filter_map(|l| l.ffn.as_ref())
            .map(|f| match &f.ffn {
                Ffn::Dense(d) => paired(d),
                Ffn::Moe(m) => m.shared.as_ref().map_or(0, paired),
            })
            .sum();
        let layers = &model.plan.layers;
        let dense = |f: &braid::model::plan::FfnPlan| matches!(f.ffn, Ffn::Dense(_));
        // The stage after layer il's: the next layer's mixers, or the LM head.
        let mixers_next = |il: usize| layers.get(il + 1).is_none_or(|l| l.mixer_norm.is_some());
        // Kernels that can make the store: the row kernels of CPU adapters and the subgroup kernel.
        let stores = ctx.use_subgroups() || ctx.prefers_row_kernels();
        let norms = (0..layers.len())
            .map(|il| {
                let l = &layers[il];
                // A post-norm joins the residual in the norm kernel, which makes the next
                // norm on every adapter; a product only where `stores` — the last mixer's,
                // when several add into the residual in turn (Falcon-H1).
                let by_mixers = if l.mixer_post_norm.is_some() { true } else { stores };
                // Every FFN reads its norm through products (a mixture of experts too).
                let after_mixers = l.mixer_norm.is_some() && by_mixers && l.ffn.as_ref().map_or(mixers_next(il), |_| true);
                let after_ffn = l.ffn.as_ref().is_some_and(|f| if f.post_norm.is_some() { true } else { dense(f) && stores }) && mixers_next(il);
                after_mixers as u64 + after_ffn as u64
            })
            .sum::<u64>();
        // The first layer's pre-norm in the embedding's dispatch (a table in one part).
        let first = (layers[0].mixer_norm.is_some() && model.weights.tensors[model.plan.token_embd].parts.len() == 1) as u64;
        let saved_per_token = mixers + ffns + norms + first;
        if saved_per_token == 0 {
            continue;
        }
        models += 1;
        let v = model.hp.n_vocab as usize;
        let run = |fused: bool| {
            ctx.set_fuse_dispatches(Some(fused));
            let mut s = model.new_session(64);
            let mut out = vec![];
            let before = ctx.stats().dispatches;
            for &t in &g.tokens {
                out.extend(pollster::block_on(model.forward(&mut s, &[t], false)).unwrap());
            }
            (out, ctx.stats().dispatches - before)
        };
        let (fused, n_fused) = run(true);
        let (separate, n_separate) = run(false);
        ctx.set_fuse_dispatches(None);
        let tol = if g.quantized() { g.quantized_tolerance(&goldens) } else { 1e-3 };
        let (ef, es) = (rel_err(&fused, &g.seq, v), rel_err(&separate, &g.seq, v));
        let both = rel_err(&fused, &separate.chunks(v).map(|c| c.to_vec()).collect::<Vec<_>>(), v);
        eprintln!("{:<36} fused {ef:.2e} separate {es:.2e} fused-vs-separate {both:.2e}; dispatches {n_fused} vs {n_separate}", g.name);
        assert!(ef <= tol && es <= tol, "{}: fused {ef}, separate {es}", g.name);
        // GeGLU goes through f16 as ggml's table does: a last-bit change of a gate from the
        // fused norm's other rounding (the scale applied after the product, not per element)
        // may move it by an f16 step; the other activations keep such changes at f32's size.
        // An F16 KV cache rounds keys and values the same way: a last-bit change may move one
        // by an F16 step.
        let geglu = layers.iter().any(|l| matches!(&l.ffn, Some(f) if matches!(&f.ffn, Ffn::Dense(d) if d.act == braid::model::blocks::ffn::Activation::Gelu)));
        let same = if geglu || model.memory_layout().kv_f16 { 1e-4 } else { 1e-5 };
        assert!(both <= same, "{}: fused vs separate {both}", g.name);
        assert_eq!(n_separate - n_fused, saved_per_token * g.tokens.len() as u64, "{}: dispatches saved", g.name);
    }
    assert!(models >= 20, "only {models} models with fused dispatches");
}

#[test]
fn stacked_q_k_v_products_equal_separate_ones_and_llama_cpp() {
    // At load, attention's q, k and v matrices of one type are stacked into one
    // (`Attention::fuse_qkv`): one product fills each token's [q | k | v] row. Every golden
    // model with attention, loaded stacked and separate: both against llama.cpp, against each
    // other (the same rows, the same arithmetic), the same GPU bytes, and the dispatches
    // saved counted from the plan. A Q4_K_M file whose mix gives some layer a Q6_K attn_v
    // stacks only that layer's q and k.
    use braid::model::plan::Mixer;
    let ctx = context();
    let goldens = all_goldens_for(&ctx);
    let (mut models, mut partial) = (0, 0);
    for g in goldens.iter().filter(|g| !g.twin) {
        let bytes = g.model_bytes();
        ctx.set_fuse_dispatches(Some(false));
        let separate = load(&ctx, &bytes);
        ctx.set_fuse_dispatches(None);
        let stacked = load(&ctx, &bytes);
        let products = |m: &GpuModel| -> Vec<usize> {
            m.plan.layers.iter().flat_map(|l| &l.mixers).filter_map(|x| if let Mixer::Attention(a) = x { Some(a.qkv.len()) } else { None }).collect()
        };
        let (np, ns) = (products(&stacked), products(&separate));
        if ns.is_empty() {
            continue;
        }
        models += 1;
        assert!(ns.iter().all(|&n| n == 3), "{}: unstacked layers with {ns:?} products", g.name);
        // Which layers stack is the file's business (types); that a layer of one type does is ours.
        let types = |m: &GpuModel| -> Vec<bool> {
            m.plan.layers.iter().flat_map(|l| &l.mixers).filter_map(|x| if let Mixer::Attention(a) = x { Some(a) } else { None })
                .map(|a| { let t = |i: usize| m.weights.index.tensors[i].ty; t(a.wq) == t(a.wk) && t(a.wk) == t(a.wv) }).collect()
        };
        for (il, (&n, one_type)) in np.iter().zip(types(&separate)).enumerate() {
            assert!(n < 3, "{}: attention layer {il} not stacked", g.name);
            assert_eq!(n == 1, one_type, "{}: attention layer {il}: {n} products", g.name);
        }
        partial += np.iter().any(|&n| n == 2) as usize;
        assert_eq!(stacked.weights.gpu_bytes(), separate.weights.gpu_bytes(), "{}: stacking changed the GPU bytes", g.name);
        assert_eq!(stacked.weight_bytes_per_token(), separate.weight_bytes_per_token(), "{}: bytes per token", g.name);
        let v = stacked.hp.n_vocab as usize;
        let run = |m: &GpuModel| {
            let mut s = m.new_session(64);
            let batch = pollster::block_on(m.forward(&mut s, &g.tokens, true)).unwrap();
            let mut s2 = m.new_session(64);
            let mut seq = vec![];
            let before = ctx.stats().dispatches;
            for &t in &g.tokens {
                seq.extend(pollster::block_on(m.forward(&mut s2, &[t], false)).unwrap());
            }
            (batch, seq, ctx.stats().dispatches - before)
        };
        let (b1, s1, d1) = run(&stacked);
        let (b0, s0, d0) = run(&separate);
        let tol = if g.quantized() { g.quantized_tolerance(&goldens) } else { 1e-3 };
        let errs = [rel_err(&b1, &g.batch, v), rel_err(&s1, &g.seq, v), rel_err(&b0, &g.batch, v), rel_err(&s0, &g.seq, v)];
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let (db, ds) = (same(&b1, &b0), same(&s1, &s0));
        eprintln!("{:<36} products per layer {np:?}; stacked {:.2e}/{:.2e} separate {:.2e}/{:.2e}; stacked-vs-separate {db:.1e}/{ds:.1e}; dispatches {d1} vs {d0}", g.name, errs[0], errs[1], errs[2], errs[3]);
        assert!(errs.iter().all(|&e| e <= tol), "{}: {errs:?} (tol {tol})", g.name);
        // The stacked product computes each row as the separate one does.
        assert!(db == 0.0 && ds == 0.0, "{}: stacked vs separate {db} / {ds}", g.name);
        let saved: u64 = np.iter().map(|&n| 3 - n as u64).sum();
        assert_eq!(d0 - d1, saved * g.tokens.len() as u64, "{}: dispatches saved", g.name);
    }
    assert!(models >= 10, "only {models} models with attention");
    assert!(partial >= 1, "no Q4_K_M file stacked only q and k");
}

#[test]
fn shared_b_c_scan_equals_per_lane_loads_and_llama_cpp() {
    // Where lanes form 8-lane subgroups (`GpuContext::share_x`, lavapipe) the Mamba2 scans of
    // layers with d_state % 32 == 0 share B and C loads by subgroup broadcast
    // (shaders/ssm_subgroup.wgsl): the prompt in passes of 8 tokens plus a remainder, decode
    // steps one token. Both forms against llama.cpp and each other: the prompt as one batch
    // (12 tokens: a pass of 8 and one of 4), then token by token, then two sessions
    // stepping in one dispatch (two sequences, one state slot each).
    use braid::model::plan::Mixer;
    let ctx = context();
    ctx.set_share_x(Some(true));
    let able = ctx.share_x();
    if ctx.adapter.name.contains("llvmpipe") {
        assert!(able, "lavapipe without 8-lane subgroups");
    }
    eprintln!("shared B/C scan {}", if able { "on" } else { "not available on this adapter: checking the unshared scan only" });
    let goldens = all_goldens_for(&ctx);
    let mut models = 0;
    for g in goldens.iter().filter(|g| !g.twin) {
        let model = load(&ctx, &g.model_bytes());
        let eligible = model.plan.layers.iter().flat_map(|l| &l.mixers).any(|m| {
            matches!(m, Mixer::Mamba2(m) if m.p.d_state % 32 == 0 && m.p.head_dim % 8 == 0 && m.p.d_inner % 8 == 0)
        });
        if !eligible {
            continue;
        }
        models += 1;
        let v = model.hp.n_vocab as usize;
        let run = |shared: bool| {
            ctx.set_share_x(Some(shared));
            ctx.set_profiling(true);
            let mut a = model.new_session(64);
            let batch = pollster::block_on(model.forward(&mut a, &g.tokens, true)).unwrap();
            let mut b = model.new_session(64);
            let mut seq = vec![];
            for &t in &g.tokens {
                seq.extend(pollster::block_on(model.forward(&mut b, &[t], false)).unwrap());
            }
            // Both sessions one more token each, in one step.
            let (ta, tb) = (g.tokens[0], g.tokens[1]);
            let two = pollster::block_on(model.forward_multi(&mut [(&mut a, &[ta][..]), (&mut b, &[tb][..])], false)).unwrap();
            let kernels: Vec<String> = ctx.kernel_times().into_iter().map(|(k, _)| k).collect();
            ctx.set_profiling(false);
            (batch, seq, two, kernels)
        };
        let (batch, seq, two, kernels) = run(true);
        let (batch0, seq0, two0, kernels0) = run(false);
        ctx.set_share_x(None);
        let ran = |ks: &[String], e: &str| ks.iter().any(|k| k.ends_with(e));
        assert_eq!(ran(&kernels, "ssm_scan4_sg") && ran(&kernels, "ssm_step4_sg"), able, "{}: shared kernels {kernels:?}", g.name);
        assert!(!kernels0.iter().any(|k| k.starts_with("ssm_sg:")), "{}: the unshared run used {kernels0:?}", g.name);
        let tol = if g.quantized() { g.quantized_tolerance(&goldens) } else { 1e-3 };
        let (eb, es) = (rel_err(&batch, &g.batch, v), rel_err(&seq, &g.seq, v));
        assert!(eb <= tol && es <= tol, "{}: shared batch {eb}, seq {es}", g.name);
        let rows = |x: &[f32]| x.chunks(v).map(|c| c.to_vec()).collect::<Vec<_>>();
        let d_batch = rel_err(&batch, &rows(&batch0), v);
        let d_seq = rel_err(&seq, &rows(&seq0), v);
        let d_two = two.iter().zip(&two0).map(|(x, y)| rel_err(x, &rows(y), v)).fold(0f32, f32::max);
        eprintln!("{:<36} shared vs llama.cpp batch {eb:.2e} seq {es:.2e}; vs unshared batch {d_batch:.2e} seq {d_seq:.2e} two sessions {d_two:.2e}", g.name);
        // The same operations in the same order: equal up to the compiler's contractions.
        assert!(d_batch <= 1e-5 && d_seq <= 1e-5 && d_two <= 1e-5, "{}: shared vs unshared {d_batch} {d_seq} {d_two}", g.name);
    }
    assert!(models >= 4, "only {models} golden models with 32-state chunks");
}

#[test]
fn gpu_argmax_equals_the_argmax_of_the_logits() {
    let ctx = context();
    for g in all_goldens_for(&ctx).iter().filter(|g| g.ty == "q8_0" && !g.twin) {
        let model = load(&ctx, &g.model_bytes());
        let mut a = model.new_session(64);
        let mut b = model.new_session(64);
        pollster::block_on(model.forward(&mut a, &g.tokens[..3], false)).unwrap();
        pollster::block_on(model.forward(&mut b, &g.tokens[..3], false)).unwrap();
        for &t in &g.tokens[3..] {
            let logits = pollster::block_on(model.forward(&mut a, &[t], false)).unwrap();
            let next = pollster::block_on(model.step_argmax(&mut b, t)).unwrap();
            assert_eq!(next, braid::model::forward::argmax(&logits), "{}", g.name);
        }
        assert_eq!(a.tokens, b.tokens);
    }
}

#[test]
fn bad_tokens_and_full_context_are_errors() {
    let ctx = context();
    let g = all_goldens_for(&ctx).into_iter().find(|g| g.name == "tiny-granitehybrid-f32").unwrap();
    let model = load(&ctx, &g.model_bytes());
    let mut s = model.new_session(4);
    assert!(pollster::block_on(model.forward(&mut s, &[model.hp.n_vocab], false)).is_err());
    assert!(pollster::block_on(model.forward(&mut s, &[], false)).is_err());
    assert!(pollster::block_on(model.forward(&mut s, &[1, 2, 3, 4, 5], false)).is_err());
    assert_eq!(s.pos, 0, "failed calls change nothing");
    pollster::block_on(model.forward(&mut s, &[1, 2, 3, 4], false)).unwrap();
    assert_eq!(s.pos, 4);
}

#[test]
fn long_inputs_are_split_into_batches_with_the_same_result() {
    use braid::model::forward::MAX_BATCH;
    let ctx = context();
    let g = all_goldens_for(&ctx).into_iter().find(|g| g.name == "tiny-granitehybrid-f32").unwrap();
    let model = load(&ctx, &g.model_bytes());
    let n = MAX_BATCH + 53;
    let toks: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 1) % model.hp.n_vocab).collect();
    let mut a = model.new_session(4096);
    let la = pollster::block_on(model.forward(&mut a, &toks, false)).unwrap();
    let mut b = model.new_session(4096);
    pollster::block_on(model.forward(&mut b, &toks[..1000], false)).unwrap();
    let lb = pollster::block_on(model.forward(&mut b, &toks[1000..], false)).unwrap();
    assert_eq!(a.pos as usize, n);
    let m = lb.iter().fold(0f32, |x, y| x.max(y.abs()));
    assert!(la.iter().zip(&lb).all(|(x, y)| (x - y).abs() <= 1e-4 * m));
    // One multi-session step may not exceed the cap.
    let mut c = model.new_session(4096);
    let big = vec![1u32; MAX_BATCH + 1];
    assert!(pollster::block_on(model.forward_multi(&mut [(&mut c, &big[..])], false)).is_err());
    assert_eq!(c.pos, 0);
}
