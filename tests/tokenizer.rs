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

fn open_vocab(path: &std::path::Path) -> Tokenizer {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let len = f.metadata().unwrap().len();
    Tokenizer::from_index(&read_index(std::io::BufReader::new(f), Some(len)).unwrap()).unwrap()
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// Every token type decodes as llama.cpp's `llama_token_to_piece` decodes it, with and without
/// `special` (tests/fixtures/pieces, made by scripts/make_pieces_fixture.sh from real
/// vocabularies: every control, user-defined, unknown, unused and byte token and a sample of
/// normal ones) — user-defined tokens with non-ASCII text come back as their text.
#[test]
fn every_token_type_decodes_as_llama_cpp() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pieces");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 7);
    for f in files {
        let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let name = fx["vocab"].as_str().unwrap();
        let path = if name == "gemma3-270m" {
            let cache = std::env::var("BRAID_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/braid"));
            cache.join("gemma-3-270m-q4_k_m.gguf")
        } else {
            models_dir().join(format!("ggml-vocab-{name}.gguf"))
        };
        assert!(path.exists(), "{} is missing (scripts/real_gemma.sh / scripts/setup.sh)", path.display());
        let tok = open_vocab(&path);
        assert_eq!(tok.n_vocab() as u64, fx["n"].as_u64().unwrap(), "{name}");
        let mut bad = vec![];
        let rows = fx["tokens"].as_array().unwrap();
        for r in rows {
            let id = r[0].as_u64().unwrap() as u32;
            for (special, want) in [(false, unhex(r[2].as_str().unwrap())), (true, unhex(r[3].as_str().unwrap()))] {
                let got = tok.token_bytes_special(id, special);
                if got != want {
                    bad.push(format!("{name} token {id} (attr {}), special {special}: {:?} vs llama.cpp {:?}", r[1], String::from_utf8_lossy(&got), String::from_utf8_lossy(&want)));
                }
            }
        }
        assert!(bad.is_empty(), "{} of {} pieces differ, e.g.\n{}", bad.len(), 2 * rows.len(), bad[..bad.len().min(8)].join("\n"));
    }
}

/// Long inputs without spaces (16,000 times one letter, a base64 blob, minified code) give
/// llama.cpp's ids (tests/fixtures/pieces-long.json): one merge queue, not a rescan per merge
/// (the time is measured with `braid tokenize`, not asserted here).
#[test]
fn long_inputs_without_spaces_match_llama_cpp() {
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pieces-long.json")).unwrap()).unwrap();
    for c in cases.as_array().unwrap() {
        let v = c["vocab"].as_str().unwrap();
        let tok = open_vocab(&models_dir().join(format!("ggml-vocab-{v}.gguf")));
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, true);
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        assert!(got == want, "{v}: {} characters: {} ids vs llama.cpp's {}, first difference at {first:?}", text.len(), got.len(), want.len());
    }
}
