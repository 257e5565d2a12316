// Opens a benchmark page in headless Chromium (WebGPU on) via Playwright, waits until the page
// replaces the text "running" in #result, and prints that text (one line of JSON) to stdout;
// the page's console goes to stderr. Exits 1 when the result has an "error" key or on timeout.
// Usage: node tools/bench/page.mjs URL [timeout_s=600]
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { chromium } = require("../../target/e2e/node_modules/playwright-core");

const [url, timeoutS = "600"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node tools/bench/page.mjs URL [timeout_s]");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
let text = "";
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("console:", m.text()));
  page.on("pageerror", (e) => console.error("pageerror:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("result")?.textContent !== "running", null,
                             { timeout: Number(timeoutS) * 1000 });
  text = (await page.textContent("#result")).trim();
  console.log(text);
} finally {
  await browser.close();
}
try {
  if ("error" in JSON.parse(text)) process.exitCode = 1;
} catch {}
