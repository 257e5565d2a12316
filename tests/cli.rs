//! The `braid` binary: `inspect` on valid files (JSON shape) and on malformed ones (exit
//! status 2, a message, no panic, quickly), and `synth` for every preset shape.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;
use std::time::{Duration, Instant};

use braid::gguf::writer::GgufWriter;
use braid::gguf::{GgmlType, Value};
use braid::synth::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_braid");

fn tmp(name: &str) -> std::path::PathBuf {
    // Under the target directory (cargo's CARGO_TARGET_TMPDIR), not /tmp: nothing is left behind.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn valid_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("llama".into()));
    w.kv("tokenizer.ggml.tokens", Value::Array(braid::gguf::Array::String((0..100).map(|i| format!("t{i}")).collect())));
    w.kv("x.small", Value::Array(braid::gguf::Array::I32(vec![1, -2, 3])));
    w.tensor("a.weight", GgmlType::Q8_0, &[64, 3]);
    w.tensor("b", GgmlType::F32, &[5]);
    let mut rng = Rng::new(1);
    let a = rng.bytes(204);
    w.to_bytes(&[a, vec![0; 20]])
}

#[test]
fn inspect_json_has_the_documented_shape() {
    let p = tmp("valid.gguf");
    std::fs::write(&p, valid_file()).unwrap();
    let out = Command::new(BIN).args(["inspect", "--json"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["version"], 3);
    assert_eq!(j["metadata"]["general.architecture"], "llama");
    assert_eq!(j["metadata"]["tokenizer.ggml.tokens"], serde_json::json!({"type": "STRING", "len": 100}));
    assert_eq!(j["metadata"]["x.small"], serde_json::json!([1, -2, 3]));
    let t = &j["tensors"][0];
    assert_eq!((t["name"].as_str(), t["type"].as_str()), (Some("a.weight"), Some("Q8_0")));
    assert_eq!(t["shape"], serde_json::json!([64, 3]));
    assert_eq!((t["offset"].as_u64(), t["bytes"].as_u64()), (Some(0), Some(204)));
    assert_eq!(j["tensors"][1]["offset"].as_u64(), Some(224));
    // The plain table too.
    let out = Command::new(BIN).arg("inspect").arg(&p).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("a.weight"));
}

#[test]
fn inspect_rejects_malformed_files_with_status_2() {
    let good = valid_file();
    let mut rng = Rng::new(77);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("magic".into(), { let mut b = good.clone(); b[1] = 0; b }),
        ("version".into(), { let mut b = good.clone(); b[4] = 9; b }),
        ("tensor count".into(), { let mut b = good.clone(); b[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); b }),
        ("kv count".into(), { let mut b = good.clone(); b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes()); b }),
        ("key length".into(), { let mut b = good.clone(); b[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes()); b }),
        ("data cut".into(), good[..good.len() - 30].to_vec()),
    ];
    for i in 0..12 {
        let cut = rng.below(good.len() as u64 - 40) as usize;
        cases.push((format!("cut {i} at {cut}"), good[..cut].to_vec()));
    }
    for (name, bytes) in cases {
        let p = tmp("bad.gguf");
        std::fs::write(&p, &bytes).unwrap();
        let t0 = Instant::now();
        let out = Command::new(BIN).args(["inspect", "--json"]).arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: status {:?}, stderr {err}", out.status);
        assert!(err.starts_with("braid: "), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{name} took {:?}", t0.elapsed());
    }
    // A missing file is an error too, not a panic.
    let out = Command::new(BIN).args(["inspect", "/nonexistent/x.gguf"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn synth_writes_every_preset_and_inspect_reads_it() {
    for preset in ["tiny-llama", "tiny-mamba2", "tiny-granitehybrid", "tiny-falcon-h1", "tiny-lfm2"] {
        for ty in ["f32", "q8_0", "q4_k_m", "q6_k", "iq4_nl", "q2_k", "q3_k", "iq4_xs"] {
            let p = tmp(&format!("{preset}-{ty}.gguf"));
            let out = Command::new(BIN).args(["synth", "--preset", preset, "--type", ty, "-o"]).arg(&p).output().unwrap();
            assert!(out.status.success(), "{preset} {ty}: {}", String::from_utf8_lossy(&out.stderr));
            let out = Command::new(BIN).args(["inspect", "--json"]).arg(&p).output().unwrap();
            assert!(out.status.success(), "{preset} {ty}");
            let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let arch = j["metadata"]["general.architecture"].as_str().unwrap().to_string();
            assert!(preset.ends_with(&arch), "{preset}: {arch}");
            // Norms and convs stay F32; matrices take the asked type or its fallback.
            for t in j["tensors"].as_array().unwrap() {
                let name = t["name"].as_str().unwrap();
                if name.contains("norm") || name.contains("conv1d") || name.ends_with("shortconv.conv.weight") || name.ends_with("ssm_a") || name.ends_with(".bias") {
                    assert_eq!(t["type"], "F32", "{preset} {ty} {name}");
                }
            }
            std::fs::remove_file(&p).ok();
        }
    }
    let out = Command::new(BIN).args(["synth", "--preset", "nope", "-o", "/tmp/x.gguf"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn logits_and_generate_json_match_the_library() {
    // A golden model (llama.cpp's logits in tests/fixtures/golden): `braid logits --json`
    // must reproduce them within the forward-pass bound, batch and --sequential.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/tiny-granitehybrid-q8_0.twin.json")).unwrap();
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut bytes = vec![];
    braid::synth::write_model(&braid::synth::SynthConfig::preset("tiny-granitehybrid").unwrap(), braid::synth::WeightType::parse("q8_0").unwrap(), 7, &mut bytes).unwrap();
    let p = tmp("golden.gguf");
    std::fs::write(&p, &bytes).unwrap();
    let toks: Vec<String> = g["tokens"].as_array().unwrap().iter().map(|t| t.to_string()).collect();
    let toks = toks.join(",");
    for seq in [false, true] {
        let mut cmd = Command::new(BIN);
        cmd.args(["logits", "--json", "--tokens", &toks, "--model"]).arg(&p);
        if seq {
            cmd.arg("--sequential");
        }
        let out = cmd.env("NODEVICE_SELECT", "1").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["n_vocab"], g["n_vocab"]);
        let got = j["logits"].as_array().unwrap();
        let want = g["batch"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want) {
            let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
            let m = b.iter().map(|x| x.as_f64().unwrap().abs()).fold(0.0, f64::max);
            let d = a.iter().zip(b).map(|(x, y)| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs()).fold(0.0, f64::max);
            assert!(d <= 1e-3 * m, "sequential={seq}: {d} vs max {m}");
        }
    }
    let out = Command::new(BIN).args(["generate", "--json", "--greedy", "-n", "5", "--tokens", "1,2,3", "--model"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["tokens"].as_array().unwrap().len(), 5);
    // Bad token ids are an error with status 2, not a panic.
    let out = Command::new(BIN).args(["logits", "--tokens", "1,99999", "--model"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn run_script_reports_each_operation_and_continues_after_errors() {
    let mut bytes = vec![];
    braid::synth::write_model(&braid::synth::SynthConfig::preset("tiny-granitehybrid").unwrap(), braid::synth::WeightType::parse("q8_0").unwrap(), 7, &mut bytes).unwrap();
    let model = tmp("run.gguf");
    std::fs::write(&model, &bytes).unwrap();
    let blob = tmp("a.bin");
    let script = serde_json::json!([
        {"op": "new", "id": "a"},
        {"op": "append", "id": "a", "tokens": [1, 2, 3, 4, 5]},
        {"op": "fork", "from": "a", "id": "b"},
        {"op": "step", "ids": ["a", "b"], "tokens": [6, 6]},
        {"op": "save", "id": "a", "file": blob.to_str().unwrap()},
        {"op": "restore", "id": "c", "file": blob.to_str().unwrap()},
        {"op": "step", "ids": ["a", "c"], "tokens": [7, 7]},
        {"op": "rewind", "id": "a", "to": 3},
        {"op": "rewind", "id": "a", "to": 99},
        {"op": "append", "id": "nope", "tokens": [1]},
        {"op": "append", "id": "b", "tokens": [999999]},
        {"op": "memory", "id": "b"},
        {"op": "dispose", "id": "b"},
        {"op": "frobnicate"}
    ]);
    let sp = tmp("script.json");
    std::fs::write(&sp, script.to_string()).unwrap();
    let out = Command::new(BIN).args(["run", "--json", "--model"]).arg(&model).arg("--script").arg(&sp).env("NODEVICE_SELECT", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 14);
    assert_eq!(lines[1]["logits"].as_array().unwrap().len(), 5);
    let step = &lines[3]["logits"];
    assert_eq!(step[0], step[1], "a fork continues exactly like its parent");
    let step2 = &lines[6]["logits"];
    assert_eq!(step2[0], step2[1], "a restored session continues exactly like the original");
    assert_eq!(lines[7]["recomputed"].as_u64().map(|n| n <= 3), Some(true));
    for i in [8, 9, 10, 13] {
        assert!(lines[i]["error"]["code"].is_string(), "line {i}: {}", lines[i]);
    }
    assert!(lines[11]["recurrent"].as_u64().unwrap() > 0 && lines[11]["kv"].as_u64().unwrap() > 0);
}

/// The README's architecture table is the registry, row for row.
#[test]
fn readme_lists_the_registered_architectures() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme.split("<!-- architectures: begin -->").nth(1).unwrap().split("<!-- architectures: end -->").next().unwrap();
    let rows: Vec<String> = table.lines().filter(|l| l.starts_with("| `") && !l.contains("general.architecture")).map(str::to_string).collect();
    let want: Vec<String> = braid::model::arch::ARCHS.iter().map(|a| format!("| `{}` | {} |", a.name, a.about)).collect();
    assert_eq!(rows, want);
}

/// `braid plan` shows each layer's mixers and memory from the header; `braid diff` runs the
/// GPU forward and the CPU reference with every tap and finds them equal.
#[test]
fn plan_and_diff_show_layers_and_agreement() {
    let p = tmp("plan-nemotron.gguf");
    let out = Command::new(BIN).args(["synth", "--preset", "tiny-nemotron-h", "--type", "q8_0", "-o"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    let out = Command::new(BIN).args(["plan", "--json"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mixers: Vec<String> = j["layers"].as_array().unwrap().iter().map(|l| {
        l["mixers"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect::<Vec<_>>().join("+")
    }).collect();
    // the preset's pattern "M-M*-M"
    assert_eq!(mixers, ["mamba2", "", "mamba2", "attention", "", "mamba2"]);
    assert_eq!(j["layers"][1]["ffn"], "plain (ReLU²)");
    assert_eq!(j["layers"][1]["state_bytes"], 0);
    let out = Command::new(BIN).args(["diff", "--model"]).arg(&p).args(["--tokens", "1,2,3,250,7", "--json"]).env("NODEVICE_SELECT", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let taps: Vec<&str> = j["taps"].as_array().unwrap().iter().map(|t| t["tap"].as_str().unwrap()).collect();
    for name in ["inp_embd", "attn_norm-0", "ssm_out-0", "ffn_norm-1", "ffn_out-1", "attn_out-3", "l_out-5", "result_output"] {
        assert!(taps.contains(&name), "{name} in {taps:?}");
    }
    assert!(j["first_over"].is_null(), "{j}");
    // an unknown architecture: the typed code and the registry's list
    let q = tmp("plan-rwkv7.gguf");
    Command::new(BIN).args(["synth", "--preset", "tiny-llama", "--architecture", "rwkv7", "-o"]).arg(&q).output().unwrap();
    let out = Command::new(BIN).args(["plan"]).arg(&q).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UNSUPPORTED_ARCH") && err.contains("nemotron_h"), "{err}");
}

/// `braid tokenize` / `detokenize` / `template` from the shell: the ids llama.cpp gives (the
/// llama-bpe test vocabulary's own vectors), the text back, and a conversation with tools
/// rendered with the file's chat template (key order kept) and tokenized with its control
/// tokens.
#[test]
fn tokenize_detokenize_and_template_from_the_shell() {
    let vocab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/llama-ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf");
    let inp = std::fs::read_to_string(vocab.with_extension("gguf.inp")).unwrap();
    let outp = std::fs::read_to_string(vocab.with_extension("gguf.out")).unwrap();
    let (text, want) = inp.split("\n__ggml_vocab_test__\n").zip(outp.split('\n')).find(|(t, _)| t.len() > 20).unwrap();
    let out = Command::new(BIN).args(["tokenize", "--no-bos", "--model"]).arg(&vocab).arg(text).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(ids.replace(',', " "), want.trim());
    let out = Command::new(BIN).args(["detokenize", "--model"]).arg(&vocab).args(["--tokens", &ids]).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{text}\n"));

    let model = tmp("template-model.gguf");
    let st = Command::new(BIN).args(["synth", "--preset", "tiny-granitehybrid", "--type", "q8_0", "--chat-template", "-o"]).arg(&model).status().unwrap();
    assert!(st.success());
    let (m, t) = (tmp("messages.json"), tmp("tools.json"));
    std::fs::write(&m, r#"[{"role":"user","content":"Hi"}]"#).unwrap();
    std::fs::write(&t, r#"[{"type":"function","function":{"name":"f","description":"d"}}]"#).unwrap();
    let out = Command::new(BIN).args(["template", "--json", "--model"]).arg(&model).arg("--messages").arg(&m).arg("--tools").arg(&t).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "<|im_start|>user\nHi<|endoftext|>\n<|im_start|>assistant\n");
    assert!(v["ids"].as_array().unwrap().len() > 3);
    let bad = Command::new(BIN).args(["template", "--model"]).arg(&model).arg("--messages").arg(&t).arg("--vars").arg(&m).output().unwrap();
    assert!(!bad.status.success());
}

#[test]
fn bench_json_accounts_for_every_dispatch() {
    // `braid bench --profile --json`: two independent counts of the GPU work per decoded token
    // (the context's dispatch counter over the timed steps, and the profiler's per-kernel
    // table from separate steps) must agree; the shares must be the ratios they claim.
    let mut bytes = vec![];
    let cfg = braid::synth::SynthConfig::preset("tiny-granitehybrid").unwrap();
    braid::synth::write_model(&cfg, braid::synth::WeightType::parse("q4_k_m").unwrap(), 3, &mut bytes).unwrap();
    let p = tmp("bench.gguf");
    std::fs::write(&p, &bytes).unwrap();
    let out = Command::new(BIN).args(["bench", "--prompt-tokens", "9", "--gen-tokens", "3", "--profile", "--json", "--model"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} missing in {j}"));
    assert_eq!((f("prefill_tokens"), f("decode_tokens")), (9.0, 3.0));
    for k in ["prefill_tok_s", "decode_tok_s", "copy_gb_s", "read_gb_s", "weight_bytes_per_token"] {
        assert!(f(k) > 0.0 && f(k).is_finite(), "{k} = {}", f(k));
    }
    let eff = f("weight_bytes_per_token") * f("decode_tok_s") / 1e9;
    assert!((f("decode_effective_gb_s") - eff).abs() <= 1e-9 * eff.max(1.0));
    assert!((f("fraction_of_copy") - eff / f("copy_gb_s")).abs() < 1e-9);
    assert!((f("fraction_of_read") - eff / f("read_gb_s")).abs() < 1e-9);
    let steady = j["per_decoded_token"]["dispatches"].as_f64().unwrap();
    // Per layer: the file's block_count.
    let layers = cfg.n_layer as f64;
    assert_eq!(j["per_decoded_token"]["dispatches_per_layer"].as_f64(), Some(steady / layers), "{j}");
    assert_eq!(j["per_decoded_token"]["buffers_created"].as_f64(), Some(0.0), "{j}");
    assert_eq!(j["per_decoded_token"]["bind_groups_created"].as_f64(), Some(0.0), "{j}");
    let table = |k: &str| j["profile"][k].as_array().cloned().unwrap_or_default();
    let decode = table("decode_per_token");
    let sum: f64 = decode.iter().map(|k| k["dispatches"].as_f64().unwrap()).sum();
    assert!((sum - steady).abs() < 1e-9, "profile {sum} vs counter {steady} dispatches per decoded token");
    let share: f64 = decode.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "shares sum to {share}");
    assert!(decode.iter().any(|k| k["kernel"].as_str().is_some_and(|n| n.starts_with("matmul_") && n.contains(":matvec"))), "no matvec in {decode:?}");
    for k in &decode {
        let d = k["dispatches"].as_f64().unwrap();
        assert!(d >= 1.0 && d == d.round(), "{k}");
    }
    // Prefill: every kernel ran a whole number of times for the 9-token prompt.
    for k in table("prefill_per_token") {
        let d = k["dispatches"].as_f64().unwrap() * 9.0;
        assert!((d - d.round()).abs() < 1e-9 && d >= 1.0, "{k}");
    }
}
