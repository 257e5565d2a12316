//! Every shader's `struct Params` and `@binding`s against their Rust mirrors in
//! `braid::gpu::params`, parsed with naga (wgpu's own WGSL front end): member names, byte
//! offsets and sizes; binding names and numbers — both ways, nothing missing on either side.
#![cfg(not(target_arch = "wasm32"))]

use braid::gguf::GgmlType;
use braid::gpu::kernels::{DEQUANT_WGSL, QUANT_WGSL};
use braid::gpu::ops::{attention_sg_source, attention_source, delta_net_sg_source, elementwise_source, matmul_source, rotary_source, ssm_source, MatmulForm};
use braid::gpu::params::shader_mirrors;

fn sources(file: &str) -> Vec<String> {
    match file {
        // The matmul module is instantiated per weight type, with and without the subgroup kernel.
        "matmul.wgsl" => [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::IQ4_XS]
            .iter()
            .flat_map(|&t| [false, true].into_iter().flat_map(move |sg| [MatmulForm::Plain, MatmulForm::Conv, MatmulForm::Pair, MatmulForm::Norm].map(|f| matmul_source(t, sg, f))))
            .collect(),
        "dequant.wgsl" => vec![format!("{QUANT_WGSL}\n{DEQUANT_WGSL}")],
        "elementwise.wgsl" => vec![elementwise_source()],
        // The scan module with and without the kernels that share B and C through subgroups.
        "ssm.wgsl" => vec![ssm_source(false), ssm_source(true)],
        // Both modules that norm and rotate heads get rotary.wgsl's functions appended;
        // attention over F32 and F16 KV pools.
        "rope.wgsl" => vec![rotary_source(&std::fs::read_to_string(format!("{}/shaders/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap())],
        // With the subgroup kernel for every head size and heads per workgroup it takes.
        "attention.wgsl" => [false, true]
            .into_iter()
            .flat_map(|kv16| std::iter::once(attention_source(kv16)).chain((1..=8).flat_map(move |nc| [1, 2, 4, 8].map(|g| attention_sg_source(kv16, nc, g)))))
            .collect(),
        // With the subgroup recurrence for every key head size it takes.
        "delta_net.wgsl" => std::iter::once(std::fs::read_to_string(format!("{}/shaders/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap())
            .chain((1..=8).map(delta_net_sg_source))
            .collect(),
        f => vec![std::fs::read_to_string(format!("{}/shaders/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()],
    }
}

#[test]
fn shader_params_and_bindings_match_their_rust_mirrors() {
    let mirrors = shader_mirrors();
    // Every shader file with a uniform is mirrored.
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".wgsl") && !["quant.wgsl", "matvec_subgroup.wgsl", "ssm_subgroup.wgsl", "attention_subgroup.wgsl", "delta_net_subgroup.wgsl", "act.wgsl", "rotary.wgsl"].contains(&f.as_str()))
        .collect();
    files.sort();
    let mut mirrored: Vec<String> = mirrors.iter().map(|m| m.0.to_string()).collect();
    mirrored.sort();
    assert_eq!(files, mirrored, "shader files and Rust mirrors");
    for (file, bindings, members) in &mirrors {
        for src in sources(file) {
            let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(&src)));
            // struct Params
            let params = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some("Params"))
                .unwrap_or_else(|| panic!("{file}: no struct Params"));
            let naga::TypeInner::Struct { members: wgsl, .. } = &params.1.inner else { panic!("{file}: Params is not a struct") };
            let wgsl: Vec<(String, usize, usize)> = wgsl
                .iter()
                .map(|m| {
                    let size = match module.types[m.ty].inner {
                        naga::TypeInner::Scalar(s) => s.width as usize,
                        ref other => panic!("{file}: member {:?} is {other:?}", m.name),
                    };
                    (m.name.clone().unwrap_or_default(), m.offset as usize, size)
                })
                .collect();
            let rust: Vec<(String, usize, usize)> = members.iter().map(|(n, o, s)| (n.to_string(), *o, *s)).collect();
            assert_eq!(wgsl, rust, "{file}: struct Params (name, offset, size)");
            // bindings
            let mut got: Vec<(String, u32)> = module
                .global_variables
                .iter()
                .filter_map(|(_, g)| g.binding.as_ref().map(|b| {
                    assert_eq!(b.group, 0, "{file}: {:?} in group {}", g.name, b.group);
                    (g.name.clone().unwrap_or_default(), b.binding)
                }))
                .collect();
            got.sort();
            let mut want: Vec<(String, u32)> = bindings.iter().map(|b| (b.name.to_string(), b.index)).collect();
            want.sort();
            assert_eq!(got, want, "{file}: bindings (name, number)");
        }
    }
}
