//! `braid`: the native command-line tool.
//!
//!   braid inspect FILE [--json]                 metadata and tensor table
//!   braid synth --preset NAME [--type T] -o F   write a synthetic model
//!   braid load FILE [--chunk BYTES] [--json]    stream a file onto the GPU, report throughput


#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The CLI is native only (it reads files and blocks on the GPU).
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    use braid::gguf::{read_index, Array, GgufIndex, Value, ValueType};
    use braid::synth::{write_model, SynthConfig, WeightType};
    use clap::{Parser, Subcommand};
    use serde_json::{json, Map};

    #[derive(Parser)]
    #[command(name = "braid", version, about = "Braid: GGUF language models on WebGPU")]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Print a GGUF file's metadata and tensor table. Exit status 2 on a malformed file.
        Inspect {
            file: PathBuf,
            #[arg(long)]
            json: bool,
        },
        /// Write a synthetic model (random weights) of a preset shape.
        Synth {
            /// One of: granite-4.0-h-350m, falcon-h1-0.5b, mamba2-370m, lfm2-350m, llama-1b,
            /// tiny-llama, tiny-mamba2, tiny-granitehybrid, tiny-falcon-h1, tiny-lfm2
            #[arg(long)]
            preset: String,
            /// Weight type of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k,
            /// q5_k, q6_k, iq4_nl, mxfp4, or q4_k_m (the llama.cpp mix)
            #[arg(long = "type", default_value = "f32")]
            ty: String,
            #[arg(long, default_value_t = 1)]
            seed: u64,
            #[arg(short, long)]
            out: PathBuf,
        },
        /// Write the exact-F32 twin of a GGUF: every tensor dequantized to F32, all else equal.
        Dequantize {
            file: PathBuf,
            #[arg(short, long)]
            out: PathBuf,
        },
        /// Stream a GGUF file onto the GPU and report parse + upload throughput.
        Load {
            file: PathBuf,
            /// Read size in bytes
            #[arg(long, default_value_t = 1 << 20)]
            chunk: usize,
            #[arg(long)]
            json: bool,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match run(cli.cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("braid: {msg}");
                ExitCode::from(2)
            }
        }
    }

    fn run(cmd: Cmd) -> Result<(), String> {
        match cmd {
            Cmd::Inspect { file, json } => inspect(&file, json),
            Cmd::Synth { preset, ty, seed, out } => {
                let cfg = SynthConfig::preset(&preset).ok_or_else(|| {
                    format!("unknown preset {preset:?}; presets: {}", SynthConfig::PRESETS.join(", "))
                })?;
                let wt = WeightType::parse(&ty).ok_or_else(|| format!("unknown or unsupported type {ty:?}"))?;
                let f = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let n = write_model(&cfg, wt, seed, &mut w).map_err(|e| e.to_string())?;
                use std::io::Write;
                w.flush().map_err(|e| e.to_string())?;
                eprintln!("wrote {} ({:.1} MiB)", out.display(), n as f64 / (1 << 20) as f64);
                Ok(())
            }
            Cmd::Dequantize { file, out } => dequantize_file(&file, &out),
            Cmd::Load { file, chunk, json } => {
                let t0 = Instant::now();
                let w = pollster::block_on(braid::loader::load_file(&file, None, chunk)).map_err(|e| format!("[{}] {e}", e.code()))?;
                let secs = t0.elapsed().as_secs_f64();
                let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                let mbps = size as f64 / 1e6 / secs;
                if json {
                    println!("{}", json!({"bytes": size, "seconds": secs, "mb_per_s": mbps, "gpu_bytes": w.gpu_bytes(),
                        "tensors": w.tensors.len(), "adapter": w.ctx.adapter, "max_binding": w.ctx.max_binding()}));
                } else {
                    println!("loaded {} tensors, {:.1} MB in {:.2} s: {:.1} MB/s (parse + upload) on {} ({})",
                        w.tensors.len(), size as f64 / 1e6, secs, mbps, w.ctx.adapter.name, w.ctx.adapter.backend);
                }
                Ok(())
            }
        }
    }

    fn dequantize_file(file: &PathBuf, out: &PathBuf) -> Result<(), String> {
        use std::io::Write;
        let mut f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let o = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut o = std::io::BufWriter::new(o);
        braid::gguf::twin::write_f32_twin(&mut f, len, &mut o).map_err(|e| format!("{}: {e}", file.display()))?;
        o.flush().map_err(|e| e.to_string())
    }

    fn inspect(file: &PathBuf, as_json: bool) -> Result<(), String> {
        let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let index = read_index(std::io::BufReader::new(f), Some(len)).map_err(|e| format!("{}: {e}", file.display()))?;
        let text = if as_json {
            serde_json::to_string(&index_json(&index)).map_err(|e| e.to_string())? + "\n"
        } else {
            table(&index)
        };
        // A closed pipe (`| head`) is not an error worth a panic.
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(())
    }

    /// gguf-py's names for the metadata value types.
    fn type_name(t: ValueType) -> &'static str {
        match t {
            ValueType::U8 => "UINT8", ValueType::I8 => "INT8", ValueType::U16 => "UINT16",
            ValueType::I16 => "INT16", ValueType::U32 => "UINT32", ValueType::I32 => "INT32",
            ValueType::F32 => "FLOAT32", ValueType::Bool => "BOOL", ValueType::String => "STRING",
            ValueType::Array => "ARRAY", ValueType::U64 => "UINT64", ValueType::I64 => "INT64",
            ValueType::F64 => "FLOAT64",
        }
    }

    fn array_json(a: &Array) -> serde_json::Value {
        if a.len() > 64 {
            return json!({"type": type_name(a.elem_type()), "len": a.len()});
        }
        match a {
            Array::Array(v) => serde_json::Value::Array(v.iter().map(array_json).collect()),
            _ => serde_json::Value::Array((0..a.len()).filter_map(|i| a.get(i)).map(|v| value_json(&v)).collect()),
        }
    }

    fn value_json(v: &Value) -> serde_json::Value {
        match v {
            Value::Array(a) => array_json(a),
            Value::F32(x) => float_json(*x as f64, x.is_finite()),
            Value::F64(x) => float_json(*x, x.is_finite()),
            other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Floats as JSON numbers (f32 printed at f32 precision); NaN/inf, which JSON lacks, as strings.
    fn float_json(x: f64, finite: bool) -> serde_json::Value {
        if !finite {
            return json!(format!("{x}"));
        }
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }

    fn index_json(index: &GgufIndex) -> serde_json::Value {
        let mut meta = Map::new();
        for (k, v) in &index.metadata {
            meta.insert(k.clone(), value_json(v));
        }
        let tensors: Vec<_> = index
            .tensors
            .iter()
            .map(|t| json!({"name": t.name, "type": t.ty.name(), "shape": t.dims, "offset": t.offset,
                            "data_offset": index.data_start + t.offset, "bytes": t.n_bytes}))
            .collect();
        json!({"version": index.version, "alignment": index.alignment, "data_start": index.data_start,
               "metadata": meta, "tensors": tensors})
    }

    fn table(index: &GgufIndex) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "GGUF v{}  {} metadata entries, {} tensors, alignment {}, data at {}",
            index.version, index.metadata.len(), index.tensors.len(), index.alignment, index.data_start);
        let _ = writeln!(o);
        for (k, v) in &index.metadata {
            let s = match v {
                Value::Array(a) if a.len() > 8 => format!("[{} × {}]", a.len(), type_name(a.elem_type())),
                Value::String(s) if s.len() > 80 => format!("{:?}… ({} bytes)", &s[..s.char_indices().nth(60).map_or(s.len(), |c| c.0)], s.len()),
                v => value_json(v).to_string(),
            };
            let _ = writeln!(o, "  {k:<48} {s}");
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "  {:<40} {:<8} {:<26} {:>14} {:>14}", "tensor", "type", "shape (ggml order)", "offset", "bytes");
        for t in &index.tensors {
            let _ = writeln!(o, "  {:<40} {:<8} {:<26} {:>14} {:>14}", t.name, t.ty.name(), format!("{:?}", t.dims), t.offset, t.n_bytes);
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "  total tensor bytes: {}", index.total_tensor_bytes());
        o
    }
}
