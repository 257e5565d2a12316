//! Session memory operations against fresh sessions fed the same tokens: fork, rewind with
//! checkpoints, save/restore (bit-identical), bad blobs, range errors, byte accounting.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sessions.rs"]
mod support;

use braid::memory::CheckpointPolicy;
use braid::session::SessionError;
use support::{close, context, fresh, model, toks};

const PRESETS: [(&str, &str); 3] = [("tiny-granitehybrid", "q8_0"), ("tiny-falcon-h1", "f32"), ("tiny-llama", "q8_0")];

#[test]
fn fork_at_24_then_diverge_equals_fresh_sessions() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let prefix = toks(24, 1, v);
        let (a, b) = (toks(8, 2, v), toks(8, 3, v));
        let mut parent = m.new_session(256);
        pollster::block_on(m.append(&mut parent, &prefix, false)).unwrap();
        let mut child = m.fork(&parent);
        let la = pollster::block_on(m.append(&mut parent, &a, true)).unwrap();
        let lb = pollster::block_on(m.append(&mut child, &b, true)).unwrap();
        close(&la, &fresh(&m, &[prefix.clone(), a].concat(), 8), &format!("{preset} parent"));
        close(&lb, &fresh(&m, &[prefix.clone(), b].concat(), 8), &format!("{preset} child"));
        assert_eq!(child.tokens.len(), 32);
    }
}

#[test]
fn rewind_restores_the_newest_checkpoint_and_recomputes_the_rest() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let hist = toks(40, 4, v);
        let recurrent = m.hp.layers.iter().any(|l| l.recurrent);
        for (to, max_recompute) in [(37u32, 5u32), (33, 1), (32, 0), (10, 10), (0, 0), (40, 0)] {
            let mut s = m.new_session(256);
            s.policy = CheckpointPolicy { every: 16, max: 8 };
            pollster::block_on(m.append(&mut s, &hist[..20], false)).unwrap();
            pollster::block_on(m.append(&mut s, &hist[20..], false)).unwrap();
            let recomputed = pollster::block_on(m.rewind(&mut s, to as i64)).unwrap();
            // checkpoints were at 16, 20, 32, 40
            if recurrent {
                assert!(recomputed <= max_recompute, "{preset}: rewind to {to} recomputed {recomputed}");
            } else {
                assert_eq!(recomputed, 0);
            }
            assert_eq!((s.pos, s.tokens.as_slice()), (to, &hist[..to as usize]));
            let next = toks(6, 5, v);
            let got = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
            close(&got, &fresh(&m, &[&hist[..to as usize], &next[..]].concat(), 6), &format!("{preset} rewind to {to}"));
        }
        // Range errors change nothing.
        let mut s = m.new_session(64);
        pollster::block_on(m.append(&mut s, &hist[..8], false)).unwrap();
        for bad in [-1i64, 9, i64::MAX] {
            let e = pollster::block_on(m.rewind(&mut s, bad)).unwrap_err();
            assert!(matches!(e, SessionError::Range { .. }), "{e}");
        }
        assert_eq!(s.pos, 8);
    }
}

#[test]
fn checkpoints_are_bounded_and_oldest_evicted() {
    let ctx = context();
    let m = model(&ctx, "tiny-mamba2", "q8_0");
    let mut s = m.new_session(512);
    s.policy = CheckpointPolicy { every: 8, max: 3 };
    pollster::block_on(m.append(&mut s, &toks(50, 6, m.hp.n_vocab), false)).unwrap();
    let r = m.memory(&s);
    assert_eq!(r.checkpoints, 3 * r.recurrent, "three checkpoints of the whole recurrent state");
    // Rewinding below the oldest kept checkpoint (at 40) recomputes from the start — unless
    // the model's prefix cache still holds the memory at 24 (it keeps every checkpoint
    // position within its budget): then only 24..30.
    let mut s2 = m.fork(&s);
    let n = pollster::block_on(m.rewind(&mut s2, 30)).unwrap();
    assert_eq!(n, 6);
    m.set_prefix_cache(false, None);
    let n = pollster::block_on(m.rewind(&mut s, 30)).unwrap();
    assert_eq!(n, 30);
}

/// A long reply must not push the turn boundaries out: periodic checkpoints are evicted
/// before turn ends, so Regenerate / Edit (which rewind to a turn boundary) stay cheap.
#[test]
fn turn_end_checkpoints_outlive_periodic_ones() {
    let ctx = context();
    let m = model(&ctx, "tiny-granitehybrid", "q8_0");
    let v = m.hp.n_vocab;
    let mut s = m.new_session(512);
    s.policy = CheckpointPolicy { every: 8, max: 3 };
    pollster::block_on(m.append(&mut s, &toks(5, 1, v), false)).unwrap(); // turn end at 5
    for t in toks(40, 2, v) {
        pollster::block_on(m.step(&mut s, t)).unwrap(); // periodic at 8, 16, .., 40
    }
    let r = m.memory(&s);
    assert_eq!(r.checkpoints, 3 * r.recurrent);
    // Kept: the turn end at 5 and the two newest periodic ones (32, 40).
    assert_eq!(pollster::block_on(m.rewind(&mut s, 36)).unwrap(), 4);
    assert_eq!(pollster::block_on(m.rewind(&mut s, 6)).unwrap(), 1);
    // and the state after the rewinds is the state of those 6 tokens
    let next = toks(1, 3, v);
    let got = pollster::block_on(m.append(&mut s, &next, false)).unwrap();
    close(&got, &fresh(&m, &[&s.tokens[..6], &next[..]].concat(), 1), "after rewinds");
}

#[test]
fn save_restore_continue_is_bit_identical() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let mut s = m.new_session(128);
        pollster::block_on(m.append(&mut s, &toks(20, 7, v), false)).unwrap();
        let blob = pollster::block_on(m.save(&s)).unwrap();
        let mut r = m.restore(&blob).unwrap();
        assert_eq!((r.pos, &r.tokens), (s.pos, &s.tokens));
        let next = toks(5, 8, v);
        let a = pollster::block_on(m.append(&mut s, &next, true)).unwrap();
        let b = pollster::block_on(m.append(&mut r, &next, true)).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{preset}: not bit-identical");

        // Tampered, truncated, versioned and foreign blobs are refused.
        let mut t = blob.clone();
        t[40] ^= 1;
        assert!(matches!(m.restore(&t), Err(SessionError::Checksum)));
        assert!(matches!(m.restore(&blob[..blob.len() - 1]), Err(SessionError::Checksum | SessionError::BadBlob(_))));
        assert!(matches!(m.restore(&blob[..10]), Err(SessionError::BadBlob(_))));
        let mut ver = blob.clone();
        ver[8] = 9;
        assert!(matches!(m.restore(&ver), Err(SessionError::Version(9))));
        let other = model(&ctx, if preset == "tiny-llama" { "tiny-mamba2" } else { "tiny-llama" }, "q8_0");
        assert!(matches!(other.restore(&blob), Err(SessionError::WrongModel { .. })));
    }
}

#[test]
fn bytes_per_session_match_spec_sizes() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let mut s = m.new_session(1000);
        s.policy = CheckpointPolicy { every: 0, max: 8 };
        pollster::block_on(m.append(&mut s, &toks(37, 9, m.hp.n_vocab), false)).unwrap();
        let r = m.memory(&s);
        let hp = &m.hp;
        // spec §3.1: conv (d_conv−1)·conv_dim and SSM d_state·d_inner floats per recurrent
        // layer; K and V of n_kv·head_dim floats per token per attention layer.
        let mut rec = 0u64;
        let mut kv_tok = 0u64;
        let even = hp.layers.iter().enumerate().all(|(il, l)| !l.attention || (hp.n_head_kv[il] * hp.head_dim) % 2 == 0);
        let kv_elem = if ctx.kv_f16() && even { 2 } else { 4 };
        for (il, l) in hp.layers.iter().enumerate() {
            if let (true, Some(p)) = (l.recurrent, hp.ssm) {
                rec += 4 * (p.conv_state_len() + p.ssm_state_len()) as u64;
            }
            if l.attention {
                // K and V of F16 where the adapter has shader-f16 (and every row is even).
                kv_tok += 2 * kv_elem * (hp.n_head_kv[il] * hp.head_dim) as u64;
            }
        }
        let block = braid::memory::pool::KV_BLOCK as u64 * kv_tok;
        assert_eq!(r.recurrent, rec, "{preset}");
        assert_eq!(r.kv_used, 37 * kv_tok, "{preset}");
        assert!(r.kv >= 37 * kv_tok && r.kv <= 37 * kv_tok + block, "{preset}: {} vs {} + one block", r.kv, 37 * kv_tok);
        // One checkpoint (end of the turn) of exactly the recurrent state.
        assert_eq!(r.checkpoints, rec, "{preset}");
    }
}

#[test]
fn forks_share_kv_blocks_until_they_write() {
    let ctx = context();
    let m = model(&ctx, "tiny-granitehybrid", "q8_0");
    let v = m.hp.n_vocab;
    let mut a = m.new_session(256);
    pollster::block_on(m.append(&mut a, &toks(40, 10, v), false)).unwrap();
    let before = m.memory(&a).kv;
    let mut b = m.fork(&a);
    // Same blocks: the fork cost no KV memory.
    assert_eq!(a.blocks(), b.blocks());
    pollster::block_on(m.append(&mut b, &toks(3, 11, v), false)).unwrap();
    // Writing into the shared, partly filled last block copied only that block.
    assert_eq!(a.blocks()[..2], b.blocks()[..2]);
    assert_ne!(a.blocks()[2], b.blocks()[2]);
    assert_eq!(m.memory(&a).kv, before);
}

#[test]
fn batched_steps_across_sessions_equal_solo_runs() {
    let ctx = context();
    for (preset, ty) in PRESETS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        // Sessions of different lengths, advanced together by interleaved batched steps.
        let n = 6;
        let prompts: Vec<Vec<u32>> = (0..n).map(|i| toks(3 + 5 * i, 20 + i as u32, v)).collect();
        let steps: Vec<Vec<u32>> = (0..n).map(|i| toks(4, 40 + i as u32, v)).collect();
        let mut ss: Vec<_> = (0..n).map(|_| m.new_session(256)).collect();
        for (s, p) in ss.iter_mut().zip(&prompts) {
            pollster::block_on(m.append(s, p, false)).unwrap();
        }
        let mut got: Vec<Vec<Vec<f32>>> = vec![vec![]; n];
        for k in 0..4 {
            // every other step advances only the even sessions
            let idx: Vec<usize> = (0..n).filter(|i| k % 2 == 0 || i % 2 == 0).collect();
            let step_toks: Vec<u32> = idx.iter().map(|&i| steps[i][got[i].len()]).collect();
            let mut refs: Vec<&mut braid::session::Session> = ss.iter_mut().enumerate().filter(|(i, _)| idx.contains(i)).map(|(_, s)| s).collect();
            let out = pollster::block_on(m.step_many(&mut refs, &step_toks)).unwrap();
            for (j, &i) in idx.iter().enumerate() {
                got[i].push(out[j].clone());
            }
        }
        for i in 0..n {
            let k = got[i].len();
            let want = fresh(&m, &[prompts[i].clone(), steps[i][..k].to_vec()].concat(), k);
            close(&got[i].concat(), &want, &format!("{preset} session {i}"));
        }
    }
}

#[test]
fn sixty_four_granite_350m_sessions_in_interleaved_batched_steps_equal_solo_runs() {
    // The real granite-4.0-h-350m shape (32 layers, 4 attention, 28 Mamba2), Q4_K_M.
    let ctx = context();
    let m = model(&ctx, "granite-4.0-h-350m", "q4_k_m");
    let v = m.hp.n_vocab;
    let n = 64;
    let prompts: Vec<Vec<u32>> = (0..n).map(|i| toks(1 + i % 3, 60 + i as u32, v)).collect();
    let steps: Vec<Vec<u32>> = (0..n).map(|i| toks(3, 200 + i as u32, v)).collect();
    let mut ss: Vec<_> = (0..n).map(|_| m.new_session(16)).collect();
    for (s, p) in ss.iter_mut().zip(&prompts) {
        pollster::block_on(m.append(s, p, false)).unwrap();
    }
    let mut got: Vec<Vec<Vec<f32>>> = vec![vec![]; n];
    for k in 0..5 {
        // steps alternate between all sessions and every third one
        let idx: Vec<usize> = (0..n).filter(|i| got[*i].len() < 3 && (k % 2 == 0 || i % 3 == 0)).collect();
        if idx.is_empty() {
            continue;
        }
        let step_toks: Vec<u32> = idx.iter().map(|&i| steps[i][got[i].len()]).collect();
        let mut refs: Vec<&mut braid::session::Session> =
            ss.iter_mut().enumerate().filter(|(i, _)| idx.contains(i)).map(|(_, s)| s).collect();
        let out = pollster::block_on(m.step_many(&mut refs, &step_toks)).unwrap();
        for (j, &i) in idx.iter().enumerate() {
            got[i].push(out[j].clone());
        }
    }
    for i in (0..n).step_by(7) {
        let k = got[i].len();
        let want = fresh(&m, &[prompts[i].clone(), steps[i][..k].to_vec()].concat(), k);
        close(&got[i].concat(), &want, &format!("granite-350m session {i}"));
    }
}
