#![cfg(not(target_arch = "wasm32"))]
//! Streaming upload into GPU buffers and the WGSL dequantizers, natively (wgpu on whatever
//! adapter the machine has: Mesa lavapipe in CI). Every supported type, odd row counts,
//! random chunk sizes, tensors split into parts, and one tensor above lavapipe's 128 MiB
//! binding limit.

use std::rc::Rc;

use braid::gguf::quant::dequantize;
use braid::gguf::writer::GgufWriter;
use braid::gguf::{GgmlType, Value};
use braid::gpu::kernels::dequantize_rows;
use braid::gpu::{GpuContext, Requirements};
use braid::loader::{LoadError, LoadedWeights, StreamLoader};
use braid::synth::{random_tensor_bytes, Rng};

fn context() -> Rc<GpuContext> {
    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    let ctx = pollster::block_on(GpuContext::new(&req))
        .expect("no WebGPU adapter: these tests need one (install mesa-vulkan-drivers for lavapipe)");
    eprintln!("adapter: {:?}, max binding {}", ctx.adapter, ctx.max_binding());
    Rc::new(ctx)
}

fn stream(bytes: &[u8], ctx: &Rc<GpuContext>, rng: &mut Rng, max_chunk: u64) -> Result<LoadedWeights, LoadError> {
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    let mut at = 0;
    while at < bytes.len() {
        let n = (1 + rng.next_u64() % max_chunk) as usize;
        let end = (at + n).min(bytes.len());
        pollster::block_on(l.feed(&bytes[at..end]))?;
        at = end;
    }
    l.finish()
}

fn supported() -> Vec<GgmlType> {
    GgmlType::all().filter(|t| t.is_supported()).collect()
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // GPUs may flush f32 subnormals (MXFP4 with tiny exponents) to zero.
        let ok = g == w || (g - w).abs() <= w.abs() * 1e-6 || (w.abs() < 1e-37 && g.abs() < 1e-37);
        assert!(ok, "{what}: element {i}: gpu {g}, cpu {w}");
    }
}

/// A file with one tensor per type and shape, plus the CPU reference of each.
fn build(shapes: &[(GgmlType, u64, u64)], rng: &mut Rng) -> (Vec<u8>, Vec<Vec<f32>>) {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    w.kv("general.alignment", Value::U32(64));
    let mut data = vec![];
    let mut want = vec![];
    for (i, &(ty, blocks_per_row, rows)) in shapes.iter().enumerate() {
        let ne0 = blocks_per_row * ty.block_size();
        w.tensor(&format!("t{i}.{}", ty.name()), ty, &[ne0, rows]);
        let mut b = vec![];
        random_tensor_bytes(ty, ne0 * rows, 0.5, rng, &mut b);
        let mut v = vec![];
        dequantize(ty, &b, &mut v).unwrap();
        data.push(b);
        want.push(v);
    }
    (w.to_bytes(&data), want)
}

#[test]
fn every_type_streams_and_dequantizes_like_the_cpu() {
    let ctx = context();
    let mut rng = Rng::new(5);
    let mut shapes = vec![];
    for ty in supported() {
        // odd rows, odd blocks per row; 1-row tensors; float types with odd ne0
        let bpr = if ty.block_size() == 1 { 37 } else { 3 };
        shapes.extend([(ty, bpr, 7), (ty, 1, 1), (ty, bpr + 2, 5)]);
    }
    let (bytes, want) = build(&shapes, &mut rng);
    for max_chunk in [7u64, 1000, 1 << 20] {
        let w = stream(&bytes, &ctx, &mut rng, max_chunk).unwrap();
        for (i, t) in w.tensors.iter().enumerate() {
            assert_eq!(t.parts.len(), 1);
            let got = pollster::block_on(dequantize_rows(&ctx, t, 0..t.info.n_rows())).unwrap();
            close(&got, &want[i], &format!("{} (chunks ≤ {max_chunk})", t.info.name));
        }
    }
}

#[test]
fn tensors_split_into_parts_dequantize_like_the_cpu() {
    let ctx = context();
    let mut rng = Rng::new(6);
    let shapes: Vec<_> = supported().into_iter().map(|ty| (ty, if ty.block_size() == 1 { 33 } else { 2 }, 23)).collect();
    let (bytes, want) = build(&shapes, &mut rng);
    // About 3 rows per part for every type.
    ctx.set_part_limit(700);
    let w = stream(&bytes, &ctx, &mut rng, 333).unwrap();
    ctx.set_part_limit(u64::MAX);
    for (i, t) in w.tensors.iter().enumerate() {
        assert!(t.parts.len() >= 2, "{} has {} parts", t.info.name, t.parts.len());
        assert_eq!(t.parts.iter().map(|p| p.n_rows).sum::<u64>(), 23);
        for p in &t.parts {
            assert!(p.size <= 700, "{}: part of {} bytes", t.info.name, p.size);
        }
        let got = pollster::block_on(dequantize_rows(&ctx, t, 0..23)).unwrap();
        close(&got, &want[i], &t.info.name);
        // A row range that straddles parts.
        let ne0 = t.info.ne0() as usize;
        let got = pollster::block_on(dequantize_rows(&ctx, t, 2..9)).unwrap();
        close(&got, &want[i][2 * ne0..9 * ne0], &format!("{} rows 2..9", t.info.name));
    }
}

#[test]
fn tensor_above_the_binding_limit_is_split_not_refused() {
    let ctx = context();
    let limit = ctx.max_binding();
    // A Q8_0 tensor a little above the binding limit (lavapipe: 128 MiB → ~136 MiB; capped
    // at ~600 MiB on adapters with larger limits, forcing the split with set_part_limit).
    let target = (limit + (8 << 20)).min(600 << 20);
    if target <= limit {
        ctx.set_part_limit(target - (16 << 20));
        eprintln!("adapter binds {limit} bytes: splitting at {} instead", target - (16 << 20));
    }
    let ne0 = 4096u64;
    let row_bytes = ne0 / 32 * 34;
    let rows = target / row_bytes + 1;
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    w.tensor("big.weight", GgmlType::Q8_0, &[ne0, rows]);
    let mut rng = Rng::new(7);
    let mut data = vec![];
    random_tensor_bytes(GgmlType::Q8_0, ne0 * rows, 1.0, &mut rng, &mut data);
    let bytes = w.to_bytes(&[data.clone()]);
    assert!(bytes.len() as u64 > 128 << 20);
    let loaded = stream(&bytes, &ctx, &mut rng, 4 << 20).unwrap();
    ctx.set_part_limit(u64::MAX);
    let t = &loaded.tensors[0];
    assert!(t.parts.len() >= 2, "{} parts", t.parts.len());
    eprintln!("{} rows in {} parts: {:?}", rows, t.parts.len(), t.parts.iter().map(|p| (p.row0, p.n_rows, p.size)).collect::<Vec<_>>());
    // Check the first, last, and the rows around every part boundary.
    let mut check = vec![0..2, rows - 2..rows];
    for p in &t.parts[1..] {
        check.push(p.row0 - 1..p.row0 + 1);
    }
    for r in check {
        let got = pollster::block_on(dequantize_rows(&ctx, t, r.clone())).unwrap();
        let mut want = vec![];
        let (a, b) = ((r.start * row_bytes) as usize, (r.end * row_bytes) as usize);
        dequantize(GgmlType::Q8_0, &data[a..b], &mut want).unwrap();
        close(&got, &want, &format!("rows {r:?}"));
    }
}

#[test]
fn unsupported_types_fail_when_the_index_arrives() {
    let ctx = context();
    // A valid file of every type Braid does not run (after a supported tensor): refused with
    // the index, before any tensor byte is needed, naming the tensor's type.
    let unsupported: Vec<GgmlType> = GgmlType::all().filter(|t| !t.is_supported()).collect();
    assert!(unsupported.contains(&GgmlType::IQ2_XXS));
    for ty in unsupported {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", Value::String("test".into()));
        w.tensor("ok.weight", GgmlType::Q2_K, &[256, 1]);
        w.tensor("x.weight", ty, &[2 * ty.block_size(), 2]);
        let bytes = w.to_bytes(&[vec![0u8; 84], vec![0u8; 4 * ty.type_size() as usize]]);
        let index_end = braid::gguf::parse_index(&bytes).unwrap().data_start as usize;
        let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
        let e = pollster::block_on(l.feed(&bytes[..index_end])).err().unwrap_or_else(|| panic!("{ty} must be refused"));
        assert_eq!(e.code(), "UNSUPPORTED_TYPE", "{e}");
        assert!(e.to_string().contains(&format!("type {ty},")), "{ty}: {e}");
    }
}

#[test]
fn truncated_stream_is_an_error() {
    let ctx = context();
    let mut rng = Rng::new(8);
    let (bytes, _) = build(&[(GgmlType::Q4_K, 2, 3)], &mut rng);
    let mut l = StreamLoader::new(None, Some(ctx));
    pollster::block_on(l.feed(&bytes[..bytes.len() - 100])).unwrap();
    let e = l.finish().err().expect("truncated");
    assert_eq!(e.code(), "GGUF_INVALID", "{e}");
}

/// Models Braid cannot run, and models over the caller's GPU budget, fail when the index
/// arrives: before any tensor byte (the rest of a multi-GB download) is needed.
#[test]
fn model_checks_and_gpu_budget_fail_when_the_index_arrives() {
    use braid::synth::{write_model, SynthConfig, WeightType};
    let ctx = context();
    let file_as = |preset: &str, arch: Option<&str>| {
        let mut cfg = SynthConfig::preset(preset).unwrap();
        cfg.arch_name = arch.map(str::to_string);
        let mut bytes = vec![];
        write_model(&cfg, WeightType::parse("q8_0").unwrap(), 1, &mut bytes).unwrap();
        let index_end = braid::gguf::parse_index(&bytes).unwrap().data_start as usize;
        (bytes, index_end)
    };
    let file = |preset: &str| file_as(preset, None);
    // A valid file of an architecture Braid does not run (llama.cpp's rwkv7).
    let (other, end) = file_as("tiny-llama", Some("rwkv7"));
    let mut l = StreamLoader::new(Some(other.len() as u64), Some(ctx.clone())).check_model();
    let e = pollster::block_on(l.feed(&other[..end])).err().expect("rwkv7 is not supported");
    assert_eq!(e.code(), "UNSUPPORTED_ARCH", "{e}");
    // The message lists what Braid runs, from the architecture registry.
    for name in braid::model::arch::supported_names() {
        assert!(e.to_string().contains(name), "{e}");
    }
    // Without the model check the same file loads (as tensors).
    let mut l = StreamLoader::new(Some(other.len() as u64), Some(ctx.clone()));
    pollster::block_on(l.feed(&other)).unwrap();
    l.finish().unwrap();
    // LFM2 and Nemotron-H pass the check at the header.
    for p in ["tiny-lfm2", "tiny-nemotron-h"] {
        let (f, end) = file(p);
        let mut l = StreamLoader::new(Some(f.len() as u64), Some(ctx.clone())).check_model();
        pollster::block_on(l.feed(&f[..end])).unwrap();
    }

    let (g, end) = file("tiny-granitehybrid");
    let index = braid::gguf::parse_index(&g).unwrap();
    let need = braid::loader::planned_gpu_bytes(&index);
    let mut l = StreamLoader::new(Some(g.len() as u64), Some(ctx.clone())).check_model().gpu_budget(Some(need - 1));
    let e = pollster::block_on(l.feed(&g[..end])).err().expect("over budget");
    assert_eq!(e.code(), "DEVICE_LIMITS", "{e}");
    // Exactly the planned bytes fit, and the planned figure is what the upload takes.
    let mut l = StreamLoader::new(Some(g.len() as u64), Some(ctx)).check_model().gpu_budget(Some(need));
    pollster::block_on(l.feed(&g)).unwrap();
    assert_eq!(l.finish().unwrap().gpu_bytes(), need);
}
