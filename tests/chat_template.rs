//! Chat templates of real models (llama.cpp's models/templates) rendered by Braid (minijinja)
//! against @huggingface/jinja, an independent renderer (fixtures made by
//! scripts/make_template_fixtures.mjs).
#![cfg(not(target_arch = "wasm32"))]

use braid::tokenizer::template::{ChatTemplate, Date, RenderOptions};

#[test]
fn real_templates_render_like_huggingface_jinja() {
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
                date: Some(Date { year: 2026, month: 7, day: 26 }),
            };
            let got = t.render(&c["messages"], &serde_json::json!({}), &opts);
            match (c["expected"].as_str(), got) {
                (Some(want), Ok(got)) => assert_eq!(got, want, "{}", fx["name"]),
                (None, Err(e)) => eprintln!("{}: both raise ({e})", fx["name"]),
                (Some(_), Err(e)) => panic!("{}: {e}", fx["name"]),
                (None, Ok(got)) => panic!("{}: expected an error ({}), rendered {got:?}", fx["name"], c["error"]),
            }
            checked += 1;
        }
    }
    assert!(checked >= 30);
}

#[test]
fn strftime_now_and_tojson() {
    let t = ChatTemplate { source: "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d') }}|{{ x | tojson }}|{{ x | tojson(indent=2) }}".into() };
    let opts = RenderOptions { date: Some(Date { year: 2026, month: 11, day: 28 }), ..Default::default() };
    let out = t.render(&serde_json::json!([]), &serde_json::json!({"x": {"a": [1, "<b>"]}}), &opts).unwrap();
    assert!(out.starts_with("28 Nov 2026|November %-d|{\"a\": [1, \"<b>\"]}|{\n  \"a\": ["), "{out}");
    let bad = ChatTemplate { source: "{{ raise_exception('nope') }}".into() };
    assert!(bad.render(&serde_json::json!([]), &serde_json::json!({}), &opts).unwrap_err().to_string().contains("nope"));
    assert!(Date::today().year >= 2026);
}

#[test]
fn runaway_templates_stop_with_an_error() {
    let t = ChatTemplate { source: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".into() };
    let e = t.render(&serde_json::json!([]), &serde_json::json!({}), &RenderOptions::default());
    assert!(e.is_err());
}
