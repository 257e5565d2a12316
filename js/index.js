// braid-llm — the public JavaScript API (ESM). Wraps the wasm engine (pkg/braid.js) with
// promises, async iterators, AbortSignal, and an OpenAI-shaped chat API.
import { parseToolCalls, holdPoint } from "./tools.js";
import init, { WasmModel, loadWeights, inspectGguf, wasmMemoryBytes, supportedArchitectures as supported } from "../pkg/braid.js";

let ready = null;
/** Initialise the wasm module once (called by Model.load; may be called early). */
export function initBraid(wasmUrl) {
  ready ??= init(wasmUrl ? { module_or_path: wasmUrl } : undefined);
  return ready;
}

/**
 * The architectures Braid runs: `[{ name, about }]`, `name` as in a GGUF's
 * `general.architecture` (from the engine's architecture registry).
 */
export async function supportedArchitectures() {
  await initBraid();
  return supported();
}

function error(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

function checkSignal(signal) {
  if (signal?.aborted) throw error("ABORTED", "aborted");
}

/** Calls on one model run one at a time (the engine is single-threaded). */
class Queue {
  #tail = Promise.resolve();
  run(fn) {
    const p = this.#tail.then(fn);
    this.#tail = p.catch(() => {});
    return p;
  }
}

export class Model {
  #m;
  #q = new Queue();
  #disposed = false;
  constructor(inner) {
    this.#m = inner;
    /** OpenAI-shaped chat: `await model.chat.completions.create({ messages, stream, ... })`. */
    this.chat = { completions: { create: (req) => this.#chatCompletion(req) } };
  }

  /**
   * Load a GGUF from a URL string, Request, Response, ReadableStream, Blob/File or
   * ArrayBuffer. Options: { onProgress({phase, loaded, total}), signal, contextLength,
   * maxGpuBytes, prefixCache }. `prefixCache`: `false` turns the prefix cache off, `{ budget }`
   * sets its byte budget (default a quarter of the weights' GPU bytes, at least 32 MiB). The file is checked when its index arrives, before the tensor data is
   * read: an architecture Braid cannot run rejects with UNSUPPORTED_ARCH, weights larger than
   * `maxGpuBytes` (your budget; WebGPU does not report device memory) with DEVICE_LIMITS.
   */
  static async load(source, options = {}) {
    if (typeof navigator === "undefined" || !navigator.gpu) {
      throw error("NO_WEBGPU", "WebGPU is not available in this browser");
    }
    await initBraid();
    checkSignal(options.signal);
    const inner = await WasmModel.load(source, {
      onProgress: options.onProgress, signal: options.signal, maxGpuBytes: options.maxGpuBytes,
    });
    const m = new Model(inner);
    m.contextLength = options.contextLength ?? 0;
    const pc = options.prefixCache;
    if (pc !== undefined && pc !== true) {
      if (pc === false) m.setPrefixCache({ enabled: false });
      else if (typeof pc === "object" && pc) m.setPrefixCache(pc);
      else throw error("BAD_ARGUMENT", "prefixCache must be true, false or { budget }");
    }
    return m;
  }

  /**
   * Model-wide memory: `{ prefixCache: { enabled, entries, bytes, budget, hits, reusedTokens } }`.
   * The prefix cache keeps the memory of sessions at their turn ends (KV blocks shared
   * copy-on-write, recurrent-state snapshots) so that a session starting with the same tokens
   * computes only the rest.
   */
  get memory() {
    this.#check();
    return { prefixCache: this.#m.prefixCache() };
  }

  /** `{ enabled = true, budget }`: turn the prefix cache on / off (off empties it), set its budget in bytes. */
  setPrefixCache({ enabled = true, budget } = {}) {
    this.#check();
    if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) throw error("BAD_ARGUMENT", "budget must be a whole number of bytes");
    this.#m.setPrefixCache(!!enabled, budget ?? -1);
  }

  /** Architecture, parameters, quant types, per-layer kinds, context, vocab, GPU bytes. */
  get info() {
    return this.#m.info;
  }

  /**
   * Token ids of `text`. `special`: match control tokens such as `<|im_start|>` whole;
   * `addBos`: add BOS as the model's metadata asks (chat templates write it themselves).
   */
  tokenize(text, { special = false, addBos = false } = {}) {
    if (typeof text !== "string") throw error("BAD_ARGUMENT", "text must be a string");
    return Array.from(this.#m.tokenize(text, special, addBos));
  }

  /** The text of token ids; `special`: control tokens (`<|im_end|>` …) as their text. */
  detokenize(ids, { special = false } = {}) {
    return this.#m.detokenize(Uint32Array.from(ids), !!special);
  }

  createSession() {
    this.#check();
    return new Session(this, this.#m, this.#q, this.#m.createSession(this.contextLength ?? 0));
  }

  async restoreSession(bytes) {
    this.#check();
    const id = await this.#q.run(() => this.#m.restore(new Uint8Array(bytes)));
    return new Session(this, this.#m, this.#q, id);
  }

  /**
   * The conversation as the model's chat template renders it, as Hugging Face's
   * `apply_chat_template` does: `tools` (JSON schemas, key order kept), `documents` and any
   * other template variable (`enable_thinking`, …) go to the template.
   */
  applyChatTemplate(messages, { addGenerationPrompt = true, ...variables } = {}) {
    return this.#m.applyChatTemplate(messages, addGenerationPrompt, variables);
  }

  /**
   * Benchmark this model on this adapter (what `braid bench --json` measures natively): a
   * prompt of `promptTokens` ids in one step, `genTokens` greedy decode steps, optionally
   * `batch` sessions decoding together, then the adapter's copy and read bandwidth measured
   * with the same bytes. Resolves to `{ prefillTokS, decodeTokS, weightBytesPerToken,
   * decodeEffectiveGbS, copyGbS, readGbS, fractionOfCopy, fractionOfRead, perDecodedToken:
   * { dispatches, dispatchesPerLayer, bindGroupsCreated, submits, buffersCreated }, batchedDecode, adapter,
   * gpuBytes, … }`. Runs in the model's queue (session calls wait meanwhile).
   */
  bench({ promptTokens = 128, genTokens = 32, batch = 0 } = {}) {
    this.#check();
    const ok = (n, lo, hi) => Number.isInteger(n) && n >= lo && n <= hi;
    if (!ok(promptTokens, 1, 2048) || !ok(genTokens, 1, 4096) || !ok(batch, 0, 64)) {
      throw error("BAD_ARGUMENT", "bench: promptTokens 1..2048, genTokens 1..4096 and batch 0..64 must be whole numbers");
    }
    return this.#q.run(() => this.#m.bench(promptTokens, genTokens, batch));
  }

  dispose() {
    this.#disposed = true;
    this.#m.dispose();
  }

  /** Testing aid: destroy the GPU device as a driver reset would. */
  _destroyDevice() {
    this.#m.destroyDevice();
  }

  #check() {
    if (this.#disposed) throw error("BAD_ARGUMENT", "the model was disposed");
  }

  async #chatCompletion(req) {
    if (!req || !Array.isArray(req.messages)) throw error("BAD_ARGUMENT", "messages must be an array");
    if (req.tools != null && !Array.isArray(req.tools)) throw error("BAD_ARGUMENT", "tools must be an array");
    // OpenAI: tool_choice "none" means no tool calls (the tools are not offered then).
    const tools = req.tools?.length && req.tool_choice !== "none" ? req.tools : null;
    const vars = { ...(req.chat_template_kwargs ?? {}), ...(tools ? { tools } : {}) };
    // OpenAI sends a tool call's arguments as a JSON string; templates expect the object (as
    // llama.cpp's server and vLLM pass it).
    const messages = req.messages.map((m) => !m?.tool_calls ? m : { ...m, tool_calls: m.tool_calls.map((c) => {
      const f = c?.function;
      if (typeof f?.arguments !== "string") return c;
      try { return { ...c, function: { ...f, arguments: JSON.parse(f.arguments) } }; } catch { return c; }
    }) });
    const prompt = this.applyChatTemplate(messages, { addGenerationPrompt: true, ...vars });
    const s = this.createSession();
    const opts = {
      maxTokens: req.max_tokens ?? 256, temperature: req.temperature ?? DEFAULT_TEMPERATURE, topP: req.top_p ?? 0.95,
      seed: req.seed, stop: req.stop, signal: req.signal,
    };
    const id = "chatcmpl-" + Math.random().toString(36).slice(2);
    const created = Math.floor(Date.now() / 1000);
    const model = this.info.architecture;
    const promptIds = this.tokenize(prompt, { special: true });
    // The leading system messages end a turn of their own, so the model's prefix cache holds
    // them for the next request that starts with them (OpenAI's cached_tokens).
    const lead = [];
    for (const m of messages) { if (m?.role === "system") lead.push(m); else break; }
    let at = 0;
    const pre = { reused: 0 };
    if (lead.length && lead.length < messages.length) {
      const sysIds = this.tokenize(this.applyChatTemplate(lead, { addGenerationPrompt: false, ...vars }), { special: true });
      if (sysIds.length > 0 && sysIds.length < promptIds.length && sysIds.every((t, i) => t === promptIds[i])) {
        pre.reused += (await s.append(sysIds, { logits: false })).reused;
        at = sysIds.length;
      }
    }
    pre.reused += (await s.append(promptIds.slice(at))).reused;
    const usage = (n) => ({ prompt_tokens: promptIds.length, completion_tokens: n, total_tokens: promptIds.length + n,
                            prompt_tokens_details: { cached_tokens: pre.reused } });
    if (req.stream) {
      const self = s;
      return (async function* () {
        const chunk = (delta, finish_reason = null) => ({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason }] });
        try {
          let finish = "length", n = 0, text = "", sent = 0, held = false;
          for await (const ev of self.generate(opts)) {
            text += ev.text ?? "";
            if (ev.done) { finish = ev.finishReason; break; }
            n++;
            // With tools offered, what may become a tool call is held back until it is known
            // (looking only past what was shown; once a call has begun, everything waits).
            if (held) continue;
            let end = text.length;
            if (tools) {
              const h = holdPoint(text, sent);
              end = h.end;
              held = h.definite;
            }
            if (end > sent) { yield chunk({ content: text.slice(sent, end) }); sent = end; }
          }
          const calls = tools ? parseToolCalls(text.slice(sent)) : null;
          if (calls) {
            if (calls.content) yield chunk({ content: calls.content });
            yield chunk({ tool_calls: calls.tool_calls.map((c, index) => ({ index, ...c })) });
            finish = "tool_calls";
          } else if (text.length > sent) {
            yield chunk({ content: text.slice(sent) });
          }
          yield chunk({}, finish);
          // OpenAI: with stream_options.include_usage, a last chunk without choices carries usage.
          if (req.stream_options?.include_usage) yield { id, object: "chat.completion.chunk", created, model, choices: [], usage: usage(n) };
        } finally { self.dispose(); }
      })();
    }
    let text = "", finish = "length", n = 0;
    try {
      for await (const ev of s.generate(opts)) {
        if (ev.done) { finish = ev.finishReason; text += ev.text ?? ""; break; }
        text += ev.text; n++;
      }
    } finally { s.dispose(); }
    const calls = tools ? parseToolCalls(text) : null;
    const message = calls ? { role: "assistant", content: calls.content, tool_calls: calls.tool_calls } : { role: "assistant", content: text };
    return { id, object: "chat.completion", created, model,
             choices: [{ index: 0, message, finish_reason: calls ? "tool_calls" : finish }],
             usage: usage(n) };
  }
}

/** Temperature when a call does not give one (llama.cpp's default sampler: 0.8 with top-k 40,
 * top-p 0.95, min-p 0.05), for every token of the call. */
export const DEFAULT_TEMPERATURE = 0.8;

/**
 * The sampler settings of a `generate` call, applied to every one of its tokens: the given
 * options, temperature {@link DEFAULT_TEMPERATURE} when none is given. `gpuGreedy`: greedy
 * without penalties, so the argmax is taken on the GPU and only the token id is read back.
 */
export function samplingPolicy(opts = {}) {
  const cfg = {
    temperature: opts.temperature ?? DEFAULT_TEMPERATURE, topK: opts.topK, topP: opts.topP, minP: opts.minP,
    repeatPenalty: opts.repeatPenalty, presencePenalty: opts.presencePenalty,
    frequencyPenalty: opts.frequencyPenalty, seed: opts.seed,
  };
  const gpuGreedy = !(cfg.temperature > 0) && !cfg.repeatPenalty && !cfg.presencePenalty && !cfg.frequencyPenalty;
  return { cfg, gpuGreedy };
}

export class Session {
  #model; #m; #q; #id; #disposed = false;
  constructor(model, inner, queue, id) {
    this.#model = model; this.#m = inner; this.#q = queue; this.#id = id;
  }
  #check() {
    if (this.#disposed) throw error("SESSION_DISPOSED", "the session was disposed");
  }
  /**
   * Prefill text or token ids (a turn). Resolves to `{ reused, computed }`: tokens taken from
   * the model's prefix cache (another session passed through the same tokens) and tokens
   * computed. `{ logits: false }`: the last position's logits are not needed now (they are
   * computed if asked for later), so the whole turn may come from the cache — for a system
   * prompt appended before the rest of a conversation.
   */
  async append(textOrIds, { logits = true } = {}) {
    this.#check();
    const ids = typeof textOrIds === "string" ? this.#model.tokenize(textOrIds) : Array.from(textOrIds ?? []);
    if (!ids.length) throw error("BAD_ARGUMENT", "nothing to append");
    const r = await this.#q.run(() => this.#m.append(this.#id, Uint32Array.from(ids), !!logits));
    return { reused: r.reused, computed: r.computed };
  }
  /**
   * Generate tokens: `for await (const ev of s.generate({ maxTokens, temperature, topK, topP,
   * minP, repeatPenalty, seed, stop, signal })) { ev.token; ev.text }`. An abort stops within
   * one step and leaves the session holding exactly the tokens already emitted.
   */
  async *generate(opts = {}) {
    this.#check();
    try {
      yield* this.#generate(opts);
    } finally {
      // The end of a reply is a turn boundary: checkpoint the recurrent state there, so that
      // a later rewind to it (editing the next message, forking here) recomputes nothing.
      if (!this.#disposed) await this.#q.run(() => this.#m.checkpoint(this.#id)).catch(() => {});
    }
  }
  async *#generate(opts) {
    // One sampling policy for every token of the call: the given settings, and where
    // temperature is not given llama.cpp's defaults (temperature 0.8, top-k 40, top-p 0.95,
    // min-p 0.05). Temperature 0 is greedy (the argmax taken on the GPU when no penalty
    // needs the logits).
    const { cfg, gpuGreedy } = samplingPolicy(opts);
    const max = opts.maxTokens ?? 256;
    const stops = [].concat(opts.stop ?? []).filter((s) => typeof s === "string" && s.length);
    const longest = Math.max(0, ...stops.map((s) => s.length));
    // Every end-of-generation token ends the reply (EOS, <end_of_turn>, <|im_end|>, …).
    const eog = new Set(this.#model.info.eog ?? [this.#model.info.eos]);
    const dec = new TextDecoder("utf-8");
    // Stop strings as OpenAI defines them: generation ends where one appears anywhere in the
    // generated text, also across tokens, and neither it nor anything after it is returned.
    // Text that could be the start of a stop string is held back until it is known not to be;
    // the done event carries what is left to show (`text`, usually "").
    let emitted = 0;
    const held = (t) => {
      let hold = 0;
      for (const s of stops) {
        for (let k = Math.min(s.length - 1, t.length); k > hold; k--) {
          if (t.endsWith(s.slice(0, k))) { hold = k; break; }
        }
      }
      return hold;
    };
    const rest = () => { const r = text.slice(emitted); emitted = text.length; return r; };
    if (!this.#m.hasLogits(this.#id)) await this.#q.run(() => this.#m.refreshLogits(this.#id));
    let next = this.#m.sampleNext(this.#id, cfg);
    let text = "";
    for (let i = 0; i < max; i++) {
      if (opts.signal?.aborted) { yield { done: true, finishReason: "abort", text: rest() }; return; }
      const token = next;
      if (eog.has(token)) { yield { done: true, finishReason: "stop", text: rest() }; return; }
      // A full context ends the reply as max_tokens would (OpenAI's "length").
      if (this.#m.length(this.#id) >= this.#m.capacity(this.#id)) { yield { done: true, finishReason: "length", text: rest() }; return; }
      if (gpuGreedy) {
        next = await this.#q.run(() => this.#m.stepGreedy(this.#id, token));
      } else {
        await this.#q.run(() => this.#m.step(this.#id, token));
        if (i + 1 < max) next = this.#m.sampleNext(this.#id, cfg);
      }
      const from = Math.max(0, text.length - longest + 1);
      text += dec.decode(this.#m.tokenBytes(token), { stream: true });
      let cut = -1;
      for (const s of stops) {
        const k = text.indexOf(s, from);
        if (k >= 0 && (cut < 0 || k < cut)) cut = k;
      }
      if (cut >= 0) {
        yield { token, text: text.slice(emitted, Math.max(emitted, cut)), done: false };
        yield { done: true, finishReason: "stop", text: "" };
        return;
      }
      const safe = text.length - held(text);
      yield { token, text: text.slice(emitted, safe), done: false };
      emitted = Math.max(emitted, safe);
    }
    yield { done: true, finishReason: "length", text: rest() };
  }
  /** Logits at the last position (Float32Array). */
  async logits() {
    this.#check();
    if (!this.#m.hasLogits(this.#id) && this.#m.length(this.#id) > 0) await this.#q.run(() => this.#m.refreshLogits(this.#id));
    return this.#m.logits(this.#id);
  }
  get length() { this.#check(); return this.#m.length(this.#id); }
  get tokens() { this.#check(); return Array.from(this.#m.tokens(this.#id)); }
  /** { kv, kvUsed, recurrent, window, checkpoints } in bytes. */
  get memory() { this.#check(); return this.#m.memory(this.#id); }
  async fork() {
    this.#check();
    return new Session(this.#model, this.#m, this.#q, await this.#q.run(async () => this.#m.fork(this.#id)));
  }
  /** Cut back to n tokens; resolves to how many tokens were recomputed. */
  async rewind(n) { this.#check(); return this.#q.run(() => this.#m.rewind(this.#id, n)); }
  /** The session as bytes (Uint8Array), for `model.restoreSession`. */
  async save() { this.#check(); return this.#q.run(() => this.#m.save(this.#id)); }
  dispose() {
    if (!this.#disposed) { this.#disposed = true; this.#m.disposeSession(this.#id); }
  }
}

export { loadWeights, inspectGguf, wasmMemoryBytes };
export { parseToolCalls } from "./tools.js";
