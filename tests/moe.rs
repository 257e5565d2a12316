//! Mixture-of-experts layers beyond the goldens: expert tensors split into parts (at expert
//! boundaries, and inside an expert when one expert exceeds a part) give the same logits as
//! whole ones, on every kernel family; several sessions decoding in one batch (their tokens
//! grouped by expert on the GPU) equal solo runs; `braid bench` counts only the experts a
//! token uses.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sessions.rs"]
mod support;

use braid::gpu::MatKernel;
use braid::model::forward::GpuModel;
use braid::model::plan::{Ffn, Role};
use support::{close, context, fresh, model, toks};

const MOE: [(&str, &str); 3] = [("tiny-granitehybrid-moe", "q8_0"), ("tiny-lfm2moe", "f32"), ("small-nemotron-h-moe", "q8_0")];

fn logits(m: &GpuModel, t: &[u32]) -> Vec<f32> {
    let mut s = m.new_session(256);
    pollster::block_on(m.forward(&mut s, t, true)).unwrap()
}

#[test]
fn split_expert_tensors_give_the_same_logits() {
    let ctx = context();
    for (preset, ty) in MOE {
        let whole = model(&ctx, preset, ty);
        let t = toks(20, 3, whole.hp.n_vocab);
        let want = logits(&whole, &t);
        // the largest expert tensor of the file, and one expert's bytes of it
        let (big, per_expert) = whole
            .weights
            .tensors
            .iter()
            .filter(|x| x.info.dims.len() == 3)
            .map(|x| (x.gpu_bytes(), x.gpu_bytes() / x.info.dims[2]))
            .max()
            .unwrap();
        // F32 vectors (norms, conv taps) must stay in one binding.
        let vectors = whole.plan.roles.iter().enumerate().filter(|(_, r)| **r == Some(Role::F32)).map(|(i, _)| whole.weights.tensors[i].gpu_bytes()).max().unwrap();
        for limit in [big / 3, (per_expert / 3).max(vectors + 64)] {
            ctx.set_part_limit(limit);
            let split = model(&ctx, preset, ty);
            ctx.set_part_limit(u64::MAX);
            let parts = split.weights.tensors.iter().filter(|x| x.info.dims.len() == 3).map(|x| x.parts.len()).max().unwrap();
            assert!(parts >= 3, "{preset}: {parts} parts at limit {limit}");
            for k in [MatKernel::Rows, MatKernel::Workgroup] {
                ctx.set_kernels(Some(k));
                close(&logits(&split, &t), &want, &format!("{preset} {k:?} limit {limit} ({parts} parts)"));
                // decode steps too
                let mut s = split.new_session(64);
                let mut got = vec![];
                for &x in &t[..6] {
                    got.extend(pollster::block_on(split.forward(&mut s, &[x], false)).unwrap());
                }
                let v = split.hp.n_vocab as usize;
                close(&got, &want[..6 * v], &format!("{preset} {k:?} decode, {parts} parts"));
            }
            ctx.set_kernels(None);
        }
    }
}

#[test]
fn batched_decode_of_many_sessions_equals_solo_runs() {
    let ctx = context();
    for (preset, ty) in MOE {
        let m = model(&ctx, preset, ty);
        let v = m.hp.n_vocab;
        let n = 7;
        let prompts: Vec<Vec<u32>> = (0..n).map(|i| toks(2 + 3 * i, 50 + i as u32, v)).collect();
        let steps: Vec<Vec<u32>> = (0..n).map(|i| toks(3, 80 + i as u32, v)).collect();
        let mut ss: Vec<_> = (0..n).map(|_| m.new_session(256)).collect();
        for (s, p) in ss.iter_mut().zip(&prompts) {
            pollster::block_on(m.append(s, p, false)).unwrap();
        }
        let mut got: Vec<Vec<f32>> = vec![vec![]; n];
        for k in 0..3 {
            let mut refs: Vec<&mut braid::session::Session> = ss.iter_mut().collect();
            let out = pollster::block_on(m.step_many(&mut refs, &steps.iter().map(|s| s[k]).collect::<Vec<_>>())).unwrap();
            for (i, o) in out.into_iter().enumerate() {
                got[i].extend(o);
            }
        }
        for i in 0..n {
            close(&got[i], &fresh(&m, &[prompts[i].clone(), steps[i].clone()].concat(), 3), &format!("{preset} session {i}"));
        }
    }
}

#[test]
fn bytes_per_token_count_only_the_used_experts() {
    let ctx = context();
    let m = model(&ctx, "tiny-granitehybrid-moe", "f32");
    let mut all = 0u64;
    let mut experts = 0u64;
    let mut used = 0u64;
    for l in &m.plan.layers {
        if let Some(f) = &l.ffn {
            if let Ffn::Moe(x) = &f.ffn {
                for t in [Some(x.up), x.gate, Some(x.down)].into_iter().flatten() {
                    let b = m.weights.tensors[t].gpu_bytes();
                    experts += b;
                    used += b * x.spec.k as u64 / x.spec.n_expert as u64;
                }
            }
        }
    }
    for i in m.plan.used() {
        all += m.weights.tensors[i].gpu_bytes();
    }
    // Matrices stacked at load (attention's q | k | v) follow the file's tensors; the stacked
    // originals hold no bytes any more.
    let stacked = &m.weights.tensors[m.weights.index.tensors.len()..];
    assert!(!stacked.is_empty());
    all += stacked.iter().map(|t| t.gpu_bytes()).sum::<u64>();
    let e = &m.weights.tensors[m.plan.token_embd];
    // tied output: the table is read whole by the LM head
    assert_eq!(m.plan.output, m.plan.token_embd);
    assert!(experts > 0 && used * 4 == experts, "top 2 of 8");
    assert_eq!(m.weight_bytes_per_token(), all - experts + used, "{}", e.info.name);
}
