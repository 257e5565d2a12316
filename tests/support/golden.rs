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

pub fn all_goldens() -> Vec<Golden> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden");
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
