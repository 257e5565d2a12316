//! Tokenizers against llama.cpp's own test vectors (`models/ggml-vocab-*.gguf` with
//! `.inp`/`.out`, from the llama.cpp source bundled in node-llama-cpp, fetched into
//! target/llama-ref by scripts/setup.sh).
#![cfg(not(target_arch = "wasm32"))]

use braid::gguf::read_index;
use braid::tokenizer::{StreamDecoder, Tokenizer};

fn models_dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/llama-ref/llama.cpp/models");
    assert!(d.exists(), "{} is missing: run scripts/setup.sh (it fetches llama.cpp's vocab test files)", d.display());
    d
}

fn check(name: &str) -> (usize, usize) {
    let dir = models_dir();
    let path = dir.join(format!("ggml-vocab-{name}.gguf"));
    let f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let index = read_index(std::io::BufReader::new(f), Some(len)).unwrap();
    let tok = Tokenizer::from_index(&index).unwrap();
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).unwrap();
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).unwrap();
    let texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let want: Vec<Vec<u32>> = out.split('\n').map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect()).collect();
    let mut ok = 0;
    let mut bad = vec![];
    for (i, text) in texts.iter().enumerate() {
        let got = tok.encode(text, false);
        if got == want[i] {
            ok += 1;
        } else {
            bad.push(format!("{text:?}: got {got:?}, llama.cpp {:?}", want[i]));
        }
        // Streaming detokenization reproduces what one-shot decoding gives.
        let mut sd = StreamDecoder::default();
        let streamed: String = want[i].iter().map(|&t| sd.push(&tok, t)).collect::<String>() + &sd.finish();
        assert_eq!(streamed, tok.decode(&want[i]), "{name}: stream decode of {text:?}");
    }
    for b in bad.iter().take(5) {
        eprintln!("{name}: {b}");
    }
    (ok, texts.len())
}

#[test]
fn llama_bpe_matches_llama_cpp() {
    let (ok, n) = check("llama-bpe");
    assert_eq!(ok, n, "llama-bpe: {ok}/{n}");
}

#[test]
fn gpt2_matches_llama_cpp() {
    let (ok, n) = check("gpt-2");
    assert_eq!(ok, n, "gpt-2: {ok}/{n}");
}

#[test]
fn llama_spm_matches_llama_cpp() {
    let (ok, n) = check("llama-spm");
    assert_eq!(ok, n, "llama-spm: {ok}/{n}");
}

#[test]
fn qwen2_and_qwen35_match_llama_cpp() {
    for name in ["qwen2", "qwen35"] {
        let (ok, n) = check(name);
        assert_eq!(ok, n, "{name}: {ok}/{n}");
    }
}

#[test]
fn mpt_and_gpt_neox_match_llama_cpp() {
    for name in ["mpt"] {
        let (ok, n) = check(name);
        assert_eq!(ok, n, "{name}: {ok}/{n}");
    }
}

#[test]
fn control_tokens_are_matched_only_when_asked() {
    let dir = models_dir();
    let path = dir.join("ggml-vocab-llama-bpe.gguf");
    let f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let tok = Tokenizer::from_index(&read_index(std::io::BufReader::new(f), Some(len)).unwrap()).unwrap();
    let bot = tok.tokens.iter().position(|t| t == "<|begin_of_text|>").unwrap() as u32;
    let with = tok.encode_with("<|begin_of_text|>Hello", false, true);
    assert_eq!(with[0], bot);
    assert_eq!(tok.decode(&with[1..]), "Hello");
    let without = tok.encode_with("<|begin_of_text|>Hello", false, false);
    assert!(!without.contains(&bot));
    assert_eq!(tok.decode(&without), "<|begin_of_text|>Hello");
    // BOS is added when the vocabulary asks for it.
    if tok.add_bos {
        assert_eq!(tok.encode("Hi", true)[0], tok.bos.unwrap());
    }
    // A multi-byte character split across tokens comes out whole when streaming.
    let ids = tok.encode("½ 🦙 ü", false);
    let mut sd = StreamDecoder::default();
    let parts: Vec<String> = ids.iter().map(|&i| sd.push(&tok, i)).collect();
    assert!(parts.iter().all(|p| std::str::from_utf8(p.as_bytes()).is_ok() && !p.contains('\u{FFFD}')));
    assert_eq!(parts.concat() + &sd.finish(), "½ 🦙 ü");
}

#[test]
fn llama_bpe_matches_an_independent_tokenizer_on_random_text() {
    // tests/fixtures/tokenizer_random_llama3.json: llama3-tokenizer-js's ids for random texts
    // (scripts/make_tokenizer_fixture.mjs).
    let dir = models_dir();
    let path = dir.join("ggml-vocab-llama-bpe.gguf");
    let f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let tok = Tokenizer::from_index(&read_index(std::io::BufReader::new(f), Some(len)).unwrap()).unwrap();
    let cases: serde_json::Value = serde_json::from_str(include_str!("fixtures/tokenizer_random_llama3.json")).unwrap();
    let mut bad = 0;
    for c in cases.as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, false);
        if got != want {
            bad += 1;
            eprintln!("{text:?}: braid {got:?}, llama3-tokenizer-js {want:?}");
        }
        assert_eq!(tok.decode(&got), text, "round trip");
    }
    assert_eq!(bad, 0, "{bad} of {} random texts differ", cases.as_array().unwrap().len());
}
