// Opens a page in headless Chromium (WebGPU on) with Playwright and prints #result once the
// page has written it. Usage: node tests/e2e/run.mjs URL
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { chromium } = require("../../target/e2e/node_modules/playwright-core");

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("console:", m.text()));
  page.on("pageerror", (e) => console.error("pageerror:", e.message));
  await page.goto(process.argv[2]);
  await page.waitForFunction(() => document.getElementById("result")?.textContent !== "running", null, { timeout: 180000 });
  console.log(await page.textContent("#result"));
} finally {
  await browser.close();
}
