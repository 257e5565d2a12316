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
 *
 * `stream: true` returns as soon as the response headers have arrived: the body streams the
 * cached parts and then the rest of the file from the network, storing parts as they pass.
 * The model loader then sees the file's header at once (an unsupported model fails before
 * the rest is downloaded), and if the consumer cancels the body, what arrived stays cached
 * and the next call resumes from there.
 */
export async function cachedSource(url, opts = {}) {
  return cachedSourceTry(url, opts, 0);
}

async function cachedSourceTry(url, { onProgress, signal, partBytes, stream = false }, attempt) {
  url = new URL(url, typeof location !== "undefined" ? location.href : undefined).href;
  const cache = await caches.open(CACHE);
  let m = await readManifest(cache, url);
  if (m) m = await verify(cache, url, m);
  if (!m || !m.complete) {
    if (stream) return streamingResponse(cache, url, m, { onProgress, signal, partBytes });
    const d = await begin(cache, url, m, { signal, partBytes });
    await d.pump(onProgress);
    m = d.m;
    m = await verify(cache, url, m);
    if (!m.complete) {
      // A part failed verification right after it was stored: try once more, then give up
      // (a browser that keeps dropping what it stores would otherwise download forever).
      if (attempt > 0) throw error("CACHE_FAILED", "the browser cache does not keep the parts it is given (storage full or evicted?)");
      return cachedSourceTry(url, { onProgress, signal, partBytes, stream }, attempt + 1);
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

// Verify every stored part (length + SHA-256); the manifest is cut at the first bad one.
async function verify(cache, url, m) {
  for (let i = 0; i < m.parts.length; i++) {
    const r = await cache.match(partKey(url, i));
    const buf = r ? await r.arrayBuffer() : null;
    if (!buf || buf.byteLength !== m.parts[i].bytes || (await sha256(buf)) !== m.parts[i].sha256) {
      m.parts.length = i;
      m.complete = false;
      await writeManifest(cache, url, m);
      break;
    }
  }
  return m;
}

// The cached parts, then the network rest (stored as it passes), as one Response body.
async function streamingResponse(cache, url, m, { onProgress, signal, partBytes }) {
  const d = await begin(cache, url, m, { signal, partBytes });
  const cachedParts = d.m.parts.length;
  let wake = null, cancelled = false;
  const room = async (c) => { while (c.desiredSize <= 0 && !cancelled) await new Promise((r) => (wake = r)); };
  const body = new ReadableStream({
    start(c) {
      (async () => {
        try {
          for (let i = 0; i < cachedParts && !cancelled; i++) {
            const r = await cache.match(partKey(url, i));
            c.enqueue(new Uint8Array(await r.arrayBuffer()));
            await room(c);
          }
          await d.pump(onProgress, async (v) => {
            if (cancelled) throw error("ABORTED", "the reader cancelled the download (resumable)");
            c.enqueue(v);
            await room(c);
          });
          if (!cancelled) c.close();
        } catch (e) {
          if (!cancelled) c.error(e);
        }
      })();
    },
    pull() { wake?.(); wake = null; },
    cancel() { cancelled = true; wake?.(); wake = null; },
  }, { highWaterMark: 4 });
  const size = d.m.size;
  return new Response(body, size != null ? { headers: { "content-length": String(size) } } : {});
}

// Start (or resume) the download: the response headers are read here; `pump` moves the body
// into cache parts, handing each new chunk to `onChunk` when given.
async function begin(cache, url, m, { signal, partBytes }) {
  m ??= { url, size: null, parts: [], complete: false, etag: null, partBytes: partBytes ?? PART };
  const PART_ = m.partBytes;
  let offset = m.parts.reduce((a, p) => a + p.bytes, 0);
  const headers = offset > 0 ? { range: `bytes=${offset}-` } : {};
  let resp;
  try {
    resp = await fetch(url, { headers, signal });
  } catch (e) {
    if (signal?.aborted) throw error("ABORTED", "download aborted (resumable)");
    throw error("GGUF_INVALID", `download failed: ${e?.message ?? e} (offline, or the server does not allow cross-origin requests?)`);
  }
  if (!resp.ok) throw error("GGUF_INVALID", `download failed: HTTP ${resp.status}`);
  const etag = resp.headers.get("etag");
  let skip = 0;
  if (offset > 0 && (resp.status !== 206 || (m.etag && etag && m.etag !== etag))) {
    if (m.etag && etag && m.etag !== etag) { m.parts = []; offset = 0; } // the file changed
    else skip = offset;                                                    // no Range support
  }
  const len = Number(resp.headers.get("content-length")) || null;
  m.size = resp.status === 206 ? (len == null ? null : offset + len) : len;
  m.etag = etag;
  const pump = async (onProgress, onChunk) => {
    const reader = resp.body.getReader();
    let buf = new Uint8Array(PART_), fill = 0, loaded = offset, done = false, storing = true;
    const flush = async () => {
      if (!fill || !storing) { fill = 0; return; }
      const part = buf.slice(0, fill);
      fill = 0;
      try {
        await cache.put(partKey(url, m.parts.length), new Response(part));
        m.parts.push({ bytes: part.length, sha256: await sha256(part) });
        await writeManifest(cache, url, m);
      } catch (e) {
        // Storage full (QuotaExceededError) or the cache is unavailable. Streaming to a
        // consumer goes on without storing (what was stored stays, resumable); a plain
        // download has nothing to hand on.
        if (!onChunk) throw error("CACHE_FAILED", `the browser cache refused a part: ${e?.message ?? e}`);
        storing = false;
      }
    };
    try {
      for (;;) {
        if (signal?.aborted) throw error("ABORTED", "download aborted (resumable)");
        const r = await reader.read();
        if (r.done) break;
        let v = r.value;
        if (skip > 0) { const n = Math.min(skip, v.length); skip -= n; v = v.subarray(n); }
        if (!v.length) continue;
        if (onChunk) await onChunk(v);
        while (v.length) {
          const n = Math.min(PART_ - fill, v.length);
          buf.set(v.subarray(0, n), fill);
          fill += n; loaded += n; v = v.subarray(n);
          if (fill === PART_) await flush();
        }
        onProgress?.({ phase: "download", loaded, total: m.size, cached: false });
      }
      done = true;
      await flush();
      m.size ??= loaded;
      if (storing) {
        m.complete = true;
        await writeManifest(cache, url, m).catch(() => {});
      }
    } finally {
      if (!done) reader.cancel().catch(() => {});
    }
  };
  return { m, pump };
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
