// Conversation logic of the demo, on the public API of braid-llm/proxy: rendering a
// conversation to tokens, bringing a session to exactly those tokens by reusing the longest
// common prefix (rewind + append, as llama.cpp's server does), and the conversation file.

export function commonPrefix(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The messages the model sees: the system prompt (if any) then the conversation. */
export function withSystem(system, messages) {
  const m = messages.map(({ role, content }) => ({ role, content }));
  return system?.trim() ? [{ role: "system", content: system }, ...m] : m;
}

/** A conversation as text, with the model's chat template (or a plain fallback). */
export async function renderPrompt(model, messages, addGenerationPrompt = true) {
  if (model.info.hasChatTemplate) return model.applyChatTemplate(messages, { addGenerationPrompt });
  // No chat template (a base model): text completion. The text is the turns' contents one
  // after another, exactly as written, and the model continues it (no roles, no system prompt).
  return completionText(messages);
}

/** The text of a completion-mode conversation: every non-system turn's content, concatenated. */
export function completionText(messages) {
  return messages.filter((m) => m.role !== "system").map((m) => m.content).join("");
}

/** Token ids of a whole rendered conversation (BOS as the model asks). */
export async function tokenizePrompt(model, text) {
  const bos = model.info.bos;
  const ids = await model.tokenize(text, { special: true, addBos: true });
  // Templates that write BOS themselves would get it twice.
  if (bos != null && ids.length > 1 && ids[0] === bos && ids[1] === bos) ids.shift();
  return ids;
}

/**
 * How many of `ids` are the rendered system prompt alone (0 when there is none or its
 * rendering is not a prefix of the conversation's).
 */
export async function systemPrefixLength(model, system, ids) {
  if (!system?.trim() || !model.info.hasChatTemplate) return 0;
  const sys = await tokenizePrompt(model, await renderPrompt(model, withSystem(system, []), false));
  return sys.length < ids.length && commonPrefix(sys, ids) === sys.length ? sys.length : 0;
}

/**
 * The tokens for a turn whose rendered prompt is `text`. Generated replies are kept as the
 * tokens the model produced, not re-tokenized from their text (which often tokenizes
 * differently and would force a rewind into the reply). Each anchor { text, length } says
 * that the session's first `length` tokens are `text` (a previous prompt, or a prompt and
 * its reply); the longest anchor that `text` extends is used and only the rest is tokenized.
 */
export async function turnTokens(model, session, text, anchors = []) {
  const { tokens } = await session.state();
  let best = null;
  for (const a of anchors) {
    if (a.length <= tokens.length && text.startsWith(a.text) && (!best || a.text.length > best.text.length)) best = a;
  }
  if (best) {
    const delta = text.slice(best.text.length);
    const more = delta ? await model.tokenize(delta, { special: true, addBos: false }) : [];
    return tokens.slice(0, best.length).concat(more);
  }
  return tokenizePrompt(model, text);
}

/** Anchors still true after the session kept only its first `kept` tokens (newest 4). */
export function keepAnchors(anchors, kept) {
  return (anchors ?? []).filter((a) => a && typeof a.text === "string" && Number.isInteger(a.length) && a.length <= kept).slice(-4);
}

/**
 * Make `session` hold exactly `ids`, keeping the longest common prefix of what it holds:
 * rewind to the prefix (recurrent layers restart from the newest checkpoint at or before it
 * and recompute the rest) and append what is new.
 * The model's prefix cache may supply part of what is new (another conversation passed
 * through the same tokens, e.g. the same system prompt): `cached` of the `prefilled` tokens.
 * Resolves to { reused, dropped, recomputed, prefilled, cached, length }.
 */
export async function syncSession(session, ids, anchor = 0) {
  const { tokens } = await session.state();
  const keep = commonPrefix(tokens, ids);
  let recomputed = 0, cached = 0;
  if (keep < tokens.length) recomputed = await session.rewind(keep);
  // The system prompt's end (`anchor`, when given) is appended as its own turn, so the prefix
  // cache holds it for the next conversation that starts with it.
  let at = keep;
  if (anchor > at && anchor < ids.length) {
    cached += (await session.append(ids.slice(at, anchor), { logits: false }))?.reused ?? 0;
    at = anchor;
  }
  if (ids.length > at) cached += (await session.append(ids.slice(at)))?.reused ?? 0;
  return { reused: keep, dropped: tokens.length - keep, recomputed, prefilled: ids.length - keep, cached, length: ids.length };
}

// Conversation file: "BRAIDCHAT" + version byte + u32 (LE) header length + UTF-8 JSON header
// + the session blob from session.save() (which carries its own model fingerprint and
// checksum, so a file from another model is refused with STATE_MISMATCH on load).
const MAGIC = new TextEncoder().encode("BRAIDCHAT");
const VERSION = 1;

export function encodeChatFile(header, sessionBytes) {
  const json = new TextEncoder().encode(JSON.stringify({ ...header, version: VERSION }));
  const out = new Uint8Array(MAGIC.length + 1 + 4 + json.length + sessionBytes.length);
  out.set(MAGIC, 0);
  out[MAGIC.length] = VERSION;
  new DataView(out.buffer).setUint32(MAGIC.length + 1, json.length, true);
  out.set(json, MAGIC.length + 5);
  out.set(sessionBytes, MAGIC.length + 5 + json.length);
  return out;
}

function badFile(message) {
  return Object.assign(new Error(message), { code: "BAD_CHAT_FILE" });
}

export function decodeChatFile(buffer) {
  const b = new Uint8Array(buffer);
  if (b.length < MAGIC.length + 5 || MAGIC.some((c, i) => b[i] !== c)) throw badFile("not a Braid conversation file");
  if (b[MAGIC.length] !== VERSION) throw badFile(`conversation file version ${b[MAGIC.length]} is not supported`);
  const n = new DataView(b.buffer, b.byteOffset).getUint32(MAGIC.length + 1, true);
  const start = MAGIC.length + 5;
  if (start + n > b.length) throw badFile("the conversation file is truncated");
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(start, start + n)));
  } catch {
    throw badFile("the conversation file's header is not valid JSON");
  }
  const ok = header && typeof header === "object" && Array.isArray(header.messages) &&
    header.messages.every((m) => m && typeof m.role === "string" && typeof m.content === "string");
  if (!ok) throw badFile("the conversation file's header has no valid messages");
  return { header, session: b.slice(start + n) };
}

export function formatBytes(n) {
  if (n == null || !isFinite(n)) return "?";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
}

export function formatCount(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + " B";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + " M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + " k";
  return String(n);
}
