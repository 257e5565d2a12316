// The bench page: Model.bench (braid-llm/proxy, the engine in a Web Worker) over a few rounds,
// medians, on this browser's adapter. `?model=URL&p=64&g=16&rounds=3&auto=1` runs at once and
// writes the result as JSON into #result (scripts/bench_peers.sh reads it in headless Chromium);
// `model` is a URL or a preset id of www/presets.js (the first preset when absent).
import { loadInWorker } from "../js/proxy.js";
import { PRESETS } from "./presets.js";

const $ = (s) => document.querySelector(s);
const q = new URLSearchParams(location.search);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const int = (id, lo, hi) => { const v = Number($(id).value); if (!Number.isInteger(v) || v < lo || v > hi) throw Object.assign(new Error(`${$(id).previousSibling.textContent.trim()}: a whole number ${lo}..${hi}`), { code: "BAD_ARGUMENT" }); return v; };

for (const p of PRESETS) $("#preset").append(Object.assign(document.createElement("option"), { value: p.id, textContent: p.label }));
for (const k of ["p", "g", "rounds"]) if (q.has(k)) $(`#${k}`).value = q.get(k);

function row(label, r, cls) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  const cells = [label, r.prefillTokS.toFixed(2), r.decodeTokS.toFixed(2), (r.prefillTokS / r.decodeTokS).toFixed(1) + "×",
    (r.weightBytesPerToken / 1e6).toFixed(1) + " MB", r.copyGbS.toFixed(2), r.readGbS.toFixed(2),
    (100 * r.fractionOfCopy).toFixed(0) + "%", (100 * r.fractionOfRead).toFixed(0) + "%", r.perDecodedToken.dispatches.toFixed(0)];
  for (const c of cells) tr.append(Object.assign(document.createElement("td"), { textContent: c }));
  $("#table tbody").append(tr);
}

async function run(source, { p, g, rounds, cache }) {
  $("#table").hidden = false;
  $("#table tbody").textContent = "";
  $("#status").textContent = "loading…";
  const t0 = performance.now();
  const model = await loadInWorker(source, {
    cache, contextLength: p + g + 16,
    onProgress: ({ phase, loaded, total }) => { $("#status").textContent = `${phase} ${(loaded / 1e6).toFixed(0)}${total ? " / " + (total / 1e6).toFixed(0) : ""} MB`; },
  });
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    const runs = [];
    for (let i = 1; i <= rounds; i++) {
      $("#status").textContent = `round ${i} of ${rounds}…`;
      const r = await model.bench({ promptTokens: p, genTokens: g });
      runs.push(r);
      row(String(i), r);
      const a = r.adapter ?? {};
      // Browsers may hide the adapter's name (Chromium reports none for SwiftShader).
      const kind = [a.backend, a.deviceType].filter(Boolean).join(", ");
      $("#adapter").textContent = `adapter: ${a.name || "unnamed"}${kind ? ` (${kind})` : ""} · ${model.info.architecture}, ${(r.gpuBytes / 1e6).toFixed(r.gpuBytes < 1e7 ? 2 : 0)} MB on the GPU · KV cache ${r.kvCacheType} · loaded in ${loadSeconds.toFixed(1)} s`;
      $("#adapter").hidden = false;
    }
    const keys = ["prefillTokS", "decodeTokS", "decodeEffectiveGbS", "copyGbS", "readGbS", "fractionOfCopy", "fractionOfRead"];
    const med = Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))]));
    const summary = { ...runs[0], ...med, perDecodedToken: runs[0].perDecodedToken, rounds, loadSeconds, architecture: model.info.architecture };
    if (rounds > 1) row("median", summary, "median");
    $("#status").textContent = "done";
    return summary;
  } finally {
    await model.dispose();
  }
}

$("#form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#run").disabled = true;
  // A new run (or a refused one) leaves nothing of the previous run on screen.
  $("#table").hidden = true;
  $("#table tbody").textContent = "";
  $("#adapter").hidden = true;
  try {
    const file = $("#file").files[0];
    const source = file ?? PRESETS.find((x) => x.id === $("#preset").value).url;
    await run(source, { p: int("#p", 1, 2048), g: int("#g", 1, 4096), rounds: int("#rounds", 1, 20), cache: !file && $("#cache").checked });
  } catch (e) {
    $("#status").textContent = `failed: ${e.code ?? ""} ${e.message}`;
  } finally {
    $("#run").disabled = false;
  }
});

if (q.get("auto") === "1") {
  try {
    const m = q.get("model");
    const r = await run(PRESETS.find((x) => x.id === m)?.url ?? m ?? PRESETS[0].url, { p: int("#p", 1, 2048), g: int("#g", 1, 4096), rounds: int("#rounds", 1, 20), cache: q.get("cache") === "1" });
    $("#result").textContent = JSON.stringify({ engine: "braid-browser", ...r });
  } catch (e) {
    $("#result").textContent = JSON.stringify({ error: `${e.code ?? ""} ${e.message}` });
  }
}
