// Weight cache: GGUF bytes kept in the Cache API in 16 MiB parts, so a second load of the same
// URL does not touch the network, an interrupted download resumes where it stopped (HTTP Range
// when the server supports it), and every part is verified (length + SHA-256 recorded when it
// was stored) before use.
//
//   import { cachedSource, listCachedModels, deleteCachedModel } from "braid-llm/cache";
//   const model = await Model.load(await cachedSource(url, { onProgress, signal }));

const CACHE = "braid-models-v1";
const PART = 16 << 20;

function error(code, message) { return Object.assign(new Error(message), { code }); }
// Cache keys are URLs without fragments (the Cache API ignores them): one synthetic URL per
// model file and part.
const key = (url, what) => `https://braid-llm.cache/${encodeURIComponent(url)}/${what}`;
const manifestKey = (url) => key(url, "manifest");
const partKey = (url, i) => key(url, `part-${i}`);

async function sha256(buf) {
  const d = await crypto.subtle.digest("SHA-256", buf);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readManifest(cache, url) {
  const r = await cache.match(manifestKey(url));
  return r ? r.json() : null;
}

async function writeManifest(cache, url, m) {
  await cache.put(manifestKey(url), new Response(JSON.stringify(m), { headers: { "content-type": "application/json" } }));
}

/**
 * Download `url` into the cache (resuming a partial download), then return a Response whose
 * body streams the verified cached parts — a source for Model.load. `onProgress` gets
 * `{ phase: "download", loaded, total, cached }`.
 */
export async function cachedSource(url, { onProgress, signal, partBytes } = {}) {
  url = new URL(url, typeof location !== "undefined" ? location.href : undefined).href;
  const cache = await caches.open(CACHE);
  let m = await readManifest(cache, url);
  if (!m || !m.complete) {
    m = await download(cache, url, m, { onProgress, signal, partBytes });
  }
  // Verify every part before use; a bad part is dropped and the download resumes.
  for (let i = 0; i < m.parts.length; i++) {
    const r = await cache.match(partKey(url, i));
    const buf = r ? await r.arrayBuffer() : null;
    if (!buf || buf.byteLength !== m.parts[i].bytes || (await sha256(buf)) !== m.parts[i].sha256) {
      m.parts.length = i;
      m.complete = false;
      await writeManifest(cache, url, m);
      return cachedSource(url, { onProgress, signal, partBytes });
    }
  }
  let i = 0;
  const body = new ReadableStream({
    async pull(c) {
      if (i === m.parts.length) { c.close(); return; }
      const r = await cache.match(partKey(url, i++));
      c.enqueue(new Uint8Array(await r.arrayBuffer()));
    },
  });
  return new Response(body, { headers: { "content-length": String(m.size) } });
}

async function download(cache, url, m, { onProgress, signal, partBytes }) {
  m ??= { url, size: null, parts: [], complete: false, etag: null, partBytes: partBytes ?? PART };
  const PART_ = m.partBytes;
  let offset = m.parts.reduce((a, p) => a + p.bytes, 0);
  const headers = offset > 0 ? { range: `bytes=${offset}-` } : {};
  const resp = await fetch(url, { headers, signal });
  if (!resp.ok) throw error("GGUF_INVALID", `download failed: HTTP ${resp.status}`);
  const etag = resp.headers.get("etag");
  let skip = 0;
  if (offset > 0 && (resp.status !== 206 || (m.etag && etag && m.etag !== etag))) {
    if (m.etag && etag && m.etag !== etag) { m.parts = []; offset = 0; } // the file changed
    else skip = offset;                                                    // no Range support
  }
  const len = Number(resp.headers.get("content-length")) || null;
  m.size = resp.status === 206 ? offset + (len ?? 0) : len;
  m.etag = etag;
  const reader = resp.body.getReader();
  let buf = new Uint8Array(PART_), fill = 0, loaded = offset;
  const flush = async () => {
    if (!fill) return;
    const part = buf.slice(0, fill);
    await cache.put(partKey(url, m.parts.length), new Response(part));
    m.parts.push({ bytes: fill, sha256: await sha256(part) });
    await writeManifest(cache, url, m);
    fill = 0;
  };
  for (;;) {
    if (signal?.aborted) throw error("ABORTED", "download aborted (resumable)");
    const { done, value } = await reader.read();
    if (done) break;
    let v = value;
    if (skip > 0) { const n = Math.min(skip, v.length); skip -= n; v = v.subarray(n); }
    while (v.length) {
      const n = Math.min(PART_ - fill, v.length);
      buf.set(v.subarray(0, n), fill);
      fill += n; loaded += n; v = v.subarray(n);
      if (fill === PART_) await flush();
    }
    onProgress?.({ phase: "download", loaded, total: m.size, cached: false });
  }
  await flush();
  m.size ??= loaded;
  m.complete = true;
  await writeManifest(cache, url, m);
  return m;
}

/** [{ url, size, complete }] of the models in the cache. */
export async function listCachedModels() {
  const cache = await caches.open(CACHE);
  const out = [];
  for (const req of await cache.keys()) {
    if (!req.url.endsWith("/manifest")) continue;
    const m = await (await cache.match(req)).json();
    out.push({ url: m.url, size: m.size, complete: m.complete, bytesCached: m.parts.reduce((a, p) => a + p.bytes, 0) });
  }
  return out;
}

/** Remove one model (all its parts) from the cache. */
export async function deleteCachedModel(url) {
  url = new URL(url, typeof location !== "undefined" ? location.href : undefined).href;
  const cache = await caches.open(CACHE);
  const m = await readManifest(cache, url);
  if (!m) return false;
  for (let i = 0; i < m.parts.length + 1; i++) await cache.delete(partKey(url, i));
  await cache.delete(manifestKey(url));
  return true;
}
