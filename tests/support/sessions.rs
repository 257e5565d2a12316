//! Helpers of the session tests: a native device, synthetic models, token lists, fresh-session
//! logits and a relative closeness check.
#![allow(dead_code)]

use std::rc::Rc;

use braid::gpu::{GpuContext, Requirements};
use braid::loader::StreamLoader;
use braid::model::forward::GpuModel;
use braid::synth::{write_model, SynthConfig, WeightType};

pub fn context() -> Rc<GpuContext> {
    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    Rc::new(pollster::block_on(GpuContext::new(&req)).expect("no WebGPU adapter (install mesa-vulkan-drivers)"))
}

pub fn model(ctx: &Rc<GpuContext>, preset: &str, ty: &str) -> GpuModel {
    let mut bytes = vec![];
    write_model(&SynthConfig::preset(preset).unwrap(), WeightType::parse(ty).unwrap(), 3, &mut bytes).unwrap();
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    pollster::block_on(l.feed(&bytes)).unwrap();
    GpuModel::new(l.finish().unwrap()).unwrap()
}

pub fn toks(n: usize, seed: u32, v: u32) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 7919 + seed * 104729 + 13) % v).collect()
}

/// Logits of the last `k` positions of a fresh session fed `all`.
pub fn fresh(m: &GpuModel, all: &[u32], k: usize) -> Vec<f32> {
    let mut s = m.new_session(256);
    let l = pollster::block_on(m.forward(&mut s, all, true)).unwrap();
    let v = m.hp.n_vocab as usize;
    l[(all.len() - k) * v..].to_vec()
}

pub fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let m = b.iter().fold(0f32, |x, y| x.max(y.abs()));
    let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(d <= 1e-4 * m, "{what}: {d} vs max {m}");
}

