// The demo page: stream a GGUF onto the GPU with the public API and show what was loaded.
import init, { loadWeights, wasmMemoryBytes } from '../pkg/braid.js';

const $ = (id) => document.getElementById(id);
let controller = null;

function showError(e) {
  const el = $('error');
  el.hidden = false;
  el.textContent = e && e.code ? `${e.code}: ${e.message}` : String(e && e.message || e);
}

const mb = (b) => (b / 1e6).toFixed(1) + ' MB';

async function load(source, label) {
  $('error').hidden = true;
  if (!navigator.gpu) {
    showError({ code: 'NO_WEBGPU', message: 'This browser has no WebGPU. Use a recent Chrome/Edge (or Chromium with --enable-unsafe-webgpu), or Safari/Firefox with WebGPU enabled.' });
    return;
  }
  controller = new AbortController();
  $('abort').disabled = false;
  $('progress').hidden = false;
  const t0 = performance.now();
  try {
    const w = await loadWeights(source, {
      signal: controller.signal,
      onProgress: ({ phase, loaded, total }) => {
        const secs = (performance.now() - t0) / 1000;
        $('bar-fill').style.width = total ? (100 * loaded / total).toFixed(1) + '%' : '50%';
        $('progress-text').textContent =
          `${phase}: ${mb(loaded)}${total ? ' of ' + mb(total) : ''} — ${(loaded / 1e6 / Math.max(secs, 1e-3)).toFixed(1)} MB/s`;
      },
    });
    const secs = (performance.now() - t0) / 1000;
    show(w, label, secs);
  } catch (e) {
    showError(e);
  } finally {
    $('abort').disabled = true;
  }
}

function show(w, label, secs) {
  const info = w.info;
  const m = info.metadata;
  const arch = m['general.architecture'];
  const bytes = info.tensors.reduce((a, t) => a + t.bytes, 0);
  const types = [...new Set(info.tensors.map((t) => t.type))].join(', ');
  $('model').hidden = false;
  const rows = [
    ['source', label], ['architecture', arch], ['GGUF version', info.version],
    ['tensors', info.tensors.length], ['tensor types', types], ['file tensor bytes', mb(bytes)],
    ['GPU bytes', mb(info.gpuBytes)], ['load time', `${secs.toFixed(2)} s (${(bytes / 1e6 / secs).toFixed(1)} MB/s parse + upload)`],
    ['wasm memory', mb(wasmMemoryBytes())], ['adapter', JSON.stringify(info.adapter)],
  ];
  $('summary').innerHTML = '';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    $('summary').append(dt, dd);
  }
  const meta = $('metadata');
  meta.innerHTML = '';
  for (const [k, v] of Object.entries(m)) {
    const tr = meta.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  const body = $('tensors').tBodies[0];
  body.innerHTML = '';
  for (const t of info.tensors) {
    const tr = body.insertRow();
    tr.insertCell().textContent = t.name;
    tr.insertCell().textContent = t.type;
    tr.insertCell().textContent = `[${t.shape.join(', ')}]`;
    const b = tr.insertCell(); b.textContent = t.bytes.toLocaleString(); b.className = 'num';
    const p = tr.insertCell(); p.textContent = t.parts; p.className = 'num';
  }
}

await init();
$('load-default').onclick = () => load('models/default.gguf', 'built-in default (random weights)');
$('file').onchange = (e) => { const f = e.target.files[0]; if (f) load(f, f.name); };
$('url-form').onsubmit = (e) => { e.preventDefault(); const u = $('url').value.trim(); if (u) load(u, u); };
$('abort').onclick = () => controller && controller.abort();

// Deep link: ?model=URL loads that file; ?model=default the built-in model.
const wanted = new URLSearchParams(location.search).get('model');
if (wanted === 'default') $('load-default').click();
else if (wanted) { $('url').value = wanted; load(wanted, wanted); }
