//! Browser tests: headless Chromium's WebGPU (SwiftShader), through wasm-bindgen-test.
//! Run with `cargo test --target wasm32-unknown-unknown` (or `wasm-pack test --headless --chrome`).
#![cfg(target_arch = "wasm32")]

use braid::gguf::quant::dequantize;
use braid::gguf::writer::GgufWriter;
use braid::gguf::{parse_index, GgmlType, Value};
use braid::synth::{random_tensor_bytes, Rng};
use braid::web::{load_weights, wasm_memory_bytes, Weights};
use js_sys::{Array, Float32Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
// A Response whose body is generated on demand: head, then `chunk` n times, then tail.
// The bytes live in JS only; the consumer reads them like a download.
export function patternResponse(head, chunk, n, tail) {
  let i = -1;
  const stream = new ReadableStream({
    pull(c) {
      if (i < 0) c.enqueue(head.slice());
      else if (i < n) c.enqueue(chunk.slice());
      else { if (tail.length) c.enqueue(tail.slice()); c.close(); }
      i++;
    }
  });
  const total = head.length + n * chunk.length + tail.length;
  return new Response(stream, { headers: { 'content-length': String(total) } });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = patternResponse)]
    fn pattern_response(head: &Uint8Array, chunk: &Uint8Array, n: u32, tail: &Uint8Array) -> JsValue;
}

fn blob_url(parts: &Array) -> String {
    let blob = web_sys::Blob::new_with_u8_array_sequence(parts).unwrap();
    web_sys::Url::create_object_url_with_blob(&blob).unwrap()
}

async fn gpu_rows(w: &Weights, name: &str, r0: u64, r1: u64) -> Vec<f32> {
    let p: Promise = w.dequantize_rows(name.into(), r0 as f64, r1 as f64);
    let v = JsFuture::from(p).await.unwrap();
    v.unchecked_into::<Float32Array>().to_vec()
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = g == w || (g - w).abs() <= w.abs() * 1e-6 || (w.abs() < 1e-37 && g.abs() < 1e-37);
        assert!(ok, "{what}: element {i}: gpu {g}, cpu {w}");
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
async fn fetch_response_streams_every_type_into_gpu_buffers() {
    let mut rng = Rng::new(11);
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    let mut data = vec![];
    let mut want = vec![];
    for ty in GgmlType::all().filter(|t| t.is_supported()) {
        let bpr = if ty.block_size() == 1 { 37 } else { 3 };
        let (ne0, rows) = (bpr * ty.block_size(), 5);
        w.tensor(&format!("t.{}", ty.name()), ty, &[ne0, rows]);
        let mut b = vec![];
        random_tensor_bytes(ty, ne0 * rows, 0.5, &mut rng, &mut b);
        let mut v = vec![];
        dequantize(ty, &b, &mut v).unwrap();
        data.push(b);
        want.push(v);
    }
    let bytes = w.to_bytes(&data);
    // A real fetch() of a blob: URL: the Response body is a ReadableStream.
    let url = blob_url(&Array::of1(&Uint8Array::from(&bytes[..])));
    let progress = Array::new();
    let p2 = progress.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        p2.push(&e);
    });
    let opts = js_sys::Object::new();
    Reflect::set(&opts, &"onProgress".into(), cb.as_ref()).unwrap();
    let weights = load_weights(JsValue::from_str(&url), opts.into()).await.map_err(|e| format!("{e:?}")).unwrap();
    web_sys::Url::revoke_object_url(&url).unwrap();
    assert!(progress.length() >= 2);
    let last = progress.get(progress.length() - 1);
    assert_eq!(Reflect::get(&last, &"loaded".into()).unwrap().as_f64(), Some(bytes.len() as f64));
    let index = parse_index(&bytes).unwrap();
    assert_eq!(index.tensors.len(), 16);
    for (i, t) in index.tensors.iter().enumerate() {
        let got = gpu_rows(&weights, &t.name, 0, t.n_rows()).await;
        close(&got, &want[i], &t.name);
    }
    let info = weights.info();
    let tensors: Array = Reflect::get(&info, &"tensors".into()).unwrap().unchecked_into();
    assert_eq!(tensors.length(), 16);
    web_sys::console::log_1(&format!("adapter: {:?}", Reflect::get(&info, &"adapter".into()).unwrap()).into());
}

#[wasm_bindgen_test]
async fn malformed_and_truncated_files_reject_with_codes() {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    w.tensor("a", GgmlType::F32, &[8, 2]);
    let bytes = w.to_bytes(&[vec![0u8; 64]]);
    for (what, b) in [("bad magic", { let mut b = bytes.clone(); b[0] = b'X'; b }), ("truncated", bytes[..bytes.len() - 9].to_vec())] {
        let e = load_weights(Uint8Array::from(&b[..]).into(), JsValue::UNDEFINED).await.err().expect(what);
        assert_eq!(Reflect::get(&e, &"code".into()).unwrap().as_string().as_deref(), Some("GGUF_INVALID"), "{what}");
    }
    let e = load_weights(JsValue::from_f64(3.0), JsValue::UNDEFINED).await.err().unwrap();
    assert_eq!(Reflect::get(&e, &"code".into()).unwrap().as_string().as_deref(), Some("BAD_ARGUMENT"));
}

/// Streams a ≥ 256 MiB Response body in 1 MiB chunks (its bytes generated in JS, never in
/// wasm memory) and
/// reports parse + upload throughput and the wasm memory size after the load.
async fn big_load(ty: GgmlType, ne0: u64, rows: u64) {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    w.tensor("big.weight", ty, &[ne0, rows]);
    let head = w.header_bytes();
    let head_len = head.len();
    let spec = &w.tensors()[0];
    // One chunk of whole blocks, repeated: the file's data is this chunk N times.
    let blocks_per_chunk = (1u64 << 20) / ty.type_size();
    let mut chunk = vec![];
    random_tensor_bytes(ty, blocks_per_chunk * ty.block_size(), 1.0, &mut Rng::new(3), &mut chunk);
    let n_chunks = spec.n_bytes / chunk.len() as u64;
    let tail = (spec.n_bytes - n_chunks * chunk.len() as u64) as usize;
    let response = pattern_response(
        &Uint8Array::from(&head[..]),
        &Uint8Array::from(&chunk[..]),
        n_chunks as u32,
        &Uint8Array::from(&chunk[..tail]),
    );
    let size = head_len as u64 + spec.n_bytes;
    let t0 = now_ms();
    let weights = load_weights(response, JsValue::UNDEFINED).await.map_err(|e| format!("{e:?}")).unwrap();
    // Wait for the queue to drain: reading a row back does.
    let got = gpu_rows(&weights, "big.weight", rows - 1, rows).await;
    let secs = (now_ms() - t0) / 1000.0;
    let mem = wasm_memory_bytes();
    web_sys::console::log_1(&format!(
        "BRAID-BENCH browser load {}: {:.1} MiB in {:.2} s = {:.1} MB/s parse+upload; wasm memory after load {:.1} MiB",
        ty.name(), size as f64 / (1 << 20) as f64, secs, size as f64 / 1e6 / secs, mem / (1 << 20) as f64
    ).into());
    // Check the last row (it lies in the repeated pattern or the tail).
    let row_bytes = spec.n_bytes / rows;
    let start = (rows - 1) * row_bytes;
    let mut raw = vec![];
    for k in 0..row_bytes {
        let off = start + k;
        raw.push(chunk[(off % chunk.len() as u64) as usize]);
    }
    let mut want = vec![];
    dequantize(ty, &raw, &mut want).unwrap();
    close(&got, &want, "last row");
    assert!(size >= 256 << 20);
    assert!(mem < (64 << 20) as f64, "wasm memory grew to {mem} bytes");
}

#[wasm_bindgen_test]
async fn load_256_mib_f32_streaming() {
    big_load(GgmlType::F32, 4096, 16384).await;
}

#[wasm_bindgen_test]
async fn load_256_mib_q8_0_streaming() {
    big_load(GgmlType::Q8_0, 4096, 61700).await;
}

/// The forward pass on the browser's WebGPU (Tint compiles the kernels, SwiftShader runs
/// them) against llama.cpp's logits for hybrid models of every recurrent layer kind.
#[wasm_bindgen_test]
async fn forward_pass_matches_llama_cpp_in_the_browser() {
    use braid::loader::StreamLoader;
    use braid::model::forward::GpuModel;
    use braid::synth::{write_model, SynthConfig, WeightType};
    for (preset, ty, fixture) in [
        ("tiny-granitehybrid", "q8_0", include_str!("fixtures/golden/tiny-granitehybrid-q8_0.twin.json")),
        ("small-falcon-h1", "q4_k_m", include_str!("fixtures/golden/small-falcon-h1-q4_k_m.twin.json")),
        ("tiny-lfm2", "q8_0", include_str!("fixtures/golden/tiny-lfm2-q8_0.twin.json")),
        ("odd-nemotron-h", "q8_0", include_str!("fixtures/golden/odd-nemotron-h-q8_0.twin.json")),
        ("tiny-granitehybrid-moe", "q8_0", include_str!("fixtures/golden/tiny-granitehybrid-moe-q8_0.twin.json")),
        ("odd-nemotron-h-moe", "q8_0", include_str!("fixtures/golden/odd-nemotron-h-moe-q8_0.twin.json")),
        ("odd-qwen35", "q8_0", include_str!("fixtures/golden/odd-qwen35-q8_0.twin.json")),
        ("odd-qwen3next", "q8_0", include_str!("fixtures/golden/odd-qwen3next-q8_0.twin.json")),
        ("odd-jamba", "q8_0", include_str!("fixtures/golden/odd-jamba-q8_0.twin.json")),
        // Gemma 3: windows shorter than the 12 tokens (rings), GeGLU through f16, soft-capping
        ("odd-gemma3", "q8_0", include_str!("fixtures/golden/odd-gemma3-q8_0.twin.json")),
        ("tiny-gemma3", "q8_0", include_str!("fixtures/golden/tiny-gemma3-q8_0.twin.json")),
    ] {
        let g: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let mut bytes = vec![];
        write_model(&SynthConfig::preset(preset).unwrap(), WeightType::parse(ty).unwrap(), 7, &mut bytes).unwrap();
        let mut l = StreamLoader::new(Some(bytes.len() as u64), None);
        for c in bytes.chunks(1 << 16) {
            l.feed(c).await.unwrap();
        }
        let model = GpuModel::new(l.finish().unwrap()).unwrap();
        let ctx = model.ctx().clone();
        let tokens: Vec<u32> = g["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let v = model.hp.n_vocab as usize;
        // Every kernel family Tint must compile: the adapter's default choice, then the
        // workgroup-reduction matmul with the chunked scan, then subgroup matvec (if any).
        use braid::gpu::MatKernel;
        for (kernels, chunked) in [(None, None), (Some(MatKernel::Workgroup), Some(true)), (Some(MatKernel::Subgroup), Some(false))] {
            ctx.set_kernels(kernels);
            ctx.set_chunked_scan(chunked);
            let mut s = model.new_session(64);
            let got = model.forward(&mut s, &tokens, true).await.unwrap();
            for (row, want) in got.chunks(v).zip(g["batch"].as_array().unwrap()) {
                let want: Vec<f32> = want.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                let m = want.iter().fold(0f32, |a, x| a.max(x.abs()));
                let d = row.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(d <= 1e-3 * m, "{preset} {kernels:?}: {d} vs max {m}");
            }
            // Token by token too (the decode kernels).
            let mut s = model.new_session(64);
            for (i, &t) in tokens.iter().enumerate() {
                let row = model.forward(&mut s, &[t], false).await.unwrap();
                let want: Vec<f32> = g["seq"][i].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                let m = want.iter().fold(0f32, |a, x| a.max(x.abs()));
                let d = row.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(d <= 1e-3 * m, "{preset} {kernels:?} token {i}: {d} vs max {m}");
            }
        }
        web_sys::console::log_1(&format!("subgroups on this adapter: {}", ctx.subgroups).into());
    }
}

/// The session API JavaScript holds (`WasmModel`), in the browser: load, tokenize, append,
/// logits equal to llama.cpp's, sampling, fork / rewind / save / restore, and error codes.
#[wasm_bindgen_test]
async fn model_and_session_api_in_the_browser() {
    use braid::synth::{write_model, SynthConfig, WeightType};
    use braid::web::session_api::WasmModel;
    let code = |e: JsValue| Reflect::get(&e, &"code".into()).unwrap().as_string().unwrap_or_default();
    let g: serde_json::Value = serde_json::from_str(include_str!("fixtures/golden/tiny-granitehybrid-q8_0.twin.json")).unwrap();
    let mut bytes = vec![];
    write_model(&SynthConfig::preset("tiny-granitehybrid").unwrap(), WeightType::parse("q8_0").unwrap(), 7, &mut bytes).unwrap();
    let m = WasmModel::load(Uint8Array::from(&bytes[..]).into(), JsValue::UNDEFINED).await.map_err(|e| format!("{e:?}")).unwrap();
    let info = m.info();
    assert_eq!(Reflect::get(&info, &"architecture".into()).unwrap().as_string().as_deref(), Some("granitehybrid"));
    // tokenizer round trip on the synthetic vocabulary
    let ids = m.tokenize("the hybrid model", false, false).unwrap().to_vec();
    assert_eq!(m.detokenize(&ids, false).unwrap(), "the hybrid model");
    assert_eq!(code(m.detokenize(&[999_999], false).unwrap_err()), "BAD_ARGUMENT");

    let tokens: Vec<u32> = g["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    let s = m.create_session(0).unwrap();
    JsFuture::from(m.append(s, tokens.clone(), true)).await.unwrap();
    let logits = m.logits(s).unwrap().to_vec();
    let want: Vec<f32> = g["batch"].as_array().unwrap().last().unwrap().as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let mx = want.iter().fold(0f32, |a, x| a.max(x.abs()));
    assert!(logits.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-3 * mx));
    // greedy sampling = argmax; a step advances the session
    let greedy = js_sys::Object::new();
    Reflect::set(&greedy, &"temperature".into(), &0.0.into()).unwrap();
    let next = m.sample_next(s, greedy.clone().into()).unwrap();
    assert_eq!(next, braid::sample::argmax(&logits));
    JsFuture::from(m.step(s, next)).await.unwrap();
    assert_eq!(m.length(s).unwrap() as usize, tokens.len() + 1);
    // fork, rewind, save/restore
    let f = m.fork(s).unwrap();
    let recomputed = JsFuture::from(m.rewind(s, tokens.len() as f64)).await.unwrap().as_f64().unwrap();
    assert!(recomputed <= 1.0);
    let after_rewind = m.logits(s).unwrap().to_vec();
    assert!(after_rewind.iter().zip(&logits).all(|(a, b)| (a - b).abs() <= 1e-4 * mx), "rewind restores the last logits");
    let blob: Uint8Array = JsFuture::from(m.save(f)).await.unwrap().unchecked_into();
    let r = JsFuture::from(m.restore(blob.to_vec())).await.unwrap().as_f64().unwrap() as u32;
    assert_eq!(m.tokens(r).unwrap().to_vec(), m.tokens(f).unwrap().to_vec());
    let mut tampered = blob.to_vec();
    tampered[30] ^= 0xff;
    assert_eq!(code(JsFuture::from(m.restore(tampered)).await.unwrap_err()), "STATE_MISMATCH");
    // bad arguments and disposed sessions
    let bad = js_sys::Object::new();
    Reflect::set(&bad, &"topP".into(), &2.0.into()).unwrap();
    assert_eq!(code(m.sample_next(s, bad.into()).unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(JsFuture::from(m.append(s, vec![999_999], true)).await.unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(JsFuture::from(m.rewind(s, -1.0)).await.unwrap_err()), "BAD_ARGUMENT");
    assert!(m.dispose_session(f));
    assert_eq!(code(JsFuture::from(m.append(f, vec![1], true)).await.unwrap_err()), "SESSION_DISPOSED");
    let mem = m.memory(s).unwrap();
    assert!(Reflect::get(&mem, &"recurrent".into()).unwrap().as_f64().unwrap() > 0.0);
    m.dispose();
    assert!(m.create_session(0).is_err());
}
