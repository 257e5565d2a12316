// The engine in a Web Worker: `new Worker(new URL("braid-llm/worker", import.meta.url),
// { type: "module" })`, driven by js/proxy.js. Holds models and sessions by handle.
import { Model } from "./index.js";
import { cachedSource } from "./cache.js";

const objects = new Map();
let next = 1;
const aborts = new Map();
const keep = (o) => { const h = next++; objects.set(h, o); return h; };
const get = (h) => {
  const o = objects.get(h);
  if (!o) { const e = new Error(`no object ${h} (disposed?)`); e.code = "SESSION_DISPOSED"; throw e; }
  return o;
};

const ops = {
  // `cache`: keep a URL's bytes in the Cache API (braid-llm/cache) while they stream to the
  // GPU, and read them from there the next time. Progress events then say `via: "network"`
  // or `via: "cache"`.
  async load({ source, contextLength, maxGpuBytes, prefixCache, cache, gen }, reply) {
    const ac = new AbortController();
    aborts.set(gen, ac);
    try {
      const cached = !!cache && typeof source === "string";
      let network = 0;
      if (cached) source = await cachedSource(source, { stream: true, signal: ac.signal, onProgress: () => { network++; } });
      const m = await Model.load(source, {
        contextLength, maxGpuBytes, prefixCache, signal: ac.signal,
        onProgress: (p) => reply({ progress: cached ? { ...p, via: network ? "network" : "cache" } : p }),
      });
      return { handle: keep(m), info: m.info, fromCache: cached && network === 0 };
    } catch (e) {
      // An aborted fetch fails with the browser's AbortError wherever it was: report ABORTED.
      if (ac.signal.aborted) throw Object.assign(new Error("the load was aborted"), { code: "ABORTED" });
      throw e;
    } finally { aborts.delete(gen); }
  },
  tokenize: ({ m, text, special, addBos }) => get(m).tokenize(text, { special, addBos }),
  detokenize: ({ m, ids, opts }) => get(m).detokenize(ids, opts),
  applyChatTemplate: ({ m, messages, opts }) => get(m).applyChatTemplate(messages, opts),
  createSession: ({ m }) => keep(get(m).createSession()),
  async restoreSession({ m, bytes }) { return keep(await get(m).restoreSession(bytes)); },
  async append({ s, input, opts }) { return get(s).append(input, opts); },
  async logits({ s }) { return get(s).logits(); },
  state: ({ s }) => { const x = get(s); return { length: x.length, tokens: x.tokens, memory: x.memory }; },
  async fork({ s }) { return keep(await get(s).fork()); },
  async rewind({ s, n }) { return get(s).rewind(n); },
  async save({ s }) { return get(s).save(); },
  disposeSession: ({ s }) => { get(s).dispose(); objects.delete(s); },
  disposeModel: ({ m }) => { get(m).dispose(); objects.delete(m); },
  modelMemory: ({ m }) => get(m).memory,
  setPrefixCache: ({ m, opts }) => get(m).setPrefixCache(opts),
  async bench({ m, opts }) { return get(m).bench(opts); },
  async generate({ s, opts, gen, aborted }, reply) {
    const ac = new AbortController();
    if (aborted) ac.abort();
    aborts.set(gen, ac);
    try {
      for await (const ev of get(s).generate({ ...opts, signal: ac.signal })) reply({ event: ev });
    } finally { aborts.delete(gen); }
  },
  abort: ({ gen }) => { aborts.get(gen)?.abort(); },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  const reply = (msg) => self.postMessage({ id, ...msg });
  try {
    const f = ops[op];
    if (!f) throw Object.assign(new Error(`unknown operation ${op}`), { code: "BAD_ARGUMENT" });
    reply({ done: true, result: await f(args ?? {}, reply) });
  } catch (e) {
    reply({ done: true, error: { message: String(e?.message ?? e), code: e?.code ?? "BAD_ARGUMENT" } });
  }
};
