// The same API as js/index.js, with the engine in a Web Worker so the page stays
// responsive. Everything is asynchronous here (info and the session state included).
//
//   import { loadInWorker } from "braid-llm/proxy";
//   const model = await loadInWorker("model.gguf", { onProgress });
//   const s = await model.createSession(); await s.append("Hello");
//   for await (const ev of s.generate({ maxTokens: 32 })) { ... }

function error({ code, message }) {
  return Object.assign(new Error(message), { code });
}

class Channel {
  #w; #next = 1; #pending = new Map();
  constructor(worker) {
    this.#w = worker;
    worker.onmessage = ({ data }) => {
      const p = this.#pending.get(data.id);
      if (!p) return;
      if (data.done) {
        this.#pending.delete(data.id);
        data.error ? p.reject(error(data.error)) : p.resolve(data.result);
      } else {
        p.onMessage?.(data);
      }
    };
    worker.onerror = (e) => {
      for (const p of this.#pending.values()) p.reject(error({ code: "DEVICE_LOST", message: e.message ?? "worker failed" }));
      this.#pending.clear();
    };
  }
  call(op, args, onMessage, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onMessage });
      this.#w.postMessage({ id, op, args }, transfer);
    });
  }
  terminate() { this.#w.terminate(); }
}

let genIds = 1;

/**
 * Load a model into a new Web Worker. Options: { onProgress, signal, contextLength,
 * maxGpuBytes, cache, worker }. `cache: true` keeps a URL's bytes in the Cache API
 * (braid-llm/cache) as they stream to the GPU, so the next load does not use the network;
 * progress events then carry `via: "network" | "cache"`, and `model.fromCache` tells whether
 * the network was used at all. A failed load ends the worker.
 */
export async function loadInWorker(source, options = {}) {
  const own = !options.worker;
  const worker = options.worker ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const ch = new Channel(worker);
  // Relative URLs mean the page's, not the worker script's.
  if (typeof source === "string" && typeof location !== "undefined") source = new URL(source, location.href).href;
  const { signal } = options;
  const gen = genIds++;
  const onAbort = () => ch.call("abort", { gen });
  try {
    if (signal?.aborted) throw error({ code: "ABORTED", message: "aborted" });
    signal?.addEventListener("abort", onAbort);
    const { handle, info, fromCache } = await ch.call("load",
      { source, contextLength: options.contextLength, maxGpuBytes: options.maxGpuBytes, prefixCache: options.prefixCache, cache: !!options.cache, gen },
      (m) => m.progress && options.onProgress?.(m.progress));
    const m = new RemoteModel(ch, handle, info);
    m.fromCache = fromCache;
    return m;
  } catch (e) {
    if (own) ch.terminate();
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

class RemoteModel {
  #ch; #h;
  constructor(ch, h, info) { this.#ch = ch; this.#h = h; this.info = info; }
  tokenize(text, { special = false, addBos = false } = {}) { return this.#ch.call("tokenize", { m: this.#h, text, special, addBos }); }
  detokenize(ids, opts = {}) { return this.#ch.call("detokenize", { m: this.#h, ids: Array.from(ids), opts }); }
  applyChatTemplate(messages, opts = {}) {
    return this.#ch.call("applyChatTemplate", { m: this.#h, messages, opts });
  }
  async createSession() { return new RemoteSession(this.#ch, await this.#ch.call("createSession", { m: this.#h })); }
  async restoreSession(bytes) {
    return new RemoteSession(this.#ch, await this.#ch.call("restoreSession", { m: this.#h, bytes: new Uint8Array(bytes) }));
  }
  /** `{ prefixCache: { enabled, entries, bytes, budget, hits, reusedTokens } }` */
  memory() { return this.#ch.call("modelMemory", { m: this.#h }); }
  setPrefixCache(opts = {}) { return this.#ch.call("setPrefixCache", { m: this.#h, opts }); }
  /** As Model.bench, in the worker. */
  bench(opts = {}) { return this.#ch.call("bench", { m: this.#h, opts }); }
  async dispose() { await this.#ch.call("disposeModel", { m: this.#h }); this.#ch.terminate(); }
}

class RemoteSession {
  #ch; #h;
  constructor(ch, h) { this.#ch = ch; this.#h = h; }
  append(input, opts = {}) { return this.#ch.call("append", { s: this.#h, input: typeof input === "string" ? input : Array.from(input), opts }); }
  logits() { return this.#ch.call("logits", { s: this.#h }); }
  /** { length, tokens, memory } */
  state() { return this.#ch.call("state", { s: this.#h }); }
  async fork() { return new RemoteSession(this.#ch, await this.#ch.call("fork", { s: this.#h })); }
  rewind(n) { return this.#ch.call("rewind", { s: this.#h, n }); }
  save() { return this.#ch.call("save", { s: this.#h }); }
  dispose() { return this.#ch.call("disposeSession", { s: this.#h }); }
  async *generate(opts = {}) {
    const { signal, ...rest } = opts;
    const gen = genIds++;
    const queue = [];
    let wake = null, finished = false, failure = null;
    // The generate call goes first (an abort sent before it would find nothing to stop), and
    // says whether the signal is already aborted (then not even one token is generated).
    this.#ch.call("generate", { s: this.#h, opts: rest, gen, aborted: !!signal?.aborted }, (m) => { queue.push(m.event); wake?.(); })
      .then(() => { finished = true; wake?.(); }, (e) => { failure = e; finished = true; wake?.(); });
    const onAbort = () => this.#ch.call("abort", { gen });
    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) onAbort();
    try {
      for (;;) {
        if (queue.length) { yield queue.shift(); continue; }
        if (failure) throw failure;
        if (finished) return;
        await new Promise((r) => (wake = r));
        wake = null;
      }
    } finally { signal?.removeEventListener("abort", onAbort); }
  }
}
