//! Files as real converters write them (tests/fixtures/converted, made by
//! scripts/make_converted.sh): tiny random-weight Hugging Face checkpoints with the real
//! configs' features of each architecture, converted by llama.cpp's convert_hf_to_gguf.py,
//! against llama.cpp's logits on the same files (as one batch and token by token) and its
//! token ids for tests/fixtures/converted/sample.txt. Quantized files: tight against llama.cpp
//! on their exact-F32 twins, loose against llama.cpp on the files themselves (it quantizes
//! activations), as tests/golden.rs and tests/gpu_forward.rs.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use braid::gguf::read_index;
use braid::gpu::{GpuContext, Requirements};
use braid::loader::StreamLoader;
use braid::model::forward::GpuModel;
use braid::model::reference::RefModel;
use braid::tokenizer::Tokenizer;

const BIN: &str = env!("CARGO_BIN_EXE_braid");

struct Converted {
    name: String,
    path: PathBuf,
    hash: String,
    tokens: Vec<u32>,
    batch: Vec<Vec<f32>>,
    seq: Vec<Vec<f32>>,
    /// Quantized files: llama.cpp on the exact-F32 twin, and the twin's hash.
    twin: Option<(String, Vec<Vec<f32>>, Vec<Vec<f32>>)>,
    sample_ids: Vec<u32>,
}

impl Converted {
    fn bytes(&self) -> Vec<u8> {
        let b = std::fs::read(&self.path).unwrap();
        assert_eq!(format!("{:016x}", fnv1a64(&b)), self.hash, "{}: the file differs from the one its golden was made on", self.name);
        b
    }
    fn twin_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let (hash, _, _) = self.twin.as_ref().unwrap();
        let mut twin = vec![];
        braid::gguf::twin::write_f32_twin(&mut std::io::Cursor::new(bytes), bytes.len() as u64, &mut twin).unwrap();
        assert_eq!(&format!("{:016x}", fnv1a64(&twin)), hash, "{}: the F32 twin differs from llama.cpp's", self.name);
        twin
    }
    /// The loose tolerance on a quantized file itself: 7% of max|logit|, or 1.1 × how far
    /// llama.cpp's own activation quantization moves it from the exact twin.
    fn quantized_tolerance(&self) -> f32 {
        let (_, tb, _) = self.twin.as_ref().unwrap();
        0.07f32.max(1.1 * rel_err(&self.batch, tb) + 1e-3)
    }
}

fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// max |a - b| relative to max |b|, over every position. A row llama.cpp computes as all
/// zeros (a padding token's zero embedding through a layer stack without biases) is compared
/// against 1e-3 instead.
fn rel_err(got: &[Vec<f32>], want: &[Vec<f32>]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            assert_eq!(g.len(), w.len());
            let d = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            d / max_abs(w).max(1e-3)
        })
        .fold(0f32, f32::max)
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converted")
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect()
}

fn all() -> Vec<Converted> {
    let mut names: Vec<_> = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    names.sort();
    let out: Vec<Converted> = names
        .iter()
        .map(|p| {
            let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            let file = j["file"].as_str().unwrap();
            Converted {
                name: file.trim_end_matches(".gguf").to_string(),
                path: dir().join(file),
                hash: j["fnv1a64"].as_str().unwrap().to_string(),
                tokens: ids(&j["tokens"]),
                batch: rows(&j["batch"]),
                seq: rows(&j["seq"]),
                twin: j.get("twin_batch").map(|b| (j["twin_fnv1a64"].as_str().unwrap().to_string(), rows(b), rows(&j["twin_seq"]))),
                sample_ids: ids(&j["sample_ids"]),
            }
        })
        .collect();
    assert!(out.len() >= 17, "{} converted fixtures", out.len());
    out
}

#[test]
fn reference_forward_matches_llama_cpp_on_converted_files() {
    for c in all() {
        let bytes = c.bytes();
        let model = RefModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: [{}] {e}", c.name, e.code()));
        let mut st = model.new_state();
        let logits = model.eval(&mut st, &c.tokens);
        let (eb, es) = (rel_err(&logits, &c.batch), rel_err(&logits, &c.seq));
        let tol = if c.twin.is_some() { c.quantized_tolerance() } else { 1e-3 };
        eprintln!("{:<32} batch {eb:.2e} seq {es:.2e} (tol {tol:.0e})", c.name);
        assert!(eb <= tol && es <= tol, "{}: batch {eb}, seq {es}", c.name);
        if c.twin.is_some() {
            let (_, tb, ts) = c.twin.as_ref().unwrap();
            let model = RefModel::from_bytes(&c.twin_bytes(&bytes)).unwrap();
            let mut st = model.new_state();
            let logits = model.eval(&mut st, &c.tokens);
            let (eb, es) = (rel_err(&logits, tb), rel_err(&logits, ts));
            eprintln!("{:<32} twin: batch {eb:.2e} seq {es:.2e}", c.name);
            assert!(eb <= 1e-3 && es <= 1e-3, "{} twin: batch {eb}, seq {es}", c.name);
        }
    }
}

fn context() -> Rc<GpuContext> {
    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    Rc::new(pollster::block_on(GpuContext::new(&req)).expect("no WebGPU adapter (install mesa-vulkan-drivers)"))
}

fn load(ctx: &Rc<GpuContext>, bytes: &[u8]) -> Result<GpuModel, String> {
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    for c in bytes.chunks(1 << 16) {
        pollster::block_on(l.feed(c)).map_err(|e| format!("{e}"))?;
    }
    GpuModel::new(l.finish().map_err(|e| format!("{e}"))?).map_err(|e| format!("{e}"))
}

fn split(v: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
    v.chunks(n).map(|c| c.to_vec()).collect()
}

/// [`all`] with llama.cpp's figures for the KV cache models on `ctx` get: with F16 caches
/// (GPUs with shader-f16, or `BRAID_F16=1`), those made with its F16 cache
/// (tests/fixtures/converted-f16kv, `GOLDEN_KV=f16 scripts/make_goldens.sh`) for the files with
/// attention.
fn all_for(ctx: &GpuContext) -> Vec<Converted> {
    let mut all = all();
    if ctx.kv_f16() {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converted-f16kv");
        let mut n = 0;
        for c in &mut all {
            let Ok(text) = std::fs::read_to_string(d.join(format!("{}.json", c.name))) else { continue };
            let j: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!((j["fnv1a64"].as_str().unwrap(), ids(&j["tokens"])), (c.hash.as_str(), c.tokens.clone()), "{}: F16-cache golden of another file", c.name);
            c.batch = rows(&j["batch"]);
            c.seq = rows(&j["seq"]);
            if let Some((_, tb, ts)) = &mut c.twin {
                *tb = rows(&j["twin_batch"]);
                *ts = rows(&j["twin_seq"]);
            }
            n += 1;
        }
        assert!(n >= 10, "converted-f16kv fixtures missing: rerun GOLDEN_KV=f16 scripts/make_goldens.sh");
    }
    all
}

#[test]
fn gpu_forward_matches_llama_cpp_on_converted_files_batch_and_sequential() {
    let ctx = context();
    for c in all_for(&ctx) {
        let bytes = c.bytes();
        let model = load(&ctx, &bytes).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(model.memory_layout().kv_f16, ctx.kv_f16(), "{}: the KV cache type", c.name);
        let v = model.hp.n_vocab as usize;
        let mut s = model.new_session(64);
        let batch = split(pollster::block_on(model.forward(&mut s, &c.tokens, true)).unwrap(), v);
        let mut s2 = model.new_session(64);
        let mut seq = vec![];
        for &t in &c.tokens {
            seq.extend(pollster::block_on(model.forward(&mut s2, &[t], false)).unwrap());
        }
        let seq = split(seq, v);
        let tol = if c.twin.is_some() { c.quantized_tolerance() } else { 1e-3 };
        let (eb, es) = (rel_err(&batch, &c.batch), rel_err(&seq, &c.seq));
        let self_diff = rel_err(&batch, &seq);
        eprintln!("{:<32} batch {eb:.2e} seq {es:.2e} batch-vs-seq {self_diff:.2e} (tol {tol:.0e})", c.name);
        assert!(eb <= tol && es <= tol, "{}: batch {eb}, seq {es}", c.name);
        assert!(self_diff <= 1e-3, "{}: batch vs sequential {self_diff}", c.name);
        if let Some((_, tb, ts)) = &c.twin {
            // The quantized file itself against llama.cpp on its exact-F32 twin.
            let (eb, es) = (rel_err(&batch, tb), rel_err(&seq, ts));
            eprintln!("{:<32} vs twin: batch {eb:.2e} seq {es:.2e}", c.name);
            assert!(eb <= 1e-3 && es <= 1e-3, "{} vs twin: batch {eb}, seq {es}", c.name);
        }
    }
}

#[test]
fn tokenizers_of_converted_files_match_llama_cpp() {
    let text = std::fs::read_to_string(dir().join("sample.txt")).unwrap();
    let mut bad = vec![];
    for c in all() {
        let bytes = c.bytes();
        let index = read_index(&bytes[..], Some(bytes.len() as u64)).unwrap();
        let tok = Tokenizer::from_index(&index).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        // llama_tokenize(add_special = true, parse_special = false), as llama_ref does.
        let got = tok.encode(&text, true);
        if got != c.sample_ids {
            let at = got.iter().zip(&c.sample_ids).position(|(a, b)| a != b).unwrap_or(got.len().min(c.sample_ids.len()));
            eprintln!("{}: token ids differ from position {at}: braid {:?}, llama.cpp {:?}", c.name,
                      &got[at..(at + 12).min(got.len())], &c.sample_ids[at..(at + 12).min(c.sample_ids.len())]);
            bad.push(c.name.clone());
            continue;
        }
        // Decoding gives the text back (byte-level BPE; SentencePiece files lose nothing either
        // here: the text has no leading space to strip).
        let body = if got.first() == tok_bos(&index).as_ref() { &got[1..] } else { &got[..] };
        assert_eq!(tok.decode(body), text, "{}: decode", c.name);
    }
    assert!(bad.is_empty(), "token ids differ from llama.cpp's: {bad:?}");
}

fn tok_bos(index: &braid::gguf::GgufIndex) -> Option<u32> {
    index.get("tokenizer.ggml.bos_token_id").and_then(|v| v.as_u64()).map(|v| v as u32)
}

#[test]
fn braid_plan_accepts_every_converted_file() {
    for c in all() {
        let out = Command::new(BIN).arg("plan").arg(&c.path).env("NODEVICE_SELECT", "1").output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: braid plan failed: {}{}", c.name, s, String::from_utf8_lossy(&out.stderr));
        assert!(s.contains("layers"), "{}: {s}", c.name);
    }
}

#[test]
fn a_valid_shape_braid_does_not_run_is_a_typed_unsupported_error() {
    // The converted Jamba file with ssm.time_step_rank (ceil(n_embd / 16) in real files: any
    // number) set to 2: llama.cpp runs it, Braid's Mamba-1 kernels want multiples of 4.
    let c = all().into_iter().find(|c| c.name.starts_with("jamba-")).unwrap();
    let mut bytes = c.bytes();
    let key = b"jamba.ssm.time_step_rank";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_eq!(&bytes[at..at + 4], &4u32.to_le_bytes(), "GGUF type u32");
    bytes[at + 4..at + 8].copy_from_slice(&2u32.to_le_bytes());
    let e = RefModel::from_bytes(&bytes).err().expect("refused");
    assert_eq!(e.code(), "UNSUPPORTED_ARCH", "{e}");
    assert!(e.to_string().contains("dt_rank 2"), "{e}");
}
