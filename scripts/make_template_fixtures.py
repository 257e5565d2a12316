"""Render real chat templates (llama.cpp's models/templates, from the node-llama-cpp bundle)
with Hugging Face transformers' own renderer (`render_jinja_template`, the code behind
`apply_chat_template`) into tests/fixtures/templates/*.json, which tests/chat_template.rs
compares Braid's renderer with. Conversations with system prompts, tools (key order as given),
tool calls and tool results, multi-part content, extra template variables, with and without
the generation prompt; the clock fixed at 2026-07-26 12:00:00.

    scripts/make_template_fixtures.sh   (makes the venv, then runs this)
"""
import datetime as _dt
import json
import os
import sys

from transformers.utils import chat_template_utils as ctu

SRC = "target/llama-ref/llama.cpp/models/templates"
OUT = "tests/fixtures/templates"
NAMES = [
    "ibm-granite-granite-4.0", "LFM2.5-Instruct", "NVIDIA-Nemotron-Nano-v2", "Qwen3.5-4B",
    "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct", "Qwen-Qwen3-0.6B",
    "Qwen-Qwen2.5-7B-Instruct", "microsoft-Phi-3.5-mini-instruct", "mistralai-Mistral-Nemo-Instruct-2407",
    "google-gemma-2-2b-it", "HuggingFaceTB-SmolLM3-3B",
]


class FixedClock(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 7, 26, 12, 0, 0)


ctu.datetime = FixedClock

# Key order matters (HF keeps it): "type" before "function", "name" before "description",
# properties "q" before "a".
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {
            "q": {"type": "string", "description": "the city"},
            "a": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["q"]}}},
    {"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object", "properties": {}}}},
]
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"q": "Paris", "a": "celsius"}}}
CONVERSATIONS = [
    {"messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi! What is a hybrid model?"},
        {"role": "assistant", "content": "One that mixes attention with state-space layers."},
        {"role": "user", "content": "Name one — with ünïcode & <tags>."}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Hello"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there."}], "add_generation_prompt": False},
    {"messages": [{"role": "system", "content": "Use tools when they help."}, {"role": "user", "content": "Weather in Paris?"}],
     "tools": TOOLS, "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS, "add_generation_prompt": False},
    {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 22, \"sky\": \"clear\"}"}],
     "tools": TOOLS, "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "text", "text": " this, please."}]}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Think about 2+2."}], "add_generation_prompt": True, "extra": {"enable_thinking": False}},
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "Adding."}, {"role": "user", "content": "And 3+3?"}],
     "add_generation_prompt": True},
]

os.makedirs(OUT, exist_ok=True)
for name in NAMES:
    path = os.path.join(SRC, name + ".jinja")
    if not os.path.exists(path):
        print("missing", path, file=sys.stderr)
        continue
    source = open(path, encoding="utf-8").read()
    cases = []
    for c in CONVERSATIONS:
        expected = error = None
        try:
            expected = ctu.render_jinja_template(
                conversations=[json.loads(json.dumps(c["messages"]))], tools=c.get("tools"), chat_template=source,
                add_generation_prompt=c["add_generation_prompt"], bos_token="<BOS>", eos_token="<EOS>", **c.get("extra", {}))
            # (the rendered conversations, their generation indices) → the one rendering
            while isinstance(expected, (list, tuple)):
                expected = expected[0]
        except Exception as e:  # the template raised: Braid must raise too
            error = f"{type(e).__name__}: {e}"
        cases.append({**c, "expected": expected, "error": error})
    json.dump({"name": name, "source": source, "renderer": "transformers " + __import__("transformers").__version__, "cases": cases},
              open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8"), indent=1, ensure_ascii=False)
    print("template:", name, " ".join("error" if c["error"] else str(len(c["expected"])) for c in cases))

# The environment itself (tests/fixtures/template_env.json): tojson's keyword arguments,
# {% generation %}, loop controls, namespace, strftime_now with every directive at two
# fixed times, as transformers renders them.
X = {"z": 1, "a": [1.5, 1e20, 1e-7, -0.0, 3, True, None], "é": "ünï\n\"q\" <b> \u2028 \U0001F600", "m": {}, "l": []}
ENV = [
    ("{{ x | tojson }}", {}),
    ("{{ x | tojson(ensure_ascii=True) }}", {}),
    ("{{ x | tojson(indent=2) }}", {}),
    ("{{ x | tojson(indent='\\t', sort_keys=True) }}", {}),
    ("{{ x | tojson(separators=(',', ':')) }}", {}),
    ("{{ x | tojson(indent=0) }}", {}),
    ("{% for k, v in x.items() %}{{ k }}={{ v | tojson }};{% endfor %}", {}),
    ("{% for m in messages %}{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}", {}),
    ("{%- for m in messages -%}\n  {%- generation -%}\n  <{{ m.content }}>\n  {%- endgeneration -%}\n{%- endfor %}", {}),
    ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", {}),
    ("{{ tools is none }} {{ documents is none }} {{ tools is defined }}", {}),
    ("{{ messages[0].thinking }}|{{ messages[0].reasoning_content }}", {"reasoning": "why"}),
]
DIRECTIVES = "aAwdbBmyYHIpMSfjUWcxX%GuVeCDFTRrhnkltgsPz"
TIMES = [FixedClock(2026, 7, 26, 12, 0, 0), FixedClock(2024, 1, 1, 0, 5, 9, 123456), FixedClock(2027, 12, 31, 23, 59, 58, 7)]
env_cases = []
msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
for src, extra_msg in ENV:
    m = [dict(msgs[0], **extra_msg), msgs[1]]
    try:
        out = ctu.render_jinja_template(conversations=[m], chat_template=src, x=X)
        while isinstance(out, (list, tuple)):
            out = out[0]
        env_cases.append({"source": src, "messages": m, "vars": {"x": X}, "expected": out, "error": None})
    except Exception as e:
        env_cases.append({"source": src, "messages": m, "vars": {"x": X}, "expected": None, "error": str(e)})
for t in TIMES:
    ctu.datetime = type("Clock", (_dt.datetime,), {"now": classmethod(lambda cls, tz=None, t=t: t)})
    for flag in ["", "-", "_", "0", "^", "#"]:
        src = "|".join(f"%{flag}{d}" for d in DIRECTIVES)
        out = ctu.render_jinja_template(conversations=[msgs], chat_template="{{ strftime_now(f) }}", f=src)
        while isinstance(out, (list, tuple)):
            out = out[0]
        env_cases.append({"source": "{{ strftime_now(f) }}", "messages": msgs, "vars": {"f": src}, "now": [t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond], "expected": out, "error": None})
json.dump(env_cases, open("tests/fixtures/template_env.json", "w", encoding="utf-8"), indent=1, ensure_ascii=False)
print("environment cases:", len(env_cases))
