// The Braid chat demo. Uses only the public package API: braid-llm/proxy (the engine in a Web
// Worker) with the weight cache of braid-llm/cache behind it.
import { loadInWorker } from "../js/proxy.js";
import { listCachedModels, deleteCachedModel } from "../js/cache.js";
import {
  commonPrefix, withSystem, renderPrompt, turnTokens, keepAnchors, syncSession, systemPrefixLength, encodeChatFile, decodeChatFile,
  formatBytes, formatCount,
} from "./chat.js";
import { PRESETS } from "./presets.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) if (c != null) e.append(c);
  return e;
};

const ERRORS = {
  NO_WEBGPU: ["WebGPU is not available",
    "This browser offers no WebGPU adapter. Use a recent Chrome or Edge (113+), Safari 26+, or Firefox 141+ on Windows; " +
    "Chromium on Linux needs --enable-unsafe-webgpu (and --enable-features=Vulkan on some GPUs)."],
  DEVICE_LIMITS: ["The model does not fit this device",
    "Try a smaller model or quantization (Q4_K_M), or raise the GPU memory budget under Generation."],
  GGUF_INVALID: ["This is not a valid GGUF model file",
    "Braid reads GGUF v2/v3 files as written by llama.cpp; this one is corrupt, truncated or another format."],
  UNSUPPORTED_ARCH: ["Braid cannot run this architecture yet",
    "The message above names what the file needs and, for an unknown architecture, the ones Braid runs. This was found in the file's header, before its weights were downloaded."],
  UNSUPPORTED_TYPE: ["This model uses something Braid cannot run yet",
    "Try another quantization of it (Q4_K_M, Q8_0, Q4_0, …)."],
  DEVICE_LOST: ["The GPU device was lost", "The driver reset, or the GPU ran out of memory. Load the model again."],
  STATE_MISMATCH: ["This conversation belongs to another model",
    "A saved conversation opens only with the model (the same file) it was saved with."],
  BAD_CHAT_FILE: ["Not a Braid conversation file", "Open a file made with Save…"],
  CACHE_FAILED: ["The browser cache could not keep the model", "Clear the browser cache under Model, or load without “keep downloads in the browser cache”."],
  SESSION_DISPOSED: ["The conversation is closed", ""],
  BAD_ARGUMENT: ["Invalid request", ""],
};

const state = {
  model: null, meta: null, loading: null, convs: [], active: null, busy: false, abort: null, nextId: 1,
};

// ---------- errors: always on the page, never only in the console
function showError(e, context = "") {
  const code = e?.code ?? "ERROR";
  let [title, hint] = ERRORS[code] ?? ["Something went wrong", ""];
  if (/download failed|Failed to fetch|NetworkError/i.test(e?.message ?? "")) {
    [title, hint] = ["The download failed", "Check the URL and the connection; the server must allow cross-origin requests (CORS)."];
  }
  $("#error-title").textContent = context ? `${context}: ${title}` : title;
  $("#error-code").textContent = code;
  $("#error-text").textContent = [e?.message ?? String(e), hint].filter(Boolean).join(" — ");
  $("#error").dataset.code = code;
  $("#error").hidden = false;
}
function hideError() { $("#error").hidden = true; }
$("#error-close").onclick = hideError;
window.addEventListener("error", (ev) => showError(ev.error ?? { message: ev.message }, "Page error"));
window.addEventListener("unhandledrejection", (ev) => showError(ev.reason, "Unexpected error"));

// ---------- settings (kept in localStorage)
const SETTINGS = ["temperature", "top-p", "max-tokens", "seed", "system-prompt", "gpu-budget", "use-cache"];
for (const id of SETTINGS) {
  const input = $("#" + id);
  const saved = localStorage.getItem("braid:" + id);
  if (saved != null) input.type === "checkbox" ? (input.checked = saved === "1") : (input.value = saved);
  input.addEventListener("change", () =>
    localStorage.setItem("braid:" + id, input.type === "checkbox" ? (input.checked ? "1" : "0") : input.value));
}
function num(id, def, lo, hi) {
  const v = Number($("#" + id).value);
  return $("#" + id).value === "" || !isFinite(v) ? def : Math.min(hi, Math.max(lo, v));
}
function genOptions(signal) {
  const seed = $("#seed").value === "" ? undefined : num("seed", 0, 0, 2 ** 32 - 1);
  return {
    temperature: num("temperature", 0.7, 0, 2), topP: num("top-p", 0.95, 0, 1),
    maxTokens: Math.round(num("max-tokens", 256, 1, 8192)), seed, signal,
  };
}

// ---------- the browser's weight cache
async function showCache() {
  try {
    const list = await listCachedModels();
    const bytes = list.reduce((a, m) => a + m.bytesCached, 0);
    const partial = list.filter((m) => !m.complete).length;
    $("#cache-info").textContent = list.length
      ? `Browser cache: ${list.length} model file${list.length > 1 ? "s" : ""}, ${formatBytes(bytes)}${partial ? ` (${partial} partial, resumable)` : ""}`
      : "Browser cache: empty";
    $("#clear-cache").hidden = !list.length;
  } catch {
    $("#cache-info").textContent = "Browser cache: not available here";
    $("#clear-cache").hidden = true;
  }
}
$("#clear-cache").onclick = async () => {
  for (const m of await listCachedModels()) await deleteCachedModel(m.url);
  await showCache();
};

// ---------- model loading
for (const p of PRESETS) $("#preset").append(el("option", { value: p.id, textContent: p.label }));
const presetNote = () => { $("#preset-note").textContent = PRESETS.find((p) => p.id === $("#preset").value)?.note ?? ""; };
$("#preset").onchange = presetNote;
presetNote();

$("#load-preset").onclick = () => {
  const p = PRESETS.find((x) => x.id === $("#preset").value);
  loadModel(p.url, { label: p.label.split(" — ")[0].split(" · ")[0], random: !!p.random, cache: $("#use-cache").checked });
};
$("#url-form").onsubmit = (ev) => {
  ev.preventDefault();
  const url = $("#url").value.trim();
  if (url) loadModel(url, { label: url.split("/").pop() || url, cache: $("#use-cache").checked });
};
$("#file").onchange = () => {
  const f = $("#file").files[0];
  if (f) loadModel(f, { label: f.name, size: f.size });
  $("#file").value = "";
};
$("#cancel-load").onclick = () => state.loading?.abort();

function setBar(which, loaded, total, t0, label) {
  const pct = total ? Math.min(100, (100 * loaded) / total) : 0;
  $(`#${which}-fill`).style.width = total ? pct.toFixed(1) + "%" : "100%";
  $(`#${which}-fill`).classList.toggle("indeterminate", !total);
  const secs = (performance.now() - t0) / 1000;
  const speed = secs > 0.05 ? `${formatBytes(loaded / secs)}/s` : "";
  $(`#${which}-text`).textContent = `${formatBytes(loaded)}${total ? " / " + formatBytes(total) : ""} ${speed}`;
  if (label) $("#dl-label").textContent = label;
}

// The new model loads next to the current one (in its own worker); only once it has loaded are
// the current model and its conversations closed. A file that turns out bad (corrupt,
// unsupported, over the budget: most are refused from the header) or a cancelled load loses
// nothing.
async function loadModel(source, { label, random = false, cache = false }) {
  if (!navigator.gpu) return showError({ code: "NO_WEBGPU", message: "navigator.gpu is missing" });
  hideError();
  state.loading?.abort();
  const ac = new AbortController();
  state.loading = ac;
  $("#progress").hidden = false;
  $("#load-summary").textContent = `Loading ${label}…` + (state.model ? " (the current model stays until it has loaded)" : "");
  const badge = $("#model-badge").textContent;
  $("#model-badge").textContent = state.model ? `${badge} · loading ${label}…` : `loading ${label}…`;
  setBar("dl", 0, null, performance.now(), typeof source === "string" ? "Download" : "Read file");
  setBar("up", 0, null, performance.now());
  const t0 = performance.now();
  const starts = {};
  let pending = null, bytes = 0;
  const onProgress = (p) => {
    starts[p.phase] ??= performance.now();
    bytes = Math.max(bytes, p.loaded);
    pending = p;
    requestAnimationFrame(() => {
      if (!pending || state.loading !== ac) return;
      const q = pending;
      pending = null;
      if (q.phase === "download") {
        const label = q.via === "cache" ? "Read from browser cache" : q.via === "network" ? "Download → browser cache"
          : typeof source === "string" ? "Download" : "Read file";
        setBar("dl", q.loaded, q.total, starts.download, label);
      } else {
        setBar("up", q.loaded, q.total, starts.upload);
      }
    });
  };
  try {
    const budget = num("gpu-budget", 0, 0, 1e9);
    const model = await loadInWorker(source, {
      signal: ac.signal, cache, onProgress, maxGpuBytes: budget > 0 ? budget * 1048576 : undefined,
    });
    const secs = (performance.now() - t0) / 1000;
    if (state.loading !== ac) { model.dispose(); return; }
    // Sessions belong to their model: the new one replaces it now (Save… keeps a conversation).
    if (state.busy) state.abort?.abort();
    const closed = await closeModel();
    state.model = model;
    state.meta = { label, random };
    const how = model.fromCache ? "from the browser cache (no network)" : cache ? "downloaded and cached" :
      typeof source === "string" ? "downloaded" : "read from the file";
    $("#load-summary").textContent = `Loaded ${formatBytes(bytes)} in ${secs.toFixed(2)} s — ${how}` +
      ` (${formatBytes(bytes / Math.max(secs, 1e-3))}/s end to end).`;
    $("#load-summary").dataset.fromCache = String(!!model.fromCache);
    showModelInfo();
    await newConversation();
    // (after the new conversation, which clears the line)
    if (closed) $("#turn-info").textContent = `Closed ${closed} conversation${closed > 1 ? "s" : ""} of the previous model.`;
  } catch (e) {
    if (state.loading !== ac) return;
    // Nothing was lost: the current model and its conversations are still here.
    $("#model-badge").textContent = state.model ? badge : "no model loaded";
    const kept = state.model ? ` The current model (${state.meta.label}) and its conversations are unchanged.` : "";
    if (e.code === "ABORTED" || ac.signal.aborted) $("#load-summary").textContent = "Loading cancelled." + kept;
    else { $("#load-summary").textContent = kept.trim(); showError(e, `Loading ${label}`); }
  } finally {
    if (state.loading === ac) { state.loading = null; $("#progress").hidden = true; }
    showCache();
  }
}

async function closeModel() {
  $("#turn-info").textContent = "";
  if (!state.model) return 0;
  const m = state.model;
  const closed = state.convs.filter((c) => c.length).length;
  state.model = null;
  state.convs = [];
  state.active = null;
  renderSidebar();
  renderMessages();
  renderMemory();
  $("#model-info").hidden = true;
  updateControls();
  try { await m.dispose(); } catch { /* the worker is gone either way */ }
  return closed;
}

function showModelInfo() {
  const info = state.model.info;
  const { label, random } = state.meta;
  const layers = info.layers;
  // Count layers by their mixers: "4 recurrent (Mamba2), 2 attention", "10 recurrent (short
  // conv), 6 attention", "25 MLP only", "36 attention ∥ recurrent (Mamba2)".
  const word = { attention: "attention", mamba2: "recurrent (Mamba2)", mamba1: "recurrent (Mamba-1)", short_conv: "recurrent (short conv)", delta_net: "recurrent (gated DeltaNet)" };
  const kindOf = (l) => l.mixers.length ? l.mixers.map((m) => m === "attention" && l.window ? `sliding-window attention (${l.window})` : word[m] ?? m).join(" ∥ ") : "MLP only";
  const counts = new Map();
  for (const l of layers) counts.set(kindOf(l), (counts.get(kindOf(l)) ?? 0) + 1);
  const kinds = [...counts].map(([k, n]) => `${n} ${k}`).join(", ");
  const moe = layers.filter((l) => l.experts);
  const ex = moe[0]?.experts;
  const facts = [
    ["Model", label], ["Architecture", info.architecture], ["Parameters", formatCount(info.parameters)],
    ["Layers", `${info.nLayer} (${kinds})`],
    ...(ex ? [["Experts", `${moe.length} mixture-of-experts layers: ${ex.count} experts, ${ex.used} used per token${ex.shared ? ", 1 shared" : ""}`]] : []), ["Tensor types", info.quantTypes.join(", ")],
    ["Weights on GPU", formatBytes(info.gpuBytes)], ["Context", formatCount(info.contextLength) + " tokens"],
    ...(info.kvCacheType === "none" ? [] : [["KV cache", info.kvCacheType === "f16" ? "F16 (the GPU has shader-f16: half the bytes per token)" : "F32"]]),
    ["Vocabulary", formatCount(info.nVocab)], ["Chat template", info.hasChatTemplate ? "from the file" : "none: text completion (the model continues what you write)"],
    ["GPU", state.adapterName || [info.adapter?.name, info.adapter?.driver].filter(Boolean).join(" · ") || "WebGPU (the browser hides the adapter's name)"],
  ];
  $("#model-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
  // One cell per layer, coloured by its mixers: attention, a recurrent mixer (Mamba2, Mamba-1),
  // a short convolution, a gated DeltaNet, both attention and Mamba2 (Falcon-H1), or none (an
  // MLP-only layer).
  const cell = (l) => l.mixers.length > 1 ? "k-p" : l.mixers[0] === "attention" ? (l.window ? "k-w" : "k-a")
    : l.mixers[0] === "short_conv" ? "k-s" : l.mixers[0] === "delta_net" ? "k-d" : l.mixers.length ? "k-r" : "k-m";
  const words = { attention: "attention", mamba2: "Mamba2", mamba1: "Mamba-1", short_conv: "short convolution", delta_net: "gated DeltaNet" };
  const ffnWord = { plain: "ReLU² MLP", gated: "gated FFN", moe: "mixture of experts" };
  $("#layer-strip").replaceChildren(...layers.map((l, i) => el("span", {
    className: cell(l),
    title: `layer ${i}: ${l.mixers.map((m) => m === "attention" && l.window ? `attention, sliding window of ${l.window}` : words[m] ?? m).join(" + ") || "no mixer"}${l.ffn ? ` · ${ffnWord[l.ffn] ?? l.ffn}` : ""}`,
  })));
  $("#random-note").hidden = !random;
  $("#model-info").hidden = false;
  $("#model-badge").textContent = `${label} · ${info.architecture}${random ? " · random weights" : ""}`;
  if (!info.hasTokenizer) showError({ code: "UNSUPPORTED_TYPE", message: "this file has no tokenizer Braid supports, so it cannot chat" });
}

// ---------- conversations
async function newConversation(fromFile) {
  if (!state.model) return;
  const session = fromFile?.session ?? (await state.model.createSession());
  const conv = {
    id: state.nextId++, session, messages: fromFile?.messages ?? [],
    title: fromFile?.title ?? `Chat ${state.nextId - 1}`, memory: null, length: 0, turn: "", anchors: [],
  };
  state.convs.push(conv);
  await refreshMemory(conv);
  switchTo(conv, "");
  return conv;
}

function switchTo(conv, note) {
  state.active = conv;
  renderSidebar();
  renderMessages();
  $("#turn-info").textContent = note ??
    (conv.messages.length ? `Switched to “${conv.title}”: ${conv.length} tokens in its session, nothing recomputed.` : "");
  renderMemory();
  updateControls();
}

function renderSidebar() {
  $("#conversations").replaceChildren(...state.convs.map((c) => {
    const li = el("li", { className: c === state.active ? "active" : "" },
      el("button", { className: "conv", textContent: c.title, onclick: () => switchTo(c) }),
      el("span", { className: "conv-meta", textContent: `${c.length} tok` }),
      el("button", { className: "link close", textContent: "×", title: "Close this conversation", onclick: () => closeConversation(c) }));
    li.dataset.id = c.id;
    return li;
  }));
}

async function closeConversation(c) {
  if (state.busy && state.active === c) state.abort?.abort();
  state.convs = state.convs.filter((x) => x !== c);
  try { await c.session.dispose(); } catch { /* already gone */ }
  if (state.active === c) {
    if (state.convs.length) switchTo(state.convs[state.convs.length - 1]);
    else await newConversation();
  } else renderSidebar();
  renderMemory();
}

function renderMessages() {
  const conv = state.active;
  $("#empty").hidden = !!(conv && conv.messages.length);
  $("#empty-load").hidden = !!state.model;
  $("#empty-chat").hidden = !state.model;
  const box = $("#messages");
  if (!conv) { box.replaceChildren(); return; }
  box.replaceChildren(...conv.messages.map((m, i) => messageEl(conv, m, i)));
  box.scrollTop = box.scrollHeight;
}

// A model without a chat template (a base model) continues text instead of chatting.
function completionMode() {
  return !!state.model && !state.model.info.hasChatTemplate;
}

function messageEl(conv, m, i) {
  const last = i === conv.messages.length - 1;
  const lastUser = conv.messages.map((x) => x.role).lastIndexOf("user") === i;
  const actions = el("div", { className: "actions" });
  const idle = !state.busy;
  if (idle) {
    actions.append(el("button", { className: "link fork", textContent: "Fork here", title: "New conversation with the messages up to here (copy-on-write session)", onclick: () => forkAt(conv, i) }));
    if (m.role === "user" && lastUser) actions.append(el("button", { className: "link edit", textContent: "Edit", onclick: () => editMessage(conv, i) }));
    if (m.role === "assistant" && last) actions.append(el("button", { className: "link regen", textContent: "Regenerate", onclick: () => regenerate(conv) }));
  }
  const node = el("div", { className: `msg ${m.role}` },
    el("div", { className: "role", textContent: m.role === "user" ? (completionMode() ? "Text" : "You") : m.role === "assistant" ? (completionMode() ? "Continuation" : "Model") : m.role }),
    el("div", { className: "content", textContent: visible(m.content) }),
    el("div", { className: "meta", textContent: m.meta ?? "" }),
    actions);
  node.dataset.index = i;
  m.el = node;
  return node;
}

// Control characters other than newline and tab are shown as their Unicode "control
// pictures" (U+2400…), so that a reply made of them is visible rather than blank space.
const visible = (t) => t.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g,
  (c) => String.fromCharCode(c === "\u007f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));

function updateControls() {
  const ready = !!state.model && !!state.active;
  $("#prompt").disabled = !ready;
  $("#prompt").placeholder = !ready ? "Load a model to start"
    : completionMode() ? "Text completion (a base model, no chat template): write the beginning of a text, the model continues it (Enter to send)"
    : "Message the model (Enter to send, Shift+Enter for a new line)";
  $("#send").disabled = !ready || state.busy;
  $("#send").hidden = state.busy;
  $("#stop").hidden = !state.busy;
  $("#new-chat").disabled = !state.model;
  $("#save-chat").disabled = !ready || state.busy || !state.active?.length;
  $("#load-chat").disabled = !state.model || state.busy;
  $("#load-chat-label").classList.toggle("disabled", !state.model || state.busy);
}

function turnText(what, s, prefillMs) {
  const parts = [`${what}: ${s.length} tokens in the prompt`];
  parts.push(`${s.reused} reused from the session`);
  if (s.dropped) parts.push(`rewound ${s.dropped} (recomputed ${s.recomputed} from the nearest checkpoint)`);
  if (s.cached) parts.push(`reused ${s.cached} from the prefix cache`);
  parts.push(`prefilled ${s.prefilled - (s.cached ?? 0)}` + (s.prefilled ? ` in ${(prefillMs / 1000).toFixed(2)} s` : ""));
  return parts.join(" · ");
}

// Render the conversation to tokens, bring the session there, stream a reply.
async function respond(conv, what) {
  state.busy = true;
  updateControls();
  renderMessages();
  const ac = new AbortController();
  state.abort = ac;
  const msg = { role: "assistant", content: "", meta: "" };
  try {
    const text = await renderPrompt(state.model, withSystem($("#system-prompt").value, conv.messages), true);
    const ids = await turnTokens(state.model, conv.session, text, conv.anchors);
    const t0 = performance.now();
    const sync = await syncSession(conv.session, ids, await systemPrefixLength(state.model, $("#system-prompt").value, ids));
    conv.anchors = keepAnchors(conv.anchors, sync.reused);
    conv.anchors.push({ text, length: ids.length });
    conv.turn = turnText(what, sync, performance.now() - t0);
    if (state.active === conv) $("#turn-info").textContent = conv.turn;
    conv.messages.push(msg);
    if (state.active === conv) { $("#messages").append(messageEl(conv, msg, conv.messages.length - 1)); }
    let n = 0, finish = "length", queued = false;
    const tGen = performance.now();
    let finished = false;
    const show = () => {
      queued = false;
      if (finished) return;
      const secs = (performance.now() - tGen) / 1000;
      msg.meta = `${n} tokens · ${(n / Math.max(secs, 1e-3)).toFixed(1)} tok/s`;
      if (msg.el) {
        msg.el.querySelector(".content").textContent = visible(msg.content);
        msg.el.querySelector(".meta").textContent = msg.meta + " · generating…";
        if (state.active === conv) $("#messages").scrollTop = $("#messages").scrollHeight;
      }
    };
    for await (const ev of conv.session.generate(genOptions(ac.signal))) {
      if (ev.done) { finish = ev.finishReason; msg.content += ev.text ?? ""; break; }
      n++;
      msg.content += ev.text;
      if (!queued) { queued = true; requestAnimationFrame(show); }
    }
    finished = true;
    const secs = (performance.now() - tGen) / 1000;
    const why = { stop: "end of turn", length: "max tokens", abort: "stopped" }[finish] ?? finish;
    msg.meta = `${n} tokens · ${(n / Math.max(secs, 1e-3)).toFixed(1)} tok/s · ${why}`;
    // The session now holds the prompt + exactly the generated tokens.
    conv.anchors.push({ text: text + msg.content, length: ids.length + n });
  } catch (e) {
    msg.meta = `error: ${e.code ?? ""}`;
    // A conversation closed (or a model replaced) mid-reply is not an error to report.
    if (state.convs.includes(conv)) showError(e, "Generation");
  } finally {
    state.busy = false;
    state.abort = null;
    if (!conv.messages.includes(msg) && msg.content) conv.messages.push(msg);
    if (conv.title.startsWith("Chat ") && conv.messages[0]?.role === "user") conv.title = conv.messages[0].content.slice(0, 40) || conv.title;
    if (state.active === conv) renderMessages();
    await refreshMemory(conv);
  }
}

$("#composer").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("#prompt").value;
  if (!text.trim() || state.busy || !state.active) return;
  $("#prompt").value = "";
  state.active.messages.push({ role: "user", content: text });
  respond(state.active, "Send");
};
$("#prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("#composer").requestSubmit(); }
});
$("#stop").onclick = () => state.abort?.abort();
$("#new-chat").onclick = () => newConversation().catch((e) => showError(e, "New conversation"));

function regenerate(conv) {
  if (state.busy || conv.messages.at(-1)?.role !== "assistant") return;
  conv.messages.pop();
  respond(conv, "Regenerate");
}

function editMessage(conv, i) {
  const m = conv.messages[i];
  const box = el("textarea", { className: "edit-box", value: m.content, rows: 3 });
  const save = el("button", { className: "save-edit", textContent: "Save & resend" });
  const cancel = el("button", { className: "link", textContent: "Cancel", onclick: () => renderMessages() });
  save.onclick = () => {
    if (!box.value.trim()) return;
    conv.messages.length = i;
    conv.messages.push({ role: "user", content: box.value });
    respond(conv, "Edit");
  };
  m.el.querySelector(".content").replaceChildren(box, el("div", { className: "row" }, save, cancel));
  box.focus();
}

async function forkAt(conv, i) {
  if (state.busy) return;
  try {
    const session = await conv.session.fork();
    const messages = conv.messages.slice(0, i + 1).map(({ role, content, meta }) => ({ role, content, meta }));
    const c = await newConversation({ session, messages, title: `${conv.title.slice(0, 30)} ⑂${i + 1}` });
    const { tokens } = await session.state();
    let keep = tokens.length, recomputed = 0;
    if (i === conv.messages.length - 1) {
      c.anchors = keepAnchors(conv.anchors, keep); // the whole conversation: nothing to cut
    } else {
      // Cut the fork back to the kept messages; everything before is shared copy-on-write.
      const text = await renderPrompt(state.model, withSystem($("#system-prompt").value, messages), false);
      const ids = await turnTokens(state.model, session, text, conv.anchors);
      keep = commonPrefix(tokens, ids);
      if (keep < tokens.length) recomputed = await session.rewind(keep);
      c.anchors = keepAnchors(conv.anchors, keep);
    }
    c.turn = `Forked “${conv.title}” at message ${i + 1}: ${keep} tokens shared with the original` +
      (keep < tokens.length ? ` · rewound ${tokens.length - keep} (recomputed ${recomputed} from the nearest checkpoint)` : "");
    await refreshMemory(c);
    switchTo(c, c.turn);
    if (messages.at(-1).role === "user") await respond(c, "Fork → new reply");
  } catch (e) {
    showError(e, "Fork");
  }
}

// ---------- save / load a conversation
$("#save-chat").onclick = async () => {
  const conv = state.active;
  if (!conv || state.busy) return;
  try {
    const bytes = await conv.session.save();
    const info = state.model.info;
    const header = {
      title: conv.title, savedAt: new Date().toISOString(), system: $("#system-prompt").value,
      messages: conv.messages.map(({ role, content, meta }) => ({ role, content, meta })),
      model: { label: state.meta.label, architecture: info.architecture, parameters: info.parameters },
      anchors: conv.anchors,
    };
    const blob = new Blob([encodeChatFile(header, bytes)], { type: "application/octet-stream" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `${conv.title.replace(/[^\w.-]+/g, "_").slice(0, 40) || "chat"}.braidchat` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    $("#turn-info").textContent = `Saved “${conv.title}”: ${conv.messages.length} messages, ${conv.length} tokens of session state (${formatBytes(bytes.length)}).`;
  } catch (e) {
    showError(e, "Save");
  }
};
$("#load-chat").onchange = async () => {
  const f = $("#load-chat").files[0];
  $("#load-chat").value = "";
  if (!f || !state.model) return;
  try {
    const { header, session } = decodeChatFile(await f.arrayBuffer());
    const t0 = performance.now();
    const s = await state.model.restoreSession(session);
    const c = await newConversation({ session: s, messages: header.messages, title: header.title || f.name });
    c.anchors = keepAnchors(Array.isArray(header.anchors) ? header.anchors : [], c.length);
    c.turn = `Loaded “${c.title}” from ${f.name}: ${c.length} tokens of session state restored in ${((performance.now() - t0) / 1000).toFixed(2)} s, nothing recomputed.`;
    if (typeof header.system === "string" && header.system !== $("#system-prompt").value) {
      c.turn += " (It was saved with another system prompt; the next message will recompute from there.)";
    }
    switchTo(c, c.turn);
  } catch (e) {
    showError(e, `Loading ${f.name}`);
  }
};

// ---------- memory panel
async function refreshMemory(conv) {
  try {
    const st = await conv.session.state();
    conv.memory = st.memory;
    conv.length = st.length;
    state.prefixCache = (await state.model.memory?.())?.prefixCache ?? state.prefixCache;
  } catch { /* busy or gone: keep the last figures */ }
  renderMemory();
  renderSidebar();
  updateControls();
}

// What the recurrent layers keep, from their mixers: "conv + SSM state", "conv window", …
function recurrentWhat(info) {
  const what = { mamba2: "conv + SSM state", mamba1: "conv + SSM state", short_conv: "conv window", delta_net: "conv + DeltaNet matrices" };
  const kinds = new Set(info.layers.flatMap((l) => l.mixers.filter((m) => m !== "attention")));
  return [...kinds].map((k) => what[k] ?? k).join(", ") || "state";
}

function renderMemory() {
  const body = $("#memory-body");
  const conv = state.active;
  if (!state.model || !conv?.memory) { body.replaceChildren(document.createTextNode("No session yet.")); return; }
  const m = conv.memory;
  const info = state.model.info;
  const win = m.window ?? 0;
  const total = m.kv + m.recurrent + win + m.checkpoints;
  const nWin = info.layers.filter((l) => l.window).length;
  const nAttn = info.layers.filter((l) => l.attention).length - nWin, nRec = info.layers.filter((l) => l.recurrent).length;
  const maxWin = Math.max(0, ...info.layers.map((l) => l.window ?? 0));
  const seg = (cls, v, title) => el("span", { className: cls, title, style: `width:${total ? (100 * v) / total : 0}%` });
  const perTok = conv.length ? m.kvUsed / conv.length : 0;
  const rows = [
    ...(nAttn ? [["k-a", "Attention KV cache", `${formatBytes(m.kv)} · ${formatBytes(m.kvUsed)} used`, `grows with every token: ${formatBytes(perTok)} per token in ${nAttn} of ${info.nLayer} layers`]] : []),
    ...(nWin ? [["k-w", "Sliding-window KV", formatBytes(win), `${nWin} layers keep only the last ${maxWin} positions (${info.windowRows} rows with one step's room): bounded at any length`]] : []),
    ...(nRec ? [["k-r", "Recurrent state", formatBytes(m.recurrent), `${recurrentWhat(info)} of ${nRec} layers: the same size at any length`]] : []),
    ["k-c", "Checkpoints", formatBytes(m.checkpoints), "snapshots of recurrent state and windows at turn ends, so rewinding is cheap"],
  ];
  const all = state.convs.reduce((a, c) => a + (c.memory ? c.memory.kv + c.memory.recurrent + (c.memory.window ?? 0) + c.memory.checkpoints : 0), 0);
  // For comparison: the KV cache if every layer were attention with the same heads.
  const allAttn = nAttn ? (m.kvUsed / nAttn) * info.nLayer : 0;
  body.replaceChildren(
    el("div", { className: "mem-title", textContent: `“${conv.title}” · ${conv.length} tokens · ${formatBytes(total)}` }),
    el("div", { className: "hint", textContent: `context: ${conv.length} of ${formatCount(info.contextLength)} tokens used` }),
    el("div", { className: "stack" }, seg("k-a", m.kv, "attention KV"), seg("k-w", win, "sliding-window KV"), seg("k-r", m.recurrent, "recurrent state"), seg("k-c", m.checkpoints, "checkpoints")),
    ...rows.map(([cls, k, v, note]) => el("div", { className: "mem-row" },
      el("i", { className: cls }), el("span", { className: "k", textContent: k }), el("span", { className: "v", textContent: v }),
      el("div", { className: "mem-note", textContent: note }))),
    (nRec || nWin) && nAttn ? el("div", { className: "hint compare", textContent:
      `For comparison: with attention in all ${info.nLayer} layers this conversation's KV cache would be ${formatBytes(allAttn)}, growing ${formatBytes(allAttn / Math.max(conv.length, 1))} per token.` }) : null,
    el("table", { className: "mem all" },
      el("tr", {}, el("th", { textContent: "session" }), el("th", { textContent: "tokens" }), el("th", { textContent: "KV" }), el("th", { textContent: nWin ? "window" : "recurrent" }), el("th", { textContent: "ckpt" })),
      ...state.convs.map((c) => el("tr", { className: c === conv ? "active" : "" },
        el("td", { textContent: c.title.length > 14 ? c.title.slice(0, 13) + "…" : c.title }), el("td", { className: "num", textContent: String(c.length) }),
        el("td", { className: "num", textContent: formatBytes(c.memory?.kv) }), el("td", { className: "num", textContent: formatBytes(nWin ? c.memory?.window : c.memory?.recurrent) }),
        el("td", { className: "num", textContent: formatBytes(c.memory?.checkpoints) })))),
    el("div", { className: "hint", textContent: `${state.convs.length === 1 ? "The only session" : `All ${state.convs.length} sessions`}: ${formatBytes(all)} · shared weights: ${formatBytes(info.gpuBytes)} (one copy for every session)` }),
    ...(state.prefixCache?.enabled ? [el("div", { className: "hint prefix-cache", textContent:
      `Prefix cache: ${formatBytes(state.prefixCache.bytes)} of ${formatBytes(state.prefixCache.budget)} (${state.prefixCache.entries} prefixes; ${state.prefixCache.reusedTokens} tokens reused so far)` })] : []),
  );
}

// ---------- start
(async () => {
  updateControls();
  showCache();
  if (!navigator.gpu) {
    showError({ code: "NO_WEBGPU", message: "navigator.gpu is missing" });
  } else {
    try {
      const a = await navigator.gpu.requestAdapter();
      if (!a) showError({ code: "NO_WEBGPU", message: "requestAdapter() found no GPU adapter" });
      const i = a?.info;
      if (i) state.adapterName = i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(" ");
    } catch (e) {
      showError({ code: "NO_WEBGPU", message: String(e?.message ?? e) });
    }
  }
  const q = new URLSearchParams(location.search).get("model");
  if (q === "default") $("#load-preset").click();
  else if (q) { $("#url").value = q; $("#url-form").requestSubmit(); }
})();
