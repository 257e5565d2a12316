//! The model and session objects JavaScript holds (the JS wrapper builds the public
//! `Model` / `Session` API, async iterators and the OpenAI-shaped chat on top).
//!
//! Every call that runs the GPU returns a Promise. A session is taken out of its table while
//! a call on it runs, so an overlapping call on the same session gets a typed `BAD_ARGUMENT`
//! ("busy") error instead of corrupting it; calls on different sessions are safe.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Float32Array, Promise, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::js_error;
use crate::model::forward::GpuModel;
use crate::session::{Session, SessionError};
use crate::sample::{Sampler, SamplerConfig};
use crate::tokenizer::template::{ChatTemplate, RenderOptions};
use crate::tokenizer::Tokenizer;

struct SessionSlot {
    session: Option<Session>,
    /// Logits of the last evaluated position (what `logits()` and sampling read); empty after
    /// greedy GPU steps until `refreshLogits`.
    last_logits: Vec<f32>,
    sampler: Option<Sampler>,
}

struct ModelState {
    model: GpuModel,
    tok: Option<Tokenizer>,
    template: Option<ChatTemplate>,
    sessions: RefCell<HashMap<u32, SessionSlot>>,
    next_id: RefCell<u32>,
    disposed: RefCell<bool>,
}

fn session_error(e: SessionError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

#[wasm_bindgen]
pub struct WasmModel {
    st: Rc<ModelState>,
}

impl ModelState {
    fn check(&self) -> Result<(), JsValue> {
        if *self.disposed.borrow() {
            return Err(js_error("BAD_ARGUMENT", "the model was disposed"));
        }
        self.model.ctx().check().map_err(|e| js_error(e.code(), &e.to_string()))
    }
    /// Take a session out for an async call (put it back with `put`).
    fn take(&self, id: u32) -> Result<Session, JsValue> {
        self.check()?;
        let mut map = self.sessions.borrow_mut();
        let slot = map.get_mut(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist (disposed?)")))?;
        slot.session.take().ok_or_else(|| js_error("BAD_ARGUMENT", &format!("session {id} is busy with another call")))
    }
    fn put(&self, id: u32, s: Session, logits: Option<Vec<f32>>) {
        if let Some(slot) = self.sessions.borrow_mut().get_mut(&id) {
            slot.session = Some(s);
            if let Some(l) = logits {
                slot.last_logits = l;
            }
        }
    }
    fn insert(&self, s: Session, logits: Vec<f32>) -> u32 {
        let mut n = self.next_id.borrow_mut();
        *n += 1;
        self.sessions.borrow_mut().insert(*n, SessionSlot { session: Some(s), last_logits: logits, sampler: None });
        *n
    }
}

#[wasm_bindgen]
impl WasmModel {
    /// Stream a GGUF (URL | Request | Response | ReadableStream | Blob | ArrayBuffer) onto a
    /// WebGPU device; `options`: `{ onProgress, signal }`.
    pub async fn load(source: JsValue, options: JsValue) -> Result<WasmModel, JsValue> {
        let w = super::load_weights_inner(source, options, true).await?;
        let tok = Tokenizer::from_index(&w.index).ok();
        let template = ChatTemplate::from_index(&w.index);
        let model = GpuModel::new(w).map_err(|e| js_error(e.code(), &e.to_string()))?;
        Ok(WasmModel {
            st: Rc::new(ModelState {
                model,
                tok,
                template,
                sessions: RefCell::new(HashMap::new()),
                next_id: RefCell::new(0),
                disposed: RefCell::new(false),
            }),
        })
    }

    /// `{ architecture, layers: [{attention, recurrent, mixers, ffn, kvBytesPerToken, window,
    ///    stateBytes}], windowRows, nEmbd, nLayer, nVocab, contextLength, parameters, quantTypes, gpuBytes,
    ///    adapter, kvCacheType, hasTokenizer, hasChatTemplate, bos, eos }` — `mixers` lists each layer's
    /// mixers (`attention`, `mamba2`, `short_conv`; empty for an MLP-only layer), `ffn` its
    /// FFN (`gated`, `plain` or null); `window` a sliding-window layer's window in positions
    /// (0: global attention, or none), `windowRows` the rows such a layer keeps per session;
    /// `kvCacheType` "f16" where the adapter has shader-f16 (K and V rows of half the bytes),
    /// else "f32" ("none" without attention).
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        let m = &self.st.model;
        let hp = &m.hp;
        let layout = m.memory_layout();
        let layers: Vec<serde_json::Value> = m
            .plan
            .layers
            .iter()
            .zip(&hp.layers)
            .zip(&layout.layers)
            .map(|((l, k), mem)| {
                serde_json::json!({
                    "attention": k.attention, "recurrent": k.recurrent,
                    "mixers": l.mixers.iter().map(|x| x.name()).collect::<Vec<_>>(),
                    "ffn": l.ffn.as_ref().map(|f| f.ffn.name()),
                    "experts": l.ffn.as_ref().and_then(|f| match &f.ffn {
                        crate::model::plan::Ffn::Moe(m) => Some(serde_json::json!({
                            "count": m.spec.n_expert, "used": m.spec.k, "shared": m.shared.is_some() as u32,
                        })),
                        _ => None,
                    }),
                    "kvBytesPerToken": mem.kv.map_or(0, |kv| layout.kv_elem_bytes() * (kv.k + kv.v) as u64),
                    "window": mem.kv.map_or(0, |kv| kv.window),
                    "stateBytes": mem.states.iter().map(|s| 4 * s.floats as u64).sum::<u64>(),
                })
            })
            .collect();
        let mut types: Vec<&str> = m.weights.index.tensors.iter().map(|t| t.ty.name()).collect();
        types.sort();
        types.dedup();
        let params: u64 = m.weights.index.tensors.iter().map(|t| t.n_elements).sum();
        let v = serde_json::json!({
            "architecture": hp.arch, "nEmbd": hp.n_embd, "nLayer": hp.n_layer, "nVocab": hp.n_vocab,
            "contextLength": hp.context_length, "parameters": params, "quantTypes": types, "layers": layers,
            "windowRows": layout.ring_rows(),
            "kvCacheType": layout.kv_cache_type(),
            "gpuBytes": m.weights.gpu_bytes(), "adapter": m.ctx().adapter,
            "hasTokenizer": self.st.tok.is_some(), "hasChatTemplate": self.st.template.is_some(),
            "bos": self.st.tok.as_ref().and_then(|t| t.bos), "eos": self.st.tok.as_ref().and_then(|t| t.eos), "eog": self.st.tok.as_ref().map(|t| t.eog.clone()).unwrap_or_default(),
        });
        to_js(&v)
    }

    fn tokenizer(&self) -> Result<&Tokenizer, JsValue> {
        self.st.tok.as_ref().ok_or_else(|| js_error("BAD_ARGUMENT", "this model has no (supported) tokenizer"))
    }

    /// Token ids of `text`; `special`: match control tokens (`<|im_start|>` …) whole;
    /// `add_bos`: add BOS/EOS as the model's metadata asks.
    pub fn tokenize(&self, text: &str, special: bool, add_bos: bool) -> Result<Uint32Array, JsValue> {
        let t = self.tokenizer()?;
        Ok(Uint32Array::from(&t.encode_with(text, add_bos, special)[..]))
    }

    pub fn detokenize(&self, ids: &[u32], special: bool) -> Result<String, JsValue> {
        let t = self.tokenizer()?;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= t.n_vocab()) {
            return Err(js_error("BAD_ARGUMENT", &format!("token id {bad} is outside the vocabulary")));
        }
        Ok(t.decode_with(ids, special))
    }

    /// Bytes of one token (for streaming UTF-8-safe decoding in JS).
    #[wasm_bindgen(js_name = tokenBytes)]
    pub fn token_bytes(&self, id: u32) -> Result<Uint8Array, JsValue> {
        Ok(Uint8Array::from(&self.tokenizer()?.token_bytes(id)[..]))
    }

    /// Render the chat template (`messages`: array of {role, content, …}) with the template
    /// variables in `variables` (an object: `tools`, `documents`, `enable_thinking`, … as
    /// Hugging Face's `apply_chat_template` passes them; key order kept).
    #[wasm_bindgen(js_name = applyChatTemplate)]
    pub fn apply_chat_template(&self, messages: JsValue, add_generation_prompt: bool, variables: JsValue) -> Result<String, JsValue> {
        let t = self.st.template.as_ref().ok_or_else(|| js_error("BAD_ARGUMENT", "this model has no chat template"))?;
        let msgs: serde_json::Value = serde_wasm_bindgen::from_value(messages).map_err(|e| js_error("BAD_ARGUMENT", &e.to_string()))?;
        if !msgs.is_array() {
            return Err(js_error("BAD_ARGUMENT", "messages must be an array"));
        }
        let tok = self.st.tok.as_ref();
        let name = |id: Option<u32>| id.and_then(|i| tok.map(|t| t.tokens[i as usize].clone())).unwrap_or_default();
        let opts = RenderOptions {
            add_generation_prompt,
            bos_token: name(tok.and_then(|t| t.bos)),
            eos_token: name(tok.and_then(|t| t.eos)),
            now: None,
        };
        let vars: serde_json::Value = if variables.is_undefined() || variables.is_null() {
            serde_json::json!({})
        } else {
            serde_wasm_bindgen::from_value(variables).map_err(|e| js_error("BAD_ARGUMENT", &format!("template variables: {e}")))?
        };
        if !vars.is_object() {
            return Err(js_error("BAD_ARGUMENT", "template variables must be an object"));
        }
        t.render(&msgs, &vars, &opts).map_err(|e| js_error("BAD_ARGUMENT", &e.to_string()))
    }

    /// A new empty session (its id). `n_ctx`: the most tokens it may hold (0: the model's).
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, n_ctx: u32) -> Result<u32, JsValue> {
        self.st.check()?;
        let n = if n_ctx == 0 { self.st.model.hp.context_length.min(1 << 17) } else { n_ctx.min(1 << 22) };
        Ok(self.st.insert(self.st.model.new_session(n), vec![]))
    }

    #[wasm_bindgen(js_name = disposeSession)]
    pub fn dispose_session(&self, id: u32) -> bool {
        self.st.sessions.borrow_mut().remove(&id).is_some()
    }

    /// Evaluate tokens after what session `id` holds (a turn). Resolves to the number of
    /// tokens it now holds.
    /// `need_logits: false`: the last position's logits are computed only when asked for
    /// (the whole append may then come from the prefix cache).
    pub fn append(&self, id: u32, tokens: Vec<u32>, need_logits: bool) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            let mut s = st.take(id)?;
            let r = if need_logits { st.model.append(&mut s, &tokens, false).await } else { st.model.append_no_logits(&mut s, &tokens).await };
            let n = s.pos;
            let a = s.last_append;
            match r {
                Ok(l) => {
                    st.put(id, s, Some(l));
                    Ok(to_js(&serde_json::json!({"length": n, "reused": a.reused, "computed": a.computed})))
                }
                Err(e) => {
                    st.put(id, s, None);
                    Err(session_error(e))
                }
            }
        })
    }

    /// Logits at the last position (empty before the first append).
    pub fn logits(&self, id: u32) -> Result<Float32Array, JsValue> {
        let map = self.st.sessions.borrow();
        let slot = map.get(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist")))?;
        Ok(Float32Array::from(&slot.last_logits[..]))
    }

    /// Choose the next token from the last logits with `config` ({temperature, topK, topP,
    /// minP, repeatPenalty, presencePenalty, frequencyPenalty, seed}); the sampler (and its
    /// random stream) persists per session until `config` changes.
    #[wasm_bindgen(js_name = sampleNext)]
    pub fn sample_next(&self, id: u32, config: JsValue) -> Result<u32, JsValue> {
        let cfg = sampler_config(&config)?;
        let mut map = self.st.sessions.borrow_mut();
        let slot = map.get_mut(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist")))?;
        if slot.last_logits.is_empty() {
            return Err(js_error("BAD_ARGUMENT", "append tokens before sampling"));
        }
        let history = slot.session.as_ref().map(|s| s.tokens.clone()).unwrap_or_default();
        if slot.sampler.as_ref().is_none_or(|s| s.cfg != cfg) {
            slot.sampler = Some(Sampler::new(cfg));
        }
        let logits = slot.last_logits.clone();
        match slot.sampler.as_mut().map(|s| s.sample(&logits, &history)) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(js_error("NON_FINITE", &e.to_string())),
            None => Err(js_error("BAD_ARGUMENT", "no sampler")),
        }
    }

    /// Decode one token (no turn checkpoint); resolves when its logits are ready.
    pub fn step(&self, id: u32, token: u32) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            let mut s = st.take(id)?;
            let r = st.model.step(&mut s, token).await;
            match r {
                Ok(l) => {
                    st.put(id, s, Some(l));
                    Ok(JsValue::UNDEFINED)
                }
                Err(e) => {
                    st.put(id, s, None);
                    Err(session_error(e))
                }
            }
        })
    }

    /// Greedy decoding on the GPU: evaluate `token` and resolve to the argmax of its logits
    /// (4 bytes read back, not the vocabulary). `logits()` then needs `refreshLogits`.
    #[wasm_bindgen(js_name = stepGreedy)]
    pub fn step_greedy(&self, id: u32, token: u32) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            let mut s = st.take(id)?;
            let r = st.model.step_greedy(&mut s, token).await;
            st.put(id, s, Some(vec![]));
            r.map(JsValue::from).map_err(session_error)
        })
    }

    /// Whether `logits()` is current (false after `stepGreedy`).
    #[wasm_bindgen(js_name = hasLogits)]
    pub fn has_logits(&self, id: u32) -> bool {
        self.st.sessions.borrow().get(&id).is_some_and(|s| !s.last_logits.is_empty())
    }

    /// Recompute the logits of the last position (after greedy GPU steps).
    #[wasm_bindgen(js_name = refreshLogits)]
    pub fn refresh_logits(&self, id: u32) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            let mut s = st.take(id)?;
            let p = s.pos;
            let mut logits = None;
            let mut err = None;
            if p > 0 {
                let last = s.tokens[p as usize - 1];
                match st.model.rewind(&mut s, p as i64 - 1).await {
                    Ok(_) => match st.model.step(&mut s, last).await {
                        Ok(l) => logits = Some(l),
                        Err(e) => err = Some(e),
                    },
                    Err(e) => err = Some(e),
                }
            }
            st.put(id, s, logits);
            match err {
                Some(e) => Err(session_error(e)),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }

    pub fn length(&self, id: u32) -> Result<u32, JsValue> {
        self.with(id, |s| s.pos)
    }

    /// The most tokens session `id` may hold.
    pub fn capacity(&self, id: u32) -> Result<u32, JsValue> {
        self.with(id, |s| s.n_ctx)
    }

    pub fn tokens(&self, id: u32) -> Result<Uint32Array, JsValue> {
        self.with(id, |s| Uint32Array::from(&s.tokens[..]))
    }

    /// The prefix cache: `{ enabled, entries, bytes, budget, hits, reusedTokens }`.
    #[wasm_bindgen(js_name = prefixCache)]
    pub fn prefix_cache(&self) -> JsValue {
        to_js(&serde_json::to_value(self.st.model.prefix_cache()).unwrap_or_default())
    }

    /// Turn the prefix cache on or off (off empties it); `budget` in bytes (negative: keep).
    #[wasm_bindgen(js_name = setPrefixCache)]
    pub fn set_prefix_cache(&self, enabled: bool, budget: f64) -> Result<(), JsValue> {
        if budget.is_nan() || budget.fract() != 0.0 {
            return Err(js_error("BAD_ARGUMENT", &format!("prefix cache budget {budget} is not a whole number of bytes")));
        }
        self.st.model.set_prefix_cache(enabled, (budget >= 0.0).then_some(budget as u64));
        Ok(())
    }

    /// `{ kv, kvUsed, recurrent, window, checkpoints }` in bytes (`window`: the sliding-window
    /// layers' rows, bounded by the window whatever the length).
    pub fn memory(&self, id: u32) -> Result<JsValue, JsValue> {
        let m = &self.st.model;
        let r = self.with(id, |s| m.memory(s))?;
        let v = serde_json::json!({"kv": r.kv, "kvUsed": r.kv_used, "recurrent": r.recurrent, "window": r.window, "checkpoints": r.checkpoints});
        Ok(to_js(&v))
    }

    fn with<T>(&self, id: u32, f: impl FnOnce(&Session) -> T) -> Result<T, JsValue> {
        let map = self.st.sessions.borrow();
        let slot = map.get(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist")))?;
        let s = slot.session.as_ref().ok_or_else(|| js_error("BAD_ARGUMENT", &format!("session {id} is busy")))?;
        Ok(f(s))
    }

    /// A copy-on-write fork of session `id` (its new id).
    pub fn fork(&self, id: u32) -> Result<u32, JsValue> {
        self.st.check()?;
        let (child, logits) = {
            let map = self.st.sessions.borrow();
            let slot = map.get(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist")))?;
            let s = slot.session.as_ref().ok_or_else(|| js_error("BAD_ARGUMENT", &format!("session {id} is busy")))?;
            (self.st.model.fork(s), slot.last_logits.clone())
        };
        Ok(self.st.insert(child, logits))
    }

    /// Checkpoint session `id`'s recurrent state now, as a turn boundary (generation does
    /// this when a reply ends, so that a later rewind to there recomputes nothing).
    pub fn checkpoint(&self, id: u32) -> Result<(), JsValue> {
        self.st.check()?;
        let mut map = self.st.sessions.borrow_mut();
        let slot = map.get_mut(&id).ok_or_else(|| js_error("SESSION_DISPOSED", &format!("session {id} does not exist")))?;
        let s = slot.session.as_mut().ok_or_else(|| js_error("BAD_ARGUMENT", &format!("session {id} is busy")))?;
        self.st.model.checkpoint(s);
        Ok(())
    }

    /// Cut session `id` back to `n` tokens; resolves to the number of tokens recomputed.
    pub fn rewind(&self, id: u32, n: f64) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            if n.fract() != 0.0 || !n.is_finite() {
                return Err(js_error("BAD_ARGUMENT", &format!("rewind position {n} is not an integer")));
            }
            let mut s = st.take(id)?;
            let r = st.model.rewind(&mut s, n as i64).await;
            // The logits of the new last position: recompute it when the history is not empty.
            let logits = match (&r, s.pos) {
                (Ok(_), 0) => Some(vec![]),
                (Ok(_), p) => {
                    let last = s.tokens[p as usize - 1];
                    match st.model.rewind(&mut s, p as i64 - 1).await {
                        Ok(_) => st.model.step(&mut s, last).await.ok(),
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            st.put(id, s, logits);
            r.map(JsValue::from).map_err(session_error)
        })
    }

    /// The session as bytes (Uint8Array).
    pub fn save(&self, id: u32) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            let s = st.take(id)?;
            let r = st.model.save(&s).await;
            let logits = st.sessions.borrow().get(&id).map(|x| x.last_logits.clone());
            st.put(id, s, logits);
            r.map(|b| Uint8Array::from(&b[..]).into()).map_err(session_error)
        })
    }

    /// A new session from `save`'s bytes (its id). The logits of its last position are
    /// recomputed (one token) so sampling can continue at once.
    pub fn restore(&self, bytes: Vec<u8>) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            st.check()?;
            let mut s = st.model.restore(&bytes).map_err(session_error)?;
            let mut logits = vec![];
            if s.pos > 0 {
                let p = s.pos;
                let last = s.tokens[p as usize - 1];
                st.model.rewind(&mut s, p as i64 - 1).await.map_err(session_error)?;
                logits = st.model.step(&mut s, last).await.map_err(session_error)?;
            }
            Ok(JsValue::from(st.insert(s, logits)))
        })
    }

    /// Destroy the GPU device (to test device-loss handling: every later call rejects with
    /// DEVICE_LOST; a new load gets a new device).
    /// Run the benchmark (`braid bench`'s, [`crate::session::bench`]): a prompt of
    /// `prompt_tokens` in one step, `gen_tokens` greedy steps, `batch` sessions decoding
    /// together (0: none), then the adapter's copy and read yardsticks. Resolves to the report
    /// with camelCase keys (`prefillTokS`, `decodeTokS`, `copyGbS`, `readGbS`,
    /// `fractionOfCopy`, `fractionOfRead`, `weightBytesPerToken`, `perDecodedToken`, …).
    /// Uses its own sessions; other calls wait in the JS queue meanwhile.
    pub fn bench(&self, prompt_tokens: u32, gen_tokens: u32, batch: u32) -> Promise {
        let st = self.st.clone();
        future_to_promise(async move {
            st.check()?;
            // The JS wrapper checks these too; the engine does not trust its caller.
            if !(1..=2048).contains(&prompt_tokens) || !(1..=4096).contains(&gen_tokens) || batch > 64 {
                return Err(js_error("BAD_ARGUMENT", "bench: promptTokens 1..2048, genTokens 1..4096, batch 0..64"));
            }
            let o = crate::session::bench::BenchOptions {
                prompt_tokens: prompt_tokens as usize,
                gen_tokens: gen_tokens as usize,
                batch: if batch > 0 { vec![batch as usize] } else { vec![] },
                ..Default::default()
            };
            let rep = crate::session::bench::bench(&st.model, &o).await.map_err(session_error)?;
            let v = serde_json::to_value(&rep).map_err(|e| js_error("BAD_ARGUMENT", &e.to_string()))?;
            Ok(to_js(&camel_keys(v)))
        })
    }

    #[wasm_bindgen(js_name = destroyDevice)]
    pub fn destroy_device(&self) {
        self.st.model.ctx().device.destroy();
    }

    /// Release every session and the model's GPU memory.
    pub fn dispose(&self) {
        *self.st.disposed.borrow_mut() = true;
        self.st.sessions.borrow_mut().clear();
    }
}

/// JSON-shaped values as plain JS objects (serde-wasm-bindgen's default makes Maps).
fn to_js(v: &serde_json::Value) -> JsValue {
    use serde::Serialize;
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

fn sampler_config(v: &JsValue) -> Result<SamplerConfig, JsValue> {
    let mut c = SamplerConfig::default();
    if v.is_undefined() || v.is_null() {
        return Ok(c);
    }
    let num = |k: &str| -> Result<Option<f64>, JsValue> {
        let x = js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
        if x.is_undefined() || x.is_null() {
            return Ok(None);
        }
        x.as_f64().map(Some).ok_or_else(|| js_error("BAD_ARGUMENT", &format!("{k} must be a number")))
    };
    if let Some(t) = num("temperature")? { c.temperature = t as f32; }
    if let Some(t) = num("topK")? {
        if t < 0.0 || t.fract() != 0.0 { return Err(js_error("BAD_ARGUMENT", "topK must be a non-negative integer")); }
        c.top_k = t as usize;
    }
    if let Some(t) = num("topP")? { c.top_p = t as f32; }
    if let Some(t) = num("minP")? { c.min_p = t as f32; }
    if let Some(t) = num("repeatPenalty")? { c.repeat_penalty = t as f32; }
    if let Some(t) = num("presencePenalty")? { c.presence_penalty = t as f32; }
    if let Some(t) = num("frequencyPenalty")? { c.frequency_penalty = t as f32; }
    if let Some(t) = num("seed")? { c.seed = t as u64; }
    c.validate().map_err(|e| js_error("BAD_ARGUMENT", &e))?;
    Ok(c)
}

/// `snake_case` object keys → `camelCase`, recursively (Rust reports → the JS API's names).
fn camel_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let mut out = String::with_capacity(k.len());
                    let mut up = false;
                    for c in k.chars() {
                        if c == '_' {
                            up = true;
                        } else if up {
                            out.extend(c.to_uppercase());
                            up = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, camel_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel_keys).collect()),
        x => x,
    }
}
