//! The JavaScript API (wasm-bindgen). The only module that knows about JavaScript.
//!
//! Errors reach JS as `Error` objects with a stable `code` property (`GGUF_INVALID`,
//! `UNSUPPORTED_TYPE`, `DEVICE_LIMITS`, `DEVICE_LOST`, `NO_WEBGPU`, `ABORTED`, `BAD_ARGUMENT`).

use std::rc::Rc;

pub mod session_api;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::gguf::{GgufParser, GgufIndex, Value};
use crate::gpu::kernels::dequantize_rows;
use crate::loader::{LoadError, LoadedWeights, StreamLoader};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A JS `Error` with a stable `code`.
pub fn js_error(code: &str, msg: &str) -> JsValue {
    let e = js_sys::Error::new(msg);
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

pub(crate) fn load_error(e: LoadError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

async fn call_fetch(arg: &JsValue) -> Result<JsValue, JsValue> {
    let global = js_sys::global();
    let fetch: Function = get(&global, "fetch")
        .dyn_into()
        .map_err(|_| js_error("BAD_ARGUMENT", "fetch is not available in this context"))?;
    let p: Promise = fetch
        .call1(&global, arg)?
        .dyn_into()
        .map_err(|_| js_error("GGUF_INVALID", "fetch did not return a promise"))?;
    JsFuture::from(p).await.map_err(|e| js_error("GGUF_INVALID", &format!("download failed: {}", describe(&e))))
}

fn describe(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| get(v, "message").as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}

/// A source (URL string | Request | Response | ReadableStream | Blob/File | ArrayBuffer |
/// typed array) as a byte stream and its total size when known.
async fn open_source(source: &JsValue) -> Result<(web_sys::ReadableStream, Option<u64>), JsValue> {
    let mut source = source.clone();
    if source.is_string() || source.is_instance_of::<web_sys::Request>() {
        source = call_fetch(&source).await?;
    }
    if let Some(resp) = source.dyn_ref::<web_sys::Response>() {
        if !resp.ok() {
            return Err(js_error("GGUF_INVALID", &format!("download failed: HTTP {}", resp.status())));
        }
        let total = resp
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u64>().ok())
            // A compressed transfer's length is not the file's.
            .filter(|_| resp.headers().get("content-encoding").ok().flatten().is_none());
        let body = resp.body().ok_or_else(|| js_error("GGUF_INVALID", "the response has no body"))?;
        return Ok((body, total));
    }
    if let Some(stream) = source.dyn_ref::<web_sys::ReadableStream>() {
        return Ok((stream.clone(), None));
    }
    if let Some(blob) = source.dyn_ref::<web_sys::Blob>() {
        return Ok((blob.stream(), Some(blob.size() as u64)));
    }
    if source.is_instance_of::<js_sys::ArrayBuffer>() || ArrayBufferView::is(&source) {
        let parts = js_sys::Array::of1(&source);
        let blob = web_sys::Blob::new_with_u8_array_sequence(&parts)?;
        return Ok((blob.stream(), Some(blob.size() as u64)));
    }
    Err(js_error(
        "BAD_ARGUMENT",
        "source must be a URL string, Request, Response, ReadableStream, Blob/File, ArrayBuffer or typed array",
    ))
}

struct ArrayBufferView;
impl ArrayBufferView {
    fn is(v: &JsValue) -> bool {
        js_sys::ArrayBuffer::is_view(v)
    }
}

/// Reads a stream chunk by chunk into one reused buffer.
struct ChunkReader {
    reader: web_sys::ReadableStreamDefaultReader,
    buf: Vec<u8>,
}

impl ChunkReader {
    fn new(stream: &web_sys::ReadableStream) -> ChunkReader {
        ChunkReader { reader: stream.get_reader().unchecked_into(), buf: Vec::new() }
    }
    async fn next(&mut self) -> Result<Option<&[u8]>, JsValue> {
        let r = JsFuture::from(self.reader.read())
            .await
            .map_err(|e| js_error("GGUF_INVALID", &format!("reading the model failed: {}", describe(&e))))?;
        if get(&r, "done").as_bool().unwrap_or(false) {
            return Ok(None);
        }
        let chunk: Uint8Array = get(&r, "value")
            .dyn_into()
            .map_err(|_| js_error("BAD_ARGUMENT", "the stream must yield Uint8Array chunks"))?;
        let n = chunk.length() as usize;
        self.buf.resize(n, 0);
        chunk.copy_to(&mut self.buf[..n]);
        Ok(Some(&self.buf[..n]))
    }
    fn cancel(&self) {
        let _ = self.reader.cancel();
    }
}

fn progress(cb: &Option<Function>, phase: &str, loaded: u64, total: Option<u64>) {
    if let Some(f) = cb {
        let o = Object::new();
        let _ = Reflect::set(&o, &"phase".into(), &phase.into());
        let _ = Reflect::set(&o, &"loaded".into(), &(loaded as f64).into());
        let _ = Reflect::set(&o, &"total".into(), &total.map_or(JsValue::NULL, |t| (t as f64).into()));
        let _ = f.call1(&JsValue::NULL, &o);
    }
}

fn aborted(signal: &JsValue) -> bool {
    !signal.is_undefined() && !signal.is_null() && get(signal, "aborted").as_bool().unwrap_or(false)
}

/// The architectures Braid runs (`general.architecture` names) with a line about each:
/// `[{ name, about }]`.
#[wasm_bindgen(js_name = supportedArchitectures)]
pub fn supported_architectures() -> JsValue {
    let list: Vec<serde_json::Value> = crate::model::arch::ARCHS.iter().map(|a| serde_json::json!({"name": a.name, "about": a.about})).collect();
    use serde::Serialize;
    serde_json::Value::Array(list).serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// Model weights streamed onto the GPU.
#[wasm_bindgen]
pub struct Weights {
    inner: Rc<LoadedWeights>,
}

/// Stream a GGUF onto the GPU. `options`: `{ onProgress, signal }`; progress events are
/// `{ phase: 'download' | 'upload', loaded, total }`.
#[wasm_bindgen(js_name = loadWeights)]
pub async fn load_weights(source: JsValue, options: JsValue) -> Result<Weights, JsValue> {
    Ok(Weights { inner: Rc::new(load_weights_inner(source, options, false).await?) })
}

/// `check_model`: refuse, at the index, a file that is not a model Braid can run.
/// `options.maxGpuBytes`: refuse, at the index, weights larger than this budget.
pub(crate) async fn load_weights_inner(source: JsValue, options: JsValue, check_model: bool) -> Result<LoadedWeights, JsValue> {
    let on_progress: Option<Function> = get(&options, "onProgress").dyn_into().ok();
    let signal = get(&options, "signal");
    if aborted(&signal) {
        return Err(js_error("ABORTED", "the load was aborted"));
    }
    let budget = get(&options, "maxGpuBytes");
    let budget = if budget.is_undefined() || budget.is_null() {
        None
    } else {
        match budget.as_f64() {
            Some(b) if b >= 0.0 && b.is_finite() => Some(b as u64),
            _ => return Err(js_error("BAD_ARGUMENT", "maxGpuBytes must be a non-negative number")),
        }
    };
    let (stream, total) = open_source(&source).await?;
    let mut reader = ChunkReader::new(&stream);
    let mut loader = StreamLoader::new(total, None).gpu_budget(budget);
    if check_model {
        loader = loader.check_model();
    }
    let mut loaded = 0u64;
    while let Some(chunk) = reader.next().await? {
        loaded += chunk.len() as u64;
        progress(&on_progress, "download", loaded, total);
        if let Err(e) = loader.feed(chunk).await {
            reader.cancel();
            return Err(load_error(e));
        }
        progress(&on_progress, "upload", loaded, total);
        if aborted(&signal) {
            reader.cancel();
            return Err(js_error("ABORTED", "the load was aborted"));
        }
    }
    loader.finish().map_err(load_error)
}

#[wasm_bindgen]
impl Weights {
    /// `{ version, metadata, tensors: [{name, type, shape, offset, bytes, parts}], gpuBytes, adapter }`
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        let w = &self.inner;
        let o = index_js(&w.index);
        let tensors = js_sys::Array::new();
        for (t, g) in w.index.tensors.iter().zip(&w.tensors) {
            let e = tensor_js(t);
            let _ = Reflect::set(&e, &"parts".into(), &(g.parts.len() as f64).into());
            tensors.push(&e);
        }
        let _ = Reflect::set(&o, &"tensors".into(), &tensors);
        let _ = Reflect::set(&o, &"gpuBytes".into(), &(w.gpu_bytes() as f64).into());
        let _ = Reflect::set(&o, &"adapter".into(), &serde_wasm_bindgen::to_value(&w.ctx.adapter).unwrap_or(JsValue::NULL));
        o.into()
    }

    /// Dequantize rows `[row0, row1)` of tensor `name` on the GPU: a `Promise<Float32Array>`.
    #[wasm_bindgen(js_name = dequantizeRows)]
    pub fn dequantize_rows(&self, name: String, row0: f64, row1: f64) -> Promise {
        let w = self.inner.clone();
        future_to_promise(async move {
            let t = w.tensor(&name).ok_or_else(|| js_error("BAD_ARGUMENT", &format!("no tensor named {name:?}")))?;
            let n = t.info.n_rows() as f64;
            if !(row0 >= 0.0 && row1 <= n && row0 <= row1 && row0.fract() == 0.0 && row1.fract() == 0.0) {
                return Err(js_error("BAD_ARGUMENT", &format!("rows {row0}..{row1} are outside 0..{n}")));
            }
            let v = dequantize_rows(&w.ctx, t, row0 as u64..row1 as u64)
                .await
                .map_err(|e| js_error(e.code(), &e.to_string()))?;
            Ok(js_sys::Float32Array::from(&v[..]).into())
        })
    }

    #[wasm_bindgen(js_name = gpuBytes, getter)]
    pub fn gpu_bytes(&self) -> f64 {
        self.inner.gpu_bytes() as f64
    }
}

fn tensor_js(t: &crate::gguf::TensorInfo) -> Object {
    let e = Object::new();
    let _ = Reflect::set(&e, &"name".into(), &t.name.as_str().into());
    let _ = Reflect::set(&e, &"type".into(), &t.ty.name().into());
    let shape: js_sys::Array = t.dims.iter().map(|&d| JsValue::from(d as f64)).collect();
    let _ = Reflect::set(&e, &"shape".into(), &shape);
    let _ = Reflect::set(&e, &"offset".into(), &(t.offset as f64).into());
    let _ = Reflect::set(&e, &"bytes".into(), &(t.n_bytes as f64).into());
    e
}

fn value_js(v: &Value) -> JsValue {
    match v {
        // Large arrays (vocabularies) are summarised, as in `braid inspect --json`.
        Value::Array(a) if a.len() > 64 => {
            let o = Object::new();
            let _ = Reflect::set(&o, &"type".into(), &a.elem_type().name().into());
            let _ = Reflect::set(&o, &"len".into(), &(a.len() as f64).into());
            o.into()
        }
        Value::U64(x) => (*x as f64).into(),
        Value::I64(x) => (*x as f64).into(),
        v => serde_wasm_bindgen::to_value(v).unwrap_or(JsValue::NULL),
    }
}

fn index_js(index: &GgufIndex) -> Object {
    let o = Object::new();
    let _ = Reflect::set(&o, &"version".into(), &index.version.into());
    let meta = Object::new();
    for (k, v) in &index.metadata {
        let _ = Reflect::set(&meta, &k.as_str().into(), &value_js(v));
    }
    let _ = Reflect::set(&o, &"metadata".into(), &meta);
    let tensors: js_sys::Array = index.tensors.iter().map(|t| JsValue::from(tensor_js(t))).collect();
    let _ = Reflect::set(&o, &"tensors".into(), &tensors);
    o
}

/// Read only a GGUF's header, metadata and tensor table (stops reading after the index).
#[wasm_bindgen(js_name = inspectGguf)]
pub async fn inspect_gguf(source: JsValue) -> Result<JsValue, JsValue> {
    let (stream, total) = open_source(&source).await?;
    let mut reader = ChunkReader::new(&stream);
    let mut parser = GgufParser::new();
    if let Some(t) = total {
        parser = parser.with_total_len(t);
    }
    let gguf_err = |e: crate::gguf::GgufError| js_error("GGUF_INVALID", &e.to_string());
    loop {
        match reader.next().await? {
            Some(chunk) => {
                parser.feed(chunk).map_err(gguf_err)?;
                if parser.in_data() {
                    reader.cancel();
                    break;
                }
            }
            None => {
                if parser.index().is_none() {
                    parser.finish().map_err(gguf_err)?;
                }
                break;
            }
        }
    }
    let index = parser.index().ok_or_else(|| js_error("GGUF_INVALID", "the file ended before its tensor table"))?;
    Ok(index_js(index).into())
}

/// Bytes of wasm linear memory (to check that loading does not hold the file in memory).
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}
