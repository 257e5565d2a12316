// Tool calls as the model families write them (js/tools.js), in plain Node: each real chat
// template's own rendering of an assistant tool call (tests/fixtures/templates, rendered by
// Hugging Face transformers) parses back to the call; replies without calls parse to null;
// streaming shows content only before a possible call.  node tests/e2e/tools.mjs
import { readFileSync } from "node:fs";
import { parseToolCalls, contentEnd, holdPoint } from "../../js/tools.js";

let failed = 0;
const check = (name, ok, detail = "") => { if (!ok) failed++; console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : " — " + detail}`); };
const want = { q: "Paris", a: "celsius" };
// The assistant turn of the tool-call conversation (case 5) as each template renders it.
for (const [name, open, close] of [
  ["ibm-granite-granite-4.0", "<|start_of_role|>assistant<|end_of_role|>", "<|end_of_text|>"],
  ["Qwen3.5-4B", "<|im_start|>assistant\n", "<|im_end|>"],
  ["meta-llama-Llama-3.1-8B-Instruct", "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"],
  ["Qwen-Qwen3-0.6B", "<|im_start|>assistant\n", "<|im_end|>"],
  ["Qwen-Qwen2.5-7B-Instruct", "<|im_start|>assistant\n", "<|im_end|>"],
]) {
  const fx = JSON.parse(readFileSync(`tests/fixtures/templates/${name}.json`, "utf8"));
  const r = fx.cases[5].expected;
  const start = r.indexOf(open, r.indexOf("Weather in Paris?")) + open.length;
  const turn = r.slice(start, r.indexOf(close, start));
  const p = parseToolCalls(turn);
  const c = p?.tool_calls?.[0];
  check(`${name}: its own tool-call rendering parses back`, p?.tool_calls.length === 1 && c.type === "function" && c.function.name === "get_weather" &&
    JSON.stringify(JSON.parse(c.function.arguments)) === JSON.stringify(want) && typeof c.id === "string", JSON.stringify({ turn, p }));
}
// LFM2.5 writes Python calls between its markers (its template leaves tool calls to the content).
const lfm = parseToolCalls('<|tool_call_start|>[get_weather(q="Paris", a="celsius"), now()]<|tool_call_end|>Checking.');
check("LFM2.5 Python calls", lfm?.tool_calls.length === 2 && lfm.tool_calls[1].function.name === "now" && lfm.content === "Checking." &&
  lfm.tool_calls[0].function.arguments === JSON.stringify(want), JSON.stringify(lfm));
const bare = parseToolCalls("[get_weather(q='Paris', n=3, ok=True, l=[1, 'x'], d={'k': None})]");
check("Python literals", bare?.tool_calls[0].function.arguments === '{"q":"Paris","n":3,"ok":true,"l":[1,"x"],"d":{"k":null}}', JSON.stringify(bare));
const multi = parseToolCalls('<|python_tag|>{"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": 1}}');
check("Llama 3.x several calls", multi?.tool_calls.map((c) => c.function.name).join() === "a,b", JSON.stringify(multi));
for (const t of ["The weather in Paris is mild.", "[1, 2, 3]", '{"x": 1}', "<tool_call>not json</tool_call>", ""]) check(`no call in ${JSON.stringify(t)}`, parseToolCalls(t) === null, JSON.stringify(parseToolCalls(t)));
for (const [t, n] of [["Hello <tool", 6], ["Hello <tool_call>{", 6], ['  {"na', 0], ["Hi there", 8], ["a < b", 5], ["", 0]]) check(`content before a possible call in ${JSON.stringify(t)}`, contentEnd(t) === n, String(contentEnd(t)));
// Scanning from what was already shown gives the same answer as scanning the whole reply.
const long = "x".repeat(5000) + " then <tool_call>{";
check("incremental scan equals the full scan", contentEnd(long, 4990) === contentEnd(long) && holdPoint(long, 4990).definite, `${contentEnd(long, 4990)} vs ${contentEnd(long)}`);
console.log(`tool calls: ${failed ? failed + " failed" : "all passed"}`);
process.exit(failed ? 1 : 0);
