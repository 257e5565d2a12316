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

fn longs() -> Vec<Long> {
    longs_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-long"))
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
    let all = longs();
    assert!(all.iter().any(|l| l.preset.contains("qwen3")), "no DeltaNet long goldens");
    for l in &all {
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
        let e = rel(&logits, &l.batch);
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
    let all = longs_in(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-rope"));
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
