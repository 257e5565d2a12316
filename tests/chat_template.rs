//! Chat templates of real models (llama.cpp's models/templates) rendered by Braid (minijinja)
//! against Hugging Face transformers' own renderer (`render_jinja_template`, behind
//! `apply_chat_template`; fixtures made by scripts/make_template_fixtures.sh): system prompts,
//! tools whose key order must be kept, tool calls and results, multi-part content, extra
//! template variables, with and without the generation prompt — equal text, or an error where
//! transformers raises.
#![cfg(not(target_arch = "wasm32"))]

use braid::tokenizer::template::{ChatTemplate, DateTime, RenderOptions};

#[test]
fn real_templates_render_like_hugging_face_transformers() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/templates");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut checked = 0;
    for f in files {
        let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let t = ChatTemplate { source: fx["source"].as_str().unwrap().to_string() };
        for c in fx["cases"].as_array().unwrap() {
            let opts = RenderOptions {
                add_generation_prompt: c["add_generation_prompt"].as_bool().unwrap(),
                bos_token: "<BOS>".into(),
                eos_token: "<EOS>".into(),
                // The fixtures were rendered with the clock fixed at 2026-07-26.
                now: Some(DateTime { year: 2026, month: 7, day: 26, hour: 12, minute: 0, second: 0, microsecond: 0 }),
            };
            let mut vars = c.get("extra").cloned().unwrap_or_else(|| serde_json::json!({}));
            if let Some(tools) = c.get("tools") {
                vars["tools"] = tools.clone();
            }
            let got = t.render(&c["messages"], &vars, &opts);
            match (c["expected"].as_str(), got) {
                (Some(want), Ok(got)) => assert_eq!(got, want, "{} with {}", fx["name"], c["messages"]),
                (None, Err(e)) => eprintln!("{}: both raise ({e})", fx["name"]),
                (Some(_), Err(e)) => panic!("{}: {e}", fx["name"]),
                (None, Ok(got)) => panic!("{}: expected an error ({}), rendered {got:?}", fx["name"], c["error"]),
            }
            checked += 1;
        }
    }
    assert!(checked >= 100);
}

#[test]
fn strftime_now_and_tojson() {
    let t = ChatTemplate { source: "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d') }}|{{ x | tojson }}|{{ x | tojson(indent=2) }}".into() };
    let opts = RenderOptions { now: Some(DateTime { year: 2026, month: 11, day: 28, hour: 9, minute: 5, second: 7, microsecond: 0 }), ..Default::default() };
    let out = t.render(&serde_json::json!([]), &serde_json::json!({"x": {"a": [1, "<b>"]}}), &opts).unwrap();
    assert!(out.starts_with("28 Nov 2026|November 28|{\"a\": [1, \"<b>\"]}|{\n  \"a\": ["), "{out}");
    let bad = ChatTemplate { source: "{{ raise_exception('nope') }}".into() };
    assert!(bad.render(&serde_json::json!([]), &serde_json::json!({}), &opts).unwrap_err().to_string().contains("nope"));
    assert!(DateTime::now().year >= 2026);
}

#[test]
fn runaway_templates_stop_with_an_error() {
    let t = ChatTemplate { source: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".into() };
    let e = t.render(&serde_json::json!([]), &serde_json::json!({}), &RenderOptions::default());
    assert!(e.is_err());
}

/// The rendering environment against transformers (tests/fixtures/template_env.json):
/// `tojson` with each keyword argument (Python's json.dumps: float repr, escapes, key order or
/// sorted), `dict.items()` order, `{% generation %}` with whitespace control, loop controls,
/// namespace, `tools`/`documents` defined as none, reasoning aliases, and `strftime_now` with
/// every directive and glibc flag at three fixed times.
#[test]
fn the_environment_matches_hugging_face_transformers() {
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/template_env.json")).unwrap()).unwrap();
    let mut bad = vec![];
    for c in cases.as_array().unwrap() {
        let t = ChatTemplate { source: c["source"].as_str().unwrap().to_string() };
        let now = c.get("now").and_then(|n| n.as_array()).map(|n| {
            let v: Vec<u32> = n.iter().map(|x| x.as_u64().unwrap() as u32).collect();
            DateTime { year: v[0] as i32, month: v[1], day: v[2], hour: v[3], minute: v[4], second: v[5], microsecond: v[6] }
        });
        let opts = RenderOptions { add_generation_prompt: false, now, ..Default::default() };
        let got = t.render(&c["messages"], &c["vars"], &opts);
        match (c["expected"].as_str(), got) {
            (Some(want), Ok(got)) if got == want => {}
            (None, Err(_)) => {}
            (want, got) => bad.push(format!("{}\n  transformers: {want:?}\n  braid:        {got:?}", c["source"])),
        }
    }
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), cases.as_array().unwrap().len(), bad.join("\n"));
}

/// A hostile `tojson(indent=…)` is refused, not allocated.
#[test]
fn huge_tojson_indents_are_refused() {
    for src in ["{{ x | tojson(indent=1000000000) }}", "{{ x | tojson(indent=' ' * 100000) }}"] {
        let t = ChatTemplate { source: src.into() };
        assert!(t.render(&serde_json::json!([]), &serde_json::json!({"x": [1, 2]}), &RenderOptions::default()).is_err(), "{src}");
    }
}
