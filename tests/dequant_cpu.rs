#![cfg(not(target_arch = "wasm32"))]
//! The CPU reference dequantizers against gguf-py's dequantizer on the same random blocks
//! (fixture made by scripts/make_dequant_fixture.py).

use braid::gguf::quant::dequantize;
use braid::gguf::GgmlType;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn cpu_dequant_matches_gguf_py() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dequant.json")).unwrap();
    let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = fx.as_object().unwrap();
    let mut checked = vec![];
    for t in GgmlType::all().filter(|t| t.is_supported()) {
        let entry = obj.get(t.name()).unwrap_or_else(|| panic!("fixture lacks {t}"));
        let bytes = hex(entry["bytes"].as_str().unwrap());
        let want: Vec<f32> = entry["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let mut got = vec![];
        dequantize(t, &bytes, &mut got).unwrap();
        assert_eq!(got.len(), want.len(), "{t}");
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(f32::MIN_POSITIVE)).fold(0f32, f32::max);
        eprintln!("{t:<7} {} values, max relative difference from gguf-py {worst:.1e}", got.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // gguf-py computes in f32 numpy like ggml; allow one rounding of difference.
            let tol = w.abs() * 2e-7 + 1e-30;
            assert!((g - w).abs() <= tol, "{t} element {i}: got {g}, gguf-py {w}");
        }
        checked.push(t.name());
    }
    assert_eq!(checked.len(), 16, "{checked:?}");
}

#[test]
fn partial_blocks_and_unsupported_types_are_errors() {
    let mut out = vec![];
    assert!(dequantize(GgmlType::Q8_0, &[0u8; 33], &mut out).is_err());
    for ty in GgmlType::all().filter(|t| !t.is_supported()) {
        let e = dequantize(ty, &vec![0u8; ty.type_size() as usize], &mut out).unwrap_err();
        assert_eq!(e.to_string(), format!("tensor type {ty} is not supported"));
    }
}
