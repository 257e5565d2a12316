// A walk through the chat demo (www/) in headless Chromium on WebGPU, with Playwright:
// load the default model, chat with streaming, stop, regenerate, edit, switch and fork
// conversations, save and load a conversation, the memory panel, the weight cache, and the
// visible errors (malformed file, unsupported architecture, over the GPU budget, no WebGPU).
// Every step takes a screenshot (kept in OUT_DIR) and checks that it is not blank.
//   node tests/e2e/demo.mjs BASE_URL OUT_DIR UNSUPPORTED_FILE   (OUT_DIR also holds lfm2.gguf, nemotron-h.gguf, qwen35.gguf)
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { formatBytes } from "../../www/chat.js";
const require = createRequire(import.meta.url);
const { chromium } = require("../../target/e2e/node_modules/playwright-core");

const [base, outDir, unsupportedFile] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const results = [];
let failed = 0;
const check = (name, ok, detail = "") => {
  results.push({ name, ok: !!ok, detail });
  if (!ok) failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? " — " + detail : ""}`);
};

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
const analyzer = await ctx.newPage();
const pageErrors = [];

// Decode a screenshot in the browser (canvas) and measure it: a blank page is one colour.
async function screenshot(page, name) {
  const png = await page.screenshot({ path: `${outDir}/${name}.png` });
  const stats = await analyzer.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = new OffscreenCanvas(img.width, img.height);
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, img.width, img.height).data;
    const counts = new Map();
    for (let i = 0; i < d.length; i += 16) {
      const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    return { colors: counts.size, background: top / (d.length / 16), w: img.width, h: img.height };
  }, png.toString("base64"));
  check(`screenshot ${name} rendered`, stats.colors > 50 && stats.background < 0.97,
    `${stats.w}x${stats.h}, ${stats.colors} colours, ${(100 * stats.background).toFixed(1)}% background`);
  return stats;
}

async function openPage() {
  const page = await ctx.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") console.error("console:", m.text()); });
  // The engine runs in a Web Worker: its errors (a wasm panic's message) too.
  page.on("worker", (w) => w.on("console", (m) => { if (m.type() === "error") console.error("worker:", m.text()); }));
  await page.goto(`${base}/www/`);
  return page;
}
const idle = (page) => page.waitForSelector("#send:not([hidden])", { timeout: 120000 });
const text = (page, sel) => page.textContent(sel);
const count = (page, sel) => page.locator(sel).count();
async function setValue(page, sel, v) { await page.fill(sel, String(v)); await page.dispatchEvent(sel, "change"); }

// Send a message and watch the reply grow (a MutationObserver records the reply's length at
// every DOM change): resolves to how many distinct lengths were seen.
async function sendAndWatch(page, msg) {
  await page.evaluate(() => {
    window.__lens = new Set();
    window.__mo = new MutationObserver(() => {
      const t = [...document.querySelectorAll(".msg.assistant .content")].at(-1)?.textContent ?? "";
      window.__lens.add(t.length);
    });
    window.__mo.observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
  });
  const n = await count(page, ".msg.assistant");
  await page.fill("#prompt", msg);
  await page.press("#prompt", "Enter");
  await page.waitForFunction((n) => document.querySelectorAll(".msg.assistant").length > n &&
    !document.getElementById("send").hidden, n, { timeout: 120000 }).catch(async (e) => {
    // Say what the page shows instead of only "timeout".
    throw new Error(`${e.message}; sending ${JSON.stringify(msg)}; error banner: ${await page.textContent("#error")}; turn: ${await page.textContent("#turn-info")}`);
  });
  return page.evaluate(() => { window.__mo.disconnect(); return window.__lens.size; });
}
// Wait until a turn that starts with `prefix` has finished.
const turnDone = (page, prefix) => page.waitForFunction((p) => document.getElementById("turn-info").textContent.startsWith(p) &&
  !document.getElementById("send").hidden, prefix, { timeout: 120000 });
const tokensOf = (meta) => Number(/(\d+) tokens/.exec(meta)?.[1] ?? NaN);

try {
  const page = await openPage();
  await page.waitForSelector("#preset option", { state: "attached" });
  await screenshot(page, "01-start");
  check("no error banner at start", await page.isHidden("#error"));

  // ---- load the built-in default model (through the weight cache)
  await setValue(page, "#max-tokens", 24);
  await setValue(page, "#temperature", 0.8);
  await page.selectOption("#preset", "default");
  await page.click("#load-preset");
  await page.waitForSelector("#model-info:not([hidden])", { timeout: 120000 });
  const facts = await text(page, "#model-facts");
  check("model info shows the architecture", facts.includes("granitehybrid"), facts.slice(0, 120));
  check("model info shows layer kinds", facts.includes("2 attention") && facts.includes("4 recurrent"));
  // SwiftShader has no shader-f16: the cache stays F32 (and KV bytes below are F32 rows).
  check("model info names the KV cache type", /KV cache\s*F32/.test(facts), facts.slice(0, 400));
  check("layer strip has one cell per layer", (await count(page, "#layer-strip span")) === 6);
  check("random-weights notice is shown", await page.isVisible("#random-note"));
  const firstLoad = await text(page, "#load-summary");
  check("first load used the network", (await page.getAttribute("#load-summary", "data-from-cache")) === "false", firstLoad);
  await screenshot(page, "02-loaded");

  // ---- chat: tokens stream in
  const seen = await sendAndWatch(page, "Hello there! Tell me about hybrid models.");
  const meta1 = await page.locator(".msg.assistant .meta").last().textContent();
  check("reply streamed (the text grew in several steps)", seen >= 3, `${seen} distinct lengths`);
  check("reply shows tokens/s", /tok\/s/.test(meta1), meta1);
  check("first turn prefilled the prompt", /Send: \d+ tokens in the prompt · 0 reused/.test(await text(page, "#turn-info")), await text(page, "#turn-info"));
  await screenshot(page, "03-reply");

  // ---- stop mid-reply
  await setValue(page, "#max-tokens", 2000);
  const nReplies = await count(page, ".msg.assistant");
  await page.fill("#prompt", "Now a long answer, please.");
  await page.press("#prompt", "Enter");
  await page.waitForFunction((n) => {
    const r = document.querySelectorAll(".msg.assistant .content");
    return r.length > n && r[r.length - 1].textContent.length > 8;
  }, nReplies, { timeout: 60000 });
  await page.click("#stop");
  await idle(page);
  const metaStop = await page.locator(".msg.assistant .meta").last().textContent();
  check("Stop ends the reply early", /stopped/.test(metaStop) && tokensOf(metaStop) < 2000, metaStop);
  await screenshot(page, "04-stopped");
  await setValue(page, "#max-tokens", 24);

  // ---- regenerate: rewinds to the end of the prompt
  const before = await count(page, ".msg");
  await page.locator(".msg.assistant .regen").last().click();
  await turnDone(page, "Regenerate:");
  const regen = await text(page, "#turn-info");
  // The prompt's end is a turn boundary with a checkpoint: nothing is recomputed.
  check("Regenerate rewinds to the prompt's end and recomputes nothing", /^Regenerate: .*rewound \d+ \(recomputed 0 from the nearest checkpoint\) · prefilled 0/.test(regen), regen);
  check("Regenerate keeps the message count", (await count(page, ".msg")) === before);
  await screenshot(page, "05-regenerated");

  // ---- edit the last user message
  await page.locator(".msg.user .edit").last().click();
  await page.fill(".edit-box", "Actually, a short answer.");
  await page.click(".save-edit");
  await turnDone(page, "Edit:");
  const edit = await text(page, "#turn-info");
  const m = /(\d+) reused from the session · rewound (\d+) \(recomputed (\d+)/.exec(edit);
  // The newest checkpoint before the edited message is the end of the previous reply: only the
  // few template tokens between there and the edit are recomputed.
  check("Edit rewinds into the conversation and recomputes only from the previous reply's end",
    m && Number(m[1]) > 0 && Number(m[2]) > 0 && Number(m[3]) <= 16, edit);
  check("the edited message replaced the old one", (await page.locator(".msg.user .content").last().textContent()) === "Actually, a short answer.");
  await screenshot(page, "06-edited");

  // ---- settings reach the sampler and the prompt: temperature 0 regenerates the same reply,
  // a system prompt adds its tokens to the prompt
  await setValue(page, "#temperature", 0);
  const replyText = () => page.locator(".msg.assistant .content").last().textContent();
  await page.locator(".msg.assistant .regen").last().click();
  await turnDone(page, "Regenerate:");
  const greedyA = await replyText();
  await page.evaluate(() => { document.getElementById("turn-info").textContent = ""; });
  await page.locator(".msg.assistant .regen").last().click();
  await turnDone(page, "Regenerate:");
  check("temperature 0: Regenerate gives the same reply", greedyA.length > 0 && (await replyText()) === greedyA, JSON.stringify(greedyA.slice(0, 20)));
  await setValue(page, "#temperature", 0.8);

  // ---- memory panel
  const mem = await text(page, "#memory-body");
  check("memory panel splits attention KV / recurrent state / checkpoints",
    /Attention KV cache/.test(mem) && /Recurrent state/.test(mem) && /Checkpoints/.test(mem), mem.slice(0, 160));
  const recurrent1 = await page.locator("#memory-body .mem-row").nth(1).locator(".v").textContent();
  // The figures against the closed forms for the default model (spec §3): attention KV =
  // tokens × 2 layers × (K + V) × 2 KV heads × 64 × 4 B; recurrent = 4 Mamba2 layers ×
  // (conv (4 - 1) × (512 + 2 × 32) + SSM 8 heads × 64 × 32) × 4 B = 289792 B.
  const memToks = Number(/· (\d+) tokens ·/.exec(mem)?.[1]);
  const kvUsed = /([\d.]+ [KM]?i?B) used/.exec(mem)?.[1];
  check("KV bytes used = tokens × 2048 B", kvUsed === formatBytes(memToks * 2048), `${memToks} tokens: ${kvUsed}`);
  check("recurrent state = 289792 B", recurrent1 === formatBytes(289792), recurrent1);
  await page.locator("#memory").scrollIntoViewIfNeeded();
  await screenshot(page, "07-memory");

  // ---- a second conversation; switching back recomputes nothing
  const conv1Msgs = await count(page, ".msg");
  const conv1Tokens = await page.locator("#conversations li").first().locator(".conv-meta").textContent();
  await page.click("#new-chat");
  await page.waitForFunction(() => document.querySelectorAll("#conversations li").length === 2);
  await setValue(page, "#system-prompt", "You are a terse assistant.");
  await sendAndWatch(page, "A different topic.");
  const sysTurn = await text(page, "#turn-info");
  await setValue(page, "#system-prompt", "");
  // "<|im_start|>system\nYou are a terse assistant.<|endoftext|>\n" + the user turn
  check("the system prompt is part of the prompt", Number(/Send: (\d+) tokens/.exec(sysTurn)?.[1]) > 40, sysTurn);
  const recurrent2 = await page.locator("#memory-body .mem-row").nth(1).locator(".v").textContent();
  check("recurrent state is the same size in a shorter conversation", recurrent1 === recurrent2, `${recurrent1} vs ${recurrent2}`);
  await page.locator("#conversations li .conv").first().click();
  check("switching back shows the first conversation", (await count(page, ".msg")) === conv1Msgs);
  check("switching recomputes nothing", /^Switched to .*nothing recomputed/.test(await text(page, "#turn-info")), await text(page, "#turn-info"));
  check("the session kept its tokens", (await page.locator("#conversations li").first().locator(".conv-meta").textContent()) === conv1Tokens, conv1Tokens);
  await screenshot(page, "08-switched");

  // ---- fork at the first assistant message, and at the first user message (new reply)
  await page.locator(".msg.assistant .fork").first().click();
  await page.waitForFunction(() => document.querySelectorAll("#conversations li").length === 3);
  await turnDone(page, "Forked");
  const fork = await text(page, "#turn-info");
  check("fork at a reply keeps the messages up to it", (await count(page, ".msg")) === 2, `${await count(page, ".msg")} messages`);
  const fm = /^Forked .* at message 2: \d+ tokens shared with the original · rewound \d+ \(recomputed (\d+)/.exec(fork);
  check("fork shares the prefix and recomputes only past the reply's end", fm && Number(fm[1]) <= 8, fork);
  await page.locator("#conversations li .conv").first().click();
  await page.locator(".msg.user .fork").first().click();
  await page.waitForFunction(() => document.querySelectorAll("#conversations li").length === 4);
  await turnDone(page, "Fork → new reply");
  check("fork at a user message generates a new reply", (await count(page, ".msg")) === 2 && /Fork → new reply/.test(await text(page, "#turn-info")), await text(page, "#turn-info"));
  await screenshot(page, "09-forked");

  // ---- save the conversation to a file and load it back
  await page.locator("#conversations li .conv").first().click();
  const savedMsgs = await count(page, ".msg");
  const savedTokens = await page.locator("#conversations li").first().locator(".conv-meta").textContent();
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save-chat")]);
  const file = `${outDir}/conversation.braidchat`;
  await download.saveAs(file);
  const bytes = readFileSync(file);
  check("Save writes a conversation file", bytes.subarray(0, 9).toString() === "BRAIDCHAT" && bytes.length > 1000, `${bytes.length} bytes`);
  await page.setInputFiles("#load-chat", file);
  await page.waitForFunction(() => document.querySelectorAll("#conversations li").length === 5);
  await turnDone(page, "Loaded");
  check("Load restores the messages", (await count(page, ".msg")) === savedMsgs);
  check("Load restores the session (same token count, nothing recomputed)",
    (await page.locator("#conversations li").last().locator(".conv-meta").textContent()) === savedTokens &&
    /nothing recomputed/.test(await text(page, "#turn-info")), await text(page, "#turn-info"));
  await sendAndWatch(page, "And after loading?");
  check("the loaded conversation continues without recomputing its history",
    /· \d+ reused from the session · (reused \d+ from the prefix cache · )?prefilled/.test(await text(page, "#turn-info")) && !/rewound/.test(await text(page, "#turn-info")), await text(page, "#turn-info"));
  await screenshot(page, "10-saved-and-loaded");
  const notChat = `${outDir}/not-a-chat.braidchat`;
  writeFileSync(notChat, "hello");
  await page.setInputFiles("#load-chat", notChat);
  await page.waitForSelector("#error:not([hidden])");
  check("a file that is not a conversation gives a visible error", (await page.getAttribute("#error", "data-code")) === "BAD_CHAT_FILE");
  await page.click("#error-close");

  // ---- second load of the same URL comes from the browser cache
  const page2 = await openPage();
  await page2.selectOption("#preset", "default");
  await page2.click("#load-preset");
  await page2.waitForSelector("#model-info:not([hidden])", { timeout: 120000 });
  const secondLoad = await text(page2, "#load-summary");
  check("second load comes from the browser cache", (await page2.getAttribute("#load-summary", "data-from-cache")) === "true", `first: ${firstLoad} | second: ${secondLoad}`);
  await screenshot(page2, "11-cached-load");
  await page2.close();

  // ---- visible errors
  // A bad pick loses nothing: the loaded model and its conversations stay (the new file is
  // checked and loaded before anything is swapped).
  const errorCase = async (name, files, code, pattern) => {
    const convs = await count(page, "#conversations li"), msgs = await count(page, ".msg");
    await page.setInputFiles("#file", files);
    await page.waitForSelector("#error:not([hidden])", { timeout: 60000 });
    const got = await page.getAttribute("#error", "data-code");
    const msg = await text(page, "#error");
    check(`${name}: visible ${code} error`, got === code && pattern.test(msg), msg.replace(/\s+/g, " ").slice(0, 200));
    const kept = await page.isVisible("#model-info") && await count(page, "#conversations li") === convs && await count(page, ".msg") === msgs && convs > 0;
    check(`${name}: the loaded model and its ${convs} conversations are kept`, kept, `${await text(page, "#model-badge")} | ${await text(page, "#load-summary")}`);
    await screenshot(page, name);
    await page.click("#error-close");
  };
  const good = readFileSync("www/models/default.gguf");
  await errorCase("12-malformed-file", { name: "broken.gguf", mimeType: "application/octet-stream", buffer: Buffer.from("this is not a gguf file at all") }, "GGUF_INVALID", /not a valid GGUF/);
  await errorCase("13-truncated-file", { name: "truncated.gguf", mimeType: "application/octet-stream", buffer: good.subarray(0, 200000) }, "GGUF_INVALID", /not a valid GGUF/);
  await errorCase("14-unsupported-arch", unsupportedFile, "UNSUPPORTED_ARCH", /cannot run this architecture/);
  await page.fill("#url", `${base}/www/models/no-such-model.gguf`);
  await page.click("#url-form button[type=submit]");
  await page.waitForSelector("#error:not([hidden])", { timeout: 60000 });
  check("a URL that does not exist: visible download error", /The download failed.*HTTP 404/.test((await text(page, "#error")).replace(/\s+/g, " ")),
    (await text(page, "#error")).replace(/\s+/g, " ").slice(0, 160));
  await screenshot(page, "14b-download-failed");
  await page.click("#error-close");
  await setValue(page, "#gpu-budget", 1);
  await errorCase("15-over-gpu-budget", "www/models/default.gguf", "DEVICE_LIMITS", /does not fit/);
  await setValue(page, "#gpu-budget", "");

  // ---- progress bars with the network throttled to 3 MB/s; the second load of the same URL
  // comes from the browser cache and is much faster; Cancel
  const page4 = await openPage();
  const cdp = await ctx.newCDPSession(page4);
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 5, downloadThroughput: 3e6, uploadThroughput: 3e6 });
  const slowLoad = async (url, shot) => {
    await page4.fill("#url", url);
    const t0 = Date.now();
    await page4.click("#url-form button[type=submit]");
    if (shot) {
      await page4.waitForFunction(() => /\/s/.test(document.getElementById("dl-text").textContent) &&
        /\/s/.test(document.getElementById("up-text").textContent), null, { timeout: 60000 });
      const dl = await text(page4, "#dl-text"), up = await text(page4, "#up-text"), dlLabel = await text(page4, "#dl-label");
      const re = /^[\d.]+ [KM]iB \/ 4\.7 MiB [\d.]+ [KM]iB\/s$/;
      check("download and GPU-upload bars show bytes, total and speed", re.test(dl.trim()) && re.test(up.trim()), `${dlLabel}: ${dl} | upload: ${up}`);
      await screenshot(page4, shot);
    }
    // The previous model stays on the page until the new one has loaded: wait for this load's end.
    await page4.waitForFunction(() => document.getElementById("progress").hidden && /^Loaded/.test(document.getElementById("load-summary").textContent), null, { timeout: 120000 });
    return { ms: Date.now() - t0, summary: await text(page4, "#load-summary"), cached: await page4.getAttribute("#load-summary", "data-from-cache") };
  };
  const slow1 = await slowLoad(`${base}/www/models/default.gguf?throttled`, "17-progress");
  const slow2 = await slowLoad(`${base}/www/models/default.gguf?throttled`, null);
  check("second load is from the cache and visibly faster", slow1.cached === "false" && slow2.cached === "true" && slow2.ms * 3 < slow1.ms,
    `first ${slow1.ms} ms (${slow1.summary}) | second ${slow2.ms} ms (${slow2.summary})`);
  await screenshot(page4, "18-second-load-from-cache");
  await page4.fill("#url", `${base}/www/models/default.gguf?cancelled`);
  await page4.click("#url-form button[type=submit]");
  await page4.waitForFunction(() => /\/s/.test(document.getElementById("dl-text").textContent), null, { timeout: 60000 });
  await page4.click("#cancel-load");
  await page4.waitForFunction(() => document.getElementById("load-summary").textContent.startsWith("Loading cancelled."));
  check("Cancel stops the load without an error banner and keeps the loaded model", await page4.isHidden("#error") && await page4.isVisible("#model-info"),
    await text(page4, "#load-summary"));
  // the cache holds default.gguf under two URLs (the cancelled download stopped before its
  // first 16 MiB part, so nothing of it was kept)
  await page4.waitForFunction(() => /^Browser cache: \d/.test(document.getElementById("cache-info").textContent));
  const cacheInfo = await text(page4, "#cache-info");
  check("the page lists the browser cache", cacheInfo === "Browser cache: 2 model files, 9.4 MiB", cacheInfo);
  await page4.click("#clear-cache");
  await page4.waitForFunction(() => document.getElementById("cache-info").textContent === "Browser cache: empty");
  check("clear empties the browser cache", true);
  await page4.close();

  // ---- LFM2 and Nemotron-H: the strip shows short-conv and MLP-only layers, a reply works, and
  // the memory panel's figures equal the closed forms (spec §3.1):
  //   tiny-lfm2: 2 short-conv layers × (L_cache 3 − 1) × 64 channels × 4 B = 1024 B of state;
  //     2 attention layers × (K + V) × 2 KV heads × 16 × 4 B = 512 B per token;
  //   tiny-nemotron-h: 3 Mamba2 layers × (conv (4 − 1) × (128 + 2 × 2 × 16) + SSM 16 × 128) ×
  //     4 B = 31488 B; 1 attention layer × 2 × 2 × 16 × 4 B = 256 B per token; MLP layers: 0.
  //   tiny-qwen35: 3 gated DeltaNet layers × (conv (4 − 1) × (2 × 2 × 16 + 4 × 16) + 4 value
  //     heads × 16 × 16) × 4 B = 16896 B; 1 attention layer × 2 × 2 × 16 × 4 B = 256 B per token.
  for (const [file, cells, state, perToken, what, kinds] of [
    ["lfm2.gguf", { "k-s": 2, "k-a": 2 }, 1024, 512, /conv window of 2 layers/, /2 recurrent \(short conv\), 2 attention/],
    ["nemotron-h.gguf", { "k-r": 3, "k-a": 1, "k-m": 2 }, 31488, 256, /conv \+ SSM state of 3 layers/, /3 recurrent \(Mamba2\), 2 MLP only, 1 attention/],
    ["qwen35.gguf", { "k-d": 3, "k-a": 1 }, 16896, 256, /conv \+ DeltaNet matrices of 3 layers/, /3 recurrent \(gated DeltaNet\), 1 attention/],
  ]) {
    const p5 = await openPage();
    await setValue(p5, "#max-tokens", 8);
    await p5.fill("#url", `${base}/${outDir}/${file}`);
    await p5.click("#url-form button[type=submit]");
    await p5.waitForSelector("#model-info:not([hidden])", { timeout: 120000 });
    const got = {};
    for (const k of Object.keys(cells)) got[k] = await count(p5, `#layer-strip span.${k}`);
    check(`${file}: the layer strip shows each layer's mixer`, JSON.stringify(got) === JSON.stringify(cells), JSON.stringify(got));
    const f = await text(p5, "#model-facts");
    check(`${file}: the model facts count the layer kinds`, kinds.test(f), f.slice(0, 200));
    await sendAndWatch(p5, "Hello!");
    const mem5 = await text(p5, "#memory-body");
    const toks5 = Number(/· (\d+) tokens ·/.exec(mem5)?.[1]);
    const rec5 = await p5.locator("#memory-body .mem-row").nth(1).locator(".v").textContent();
    check(`${file}: recurrent state = ${state} B`, rec5 === formatBytes(state) && what.test(mem5), `${rec5}; ${mem5.slice(0, 200)}`);
    check(`${file}: KV bytes used = tokens × ${perToken} B`, /([\d.]+ [KM]?i?B) used/.exec(mem5)?.[1] === formatBytes(toks5 * perToken), mem5.slice(0, 160));
    if (file === "qwen35.gguf") {
      // Two new conversations with the same system prompt: the second takes the system
      // prompt's tokens from the model's prefix cache (DeltaNet state + KV blocks).
      await setValue(p5, "#system-prompt", "You are a terse assistant who answers in one line.");
      for (const msg of ["One.", "Two."]) {
        await p5.click("#new-chat");
        // The new, empty conversation is shown before sending (else the reply count races).
        await p5.waitForFunction(() => document.querySelectorAll(".msg").length === 0);
        await sendAndWatch(p5, msg);
      }
      const t = await text(p5, "#turn-info");
      await p5.waitForSelector("#memory-body .prefix-cache", { timeout: 10000 }).catch(() => {});
      const pcText = (await p5.locator("#memory-body .prefix-cache").count()) ? await text(p5, "#memory-body .prefix-cache") : "(none)";
      check("the memory panel shows the prefix cache's bytes", /Prefix cache: [\d.]+ [KM]?i?B of [\d.]+ [KMG]?i?B \(\d+ prefixes; [1-9]\d* tokens reused so far\)/.test(pcText), pcText);
      check("a new conversation reuses the system prompt from the prefix cache", /reused (\d+) from the prefix cache/.test(t) && Number(/reused (\d+) from the prefix cache/.exec(t)[1]) > 10, t);
      await setValue(p5, "#system-prompt", "");
    }
    await screenshot(p5, `19-${file.replace(".gguf", "")}`);
    await p5.close();
  }

  // ---- the real Gemma 3 270M (base model, from PyPI via scripts/real_gemma.sh): offered as a
  // preset, its window layers shown as such, text completion (no chat template) that reads as
  // real words, the memory panel's window row
  {
    const p6 = await openPage();
    await setValue(p6, "#max-tokens", 10);
    await setValue(p6, "#temperature", 0);
    await p6.selectOption("#preset", "gemma3-270m");
    await p6.click("#load-preset");
    await p6.waitForSelector("#model-info:not([hidden])", { timeout: 600000 });
    const wcells = await count(p6, "#layer-strip span.k-w"), gcells = await count(p6, "#layer-strip span.k-a");
    check("Gemma 3: the strip shows 15 sliding-window and 3 global attention layers", wcells === 15 && gcells === 3, `${wcells} window, ${gcells} global`);
    const f6 = await text(p6, "#model-facts");
    check("Gemma 3: facts say text completion", /15 sliding-window attention \(512\), 3 attention/.test(f6) && /text completion/.test(f6), f6.slice(0, 300));
    const ph = await p6.getAttribute("#prompt", "placeholder");
    check("Gemma 3: the composer offers text completion", /Text completion/.test(ph), ph);
    await p6.fill("#prompt", "The capital of France is");
    const t0 = Date.now();
    await p6.press("#prompt", "Enter");
    await p6.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 1 && !document.getElementById("send").hidden, null, { timeout: 600000 });
    const cont = (await p6.locator(".msg.assistant .content").textContent()) ?? "";
    // Real words: most of the continuation's words are letters only, and some are among the
    // most common English words.
    const words = cont.toLowerCase().split(/\s+/).map((w) => w.replace(/[.,;:!?"'()]/g, "")).filter(Boolean);
    const common = new Set("the of and a to in is it that was for on are as with his they be at one have this from or had by but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first been call who its now find long down day did get come made may part city country capital france paris largest".split(" "));
    const alpha = words.filter((w) => /^[a-z]+$/.test(w)).length, known = words.filter((w) => common.has(w)).length;
    check("Gemma 3: the continuation is real words", words.length >= 4 && alpha >= 0.8 * words.length && known >= 2, JSON.stringify(cont));
    const mem6 = await text(p6, "#memory-body");
    check("Gemma 3: the memory panel shows the sliding-window KV", /Sliding-window KV/.test(mem6) && /15 layers keep only the last 512 positions/.test(mem6), mem6.slice(0, 300));
    console.log(`real Gemma 3 270M in the page: "${cont}" in ${((Date.now() - t0) / 1000).toFixed(1)} s (${await text(p6, "#load-summary")})`);
    await screenshot(p6, "20-real-gemma");
    await p6.close();
  }

  // ---- no WebGPU
  const page3 = await ctx.newPage();
  await page3.addInitScript(() => { delete Object.getPrototypeOf(navigator).gpu; });
  await page3.goto(`${base}/www/`);
  await page3.waitForSelector("#error:not([hidden])");
  check("no WebGPU: visible error on start", (await page3.getAttribute("#error", "data-code")) === "NO_WEBGPU", (await text(page3, "#error")).replace(/\s+/g, " ").slice(0, 160));
  await screenshot(page3, "16-no-webgpu");
  await page3.close();

  check("no uncaught page errors", pageErrors.length === 0, pageErrors.join(" | "));
} catch (e) {
  check("walk completed", false, String(e?.stack ?? e));
} finally {
  writeFileSync(`${outDir}/results.json`, JSON.stringify(results, null, 1));
  await browser.close();
}
console.log(`demo e2e: ${results.length - failed} passed, ${failed} failed (screenshots in ${outDir})`);
process.exit(failed ? 1 : 0);
