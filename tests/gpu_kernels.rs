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

/// Random tensors (name, type, [k, rows]) written to a GGUF and loaded onto the GPU, with
/// their values dequantized on the CPU, in order.
fn load_random(ctx: &Rc<GpuContext>, rng: &mut Rng, specs: &[(String, GgmlType, usize, usize)]) -> (braid::gpu::GpuWeights, Vec<Vec<f32>>) {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("test".into()));
    let (mut data, mut dense) = (vec![], vec![]);
    for (name, ty, k, rows) in specs {
        w.tensor(name, *ty, &[*k as u64, *rows as u64]);
        let mut b = vec![];
        random_tensor_bytes(*ty, (k * rows) as u64, 0.5, rng, &mut b);
        let mut v = vec![];
        dequantize(*ty, &b, &mut v).unwrap();
        data.push(b);
        dense.push(v);
    }
    let bytes = w.to_bytes(&data);
    let mut l = StreamLoader::new(Some(bytes.len() as u64), Some(ctx.clone()));
    pollster::block_on(l.feed(&bytes)).unwrap();
    (l.finish().unwrap(), dense)
}

/// A storage buffer holding `v` (readable back).
fn storage(ctx: &GpuContext, v: &[f32]) -> wgpu::Buffer {
    ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(v), usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC })
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
    // w.<type> for every type, then u.<type> (the second matrices of the paired form).
    let specs: Vec<_> = types.iter().map(|&t| (t, "w")).chain(types.iter().map(|&t| (t, "u"))).map(|(ty, name)| (format!("{name}.{}", ty.name()), ty, k, rows)).collect();
    let (loaded, dense) = load_random(&ctx, &mut rng, &specs);
    let buf = |v: &[f32]| storage(&ctx, v);
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
                    let io = MatmulIo { x: &xb, x_offset: 0, x_stride: k as u32, y: &yb, y_offset: 0, y_stride: rows as u32, n_tok: n_tok as u32, alpha: 1.0, accumulate: false, bias: None, act, epi, norm_out: None };
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

#[test]
fn pre_norm_store_and_scaled_input_equal_rms_norm() {
    // A decode product that adds into the residual with the next RMSNorm in its store
    // (`NormOut`): y += alpha·W·x, h = y·w and per-workgroup Σ y² after the rows; then
    // products reading h as a scaled input (`Recorder::set_scaled_input`) give C ·
    // RMSNorm(y)·w, the norm as llama.cpp's build_norm computes it (x / sqrt(mean(x²) + eps)
    // · w). Every supported type as the producer, every kernel family that can make the
    // store (the row kernels, with and without shared x, and the subgroup kernel), 200
    // residual rows (4 sums of the row kernels' 64 rows, the last one part-filled; 25 of the
    // subgroup kernel's 8, which the readers load four at a time), F32 and F16 readers.
    use braid::gpu::ops::{MatmulIo, NormOut, ScaledInput};
    let ctx = context();
    let mut rng = Rng::new(77);
    let (rows, m, eps) = (200usize, 37usize, 1e-5f32);
    let types: Vec<GgmlType> = GgmlType::all().filter(|t| t.is_supported()).collect();
    let k_of = |ty: GgmlType| match ty.block_size() {
        1 => 64usize,
        32 => 96,
        b => 2 * b as usize,
    };
    let readers = [GgmlType::F32, GgmlType::F16];
    let specs: Vec<_> = types.iter().map(|&t| ("w", t, k_of(t), rows)).chain(readers.iter().map(|&t| ("c", t, rows, m))).map(|(name, ty, k, n)| (format!("{name}.{}", ty.name()), ty, k, n)).collect();
    let (loaded, dense) = load_random(&ctx, &mut rng, &specs);
    let buf = |v: &[f32]| storage(&ctx, v);
    let resid: Vec<f32> = (0..rows).map(|j| (j as f32 * 0.37).sin() * 2.0).collect();
    let norm_w: Vec<f32> = (0..rows).map(|j| 0.5 + (j % 7) as f32 * 0.25).collect();
    let nwb = buf(&norm_w);
    let alpha = 0.75f32;
    let forms = [(MatKernel::Rows, false), (MatKernel::RowsWide, false), (MatKernel::RowsWide, true), (MatKernel::Subgroup, false), (MatKernel::Workgroup, false)];
    let mut checked = 0;
    for (kernel, share_x) in forms {
        ctx.set_kernels(Some(kernel));
        ctx.set_share_x(Some(share_x));
        for (i, ty) in types.iter().enumerate() {
            let t = &loaded.tensors[i];
            let k = k_of(*ty);
            let Some(per) = Recorder::new(&ctx).norm_out_rows(t, 1) else {
                // Only the workgroup kernel (a sum per row) cannot make the store.
                assert_eq!(kernel, MatKernel::Workgroup, "{} {kernel:?}: no pre-norm store", t.info.name);
                continue;
            };
            let count = rows.div_ceil(per as usize);
            let x: Vec<f32> = (0..k).map(|j| ((j * 29 % 97) as f32 - 48.0) / 48.0).collect();
            let (xb, yb) = (buf(&x), buf(&resid));
            // NaN past the sums too: a reader must not take what lies after them.
            let hb = buf(&vec![f32::NAN; rows + count + 8]);
            let mut r = Recorder::new(&ctx);
            let io = MatmulIo {
                x: &xb, x_offset: 0, x_stride: k as u32, y: &yb, y_offset: 0, y_stride: rows as u32, n_tok: 1, alpha, accumulate: true,
                bias: None, act: Default::default(), epi: Default::default(), norm_out: Some(NormOut { w: &nwb, h: &hb, base: rows as u32 }),
            };
            r.matmul_io(t, io);
            // The readers, as the next stage's products.
            r.set_scaled_input(Some(ScaledInput { buf: hb.clone(), base: rows as u32, count: count as u32, width: rows as u32, eps }));
            let outs: Vec<wgpu::Buffer> = readers.iter().map(|_| buf(&vec![0.0f32; m])).collect();
            for (j, ob) in outs.iter().enumerate() {
                r.matmul(&loaded.tensors[types.len() + j], &hb, 0, rows as u32, ob, 0, m as u32, 1, 1.0, false);
            }
            r.set_scaled_input(None);
            r.submit();
            ctx.check().unwrap();
            let y = pollster::block_on(ctx.read_f32(&yb, 0, rows as u64)).unwrap();
            let h = pollster::block_on(ctx.read_f32(&hb, 0, (rows + count) as u64)).unwrap();
            let name = format!("{} {kernel:?} share_x={share_x}", t.info.name);
            let want_y: Vec<f32> = (0..rows).map(|row| resid[row] + alpha * dense[i][row * k..(row + 1) * k].iter().zip(&x).map(|(a, b)| a * b).sum::<f32>()).collect();
            for row in 0..rows {
                assert!((y[row] - want_y[row]).abs() <= 1e-4 * (1.0 + want_y[row].abs()), "{name} y[{row}]: {} vs {}", y[row], want_y[row]);
                assert_eq!(h[row], y[row] * norm_w[row], "{name} h[{row}]");
            }
            for s in 0..count {
                let want: f32 = y[s * per as usize..((s + 1) * per as usize).min(rows)].iter().map(|v| v * v).sum();
                assert!((h[rows + s] - want).abs() <= 1e-5 * want, "{name} partial {s}: {} vs {want}", h[rows + s]);
            }
            // The readers against RMSNorm(y)·w on the CPU (f64 sums).
            let ms = want_y.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / rows as f64;
            let normed: Vec<f64> = (0..rows).map(|j| want_y[j] as f64 / (ms + eps as f64).sqrt() * norm_w[j] as f64).collect();
            for (j, ob) in outs.iter().enumerate() {
                let got = pollster::block_on(ctx.read_f32(ob, 0, m as u64)).unwrap();
                let c = &dense[types.len() + j];
                for row in 0..m {
                    let want: f64 = c[row * rows..(row + 1) * rows].iter().zip(&normed).map(|(&a, b)| a as f64 * b).sum();
                    assert!((got[row] as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "{name} reader {:?} row {row}: {} vs {want}", readers[j], got[row]);
                }
            }
            checked += 1;
        }
    }
    ctx.set_kernels(None);
    ctx.set_share_x(None);
    assert_eq!(checked, 4 * types.len(), "type × family cases");
}
