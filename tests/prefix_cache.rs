//! The prefix cache (src/memory/prefix.rs) on every memory kind: a session whose tokens begin
//! with a prefix another session passed through starts from that prefix's memory and computes
//! only the rest — bit for bit what computing the same pieces gives, and within rounding of
//! computing it all at once; bounded by its budget with LRU eviction; forked, rewound and
//! disposed sessions leave it consistent.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sessions.rs"]
mod support;

use support::{close, context, model, toks};

const KINDS: [(&str, &str); 7] = [
    ("tiny-llama", "f32"),             // KV only
    ("tiny-mamba2", "f32"),            // Mamba2 state only
    ("tiny-granitehybrid-moe", "q8_0"), // Mamba2 + KV + experts
    ("tiny-lfm2", "q8_0"),             // short-conv window + KV
    ("odd-qwen35", "f32"),             // gated DeltaNet matrices + KV
    ("odd-qwen3next", "q8_0"),         // DeltaNet (grouped heads) + KV + experts
    ("odd-jamba", "f32"),              // Mamba-1 + KV + experts
];

fn append(m: &braid::model::forward::GpuModel, s: &mut braid::session::Session, t: &[u32]) -> Vec<f32> {
    pollster::block_on(m.append(s, t, false)).unwrap()
}

#[test]
fn reuse_equals_computing_it_for_every_memory_kind() {
    let ctx = context();
    for (preset, ty) in KINDS {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let (system, user, other) = (toks(40, 1, v), toks(9, 2, v), toks(7, 3, v));
        // A passes through the system prompt (a turn end: cached), then goes on.
        let mut a = m.new_session(256);
        append(&m, &mut a, &system);
        append(&m, &mut a, &other);
        assert!(m.prefix_cache().entries >= 2, "{preset}: {:?}", m.prefix_cache());
        // B starts with the same system prompt in one append: 40 reused, 9 computed.
        let mut b = m.new_session(256);
        let lb = append(&m, &mut b, &[system.clone(), user.clone()].concat());
        let stats = b.last_append;
        assert_eq!((stats.reused, stats.computed), (40, 9), "{preset}");
        assert_eq!(b.pos, 49);
        // Without the cache: the same pieces give the same bits; one batch is within rounding.
        m.set_prefix_cache(false, None);
        let mut c = m.new_session(256);
        append(&m, &mut c, &system);
        let lc = append(&m, &mut c, &user);
        assert_eq!(c.last_append.reused, 0);
        assert!(lb == lc, "{preset}: reuse differs from computing the same pieces");
        let mut d = m.new_session(256);
        let ld = append(&m, &mut d, &[system.clone(), user.clone()].concat());
        close(&lb, &ld, &format!("{preset} reused vs one batch"));
        m.set_prefix_cache(true, None);
        // B continues exactly like C (its memory is its own from here: copy-on-write).
        let more = toks(5, 4, v);
        let lb2 = append(&m, &mut b, &more);
        let lc2 = append(&m, &mut c, &more);
        assert!(lb2 == lc2, "{preset}: continuing after reuse");
        // A's own continuation is untouched by B's writes into the shared last block.
        m.set_prefix_cache(false, None);
        let mut e = m.new_session(256);
        append(&m, &mut e, &system);
        let le = append(&m, &mut e, &other);
        m.set_prefix_cache(true, None);
        let mut a2 = m.fork(&a);
        let mut e2 = m.fork(&e);
        assert!(append(&m, &mut a2, &more) == append(&m, &mut e2, &more), "{preset}: the session the prefix came from");
        eprintln!("{preset:<24} reused {} of 49, {:?}", stats.reused, m.prefix_cache());
        drop((a, a2, b, c, d, e, e2, le));
        m.set_prefix_cache(false, None);
        assert_eq!(m.pools().borrow().blocks_in_use(), 0, "{preset}: blocks leaked");
    }
}

#[test]
fn forked_rewound_and_disposed_sessions_leave_the_cache_consistent() {
    let ctx = context();
    for (preset, ty) in [("tiny-granitehybrid", "q8_0"), ("odd-qwen35", "f32"), ("tiny-llama", "f32")] {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let (system, user) = (toks(40, 5, v), toks(9, 6, v));
        let mut a = m.new_session(256);
        append(&m, &mut a, &system);
        let mut f = m.fork(&a);
        let lf = append(&m, &mut f, &user);
        drop(a);
        // The fork rewinds into the cached prefix and writes other tokens there.
        pollster::block_on(m.rewind(&mut f, 20)).unwrap();
        append(&m, &mut f, &toks(30, 7, v));
        // The cached prefix is intact: a new session reuses it and gets the fork's logits.
        let mut b = m.new_session(256);
        let lb = append(&m, &mut b, &[system.clone(), user.clone()].concat());
        assert_eq!(b.last_append.reused, 40, "{preset}");
        assert!(lb == lf, "{preset}: the cached prefix changed");
        // Rewinding back into the prefix replays from the cache where it can.
        let mut g = m.new_session(256);
        append(&m, &mut g, &[system.clone(), user.clone()].concat());
        let recomputed = pollster::block_on(m.rewind(&mut g, 45)).unwrap();
        assert!(recomputed <= 5, "{preset}: {recomputed} recomputed");
        drop((b, f, g));
    }
}

#[test]
fn the_budget_bounds_the_cache_and_evicts_least_recently_used_unpinned_entries() {
    let ctx = context();
    let m = model(&ctx, "tiny-granitehybrid", "q8_0");
    let v = m.hp.n_vocab;
    let pools_block = m.pools().borrow().block_bytes();
    let slot = m.pools().borrow().slot_bytes();
    // Room for about two entries of 40 tokens.
    let per_entry = 3 * pools_block + slot;
    m.set_prefix_cache(true, Some(2 * per_entry + per_entry / 2));
    let prompts: Vec<Vec<u32>> = (0..4).map(|i| toks(40, 10 + i, v)).collect();
    for p in &prompts {
        let mut s = m.new_session(256);
        append(&m, &mut s, p);
    }
    let r = m.prefix_cache();
    assert!(r.bytes <= r.budget, "{r:?}");
    assert_eq!(r.entries, 2, "{r:?}");
    // The oldest was evicted, the newest survives (each check inserts and evicts again).
    let mut s = m.new_session(256);
    append(&m, &mut s, &[prompts[0].clone(), vec![1]].concat());
    assert_eq!(s.last_append.reused, 0);
    drop(s);
    let mut s = m.new_session(256);
    append(&m, &mut s, &[prompts[3].clone(), vec![1]].concat());
    assert_eq!(s.last_append.reused, 40);
    drop(s);
    assert!(m.prefix_cache().bytes <= m.prefix_cache().budget);
    // A live session pins the entry it started from: a zero budget cannot evict it (the
    // entry the session put there itself is not pinned: its blocks live on with it anyway)...
    let mut first = m.new_session(256);
    append(&m, &mut first, &prompts[0]);
    let mut live = m.new_session(256);
    append(&m, &mut live, &[prompts[0].clone(), vec![1]].concat());
    assert_eq!(live.last_append.reused, 40);
    drop(first);
    m.set_prefix_cache(true, Some(0));
    assert_eq!(m.prefix_cache().entries, 1);
    // ...until it is gone.
    drop(live);
    m.set_prefix_cache(true, Some(0));
    assert_eq!(m.prefix_cache().entries, 0);
    assert_eq!(m.prefix_cache().bytes, 0);
    assert_eq!(m.pools().borrow().blocks_in_use(), 0);
}
