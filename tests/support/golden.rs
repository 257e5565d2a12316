//! Loading the llama.cpp golden fixtures and rebuilding the models they were made on.
#![allow(dead_code)]

use braid::synth::{write_model, SynthConfig, WeightType};

pub struct Golden {
    pub name: String,
    pub preset: String,
    pub ty: String,
    pub twin: bool,
    pub hash: String,
    pub tokens: Vec<u32>,
    pub batch: Vec<Vec<f32>>,
    pub seq: Vec<Vec<f32>>,
}

pub fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

impl Golden {
    /// A quantized file (compared loosely: llama.cpp quantizes activations there).
    pub fn quantized(&self) -> bool {
        self.ty != "f32" && !self.twin
    }

    /// The loose tolerance for a quantized file: 7% of max|logit|, or, where llama.cpp's own
    /// activation quantization moves it further from its exact-F32 twin (a mixture of experts
    /// can route a token to other experts), 1.1 × that distance. Braid computes the exact
    /// dequantized product, so it sits at the twin.
    pub fn quantized_tolerance(&self, all: &[Golden]) -> f32 {
        let Some(twin) = all.iter().find(|g| g.twin && g.preset == self.preset && g.ty == self.ty) else { return 0.07 };
        let gap = self
            .batch
            .iter()
            .zip(&twin.batch)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / max_abs(b))
            .fold(0f32, f32::max);
        0.07f32.max(1.1 * gap + 1e-3)
    }
    /// Rebuild the exact file llama.cpp ran on; fails loudly if `braid synth` changed.
    pub fn model_bytes(&self) -> Vec<u8> {
        let cfg = SynthConfig::preset(&self.preset).unwrap();
        let mut bytes = vec![];
        write_model(&cfg, WeightType::parse(&self.ty).unwrap(), 7, &mut bytes).unwrap();
        if self.twin {
            let mut twin = vec![];
            let len = bytes.len() as u64;
            braid::gguf::twin::write_f32_twin(&mut std::io::Cursor::new(bytes), len, &mut twin).unwrap();
            bytes = twin;
        }
        assert_eq!(
            format!("{:016x}", fnv1a64(&bytes)), self.hash,
            "{}: the synthetic model differs from the one the golden was made on; rerun scripts/make_goldens.sh",
            self.name
        );
        bytes
    }
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

/// llama.cpp's logits with an F32 KV cache (tests/fixtures/golden).
pub fn all_goldens() -> Vec<Golden> {
    goldens_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden"))
}

/// The goldens for the KV cache models loaded on `ctx` will have: with F16 caches
/// (`GpuContext::kv_f16`: GPUs with shader-f16, or `BRAID_F16=1`), llama.cpp's logits with its
/// F16 cache where the model has attention (`<dir>-f16kv/`, `GOLDEN_KV=f16
/// scripts/make_goldens.sh`); models without attention keep no KV, so the F32 figures hold.
pub fn all_goldens_for(ctx: &braid::gpu::GpuContext) -> Vec<Golden> {
    let mut all = all_goldens();
    if ctx.kv_f16() {
        let f16: Vec<Golden> = goldens_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-f16kv"));
        assert!(f16.len() >= 100, "golden-f16kv fixtures missing: rerun GOLDEN_KV=f16 scripts/make_goldens.sh");
        for g in &mut all {
            if let Some(h) = f16.iter().find(|h| h.name == g.name) {
                assert_eq!((&h.hash, &h.tokens), (&g.hash, &g.tokens), "{}: F16-cache golden of another file", g.name);
                g.batch = h.batch.clone();
                g.seq = h.seq.clone();
            }
        }
    }
    all
}

/// The KV cache a model loaded on `ctx` has is the one `all_goldens_for(ctx)` assumes.
pub fn assert_cache_as_goldens(ctx: &braid::gpu::GpuContext, m: &braid::model::forward::GpuModel) {
    assert_eq!(m.memory_layout().kv_f16, ctx.kv_f16(), "the model's KV cache type");
}

fn goldens_in(dir: &str) -> Vec<Golden> {
    let mut out = vec![];
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let file = j["file"].as_str().unwrap().to_string();
        let stem = file.trim_end_matches(".gguf");
        let twin = stem.ends_with(".twin");
        let base = stem.trim_end_matches(".twin");
        let (preset, ty) = base.rsplit_once('-').unwrap();
        // "q4_k_m" contains no '-', "tiny-llama" does: split at the last '-'.
        out.push(Golden {
            name: stem.to_string(),
            preset: preset.to_string(),
            ty: ty.to_string(),
            twin,
            hash: j["fnv1a64"].as_str().unwrap().to_string(),
            tokens: j["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect(),
            batch: rows(&j["batch"]),
            seq: rows(&j["seq"]),
        });
    }
    out
}
