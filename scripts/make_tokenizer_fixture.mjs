// Random texts tokenized by llama3-tokenizer-js (an independent Llama 3 tokenizer) into
// tests/fixtures/tokenizer_random_llama3.json; tests/tokenizer.rs compares Braid's
// llama-bpe tokenizer with it.
//   (cd target/tokref && npm i -E llama3-tokenizer-js@1.2.0) && node scripts/make_tokenizer_fixture.mjs
import llama3Tokenizer from "../target/tokref/node_modules/llama3-tokenizer-js/bundle/llama3-tokenizer-with-baked-data.js";
import fs from "node:fs";

let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const pieces = ["the", " The", "hybrid", " model", "'s", "'LL", " don't", "123", "4567", " 3.14", "\n", "\n\n", "  ", "\t",
  "ünïcode", " 日本語", "😀", "—", "!!", "?", " (", ")", "{", "}", "<tag>", " Mamba2", "x_y", "café", "\r\n", " ", "ß", "Ω", "✓"];
const texts = [];
for (let i = 0; i < 300; i++) {
  let t = "";
  const n = 1 + rnd(12);
  for (let j = 0; j < n; j++) t += rnd(5) === 0 ? String.fromCharCode(32 + rnd(95)) : pieces[rnd(pieces.length)];
  texts.push(t);
}
const cases = texts.map((text) => ({ text, ids: llama3Tokenizer.encode(text, { bos: false, eos: false }) }));
fs.writeFileSync("tests/fixtures/tokenizer_random_llama3.json", JSON.stringify(cases));
console.log("wrote", cases.length, "cases");
