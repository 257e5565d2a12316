// Render real chat templates (llama.cpp's models/templates, from the node-llama-cpp bundle)
// with @huggingface/jinja — an independent Jinja implementation — into
// tests/fixtures/templates/*.json, which tests/chat_template.rs compares Braid's renderer with.
//
//   (cd target/jinja-ref && npm i -E @huggingface/jinja@0.5.11)
//   node scripts/make_template_fixtures.mjs
import { Template } from "../target/jinja-ref/node_modules/@huggingface/jinja/dist/index.js";
import fs from "node:fs";
import path from "node:path";

const src = "target/llama-ref/llama.cpp/models/templates";
const out = "tests/fixtures/templates";
const names = [
  "ibm-granite-granite-4.0", "LFM2.5-Instruct", "NVIDIA-Nemotron-Nano-v2", "Qwen3.5-4B",
  "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct", "Qwen-Qwen3-0.6B",
  "Qwen-Qwen2.5-7B-Instruct", "microsoft-Phi-3.5-mini-instruct", "mistralai-Mistral-Nemo-Instruct-2407",
  "google-gemma-2-2b-it", "HuggingFaceTB-SmolLM3-3B",
];
const conversations = [
  { messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "Hi! What is a hybrid model?" },
      { role: "assistant", content: "One that mixes attention with state-space layers." },
      { role: "user", content: "Name one — with ünïcode & <tags>." },
    ], add_generation_prompt: true },
  { messages: [ { role: "user", content: "Hello" } ], add_generation_prompt: true },
  { messages: [ { role: "user", content: "Hello" }, { role: "assistant", content: "Hi there." } ], add_generation_prompt: false },
];
// A fixed clock, so renders are reproducible (Llama 3.x prints today's date through the
// renderer's own strftime_now): 2026-07-26.
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...a) { if (a.length === 0) super("2026-07-26T12:00:00Z"); else super(...a); }
  static now() { return new RealDate("2026-07-26T12:00:00Z").getTime(); }
};
for (const name of names) {
  const file = path.join(src, name + ".jinja");
  if (!fs.existsSync(file)) { console.error("missing", file); continue; }
  const source = fs.readFileSync(file, "utf8");
  const cases = [];
  for (const c of conversations) {
    let expected = null, error = null;
    try {
      const t = new Template(source);
      expected = t.render({ ...c, bos_token: "<BOS>", eos_token: "<EOS>" });
    } catch (e) { error = String(e.message || e); }
    cases.push({ ...c, expected, error });
  }
  fs.writeFileSync(path.join(out, name + ".json"), JSON.stringify({ name, source, cases }, null, 1));
  console.log("template:", name, cases.map((c) => (c.error ? "error" : c.expected.length)).join(" "));
}
