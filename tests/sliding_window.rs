//! The sliding-window memory kind (Gemma 3's local layers): a window layer keeps a ring of
//! rows, not every position. Sequences here are several times longer than the ring, so rows
//! are overwritten many times over; every operation must still equal a fresh session fed the
//! same tokens (whose logits the golden-long fixtures check against llama.cpp): long prefill
//! in steps, decode, fork, rewind inside the ring and past it (through checkpoints),
//! save/restore, batched steps of sessions at different ring phases, the prefix cache. The
//! bytes a session holds follow the closed form: every position of a global layer, and at
//! most W + S rows (W the window, S one step) of a window layer, whatever the length.
//!
//! Tolerance: 1e-3 of the largest logit. Gemma's GELU goes through f16 (as ggml's CPU table
//! does), so a difference of one f32 ulp between two evaluation orders can move a value across
//! an f16 rounding boundary (4.9e-4 relative); logits then differ by ~1e-5..1e-4 of their
//! range, not 1e-7 as with SiLU models.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sessions.rs"]
mod support;

use braid::gguf::Value;
use braid::memory::CheckpointPolicy;
use braid::model::forward::GpuModel;
use support::{context, model, toks};

fn fresh(m: &GpuModel, all: &[u32], k: usize) -> Vec<f32> {
    let mut s = m.new_session(4096);
    let l = pollster::block_on(m.forward(&mut s, all, true)).unwrap();
    let v = m.hp.n_vocab as usize;
    l[(all.len() - k) * v..].to_vec()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let m = b.iter().fold(0f32, |x, y| x.max(y.abs()));
    let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(d <= 1e-3 * m, "{what}: {d} vs max {m}");
}

fn key(m: &GpuModel, k: &str) -> u64 {
    m.weights.index.get(&format!("{}.{k}", m.hp.arch)).and_then(Value::as_f64).map(|x| x as u64).unwrap_or(0)
}

/// Ring rows of a window layer per session, from the window alone: W plus one step S
/// (S = W rounded up to 16, between 64 and 512), plus 15, rounded up to whole 16-row blocks.
fn ring_rows(w: u64) -> u64 {
    let step = w.next_multiple_of(16).clamp(64, 512);
    (w + step + 15).div_ceil(16) * 16
}

const PRESETS: [(&str, &str); 2] = [("tiny-gemma3", "f32"), ("odd-gemma3", "q8_0")];

#[test]
fn window_sessions_equal_fresh_sessions_past_many_ring_turns() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let w = key(&m, "attention.sliding_window") as u32;
        let ring = ring_rows(w as u64) as u32;
        let n = 3 * ring + 37;

        // one long append (several steps), then decode steps one by one
        let hist = toks(n as usize, 1, v);
        let mut s = m.new_session(4096);
        s.policy = CheckpointPolicy { every: 64, max: 64 };
        pollster::block_on(m.append(&mut s, &hist[..n as usize - 5], false)).unwrap();
        let mut steps = vec![];
        for &t in &hist[n as usize - 5..] {
            steps.extend(pollster::block_on(m.step(&mut s, t)).unwrap());
        }
        close(&steps, &fresh(&m, &hist, 5), &format!("{preset}: append then steps"));

        // fork mid-way, diverge
        let mut child = m.fork(&s);
        let (a, b) = (toks(20, 2, v), toks(20, 3, v));
        let la = pollster::block_on(m.append(&mut s, &a, true)).unwrap();
        let lb = pollster::block_on(m.append(&mut child, &b, true)).unwrap();
        close(&la[la.len() - 3 * v as usize..], &fresh(&m, &[hist.clone(), a].concat(), 3), &format!("{preset}: parent after fork"));
        close(&lb[lb.len() - 3 * v as usize..], &fresh(&m, &[hist.clone(), b].concat(), 3), &format!("{preset}: child after fork"));
        drop(child);

        // rewinds: inside what the ring still holds (nothing recomputed), past it (from the
        // newest checkpoint at or below: at most `every` tokens), to 0
        let total = s.pos;
        for to in [total - 3, total - (ring - w) + 2, total - ring - 40, 70, 0] {
            let before = s.tokens.clone();
            let recomputed = pollster::block_on(m.rewind(&mut s, to as i64)).unwrap();
            if to == total - 3 {
                assert_eq!(recomputed, 0, "{preset}: a rewind inside the ring recomputes nothing");
            }
            assert!(recomputed <= 64, "{preset}: rewind to {to} recomputed {recomputed}");
            let next = toks(6, 5 + to, v);
            let got = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
            close(&got, &fresh(&m, &[&before[..to as usize], &next[..]].concat(), 6), &format!("{preset}: rewind to {to}"));
            // back to the full history for the next rewind
            pollster::block_on(m.rewind(&mut s, to as i64)).unwrap();
            pollster::block_on(m.append(&mut s, &before[to as usize..], false)).unwrap();
        }

        // save / restore: the blob carries the last W rows of a window layer; the restored
        // session continues bit-identically
        let blob = pollster::block_on(m.save(&s)).unwrap();
        let mut r = m.restore(&blob).unwrap();
        let next = toks(7, 8, v);
        let x = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
        let y = pollster::block_on(m.append(&mut r, &next, true)).unwrap();
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "{preset}: restore not bit-identical");

        // batched decode steps of sessions at different ring phases
        let lens = [5usize, ring as usize - 3, ring as usize + 17, 2 * ring as usize + 1];
        let prompts: Vec<Vec<u32>> = lens.iter().enumerate().map(|(i, &l)| toks(l, 20 + i as u32, v)).collect();
        let mut ss: Vec<_> = prompts.iter().map(|_| m.new_session(4096)).collect();
        for (s, p) in ss.iter_mut().zip(&prompts) {
            pollster::block_on(m.append(s, p, false)).unwrap();
        }
        let stepped: Vec<u32> = (0..4).map(|i| (i * 31 + 7) % v).collect();
        let mut refs: Vec<&mut braid::session::Session> = ss.iter_mut().collect();
        let out = pollster::block_on(m.step_many(&mut refs, &stepped)).unwrap();
        for i in 0..4 {
            close(&out[i], &fresh(&m, &[prompts[i].clone(), vec![stepped[i]]].concat(), 1), &format!("{preset}: batched step {i}"));
        }

        // the prefix cache: a second session with the same long beginning starts from it
        let mut c = m.new_session(4096);
        let tail = toks(9, 9, v);
        let full = [&hist[..], &tail[..]].concat();
        let got = pollster::block_on(m.append(&mut c, &full, false)).unwrap();
        assert!(c.last_append.reused > 0, "{preset}: the prefix cache served nothing");
        close(&got, &fresh(&m, &full, 1), &format!("{preset}: from the prefix cache"));
    }
}

#[test]
fn window_layers_hold_at_most_the_ring_whatever_the_length() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let w = key(&m, "attention.sliding_window");
        let ring = ring_rows(w);
        let period = key(&m, "attention.sliding_window_pattern").max(1);
        let kv_dim = key(&m, "attention.head_count_kv") * key(&m, "attention.key_length");
        let n_layer = m.hp.n_layer as u64;
        let windowed = (0..n_layer).filter(|il| il % period < period - 1).count() as u64;
        let global = n_layer - windowed;
        // Bytes per K or V element: F16 where the adapter has shader-f16 (rows of even length).
        let el = if ctx.kv_f16() && kv_dim % 2 == 0 { 2 } else { 4 };
        for n in [40u64, ring + 5, 8 * ring + 3] {
            let mut s = m.new_session(8192);
            s.policy = CheckpointPolicy { every: 0, max: 1 };
            pollster::block_on(m.append(&mut s, &toks(n as usize, 4, m.hp.n_vocab), false)).unwrap();
            let r = m.memory(&s);
            let rows = n.div_ceil(16) * 16;
            assert_eq!(r.kv, global * rows * kv_dim * 2 * el, "{preset} at {n}: global layers' blocks");
            assert_eq!(r.kv_used, global * n * kv_dim * 2 * el, "{preset} at {n}: global rows used");
            assert_eq!(r.window, windowed * rows.min(ring) * kv_dim * 2 * el, "{preset} at {n}: window layers' rings");
            assert_eq!(r.recurrent, 0);
        }
    }
}
