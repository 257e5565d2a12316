//! Matrix kernels against the CPU reference, for every weight type, odd row counts, several
//! token counts, each kernel family (workgroup reduction, row per invocation, subgroups),
//! and tensors split into parts.
#![cfg(not(target_arch = "wasm32"))]

use std::rc::Rc;

use braid::gguf::quant::dequantize;
use braid::gguf::writer::GgufWriter;
use braid::gguf::{GgmlType, Value};
use braid::gpu::ops::Recorder;
use braid::gpu::{GpuContext, MatKernel, Requirements};
use braid::loader::StreamLoader;
use braid::synth::{random_tensor_bytes, Rng};
use wgpu::util::DeviceExt;

fn context() -> Rc<GpuContext> {
    let req = Requirements { min_binding: 4, wanted_binding: 1 << 30, storage_buffers_per_stage: 8 };
    Rc::new(pollster::block_on(GpuContext::new(&req)).expect("no WebGPU adapter (install mesa-vulkan-drivers)"))
}

#[test]
fn matmul_every_type_every_kernel_matches_cpu() {
    let ctx = context();
    let mut rng = Rng::new(21);
    let types: Vec<GgmlType> = GgmlType::all().filter(|t| t.is_supported()).collect();
    // One weight tensor per type: K = 2 blocks (≥ 8 elements), 37 rows.
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    let mut data = vec![];
    let mut dense = vec![];
    for ty in &types {
        let k = (2 * ty.block_size()).max(8 * ty.block_size().min(4)).max(12);
        let k = k.div_ceil(ty.block_size()) * ty.block_size();
        // Float types also at a K that is a multiple of 8 (the 8-wide half-float kernels), the
        // 32-element types also at an odd number of blocks (matvec_rows8_blk takes two a step).
        let ks = match ty.block_size() {
            1 => vec![k, 24],
            32 => vec![k, 96],
            _ => vec![k],
        };
        for k in ks {
            w.tensor(&format!("w.{}.{k}", ty.name()), *ty, &[k, 37]);
            let mut b = vec![];
            random_tensor_bytes(*ty, k * 37, 0.5, &mut rng, &mut b);
            let mut v = vec![];
            dequantize(*ty, &b, &mut v).unwrap();
            data.push(b);
            dense.push(v);
        }
    }
    let bytes = w.to_bytes(&data);
    for split in [false, true] {
        if split {
            ctx.set_part_limit(600);
        }
        let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
        pollster::block_on(l.feed(&bytes)).unwrap();
        let loaded = l.finish().unwrap();
        ctx.set_part_limit(u64::MAX);
        // The CPU kernels with x loads shared by subgroup broadcast (where the adapter has
        // 8-lane subgroups, as lavapipe) and without.
        let forms = [(MatKernel::Workgroup, false), (MatKernel::Rows, false), (MatKernel::RowsWide, false), (MatKernel::Rows, true), (MatKernel::RowsWide, true), (MatKernel::Subgroup, false)];
        for (kernel, share_x) in forms {
            ctx.set_kernels(Some(kernel));
            ctx.set_share_x(Some(share_x));
            for n_tok in [1u32, 3, 9, 17, 33] {
                for (i, t) in loaded.tensors.iter().enumerate() {
                    let k = t.info.ne0() as usize;
                    let x: Vec<f32> = (0..n_tok as usize * k).map(|j| ((j * 37 % 101) as f32 - 50.0) / 50.0).collect();
                    let xb = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: None, contents: bytemuck::cast_slice(&x), usage: wgpu::BufferUsages::STORAGE,
                    });
                    // y starts at 1.0 to check accumulate; output column offset 0, stride 40.
                    let y0 = vec![1.0f32; n_tok as usize * 40];
                    let yb = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: None, contents: bytemuck::cast_slice(&y0),
                        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    });
                    let mut r = Recorder::new(&ctx);
                    r.matmul(t, &xb, 0, k as u32, &yb, 0, 40, n_tok, 0.5, true);
                    r.submit();
                    ctx.check().unwrap();
                    let got = pollster::block_on(ctx.read_f32(&yb, 0, n_tok as u64 * 40)).unwrap();
                    for tt in 0..n_tok as usize {
                        for row in 0..37 {
                            let want: f32 = 1.0 + 0.5 * dense[i][row * k..(row + 1) * k].iter().zip(&x[tt * k..(tt + 1) * k]).map(|(a, b)| a * b).sum::<f32>();
                            let g = got[tt * 40 + row];
                            assert!((g - want).abs() <= 1e-4 * (1.0 + want.abs()), "{} {kernel:?} share_x={share_x} split={split} T={n_tok} t={tt} row={row}: {g} vs {want}", t.info.name);
                        }
                        // Columns past the rows are untouched.
                        assert!(got[tt * 40 + 37..tt * 40 + 40].iter().all(|&v| v == 1.0));
                    }
                }
            }
        }
        ctx.set_kernels(None);
        ctx.set_share_x(None);
    }
}

#[test]
fn matmul_epilogue_activations_match_closed_forms() {
    // The gated-FFN epilogue (silu(g)·v, GELU(g)·v as ggml computes it, max(v, 0)²) on every
    // kernel family, decode and prefill shapes, against the CPU reference's activations.
    // Also the paired form (Epilogue::Pair): act(W·x) · (U·x) with U a second matrix of W's
    // type and shape, in one dispatch.
    use braid::gpu::ops::{Act, Epilogue, MatmulIo};
    use braid::model::reference::{gelu, silu};
    let ctx = context();
    let mut rng = Rng::new(5);
    let types = [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K];
    let (k, rows) = (256usize, 37usize);
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    let (mut data, mut dense) = (vec![], vec![]);
    // w.<type> for every type, then u.<type> (the second matrices of the paired form).
    for (ty, name) in types.iter().map(|&t| (t, "w")).chain(types.iter().map(|&t| (t, "u"))) {
        w.tensor(&format!("{name}.{}", ty.name()), ty, &[k as u64, rows as u64]);
        let mut b = vec![];
        random_tensor_bytes(ty, (k * rows) as u64, 0.5, &mut rng, &mut b);
        let mut v = vec![];
        dequantize(ty, &b, &mut v).unwrap();
        data.push(b);
        dense.push(v);
    }
    let bytes = w.to_bytes(&data);
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    pollster::block_on(l.feed(&bytes)).unwrap();
    let loaded = l.finish().unwrap();
    let buf = |v: &[f32]| {
        ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None, contents: bytemuck::cast_slice(v), usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    };
    let forms = [(MatKernel::Workgroup, false), (MatKernel::Rows, false), (MatKernel::RowsWide, false), (MatKernel::Rows, true), (MatKernel::RowsWide, true), (MatKernel::Subgroup, false)];
    for (kernel, share_x) in forms {
        ctx.set_kernels(Some(kernel));
        ctx.set_share_x(Some(share_x));
        for n_tok in [1usize, 9] {
            let x: Vec<f32> = (0..n_tok * k).map(|j| ((j * 37 % 101) as f32 - 50.0) / 50.0).collect();
            // Gate values across GELU's range, its ±10 cut-offs included.
            let gate: Vec<f32> = (0..n_tok * rows).map(|j| (j as f32 * 0.731).sin() * 12.0).collect();
            let (xb, gb) = (buf(&x), buf(&gate));
            for (i, t) in loaded.tensors.iter().enumerate().take(types.len()) {
                let second = &loaded.tensors[i + types.len()];
                for which in 0..5 {
                    let yb = buf(&vec![0.0f32; n_tok * rows]);
                    let (act, epi) = match which {
                        0 => (Act::SiluGate(&gb), Epilogue::None),
                        1 => (Act::GeluGate(&gb), Epilogue::None),
                        2 => (Act::ReluSqr, Epilogue::None),
                        w => (Act::None, Epilogue::Pair { second, gelu: w == 4 }),
                    };
                    let mut r = Recorder::new(&ctx);
                    let io = MatmulIo { x: &xb, x_offset: 0, x_stride: k as u32, y: &yb, y_offset: 0, y_stride: rows as u32, n_tok: n_tok as u32, alpha: 1.0, accumulate: false, bias: None, act, epi };
                    r.matmul_io(t, io);
                    r.submit();
                    ctx.check().unwrap();
                    let got = pollster::block_on(ctx.read_f32(&yb, 0, (n_tok * rows) as u64)).unwrap();
                    for tt in 0..n_tok {
                        for row in 0..rows {
                            let dot = |m: &[f32]| -> f32 { m[row * k..(row + 1) * k].iter().zip(&x[tt * k..(tt + 1) * k]).map(|(a, b)| a * b).sum() };
                            let v = dot(&dense[i]);
                            let u = dot(&dense[i + types.len()]);
                            let g = gate[tt * rows + row];
                            let want = [silu(g) * v, gelu(g) * v, v.max(0.0) * v.max(0.0), silu(v) * u, gelu(v) * u][which];
                            let y = got[tt * rows + row];
                            assert!((y - want).abs() <= 1e-4 * (1.0 + want.abs()), "{} {kernel:?} share_x={share_x} act {which} T={n_tok} t={tt} row={row}: {y} vs {want} (g {g}, v {v})", t.info.name);
                        }
                    }
                }
            }
        }
    }
    ctx.set_kernels(None);
    ctx.set_share_x(None);
}
