//! Sessions on the layer kinds LFM2, Nemotron-H, Qwen3.5 and Jamba bring (short-conv layers whose
//! only state is a conv window, MLP-only layers that keep nothing, attention without RoPE, gated
//! DeltaNet layers with a conv window and a matrix per value head, Mamba-1 layers) and on MoE
//! models: fork, rewind
//! through checkpoints, save/restore and batched steps equal fresh sessions; the bytes a
//! session holds equal the closed form per layer kind, computed here from the file's metadata
//! (spec §1.2, §3.1) — not from Braid's memory layout.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sessions.rs"]
mod support;

use braid::gguf::Value;
use braid::memory::CheckpointPolicy;
use braid::model::forward::GpuModel;
use support::{close, context, fresh, model, toks};

const KINDS: [(&str, &str); 11] = [
    ("tiny-lfm2", "q8_0"),
    ("tiny-nemotron-h", "q8_0"),
    ("odd-lfm2", "f32"),
    ("odd-nemotron-h", "f32"),
    ("tiny-granitehybrid-moe", "q8_0"),
    ("tiny-lfm2moe", "f32"),
    ("odd-nemotron-h-moe", "f32"),
    ("tiny-qwen35", "q8_0"),
    ("odd-qwen3next", "f32"),
    ("tiny-qwen35moe", "f32"),
    ("odd-jamba", "f32"),
];

#[test]
fn fork_rewind_save_restore_and_batched_steps_equal_fresh_sessions() {
    let ctx = context();
    for (preset, ty) in KINDS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        // fork at 24, then diverge
        let prefix = toks(24, 1, v);
        let (a, b) = (toks(8, 2, v), toks(8, 3, v));
        let mut parent = m.new_session(256);
        pollster::block_on(m.append(&mut parent, &prefix, false)).unwrap();
        let mut child = m.fork(&parent);
        let la = pollster::block_on(m.append(&mut parent, &a, true)).unwrap();
        let lb = pollster::block_on(m.append(&mut child, &b, true)).unwrap();
        close(&la, &fresh(&m, &[prefix.clone(), a].concat(), 8), &format!("{preset} parent"));
        close(&lb, &fresh(&m, &[prefix.clone(), b].concat(), 8), &format!("{preset} child"));

        // rewind through checkpoints at 16, 20, 32, 40
        let hist = toks(40, 4, v);
        for (to, max_recompute) in [(37u32, 5u32), (33, 1), (32, 0), (10, 10), (0, 0)] {
            let mut s = m.new_session(256);
            s.policy = CheckpointPolicy { every: 16, max: 8 };
            pollster::block_on(m.append(&mut s, &hist[..20], false)).unwrap();
            pollster::block_on(m.append(&mut s, &hist[20..], false)).unwrap();
            let recomputed = pollster::block_on(m.rewind(&mut s, to as i64)).unwrap();
            assert!(recomputed <= max_recompute, "{preset}: rewind to {to} recomputed {recomputed}");
            let next = toks(6, 5, v);
            let got = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
            close(&got, &fresh(&m, &[&hist[..to as usize], &next[..]].concat(), 6), &format!("{preset} rewind to {to}"));
        }

        // save / restore continues bit-identically
        let mut s = m.new_session(128);
        pollster::block_on(m.append(&mut s, &toks(20, 7, v), false)).unwrap();
        let blob = pollster::block_on(m.save(&s)).unwrap();
        let mut r = m.restore(&blob).unwrap();
        let next = toks(5, 8, v);
        let x = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
        let y = pollster::block_on(m.append(&mut r, &next, true)).unwrap();
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "{preset}: restore not bit-identical");

        // four sessions of different lengths advanced by batched steps
        let prompts: Vec<Vec<u32>> = (0..4).map(|i| toks(3 + 5 * i, 20 + i as u32, v)).collect();
        let steps: Vec<Vec<u32>> = (0..4).map(|i| toks(3, 40 + i as u32, v)).collect();
        let mut ss: Vec<_> = (0..4).map(|_| m.new_session(256)).collect();
        for (s, p) in ss.iter_mut().zip(&prompts) {
            pollster::block_on(m.append(s, p, false)).unwrap();
        }
        let mut got: Vec<Vec<f32>> = vec![vec![]; 4];
        for k in 0..3 {
            let mut refs: Vec<&mut braid::session::Session> = ss.iter_mut().collect();
            let out = pollster::block_on(m.step_many(&mut refs, &steps.iter().map(|s| s[k]).collect::<Vec<_>>())).unwrap();
            for (i, o) in out.into_iter().enumerate() {
                got[i].extend(o);
            }
        }
        for i in 0..4 {
            close(&got[i], &fresh(&m, &[prompts[i].clone(), steps[i].clone()].concat(), 3), &format!("{preset} batched session {i}"));
        }
    }
}

/// Per-layer array or scalar metadata key, read straight from the file's metadata.
fn key_per_layer(m: &GpuModel, k: &str) -> Vec<u64> {
    let idx = &m.weights.index;
    let n = m.hp.n_layer as usize;
    match idx.get(&format!("{}.{k}", m.hp.arch)) {
        Some(Value::Array(a)) => (0..a.len()).map(|i| a.get(i).and_then(|v| v.as_u64()).unwrap()).collect(),
        Some(v) => vec![v.as_u64().unwrap(); n],
        None => vec![0; n],
    }
}

fn key(m: &GpuModel, k: &str) -> u64 {
    m.weights.index.get(&format!("{}.{k}", m.hp.arch)).and_then(|v| v.as_u64()).unwrap()
}

#[test]
fn bytes_per_session_equal_the_closed_form_per_layer_kind() {
    let ctx = context();
    for (preset, ty) in KINDS.into_iter().chain([("tiny-granitehybrid", "q8_0"), ("tiny-falcon-h1", "f32"), ("tiny-mamba2", "f32"), ("tiny-llama", "f32")]) {
        let m = model(&ctx, preset, ty);
        let e = key(&m, "embedding_length");
        let kv = key_per_layer(&m, "attention.head_count_kv");
        let ff = key_per_layer(&m, "feed_forward_length");
        let hd = m.weights.index.get(&format!("{}.attention.key_length", m.hp.arch)).and_then(|v| v.as_u64()).unwrap_or(0);
        let ssm = |k: &str| key(&m, &format!("ssm.{k}"));
        // spec §3.1: Mamba2 conv (d_conv−1)·(d_inner+2·G·N) + SSM N·d_inner floats; LFM2 conv
        // (L−1)·E floats; attention K and V of n_kv·head_dim floats per token.
        let mamba2 = || (ssm("conv_kernel") - 1) * (ssm("inner_size") + 2 * ssm("group_count") * ssm("state_size")) + ssm("state_size") * ssm("inner_size");
        // Gated DeltaNet (llama.cpp n_embd_r / n_embd_s for qwen35): conv (d_conv−1)·(2·n_k·S +
        // n_v·S) and S·S per value head; Mamba-1: conv (d_conv−1)·d_inner, SSM N·d_inner.
        let delta = || (ssm("conv_kernel") - 1) * (2 * ssm("group_count") * ssm("state_size") + ssm("inner_size")) + ssm("state_size") * ssm("state_size") * ssm("time_step_rank");
        let mamba1 = || (ssm("conv_kernel") - 1) * ssm("inner_size") + ssm("state_size") * ssm("inner_size");
        let interval = m.weights.index.get(&format!("{}.full_attention_interval", m.hp.arch)).and_then(|v| v.as_u64()).unwrap_or(4) as usize;
        let jamba_hd = key(&m, "embedding_length") / m.weights.index.get("jamba.attention.head_count").and_then(|v| v.as_u64()).unwrap_or(1);
        let (mut state, mut kv_elems, mut layers) = (0u64, vec![], vec![]);
        for il in 0..m.hp.n_layer as usize {
            let (s, k) = match m.hp.arch {
                "lfm2" | "lfm2moe" if kv[il] == 0 => ((key(&m, "shortconv.l_cache") - 1) * e, 0),
                "lfm2" | "lfm2moe" | "llama" => (0, 2 * kv[il] * hd),
                "nemotron_h" | "nemotron_h_moe" if ff[il] > 0 => (0, 0),
                "nemotron_h" | "nemotron_h_moe" | "granitehybrid" if kv[il] == 0 => (mamba2(), 0),
                "nemotron_h" | "nemotron_h_moe" | "granitehybrid" => (0, 2 * kv[il] * hd),
                "falcon-h1" => (mamba2(), 2 * kv[il] * hd),
                "mamba2" => (mamba2(), 0),
                "qwen35" | "qwen35moe" | "qwen3next" if (il + 1) % interval != 0 => (delta(), 0),
                "qwen35" | "qwen35moe" | "qwen3next" => (0, 2 * kv[il] * hd),
                "jamba" if kv[il] == 0 => (mamba1(), 0),
                "jamba" => (0, 2 * kv[il] * jamba_hd),
                a => panic!("{a}"),
            };
            state += 4 * s;
            kv_elems.push(k);
            layers.push((4 * s, k));
        }
        // K and V are F16 with F16 caches (GpuContext::kv_f16) where every K and V row has an
        // even length: k counts a layer's K and V elements together (2·n_kv·head_dim), so a
        // multiple of 4.
        let kv_elem = if ctx.kv_f16() && kv_elems.iter().all(|k| k % 4 == 0) { 2 } else { 4 };
        let kv_tok: u64 = kv_elem * kv_elems.iter().sum::<u64>();
        // The model's own per-layer layout says the same, layer by layer.
        let layout = m.memory_layout();
        assert_eq!(layout.kv_elem_bytes(), kv_elem, "{preset}: KV element bytes");
        let theirs: Vec<(u64, u64)> = layout
            .layers
            .iter()
            .map(|l| (l.states.iter().map(|s| 4 * s.floats as u64).sum(), l.kv.map_or(0, |kv| (kv.k + kv.v) as u64)))
            .collect();
        assert_eq!(theirs, layers, "{preset}: per-layer memory (state bytes, K and V elements)");
        let mut s = m.new_session(1000);
        s.policy = CheckpointPolicy { every: 0, max: 8 };
        pollster::block_on(m.append(&mut s, &toks(37, 9, m.hp.n_vocab), false)).unwrap();
        let r = m.memory(&s);
        assert_eq!(r.recurrent, state, "{preset}");
        assert_eq!(r.kv_used, 37 * kv_tok, "{preset}");
        let block = braid::memory::KV_BLOCK as u64 * kv_tok;
        assert!(r.kv >= 37 * kv_tok && r.kv <= 37 * kv_tok + block, "{preset}: {} vs {}", r.kv, 37 * kv_tok);
        assert_eq!(r.checkpoints, state, "{preset}: one turn-end checkpoint of the whole state");
        eprintln!("{preset:<20} state {state} B, KV {kv_tok} B/token");
    }
}
