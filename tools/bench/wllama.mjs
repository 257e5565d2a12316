// wllama benchmark, measured like `braid bench`: an 8-token warm-up with one decode step, then
// (fresh KV) a P-token prompt in one batch (prefill) and G greedy single-token decode steps
// (decode). wllama 3 wraps llama-server's server-context: no low-level decode/sampling API,
// and prompts are text only. So the prompt is a short unit (" the", else "a", ...) repeated,
// the count calibrated until llama.cpp reports exactly P prompt tokens (BOS included); token
// values don't change the work of a dense model. Each run is a raw completion (max_tokens G+1,
// temperature 0, ignore_eos, cache_prompt off) and the speeds come from llama.cpp's own
// timings: prompt_ms = the prompt batch + first sample; predicted_ms = first to last sample,
// i.e. exactly G decode steps. wall_ms is the whole request as the page sees it.
// Query: model (GGUF URL), p=64, g=16, threads=2, rounds=1 (best round reported), ngl=0
// (layers offloaded to WebGPU), log (show llama.cpp's log). Writes JSON into #result.
const PKG = new URL("../../target/bench/wllama/node_modules/@wllama/wllama/", import.meta.url);
const q = new URLSearchParams(location.search);
const num = (k, d) => Number(q.get(k) ?? d);
const [P, G, threads, rounds, ngl] = [num("p", 64), num("g", 16), num("threads", 2), num("rounds", 1), num("ngl", 0)];

async function bench() {
  const { Wllama } = await import(new URL("esm/index.js", PKG).href);
  const version = (await (await fetch(new URL("package.json", PKG))).json()).version;
  if (!q.get("model")) throw new Error("no ?model=");
  const res = await fetch(q.get("model"));
  if (!res.ok) throw new Error(`GET ${q.get("model")}: ${res.status}`);
  const wllama = new Wllama({ default: new URL("esm/wasm/wllama.wasm", PKG).href }, { suppressNativeLog: !q.has("log") });
  // loadModel doesn't forward n_ctx_checkpoints; unless it is 0, llama-server evaluates the
  // last 4 prompt tokens as a second batch for SWA and recurrent models (to checkpoint them).
  let proxy, patched = false;
  Object.defineProperty(wllama, "proxy", { configurable: true, get: () => proxy, set: (p) => {
    const act = p?.wllamaAction.bind(p);
    if (p) p.wllamaAction = (name, body) => act(name, name === "load" ? ((patched = true), { ...body, n_ctx_checkpoints: 0 }) : body);
    proxy = p;
  } });
  const batch = Math.max(P, 512);
  await wllama.loadModel([await res.blob()], {
    n_ctx: P + G + 16, n_batch: batch, n_ubatch: batch, n_threads: threads, n_gpu_layers: ngl, n_parallel: 1,
    log_level: q.has("log") ? 1 : 2,
  });
  if (!patched) throw new Error("could not set n_ctx_checkpoints (wllama internals changed)");
  const nVocab = wllama.getLoadedContextInfo().n_vocab;
  const complete = (prompt, n) => wllama.createCompletion({
    prompt, max_tokens: n, temperature: 0, top_k: 1, ignore_eos: true, cache_prompt: false,
  });
  const count = async (text) => (await complete(text, 1)).usage.prompt_tokens;
  let prompt, unit, reps;
  for (unit of [" the", "a", " 1", "\n"]) {
    const [c1, c2] = [await count(unit), await count(unit + unit)];
    reps = (P - c1) / (c2 - c1) + 1;
    if (c2 > c1 && Number.isInteger(reps) && reps > 0 && (await count(unit.repeat(reps))) === P) {
      prompt = unit.repeat(reps);
      break;
    }
  }
  if (!prompt) throw new Error(`found no repeated-unit prompt of ${P} tokens`);
  await complete(unit.repeat(Math.max(1, Math.round((8 * reps) / P))), 2);
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const { timings: t } = await complete(prompt, G + 1);
    const wall_ms = performance.now() - t0;
    if (t.prompt_n !== P || t.cache_n || t.predicted_n !== G + 1) throw new Error(`ran ${JSON.stringify(t)}`);
    runs.push({ prefill_tok_s: (P * 1e3) / t.prompt_ms, decode_tok_s: (G * 1e3) / t.predicted_ms, wall_ms });
  }
  const best = (k) => Math.max(...runs.map((r) => r[k]));
  const out = {
    engine: "wllama", version, llama_cpp: Wllama.getLibllamaVersion(), threads: wllama.getNumThreads(),
    multithread: wllama.isMultithread(), n_gpu_layers: ngl,
    prefill_tok_s: best("prefill_tok_s"), decode_tok_s: best("decode_tok_s"), prompt_tokens: P, gen_tokens: G,
    prompt: `${JSON.stringify(unit)} x ${reps}`, n_vocab: nVocab, cross_origin_isolated: self.crossOriginIsolated, rounds: runs,
  };
  await wllama.exit();
  return out;
}

const show = (o) => (document.getElementById("result").textContent = JSON.stringify(o));
bench().then(show, (e) => show({ error: String(e?.stack ?? e) }));
