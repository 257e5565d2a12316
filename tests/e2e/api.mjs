// End-to-end check of the public JS API (js/index.js) in headless Chromium; run by
// scripts/test_js_api.sh, which reads #result.
import { Model, supportedArchitectures, samplingPolicy, DEFAULT_TEMPERATURE } from "../../js/index.js";

const out = {};
const codeOf = async (p) => { try { await p; return "no error"; } catch (e) { return e.code ?? String(e); } };
try {
  const m = await Model.load("model.gguf", { onProgress: (p) => { out.progress = p.phase; } });
  // Teacher-forced logits through the public API equal llama.cpp's at every position (the
  // golden of the same weights: llama.cpp on the F32 twin), token by token and as a batch.
  const g = await (await fetch("../fixtures/golden/tiny-granitehybrid-q8_0.twin.json")).json();
  const rel = (a, b) => { let d = 0, mx = 0; for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); mx = Math.max(mx, Math.abs(b[i])); } return d / mx; };
  const tf = m.createSession();
  let worst = 0;
  for (let i = 0; i < g.tokens.length; i++) {
    await tf.append([g.tokens[i]]);
    worst = Math.max(worst, rel(await tf.logits(), g.seq[i]));
  }
  const tb = m.createSession();
  await tb.append(g.tokens);
  worst = Math.max(worst, rel(await tb.logits(), g.batch[g.tokens.length - 1]));
  out.llamaCppMatch = worst <= 1e-3;
  out.llamaCppWorst = worst;
  tf.dispose(); tb.dispose();
  out.arch = m.info.architecture;
  out.layers = m.info.layers.map((l) => (l.attention ? "A" : "") + (l.recurrent ? "R" : "")).join(",");
  const ids = m.tokenize("the hybrid model");
  out.roundtrip = m.detokenize(ids);
  // Control tokens: rendered only when asked (llama.cpp's unparse_special).
  {
    const sp = m.tokenize("<|im_start|>user", { special: true });
    out.detokenizeSpecial = JSON.stringify([m.detokenize(sp, { special: true }), m.detokenize(sp)]);
  }
  out.promptTokens = ids.length;
  const s = m.createSession();
  await s.append(ids);
  out.nlogits = (await s.logits()).length;
  let n = 0;
  for await (const ev of s.generate({ maxTokens: 5, temperature: 0 })) { if (ev.done) break; n++; }
  out.generated = n;
  // GPU argmax (greedy) and CPU sampling with top-k 1 pick the same tokens.
  const tokensOf = async (opts) => {
    const x = m.createSession();
    await x.append(ids);
    const t = [];
    for await (const ev of x.generate({ maxTokens: 6, ...opts })) { if (ev.done) break; t.push(ev.token); }
    out.logitsAfterGreedy = (await x.logits()).length;
    x.dispose();
    return t.join(",");
  };
  out.gpuArgmaxSame = (await tokensOf({ temperature: 0 })) === (await tokensOf({ temperature: 1, topK: 1 }));
  out.lengthOk = s.length === ids.length + 5;
  const f = await s.fork();
  out.forkLengthOk = f.length === s.length;
  out.recomputed = await s.rewind(3);
  out.afterRewind = s.length;
  const bytes = await s.save();
  const r = await m.restoreSession(bytes);
  out.restored = r.length;
  out.memoryKeys = Object.keys(s.memory).sort().join(",");
  // abort after two tokens: the session holds exactly the emitted tokens
  const ac = new AbortController();
  let k = 0;
  for await (const ev of s.generate({ maxTokens: 50, temperature: 0.7, seed: 1, signal: ac.signal })) {
    if (ev.done) { out.abortReason = ev.finishReason; break; }
    if (++k === 2) ac.abort();
  }
  out.afterAbort = s.length;
  // All or nothing at the context's end: a refused append leaves the session exactly as it
  // was (length, tokens, logits); generation at a full context ends with "length".
  {
    m.contextLength = 64;
    const c = m.createSession();
    const fill = Array.from({ length: 63 }, (_, i) => (i * 7 + 1) % 300);
    await c.append(fill);
    const before = Array.from(await c.logits());
    const e1 = await codeOf(c.append([1, 2]));
    const after = Array.from(await c.logits());
    const e2 = await codeOf(c.append(Array(65).fill(3)));
    const empty = m.createSession();
    const e3 = await codeOf(empty.append(Array(65).fill(3)));
    const e4 = await codeOf(c.append([1, 300000]));
    let last = null;
    for await (const ev of c.generate({ maxTokens: 10, temperature: 0 })) { if (ev.done) { last = ev.finishReason; break; } }
    out.contextAllOrNothing = e1 === "BAD_ARGUMENT" && e2 === "BAD_ARGUMENT" && e3 === "BAD_ARGUMENT" && e4 === "BAD_ARGUMENT" &&
      empty.length === 0 && before.length === after.length && before.every((x, i) => x === after[i]) && last === "length" && c.length === 64;
    out.contextDetail = JSON.stringify({ e1, e2, e3, e4, emptyLength: empty.length, length: c.length, last });
    c.dispose(); empty.dispose();
    m.contextLength = 0;
  }
  // Stop strings as OpenAI defines them: where one appears anywhere in the generated text,
  // also across tokens; neither it nor what follows is returned; the session keeps the tokens
  // through the one that completed it. And one sampling policy for every token of a call:
  // no temperature = the documented default (DEFAULT_TEMPERATURE) for all of them.
  {
    const run = async (opts) => {
      const x = m.createSession();
      await x.append(ids);
      const toks = [];
      let text = "", reason = "";
      for await (const ev of x.generate({ maxTokens: 16, temperature: 0, ...opts })) {
        if (ev.done) { reason = ev.finishReason; text += ev.text; break; }
        toks.push(ev.token); text += ev.text;
      }
      const len = x.length;
      x.dispose();
      return { toks, text, reason, len };
    };
    const full = await run({});
    const upto = full.toks.map((_, i) => m.detokenize(full.toks.slice(0, i + 1)).length);
    // a boundary with text on both sides; the stop string takes up to 2 characters of each
    let i = upto.findIndex((l, k) => k > 0 && k + 1 < upto.length && l - upto[k - 1] >= 1 && upto[k + 1] - l >= 1);
    const stop = full.text.slice(Math.max(upto[i] - 2, i ? upto[i - 1] : 0), Math.min(upto[i] + 2, upto[i + 1]));
    const at = full.text.indexOf(stop);
    const ends = upto.findIndex((l) => l >= at + stop.length);
    const got = await run({ stop: ["\u0000never", stop] });
    out.stopAcrossTokens = i > 0 && got.reason === "stop" && got.text === full.text.slice(0, at) && got.len === ids.length + ends + 1;
    out.stopDetail = JSON.stringify({ stop, at, ends, text: got.text, want: full.text.slice(0, at), len: got.len, reason: got.reason });
    // The policy generate() applies to every token: the default temperature when none is
    // given (not greedy after a sampled first token), greedy on the GPU only at temperature 0.
    const d = samplingPolicy({}), g = samplingPolicy({ temperature: 0 }), p = samplingPolicy({ temperature: 0, repeatPenalty: 1.1 });
    const pol = async (opts) => (await run({ temperature: undefined, seed: 3, maxTokens: 12, topK: 0, topP: 1, minP: 0, ...opts })).toks.join(",");
    out.defaultPolicy = d.cfg.temperature === DEFAULT_TEMPERATURE && !d.gpuGreedy && g.gpuGreedy && !p.gpuGreedy &&
      (await pol({})) === (await pol({ temperature: DEFAULT_TEMPERATURE }));
  }
  out.err404 = await codeOf(Model.load("missing.gguf"));
  out.errBadFile = await codeOf(Model.load(new Uint8Array([71, 71, 85, 70, 9, 0, 0, 0])));
  out.errBlob = await codeOf(m.restoreSession(new Uint8Array([1, 2, 3])));
  out.errBadArg = await codeOf(s.generate({ topP: 3 }).next());
  // model.bench(): the report's figures are the ratios they claim, decode makes no buffers or
  // bind groups per token, and bad arguments are refused before anything runs.
  {
    const b = await m.bench({ promptTokens: 6, genTokens: 3 });
    const pos = [b.prefillTokS, b.decodeTokS, b.copyGbS, b.readGbS, b.weightBytesPerToken].every((x) => x > 0 && Number.isFinite(x));
    const eff = b.weightBytesPerToken * b.decodeTokS / 1e9;
    out.benchReport = pos && b.prefillTokens === 6 && b.decodeTokens === 3 && Math.abs(b.decodeEffectiveGbS - eff) <= 1e-9 * eff &&
      Math.abs(b.fractionOfCopy - eff / b.copyGbS) < 1e-9 && Math.abs(b.fractionOfRead - eff / b.readGbS) < 1e-9 &&
      b.perDecodedToken.dispatches > 0 &&
      Math.abs(b.perDecodedToken.dispatchesPerLayer * m.info.layers.length - b.perDecodedToken.dispatches) < 1e-9 &&
      b.perDecodedToken.buffersCreated === 0 && b.perDecodedToken.bindGroupsCreated === 0 &&
      // the KV cache is F16 only where the adapter has shader-f16 (SwiftShader has not: F32),
      // and its bytes per token are the global attention layers' own
      b.kvCacheType === m.info.kvCacheType && (m.info.adapter.shader_f16 || b.kvCacheType === "f32") &&
      b.kvBytesPerToken === m.info.layers.filter((l) => l.window === 0).reduce((a, l) => a + l.kvBytesPerToken, 0) && b.kvBytesPerToken > 0;
    out.benchDetail = JSON.stringify(b);
    out.errBench = await codeOf((async () => m.bench({ promptTokens: 0 }))());
  }
  f.dispose();
  out.errDisposed = await codeOf(f.append([1]));
  // OpenAI-shaped chat, plain and streamed (greedy: both give the same text).
  const req = { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "the model" }], max_tokens: 4, temperature: 0 };
  const res = await m.chat.completions.create(req);
  out.chatFinish = res.choices[0].finish_reason;
  out.chatTokens = res.usage.completion_tokens;
  let streamed = "", chunks = 0;
  for await (const c of await m.chat.completions.create({ ...req, stream: true })) {
    if (c.choices[0].finish_reason) { out.streamFinish = c.choices[0].finish_reason; break; }
    streamed += c.choices[0].delta.content; chunks++;
  }
  out.streamChunks = chunks;
  out.chatSameAsStream = streamed === res.choices[0].message.content;
  // The same system prompt in another request comes from the prefix cache (OpenAI's
  // usage.prompt_tokens_details.cached_tokens), also reported on a streamed request's last chunk.
  const other = await m.chat.completions.create({ ...req, messages: [req.messages[0], { role: "user", content: "and" }] });
  const sysLen = m.tokenize(m.applyChatTemplate([req.messages[0]], { addGenerationPrompt: false }), { special: true }).length;
  out.chatCachedFirst = res.usage.prompt_tokens_details.cached_tokens;
  out.chatCachedSystem = other.usage.prompt_tokens_details.cached_tokens === sysLen && sysLen > 0;
  let usageChunk = null;
  for await (const c of await m.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } })) if (c.usage) usageChunk = c.usage;
  out.streamUsage = usageChunk?.completion_tokens === 4 && usageChunk.prompt_tokens_details.cached_tokens === sysLen;
  out.errChatArgs = await codeOf(m.chat.completions.create({ messages: "hi" }));
  m.dispose();
  // A lost device rejects pending and later calls with DEVICE_LOST; a new load works.
  const m2 = await Model.load("model.gguf");
  const s2 = m2.createSession();
  await s2.append([1, 2, 3]);
  m2._destroyDevice();
  await new Promise((r) => setTimeout(r, 200));
  out.errLost = await codeOf(s2.append([4]));
  const m3 = await Model.load("model.gguf");
  const s3 = m3.createSession();
  await s3.append([1, 2, 3]);
  out.afterLost = s3.length;
  // LFM2 (short-conv layers) and Nemotron-H (Mamba2, attention without RoPE, MLP-only layers)
  // through the public API: teacher-forced logits equal llama.cpp's on the F32 twin (token by
  // token and as a batch), the layer plan in `info`, and fork / rewind / save / restore equal
  // to a fresh session.
  out.supported = (await supportedArchitectures()).map((a) => a.name).join(",");
  // The MoE architectures too (routing on the GPU): `info.layers[i].experts` = {count, used, shared}.
  for (const [file, golden, key] of [["lfm2.gguf", "tiny-lfm2-q8_0.twin", "lfm2"], ["nemotron-h.gguf", "tiny-nemotron-h-q8_0.twin", "nemotron_h"],
      ["granite-moe.gguf", "tiny-granitehybrid-moe-q8_0.twin", "granitehybrid"], ["lfm2moe.gguf", "tiny-lfm2moe-q8_0.twin", "lfm2moe"],
      ["nemotron-h-moe.gguf", "tiny-nemotron-h-moe-q8_0.twin", "nemotron_h_moe"], ["qwen35.gguf", "tiny-qwen35-q8_0.twin", "qwen35"],
      ["qwen35moe.gguf", "tiny-qwen35moe-q8_0.twin", "qwen35moe"], ["qwen3next.gguf", "tiny-qwen3next-q8_0.twin", "qwen3next"],
      ["jamba.gguf", "tiny-jamba-q8_0.twin", "jamba"], ["gemma3.gguf", "tiny-gemma3-q8_0.twin", "gemma3"]]) {
    const mm = await Model.load(file);
    const gg = await (await fetch(`../fixtures/golden/${golden}.json`)).json();
    let w = 0;
    const a = mm.createSession();
    for (let i = 0; i < gg.tokens.length; i++) { await a.append([gg.tokens[i]]); w = Math.max(w, rel(await a.logits(), gg.seq[i])); }
    const b = mm.createSession();
    await b.append(gg.tokens);
    w = Math.max(w, rel(await b.logits(), gg.batch[gg.tokens.length - 1]));
    out[`${key}Match`] = w <= 1e-3;
    out[`${key}Worst`] = w;
    out[`${key}Layers`] = mm.info.layers.map((l) => l.mixers.join("+") || "-").join(",");
    const ex = mm.info.layers.find((l) => l.experts)?.experts;
    if (ex) out[`${key}Experts`] = `${ex.count}/${ex.used}/${ex.shared}`;
    // fork at 8, rewind to 5, save / restore: each continues exactly like a fresh session
    const head = gg.tokens.slice(0, 8), tail = gg.tokens.slice(8);
    const p = mm.createSession();
    await p.append(head);
    const c = await p.fork();
    await c.append(tail);
    const forkOk = rel(await c.logits(), gg.batch[gg.tokens.length - 1]) <= 1e-3;
    await c.rewind(5);
    await c.append(gg.tokens.slice(5));
    const rewindOk = rel(await c.logits(), gg.batch[gg.tokens.length - 1]) <= 1e-3;
    const r = await mm.restoreSession(await p.save());
    await r.append(tail);
    const restoreOk = rel(await r.logits(), gg.batch[gg.tokens.length - 1]) <= 1e-3;
    out[`${key}Sessions`] = forkOk && rewindOk && restoreOk;
    mm.dispose();
  }
  // A 200-token prompt through Qwen3.5's chunked DeltaNet prefill (three full 64-token chunks
  // and a partial one) on the browser's adapter, against llama.cpp's last logits
  // (tests/fixtures/golden-long), in one append and split 130 + 70.
  {
    const mm = await Model.load("qwen35-f32.gguf");
    const gl = await (await fetch("../fixtures/golden-long/tiny-qwen35-f32.json")).json();
    const a = mm.createSession();
    await a.append(gl.tokens);
    const b = mm.createSession();
    await b.append(gl.tokens.slice(0, 130));
    await b.append(gl.tokens.slice(130));
    const last = gl.batch[gl.batch.length - 1];
    out.longPrefillWorst = Math.max(rel(await a.logits(), last), rel(await b.logits(), last));
    out.longPrefillMatch = out.longPrefillWorst <= 1e-3;
    // The prefix cache: b passed through the first 130 tokens (a turn end), so a new session
    // with the same 200 tokens computes only 70 — and gets llama.cpp's logits.
    const c = mm.createSession();
    const r = await c.append(gl.tokens);
    out.prefixAppend = `${r.reused}/${r.computed}`;
    out.prefixMatch = rel(await c.logits(), last) <= 1e-3;
    const pc = mm.memory.prefixCache;
    out.prefixReport = pc.enabled && pc.entries > 0 && pc.bytes > 0 && pc.bytes <= pc.budget && pc.reusedTokens >= 130;
    mm.setPrefixCache({ enabled: false });
    const d = mm.createSession();
    out.prefixOff = (await d.append(gl.tokens)).reused === 0 && mm.memory.prefixCache.entries === 0;
    out.errPrefixBudget = await codeOf((async () => mm.setPrefixCache({ budget: -1 }))());
    mm.dispose();
  }
  // An architecture Braid does not run, and a browser without WebGPU.
  out.errArch = await codeOf(Model.load("unsupported.gguf"));
  const gpu = navigator.gpu;
  Object.defineProperty(Navigator.prototype, "gpu", { configurable: true, get: () => undefined });
  out.errNoGpu = await codeOf(Model.load("model.gguf"));
  Object.defineProperty(Navigator.prototype, "gpu", { configurable: true, get: () => gpu });
  out.done = true;
} catch (e) {
  out.error = (e.code ?? "") + ": " + (e.message ?? e);
}
document.getElementById("result").textContent = JSON.stringify(out);
