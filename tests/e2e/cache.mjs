// The weight cache (js/cache.js): interrupted download resumes, a second load does not use
// the network, a corrupted part is detected and fetched again, list and delete.
import { Model } from "../../js/index.js";
import { cachedSource, listCachedModels, deleteCachedModel } from "../../js/cache.js";

const out = {};
const fetches = () => performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/model.gguf")).length;
const logitsOf = async (src) => {
  const m = await Model.load(src);
  const s = m.createSession();
  await s.append([1, 2, 3, 4]);
  const l = Array.from(await s.logits());
  m.dispose();
  return l;
};
try {
  await deleteCachedModel("model.gguf");
  const ac = new AbortController();
  out.interrupted = await cachedSource("model.gguf", { partBytes: 65536, signal: ac.signal,
    onProgress: (p) => { if (p.loaded > 100000) ac.abort(); } }).then(() => "no error", (e) => e.code);
  const partial = (await listCachedModels())[0];
  out.partial = partial && !partial.complete && partial.bytesCached >= 65536;
  const direct = await logitsOf("model.gguf");
  const before = fetches();
  const cachedLogits = await logitsOf(await cachedSource("model.gguf", { partBytes: 65536 }));
  out.resumeFetches = fetches() - before;            // the resumed download
  out.sameLogits = JSON.stringify(direct) === JSON.stringify(cachedLogits);
  const before2 = fetches();
  await logitsOf(await cachedSource("model.gguf"));
  out.secondLoadFetches = fetches() - before2;       // from the cache: none
  const list = await listCachedModels();
  out.listed = list.length === 1 && list[0].complete;
  // corrupt one part: detected (SHA-256), fetched again
  const cache = await caches.open("braid-models-v1");
  await cache.put(`https://braid-llm.cache/${encodeURIComponent(new URL("model.gguf", location.href).href)}/part-1`,
                  new Response(new Uint8Array(65536)));
  const before3 = fetches();
  const again = await logitsOf(await cachedSource("model.gguf"));
  out.repairFetches = fetches() - before3;
  out.repairedSame = JSON.stringify(again) === JSON.stringify(direct);
  out.deleted = await deleteCachedModel("model.gguf");
  out.empty = (await listCachedModels()).length === 0;
  // stream mode: the body streams from the network while it is stored; the next load is cached
  const before4 = fetches();
  const streamed = await logitsOf(await cachedSource("model.gguf", { partBytes: 65536, stream: true }));
  out.streamFetches = fetches() - before4;
  out.streamSame = JSON.stringify(streamed) === JSON.stringify(direct);
  out.streamStored = (await listCachedModels()).some((m) => m.complete && m.url.endsWith("/model.gguf"));
  const before5 = fetches();
  await logitsOf(await cachedSource("model.gguf", { stream: true }));
  out.streamSecondFetches = fetches() - before5;
  // an unsupported model is refused from the streamed header
  out.streamArch = await Model.load(await cachedSource("unsupported.gguf", { stream: true })).then(() => "no error", (e) => e.code);
  await deleteCachedModel("model.gguf");
  await deleteCachedModel("unsupported.gguf");
  out.done = true;
} catch (e) {
  out.error = (e.code ?? "") + ": " + (e.message ?? e);
}
document.getElementById("result").textContent = JSON.stringify(out);
