// Tool calls in generated text, in the formats the model families document (and their chat
// templates render): Granite 4.0 / Hermes / Qwen2.5-3 `<tool_call>{"name", "arguments"}</tool_call>`,
// Qwen3.5 `<tool_call><function=NAME><parameter=K>V</parameter></function></tool_call>`,
// LFM2 / LFM2.5 `<|tool_call_start|>[name(k="v", …)]<|tool_call_end|>` (Python call syntax, the
// markers possibly absent when they are control tokens), Llama 3.x `{"name", "parameters"}`
// (optionally after `<|python_tag|>`, several separated by `;`). Returned as OpenAI's
// `tool_calls` ({id, type: "function", function: {name, arguments: JSON string}}).

let seq = 0;
const callId = () => `call_${Date.now().toString(36)}${(seq++).toString(36)}`;
const call = (name, args) => ({ id: callId(), type: "function", function: { name, arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}) } });

function jsonCall(s) {
  try {
    const v = JSON.parse(s);
    if (v && typeof v === "object" && !Array.isArray(v) && typeof v.name === "string") return call(v.name, v.arguments ?? v.parameters ?? {});
  } catch { /* not JSON */ }
  return null;
}

// A Qwen3.5 parameter value: JSON when it parses (numbers, objects), else the text.
function paramValue(v) {
  const t = v.replace(/^\n/, "").replace(/\n$/, "");
  try { return JSON.parse(t); } catch { return t; }
}

function xmlCall(s) {
  const f = /<function=([^>\s]+)>([\s\S]*?)<\/function>/.exec(s);
  if (!f) return null;
  const args = {};
  for (const p of f[2].matchAll(/<parameter=([^>\s]+)>([\s\S]*?)<\/parameter>/g)) args[p[1]] = paramValue(p[2]);
  return call(f[1], args);
}

// Python call syntax: [name(k=v, …), …] with literal values (strings, numbers, True/False/None,
// lists, dicts).
function pythonCalls(s) {
  let i = 0;
  const ws = () => { while (i < s.length && /\s/.test(s[i])) i++; };
  const ident = () => { const m = /^[A-Za-z_][\w.-]*/.exec(s.slice(i)); if (!m) throw 0; i += m[0].length; return m[0]; };
  const value = () => {
    ws();
    const c = s[i];
    if (c === '"' || c === "'") {
      let out = "", j = i + 1;
      for (; j < s.length && s[j] !== c; j++) {
        if (s[j] === "\\" && j + 1 < s.length) { j++; out += { n: "\n", t: "\t", r: "\r" }[s[j]] ?? s[j]; } else out += s[j];
      }
      if (j >= s.length) throw 0;
      i = j + 1;
      return out;
    }
    if (c === "[" || c === "(") {
      const close = c === "[" ? "]" : ")";
      i++; const a = []; ws();
      while (s[i] !== close) { a.push(value()); ws(); if (s[i] === ",") { i++; ws(); } else if (s[i] !== close) throw 0; }
      i++; return a;
    }
    if (c === "{") {
      i++; const o = {}; ws();
      while (s[i] !== "}") { const k = value(); ws(); if (s[i] !== ":") throw 0; i++; o[k] = value(); ws(); if (s[i] === ",") { i++; ws(); } else if (s[i] !== "}") throw 0; }
      i++; return o;
    }
    const m = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|True|False|None|true|false|null)/.exec(s.slice(i));
    if (!m) throw 0;
    i += m[0].length;
    return { True: true, true: true, False: false, false: false, None: null, null: null }[m[0]] ?? Number(m[0]);
  };
  try {
    ws();
    if (s[i] !== "[") return null;
    i++; ws();
    const calls = [];
    while (s[i] !== "]") {
      const name = ident(); ws();
      if (s[i] !== "(") return null;
      i++; ws();
      const args = {};
      while (s[i] !== ")") { const k = ident(); ws(); if (s[i] !== "=") return null; i++; args[k] = value(); ws(); if (s[i] === ",") { i++; ws(); } else if (s[i] !== ")") return null; }
      i++; ws();
      calls.push(call(name, args));
      if (s[i] === ",") { i++; ws(); } else if (s[i] !== "]") return null;
    }
    i++; ws();
    return i === s.length && calls.length ? calls : null;
  } catch { return null; }
}

/**
 * The tool calls in a reply, or null when it has none: `{ content, tool_calls }`, content being
 * the text around the calls (null when there is none).
 */
export function parseToolCalls(text) {
  const rest = (s) => (s.trim() ? s.trim() : null);
  // <tool_call> … </tool_call> blocks (JSON or Qwen3.5's XML inside)
  if (text.includes("<tool_call>")) {
    const calls = [];
    const content = text.replace(/<tool_call>([\s\S]*?)(<\/tool_call>|$)/g, (_, body) => {
      const c = jsonCall(body.trim()) ?? xmlCall(body);
      if (c) calls.push(c);
      return c ? "" : _;
    });
    if (calls.length) return { content: rest(content), tool_calls: calls };
  }
  // LFM2's markers, or its bare Python-call list
  const lfm = /<\|tool_call_start\|>([\s\S]*?)<\|tool_call_end\|>/.exec(text);
  if (lfm) {
    const calls = pythonCalls(lfm[1]) ?? (jsonCall(lfm[1].trim()) ? [jsonCall(lfm[1].trim())] : null);
    if (calls) return { content: rest(text.replace(lfm[0], "")), tool_calls: calls };
  }
  const t = text.trim().replace(/^<\|python_tag\|>/, "").trim();
  if (t.startsWith("[")) {
    const calls = pythonCalls(t);
    if (calls) return { content: null, tool_calls: calls };
  }
  // Llama 3.x: the whole reply is one JSON call, or several separated by ";"
  if (t.startsWith("{")) {
    const parts = t.split(/\s*;\s*(?=\{)/);
    const calls = parts.map(jsonCall);
    if (calls.every(Boolean)) return { content: null, tool_calls: calls };
  }
  return null;
}

const OPENERS = ["<tool_call>", "<|tool_call_start|>", "<|python_tag|>"];

/**
 * How much of a reply so far can be shown as content while tools are offered: everything
 * before the first tool-call opener (or before a trailing piece that may become one); nothing
 * when the reply starts like a bare call (`{`, `[`: Llama 3.x, LFM2). `from`: where to start
 * looking (what is before it is known to be content), so that a long reply is scanned once.
 */
export function contentEnd(text, from = 0) {
  return holdPoint(text, from).end;
}

/** contentEnd's answer, and whether the hold is for good (an opener or a bare call found). */
export function holdPoint(text, from = 0) {
  if (from === 0) {
    const t = text.trimStart();
    if (!t || t.startsWith("{") || t.startsWith("[")) return { end: 0, definite: !!t };
  }
  const start = Math.max(0, from - 24);
  let end = text.length, definite = false;
  for (const o of OPENERS) {
    const k = text.indexOf(o, start);
    if (k >= 0 && k < end) { end = k; definite = true; }
  }
  const lt = text.lastIndexOf("<");
  if (lt >= start && lt < end && OPENERS.some((o) => o.startsWith(text.slice(lt)))) { end = lt; definite = false; }
  return { end, definite };
}
