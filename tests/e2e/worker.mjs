// The worker proxy (js/proxy.js + js/worker.js) against the main-thread API on the same model.
import { Model } from "../../js/index.js";
import { loadInWorker } from "../../js/proxy.js";

const out = {};
const codeOf = async (p) => { try { await p; return "no error"; } catch (e) { return e.code ?? String(e); } };
const greedy = async (s, n) => { const t = []; for await (const ev of s.generate({ maxTokens: n, temperature: 0 })) { if (ev.done) break; t.push(ev.token); } return t; };
try {
  const local = await Model.load("model.gguf");
  const ls = local.createSession();
  await ls.append("the hybrid model");
  const want = await greedy(ls, 4);

  let progress = 0;
  const m = await loadInWorker("model.gguf", { onProgress: () => progress++ });
  out.progress = progress > 0;
  out.arch = m.info.architecture;
  out.roundtrip = await m.detokenize(await m.tokenize("the hybrid model"));
  const s = await m.createSession();
  await s.append("the hybrid model");
  const got = await greedy(s, 4);
  out.sameAsMainThread = JSON.stringify(got) === JSON.stringify(want);
  out.length = (await s.state()).length;
  const f = await s.fork();
  out.forkLength = (await f.state()).length;
  out.recomputed = await s.rewind(2);
  const r = await m.restoreSession(await f.save());
  out.restoredLength = (await r.state()).length;
  out.logits = (await s.logits()).length;
  const ac = new AbortController();
  let k = 0;
  for await (const ev of r.generate({ maxTokens: 40, temperature: 0.8, seed: 3, signal: ac.signal })) {
    if (ev.done) { out.abortReason = ev.finishReason; break; }
    if (++k === 2) ac.abort();
  }
  // The session holds exactly the tokens the consumer received (the abort reaches the
  // worker asynchronously, within one step).
  out.abortConsistent = (await r.state()).length === 20 + k && k >= 2 && k <= 3;
  // A signal aborted before generate() starts stops it before the first token.
  const pre = new AbortController();
  pre.abort();
  const lenBefore = (await r.state()).length;
  const evs = [];
  for await (const ev of r.generate({ maxTokens: 40, temperature: 0.8, seed: 4, signal: pre.signal })) evs.push(ev);
  out.preAborted = evs.length === 1 && evs[0].finishReason === "abort" && (await r.state()).length === lenBefore;
  // All or nothing through the proxy: appends refused at the context's end (too many tokens,
  // a bad id) leave the session exactly as it was; a rewind out of range too.
  {
    const small = await loadInWorker("model.gguf", { contextLength: 64 });
    const c = await small.createSession();
    await c.append(Array.from({ length: 63 }, (_, i) => (i * 7 + 1) % 300));
    const before = Array.from(await c.logits());
    const codes = [await codeOf(c.append([1, 2])), await codeOf(c.append([5, 999999])), await codeOf(c.rewind(70))];
    const after = Array.from(await c.logits());
    const st = await c.state();
    out.proxyAllOrNothing = codes.every((x) => x === "BAD_ARGUMENT") && st.length === 63 && before.every((x, i) => x === after[i]);
    out.proxyDetail = JSON.stringify({ codes, length: st.length });
    await small.dispose();
  }
  out.errBadFile = await codeOf(loadInWorker(new Uint8Array([1, 2, 3, 4])));
  await f.dispose();
  out.errDisposed = await codeOf(f.append([1]));
  out.benchWorker = (await m.bench({ promptTokens: 4, genTokens: 2 })).decodeTokens === 2;
  await m.dispose();
  out.done = true;
} catch (e) {
  out.error = (e.code ?? "") + ": " + (e.message ?? e);
}
document.getElementById("result").textContent = JSON.stringify(out);
