//! `braid`: the native command-line tool.
//!
//!   braid inspect FILE [--json]                 metadata and tensor table
//!   braid synth --preset NAME [--type T] -o F   write a synthetic model
//!   braid load FILE [--chunk BYTES] [--json]    stream a file onto the GPU, report throughput
//!   braid plan FILE [--json]                    the layer plan and per-layer memory
//!   braid logits / generate / bench / run / diff  (see `braid help`)


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
            /// A preset of one of the architectures (`braid synth --preset list` lists them)
            #[arg(long)]
            preset: String,
            /// Weight type of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k,
            /// q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, mxfp4, or q4_k_m (the llama.cpp mix)
            #[arg(long = "type", default_value = "f32")]
            ty: String,
            #[arg(long, default_value_t = 1)]
            seed: u64,
            /// Add a ChatML chat template to the tokenizer section
            #[arg(long)]
            chat_template: bool,
            /// Write this general.architecture instead of the preset's (a valid file of an
            /// architecture Braid does not run, for testing refusals)
            #[arg(long)]
            architecture: Option<String>,
            #[arg(short, long)]
            out: PathBuf,
        },
        /// Print a model's layer plan (mixers, FFN, per-layer memory) from its header.
        Plan {
            file: PathBuf,
            #[arg(long)]
            json: bool,
        },
        /// Run TOKENS through the GPU forward and the CPU reference with every tap (named
        /// intermediates: attn_norm-N, attn_out-N, ffn_out-N, l_out-N, …) and print where they
        /// first differ by more than TOL of the reference's largest magnitude.
        Diff {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            tokens: String,
            #[arg(long, default_value_t = 1e-3)]
            tol: f32,
            /// Only print the taps of this layer (and the model-level ones)
            #[arg(long)]
            layer: Option<usize>,
            #[arg(long)]
            json: bool,
        },
        /// Write the exact-F32 twin of a GGUF: every tensor dequantized to F32, all else equal.
        Dequantize {
            file: PathBuf,
            #[arg(short, long)]
            out: PathBuf,
        },
        /// Teacher-forced logits at every position of TOKENS in a fresh session.
        Logits {
            #[arg(long)]
            model: PathBuf,
            /// Comma-separated token ids
            #[arg(long)]
            tokens: String,
            /// Evaluate token by token instead of as one batch
            #[arg(long)]
            sequential: bool,
            #[arg(long)]
            json: bool,
        },
        /// Generate N tokens after TOKENS.
        Generate {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            tokens: String,
            #[arg(short = 'n', long, default_value_t = 16)]
            n: usize,
            /// Greedy decoding (the only sampler in the CLI so far)
            #[arg(long)]
            greedy: bool,
            #[arg(long)]
            json: bool,
        },
        /// Prefill and decode speed, weight bytes per token and the device's copy bandwidth.
        Bench {
            #[arg(long)]
            model: PathBuf,
            #[arg(long, default_value_t = 128)]
            prompt_tokens: usize,
            #[arg(long, default_value_t = 32)]
            gen_tokens: usize,
            /// Also measure batched decode of this many sessions at once (e.g. 1,4,16,64)
            #[arg(long, value_delimiter = ',')]
            sessions: Vec<usize>,
            /// After the timed runs, time every kernel alone (one submit and wait per dispatch)
            /// over the prefill and the decode steps, and print where the time goes
            #[arg(long)]
            profile: bool,
            #[arg(long)]
            json: bool,
        },
        /// Run a script of session operations (new, append, fork, rewind, save, restore, step,
        /// dispose, memory); prints one JSON object per operation.
        Run {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            script: PathBuf,
            /// Context capacity of each session, in tokens
            #[arg(long, default_value_t = 4096)]
            ctx: u32,
            /// Checkpoint the recurrent state every this many tokens
            #[arg(long, default_value_t = 256)]
            checkpoint_every: u32,
            /// Checkpoints kept per session
            #[arg(long, default_value_t = 8)]
            checkpoints: usize,
            #[arg(long)]
            json: bool,
        },
        /// Perplexity of a text file as llama.cpp's `llama-perplexity` computes it: the text
        /// tokenized with BOS, cut into chunks of CTX tokens (each from an empty session, its
        /// first token replaced by BOS when the vocabulary adds one), the negative
        /// log-likelihood of each chunk's second half from the logits before it; PPL =
        /// exp(mean). Needs at least 2 × CTX tokens.
        Perplexity {
            #[arg(long)]
            model: PathBuf,
            #[arg(long)]
            file: PathBuf,
            /// Tokens per chunk (llama-perplexity's -c)
            #[arg(long, default_value_t = 512)]
            ctx: u32,
            /// Score at most this many chunks (default: all)
            #[arg(long)]
            chunks: Option<usize>,
            #[arg(long)]
            json: bool,
        },
        /// Token ids of a text as the model's tokenizer makes them (BOS/EOS as its metadata
        /// asks), like llama.cpp's `llama-tokenize`.
        Tokenize {
            #[arg(long)]
            model: PathBuf,
            /// The text (or use --file)
            text: Option<String>,
            #[arg(long)]
            file: Option<PathBuf>,
            /// Match control tokens (`<start_of_turn>`, `<|im_start|>` …) in the text whole
            #[arg(long)]
            special: bool,
            /// Do not add BOS/EOS
            #[arg(long)]
            no_bos: bool,
            /// Print {ids, pieces} as JSON
            #[arg(long)]
            json: bool,
        },
        /// A conversation rendered with the model's chat template, as Hugging Face's
        /// apply_chat_template renders it (tools and other template variables included).
        Template {
            #[arg(long)]
            model: PathBuf,
            /// A JSON file: an array of messages ({role, content, tool_calls, …})
            #[arg(long)]
            messages: PathBuf,
            /// A JSON file: an array of tool schemas (passed to the template as `tools`)
            #[arg(long)]
            tools: Option<PathBuf>,
            /// A JSON file: an object of further template variables (`enable_thinking`, …)
            #[arg(long)]
            vars: Option<PathBuf>,
            /// Leave out the generation prompt (`add_generation_prompt=False`)
            #[arg(long)]
            no_generation_prompt: bool,
            /// Print {text, ids} (ids: the text tokenized with special tokens matched)
            #[arg(long)]
            json: bool,
        },
        /// The text of token ids, as the model's tokenizer decodes them.
        Detokenize {
            #[arg(long)]
            model: PathBuf,
            /// Render control tokens as their text
            #[arg(long)]
            special: bool,
            /// Comma-separated token ids
            #[arg(long)]
            tokens: String,
            #[arg(long)]
            json: bool,
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
            Cmd::Synth { preset, ty, seed, chat_template, architecture, out } => {
                if preset == "list" {
                    out_text(&format!("{}\n", SynthConfig::presets().join("\n")));
                    return Ok(());
                }
                let mut cfg = SynthConfig::preset(&preset).ok_or_else(|| {
                    format!("unknown preset {preset:?}; presets: {}", SynthConfig::presets().join(", "))
                })?;
                cfg.chat_template |= chat_template;
                cfg.arch_name = architecture;
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
            Cmd::Plan { file, json } => plan(&file, json),
            Cmd::Diff { model, tokens, tol, layer, json } => diff(&model, &parse_tokens(&tokens)?, tol, layer, json),
            Cmd::Logits { model, tokens, sequential, json } => {
                let m = open_model(&model)?;
                let toks = parse_tokens(&tokens)?;
                let mut s = m.new_session(toks.len() as u32);
                let v = m.hp.n_vocab as usize;
                let logits = if sequential {
                    let mut all = vec![];
                    for &t in &toks {
                        all.extend(pollster::block_on(m.forward(&mut s, &[t], false)).map_err(|e| e.to_string())?);
                    }
                    all
                } else {
                    pollster::block_on(m.forward(&mut s, &toks, true)).map_err(|e| e.to_string())?
                };
                let rows: Vec<Vec<serde_json::Value>> = logits.chunks(v).map(|r| r.iter().map(|&x| float_json(x as f64, x.is_finite())).collect()).collect();
                if json {
                    out_text(&format!("{}\n", json!({"n_vocab": v, "logits": rows})));
                } else {
                    let mut o = String::new();
                    for (i, r) in logits.chunks(v).enumerate() {
                        let a = braid::model::forward::argmax(r);
                        o += &format!("position {i}: token {} → argmax {a} ({:.4})\n", toks[i], r[a as usize]);
                    }
                    out_text(&o);
                }
                Ok(())
            }
            Cmd::Generate { model, tokens, n, greedy: _, json } => {
                if n > 1 << 20 {
                    return Err(format!("-n {n} is above the limit of {}", 1 << 20));
                }
                let m = open_model(&model)?;
                let toks = parse_tokens(&tokens)?;
                let mut s = m.new_session((toks.len() + n) as u32);
                let out = pollster::block_on(m.generate_greedy(&mut s, &toks, n)).map_err(|e| e.to_string())?;
                if json {
                    out_text(&format!("{}\n", json!({"tokens": out})));
                } else {
                    out_text(&format!("{}\n", out.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")));
                }
                Ok(())
            }
            Cmd::Perplexity { model, file, ctx, chunks, json } => perplexity(&model, &file, ctx, chunks, json),
            Cmd::Tokenize { model, text, file, special, no_bos, json } => {
                let tok = open_tokenizer(&model)?;
                let text = match (text, file) {
                    (Some(t), None) => t,
                    (None, Some(f)) => std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?,
                    _ => return Err("give the text or --file, not both".into()),
                };
                let ids = tok.encode_with(&text, !no_bos, special);
                if json {
                    let pieces: Vec<String> = ids.iter().map(|&i| String::from_utf8_lossy(&tok.token_bytes(i)).into_owned()).collect();
                    out_text(&format!("{}\n", json!({"ids": ids, "pieces": pieces})));
                } else {
                    out_text(&format!("{}\n", ids.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")));
                }
                Ok(())
            }
            Cmd::Template { model, messages, tools, vars, no_generation_prompt, json } => {
                let read = |p: &PathBuf| -> Result<serde_json::Value, String> {
                    serde_json::from_str(&std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?).map_err(|e| format!("{}: {e}", p.display()))
                };
                let msgs = read(&messages)?;
                if !msgs.is_array() {
                    return Err(format!("{}: messages must be a JSON array", messages.display()));
                }
                let mut variables = match &vars {
                    Some(p) => read(p)?,
                    None => json!({}),
                };
                if !variables.is_object() {
                    return Err("--vars must be a JSON object".into());
                }
                if let Some(p) = &tools {
                    variables["tools"] = read(p)?;
                }
                let f = std::fs::File::open(&model).map_err(|e| format!("{}: {e}", model.display()))?;
                let len = f.metadata().map_err(|e| e.to_string())?.len();
                let index = read_index(std::io::BufReader::new(f), Some(len)).map_err(|e| format!("{}: {e}", model.display()))?;
                let t = braid::tokenizer::template::ChatTemplate::from_index(&index).ok_or_else(|| format!("{} has no chat template", model.display()))?;
                let tok = braid::tokenizer::Tokenizer::from_index(&index).ok();
                let name = |id: Option<u32>| id.and_then(|i| tok.as_ref().map(|t| t.tokens[i as usize].clone())).unwrap_or_default();
                let opts = braid::tokenizer::template::RenderOptions {
                    add_generation_prompt: !no_generation_prompt,
                    bos_token: name(tok.as_ref().and_then(|t| t.bos)),
                    eos_token: name(tok.as_ref().and_then(|t| t.eos)),
                    now: None,
                };
                let text = t.render(&msgs, &variables, &opts).map_err(|e| e.to_string())?;
                if json {
                    let ids = tok.as_ref().map(|t| t.encode_with(&text, true, true));
                    out_text(&format!("{}\n", json!({"text": text, "ids": ids})));
                } else {
                    out_text(&text);
                }
                Ok(())
            }
            Cmd::Detokenize { model, tokens, special, json } => {
                let tok = open_tokenizer(&model)?;
                let ids = parse_tokens(&tokens)?;
                if let Some(&bad) = ids.iter().find(|&&i| i as usize >= tok.n_vocab()) {
                    return Err(format!("token id {bad} is outside the vocabulary of {}", tok.n_vocab()));
                }
                let text = tok.decode_with(&ids, special);
                out_text(&if json { format!("{}\n", json!({"text": text})) } else { format!("{text}\n") });
                Ok(())
            }
            Cmd::Bench { model, prompt_tokens, gen_tokens, sessions, profile, json } => bench(&model, prompt_tokens, gen_tokens, &sessions, profile, json),
            Cmd::Run { model, script, ctx, checkpoint_every, checkpoints, json: _ } => {
                let m = open_model(&model)?;
                let text = std::fs::read_to_string(&script).map_err(|e| format!("{}: {e}", script.display()))?;
                let ops: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", script.display()))?;
                let policy = braid::memory::CheckpointPolicy { every: checkpoint_every, max: checkpoints };
                let mut sessions = std::collections::HashMap::new();
                for op in &ops {
                    let t0 = Instant::now();
                    let line = match run_op(&m, &mut sessions, op, ctx, policy) {
                        Ok(mut v) => {
                            v["ms"] = json!((t0.elapsed().as_secs_f64() * 1e4).round() / 10.0);
                            v
                        }
                        Err((code, msg)) => json!({"op": op.get("op").cloned().unwrap_or(serde_json::Value::Null),
                                                   "error": {"code": code, "message": msg}}),
                    };
                    out_text(&format!("{line}\n"));
                }
                Ok(())
            }
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

    type OpError = (&'static str, String);

    fn logits_json(l: &[f32], v: usize) -> Vec<Vec<serde_json::Value>> {
        l.chunks(v).map(|r| r.iter().map(|&x| float_json(x as f64, x.is_finite())).collect()).collect()
    }

    fn session_err(e: braid::session::SessionError) -> OpError {
        (e.code(), e.to_string())
    }

    fn run_op(
        m: &braid::model::forward::GpuModel,
        sessions: &mut std::collections::HashMap<String, braid::session::Session>,
        op: &serde_json::Value,
        n_ctx: u32,
        policy: braid::memory::CheckpointPolicy,
    ) -> Result<serde_json::Value, OpError> {
        let bad = |m: String| ("BAD_ARGUMENT", m);
        let name = op.get("op").and_then(|v| v.as_str()).ok_or_else(|| bad("missing \"op\"".into()))?;
        let id = || op.get("id").and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| bad(format!("{name}: missing \"id\"")));
        let tokens_of = |v: Option<&serde_json::Value>| -> Result<Vec<u32>, OpError> {
            let a = v.and_then(|v| v.as_array()).ok_or_else(|| bad(format!("{name}: missing \"tokens\" array")))?;
            a.iter().map(|t| t.as_u64().and_then(|t| u32::try_from(t).ok()).ok_or_else(|| bad(format!("{name}: token {t} is not a token id")))).collect()
        };
        let v = m.hp.n_vocab as usize;
        match name {
            "new" => {
                let id = id()?;
                if sessions.contains_key(&id) {
                    return Err(bad(format!("session {id:?} already exists")));
                }
                let mut s = m.new_session(n_ctx);
                s.policy = policy;
                sessions.insert(id.clone(), s);
                Ok(json!({"op": name, "id": id}))
            }
            "append" => {
                let id = id()?;
                let toks = tokens_of(op.get("tokens"))?;
                let s = sessions.get_mut(&id).ok_or_else(|| bad(format!("unknown session {id:?}")))?;
                let l = pollster::block_on(m.append(s, &toks, true)).map_err(session_err)?;
                Ok(json!({"op": name, "id": id, "logits": logits_json(&l, v)}))
            }
            "fork" => {
                let id = id()?;
                let from = op.get("from").and_then(|v| v.as_str()).ok_or_else(|| bad("fork: missing \"from\"".into()))?;
                if sessions.contains_key(&id) {
                    return Err(bad(format!("session {id:?} already exists")));
                }
                let parent = sessions.get(from).ok_or_else(|| bad(format!("unknown session {from:?}")))?;
                let child = m.fork(parent);
                sessions.insert(id.clone(), child);
                Ok(json!({"op": name, "from": from, "id": id}))
            }
            "rewind" => {
                let id = id()?;
                let to = op.get("to").and_then(|v| v.as_i64()).ok_or_else(|| bad("rewind: missing integer \"to\"".into()))?;
                let s = sessions.get_mut(&id).ok_or_else(|| bad(format!("unknown session {id:?}")))?;
                let n = pollster::block_on(m.rewind(s, to)).map_err(session_err)?;
                Ok(json!({"op": name, "id": id, "to": to, "recomputed": n}))
            }
            "save" => {
                let id = id()?;
                let file = op.get("file").and_then(|v| v.as_str()).ok_or_else(|| bad("save: missing \"file\"".into()))?;
                let s = sessions.get(&id).ok_or_else(|| bad(format!("unknown session {id:?}")))?;
                let blob = pollster::block_on(m.save(s)).map_err(session_err)?;
                std::fs::write(file, &blob).map_err(|e| bad(format!("{file}: {e}")))?;
                Ok(json!({"op": name, "id": id, "file": file, "bytes": blob.len()}))
            }
            "restore" => {
                let id = id()?;
                let file = op.get("file").and_then(|v| v.as_str()).ok_or_else(|| bad("restore: missing \"file\"".into()))?;
                if sessions.contains_key(&id) {
                    return Err(bad(format!("session {id:?} already exists")));
                }
                let blob = std::fs::read(file).map_err(|e| bad(format!("{file}: {e}")))?;
                let mut s = m.restore(&blob).map_err(session_err)?;
                s.policy = policy;
                let n = s.pos;
                sessions.insert(id.clone(), s);
                Ok(json!({"op": name, "id": id, "file": file, "tokens": n}))
            }
            "step" => {
                let ids: Vec<String> = op.get("ids").and_then(|v| v.as_array()).ok_or_else(|| bad("step: missing \"ids\"".into()))?
                    .iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("step: ids must be strings".into()))).collect::<Result<_, _>>()?;
                let toks = tokens_of(op.get("tokens"))?;
                if ids.len() != toks.len() || ids.is_empty() {
                    return Err(bad(format!("step: {} ids but {} tokens", ids.len(), toks.len())));
                }
                let mut seen = std::collections::HashSet::new();
                for id in &ids {
                    if !sessions.contains_key(id) {
                        return Err(bad(format!("unknown session {id:?}")));
                    }
                    if !seen.insert(id) {
                        return Err(bad(format!("session {id:?} appears twice in one step")));
                    }
                }
                // One batched forward step for all of them.
                let mut taken: Vec<(String, braid::session::Session)> =
                    ids.iter().filter_map(|id| sessions.remove_entry(id)).collect();
                let result = {
                    let mut refs: Vec<&mut braid::session::Session> = taken.iter_mut().map(|(_, s)| s).collect();
                    pollster::block_on(m.step_many(&mut refs, &toks))
                };
                sessions.extend(taken);
                let rows: Vec<Vec<serde_json::Value>> = result.map_err(session_err)?.iter().flat_map(|l| logits_json(l, v)).collect();
                Ok(json!({"op": name, "ids": ids, "logits": rows}))
            }
            "dispose" => {
                let id = id()?;
                sessions.remove(&id).ok_or_else(|| bad(format!("unknown session {id:?}")))?;
                Ok(json!({"op": name, "id": id}))
            }
            "memory" => {
                let id = id()?;
                let s = sessions.get(&id).ok_or_else(|| bad(format!("unknown session {id:?}")))?;
                let r = m.memory(s);
                Ok(json!({"op": name, "id": id, "tokens": s.pos, "kv": r.kv, "kv_used": r.kv_used,
                          "recurrent": r.recurrent, "window": r.window, "checkpoints": r.checkpoints,
                          "total": r.kv + r.recurrent + r.window + r.checkpoints}))
            }
            other => Err(bad(format!("unknown op {other:?}"))),
        }
    }

    /// The tokenizer of a GGUF file, from its header alone.
    fn open_tokenizer(path: &PathBuf) -> Result<braid::tokenizer::Tokenizer, String> {
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let index = read_index(std::io::BufReader::new(f), Some(len)).map_err(|e| format!("{}: {e}", path.display()))?;
        braid::tokenizer::Tokenizer::from_index(&index).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// llama-perplexity's computation (tools/perplexity/perplexity.cpp, one sequence per
    /// chunk): per chunk of `ctx` tokens from an empty session, BOS in place of its first
    /// token when the vocabulary adds BOS, −log softmax of tokens first+1 .. ctx−1 (first =
    /// ctx/2) from the logits before each, in f64 as llama.cpp sums them.
    fn perplexity(path: &PathBuf, file: &PathBuf, ctx: u32, max_chunks: Option<usize>, as_json: bool) -> Result<(), String> {
        if !(4..=1 << 20).contains(&ctx) {
            return Err(format!("--ctx {ctx}: between 4 and {}", 1 << 20));
        }
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let m = open_model(path)?;
        let tok = braid::tokenizer::Tokenizer::from_index(&m.weights.index).map_err(|e| format!("{}: {e}", path.display()))?;
        let tokens = tok.encode_with(&text, true, false);
        if tokens.len() < 2 * ctx as usize {
            return Err(format!("{} tokenizes to {} tokens; perplexity with --ctx {ctx} needs at least {}", file.display(), tokens.len(), 2 * ctx));
        }
        let t0 = std::time::Instant::now();
        let bos = if tok.add_bos { tok.bos } else { None };
        let r = pollster::block_on(m.perplexity(&tokens, ctx, bos, max_chunks)).map_err(|e| e.to_string())?;
        let (ppl, err, count, n_chunk, mean) = (r.ppl, r.ppl_stderr, r.scored, r.chunks, r.nll);
        let secs = t0.elapsed().as_secs_f64();
        if as_json {
            out_text(&format!(
                "{}\n",
                json!({"tokens": tokens.len(), "n_ctx": ctx, "chunks": n_chunk, "scored": count, "nll": mean, "ppl": ppl, "ppl_stderr": err,
                       "seconds": secs, "tokens_per_s": (n_chunk * ctx as usize) as f64 / secs})
            ));
        } else {
            eprintln!();
            out_text(&format!("Final estimate: PPL = {ppl:.4} +/- {err:.5} ({n_chunk} chunks of {ctx} tokens, {count} scored, {secs:.1} s)\n"));
        }
        Ok(())
    }

    fn open_model(path: &PathBuf) -> Result<braid::model::forward::GpuModel, String> {
        let w = pollster::block_on(braid::loader::load_file(path, None, 1 << 20)).map_err(|e| format!("[{}] {e}", e.code()))?;
        braid::model::forward::GpuModel::new(w).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse_tokens(s: &str) -> Result<Vec<u32>, String> {
        let v: Result<Vec<u32>, _> = s.split(',').filter(|t| !t.trim().is_empty()).map(|t| t.trim().parse::<u32>()).collect();
        match v {
            Ok(v) if v.len() > 1 << 20 => Err("--tokens: more than 1048576 tokens".into()),
            Ok(v) if !v.is_empty() => Ok(v),
            Ok(_) => Err("--tokens is empty".into()),
            Err(e) => Err(format!("--tokens: {e}")),
        }
    }

    fn out_text(s: &str) {
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(s.as_bytes());
    }

    /// Per-kernel time of one prefill of `prompt` and `g` decode steps, each dispatch alone:
    /// ("module:entry", dispatches per token, ms per token) for prefill (per prompt token)
    /// and decode (per decoded token), slowest first.
    fn profile_kernels(m: &braid::model::forward::GpuModel, prompt: &[u32], g: usize) -> Result<serde_json::Value, String> {
        let ctx = m.ctx();
        let mut s = m.new_session((prompt.len() + g + 2) as u32);
        let table = |n: usize| -> Vec<serde_json::Value> {
            let total: f64 = ctx.kernel_times().iter().map(|(_, t)| t.seconds).sum();
            ctx.kernel_times()
                .into_iter()
                .map(|(k, t)| json!({"kernel": k, "dispatches": t.dispatches as f64 / n as f64, "ms": 1e3 * t.seconds / n as f64, "share": t.seconds / total}))
                .collect()
        };
        ctx.set_profiling(true);
        let logits = pollster::block_on(m.forward(&mut s, prompt, false)).map_err(|e| e.to_string())?;
        let prefill = table(prompt.len());
        ctx.set_profiling(true);
        // Greedy steps as `bench` times them (argmax on the GPU).
        let mut next = braid::model::forward::argmax(&logits);
        for _ in 0..g.max(1) {
            next = pollster::block_on(m.step_greedy(&mut s, next)).map_err(|e| e.to_string())?;
        }
        let decode = table(g.max(1));
        ctx.set_profiling(false);
        Ok(json!({"prefill_per_token": prefill, "decode_per_token": decode}))
    }

    fn bench(path: &PathBuf, p: usize, g: usize, batch: &[usize], profile: bool, as_json: bool) -> Result<(), String> {
        use braid::session::bench::{bench, prompt_ids, BenchOptions};
        let m = open_model(path)?;
        // The profile runs the prompt the bench timed.
        let prompt = prompt_ids(p.max(1), m.hp.n_vocab);
        let o = BenchOptions { prompt_tokens: p, gen_tokens: g, batch: batch.to_vec(), ..Default::default() };
        let rep = pollster::block_on(bench(&m, &o)).map_err(|e| e.to_string())?;
        let profiled = if profile { Some(profile_kernels(&m, &prompt, g.min(8))?) } else { None };
        if as_json {
            let mut j = serde_json::to_value(&rep).map_err(|e| e.to_string())?;
            j["profile"] = json!(profiled);
            out_text(&format!("{j}\n"));
        } else {
            let experts = if m.has_experts() { " (of the experts, only the k used per token are counted)" } else { "" };
            let (pp, tg, eff, bw) = (rep.prefill_tok_s, rep.decode_tok_s, rep.decode_effective_gb_s, rep.copy_gb_s);
            let ctx = m.ctx();
            out_text(&format!(
                "prefill {p} tokens: {pp:.1} tok/s\ndecode {g} tokens: {tg:.2} tok/s\nweights per token: {:.1} MB{experts} → {eff:.2} GB/s effective\nweights on the GPU: {:.1} MB\ncopy kernel: {bw:.2} GB/s (decode at {:.0}% of it), read kernel: {:.2} GB/s (decode at {:.0}% of it)\nadapter: {} ({}){}\nKV cache: {} ({} B per token)\n",
                rep.weight_bytes_per_token as f64 / 1e6, rep.gpu_bytes as f64 / 1e6, 100.0 * rep.fraction_of_copy, rep.read_gb_s, 100.0 * rep.fraction_of_read, ctx.adapter.name, ctx.adapter.backend,
                if ctx.adapter.shader_f16 { ", shader-f16" } else { "" }, rep.kv_cache_type, rep.kv_bytes_per_token
            ));
            let w = rep.per_decoded_token;
            out_text(&format!(
                "per decoded token: {} dispatches ({:.2} per layer), {} bind groups created, {} submits, {} buffers created\n",
                w.dispatches, w.dispatches_per_layer, w.bind_groups_created, w.submits, w.buffers_created
            ));
            for b in &rep.batched_decode {
                out_text(&format!("batched decode, {} sessions: {:.2} tok/s ({:.0} ms per step)\n", b.sessions, b.tok_s, b.step_ms));
            }
            if let Some(pr) = &profiled {
                for (what, key) in [("prefill, per prompt token", "prefill_per_token"), ("decode, per token", "decode_per_token")] {
                    out_text(&format!("kernels alone ({what}):\n"));
                    for k in pr[key].as_array().into_iter().flatten().take(12) {
                        out_text(&format!(
                            "  {:>8.2} ms {:>5.1}%  {:>6.1}×  {}\n",
                            k["ms"].as_f64().unwrap_or(0.0),
                            100.0 * k["share"].as_f64().unwrap_or(0.0),
                            k["dispatches"].as_f64().unwrap_or(0.0),
                            k["kernel"].as_str().unwrap_or("")
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A layer's mixers and FFN as words: "attention", "mamba2 + attention", "mlp (relu²)".
    fn layer_words(l: &braid::model::LayerPlan) -> (Vec<&'static str>, Option<&'static str>) {
        let mixers = l.mixers.iter().map(|m| m.name()).collect();
        let ffn = l.ffn.as_ref().map(|f| match &f.ffn {
            braid::model::plan::Ffn::Dense(d) if d.gate.is_some() => "gated (SwiGLU)",
            braid::model::plan::Ffn::Dense(_) => "plain (ReLU²)",
            braid::model::plan::Ffn::Moe(m) if m.gate.is_some() => "MoE (SwiGLU experts)",
            braid::model::plan::Ffn::Moe(_) => "MoE (ReLU² experts)",
        });
        (mixers, ffn)
    }

    fn plan(file: &PathBuf, as_json: bool) -> Result<(), String> {
        let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let index = read_index(std::io::BufReader::new(f), Some(len)).map_err(|e| format!("{}: {e}", file.display()))?;
        let plan = braid::model::ModelPlan::build(&index).map_err(|e| format!("[{}] {e}", e.code()))?;
        let layout = plan.memory_layout();
        let layers: Vec<serde_json::Value> = plan
            .layers
            .iter()
            .zip(&layout.layers)
            .map(|(l, m)| {
                let (mixers, ffn) = layer_words(l);
                json!({"mixers": mixers, "ffn": ffn, "kv_bytes_per_token": m.kv.map_or(0, |kv| 4 * (kv.k + kv.v)),
                       "state_bytes": m.states.iter().map(|s| 4 * s.floats as u64).sum::<u64>(),
                       "states": m.states.iter().map(|s| json!({"name": s.name, "floats": s.floats})).collect::<Vec<_>>()})
            })
            .collect();
        if as_json {
            out_text(&format!("{}\n", json!({"architecture": plan.hp.arch, "n_embd": plan.hp.n_embd, "n_vocab": plan.hp.n_vocab,
                "layers": layers, "kv_bytes_per_token": layout.kv_bytes_per_token(), "state_bytes_per_session": layout.state_bytes()})));
            return Ok(());
        }
        let mut o = format!("{} · {} layers · n_embd {} · vocabulary {}\n", plan.hp.arch, plan.layers.len(), plan.hp.n_embd, plan.hp.n_vocab);
        for (il, (l, m)) in plan.layers.iter().zip(&layout.layers).enumerate() {
            let (mixers, ffn) = layer_words(l);
            let mix = if mixers.is_empty() { "—".to_string() } else { mixers.join(" ∥ ") };
            let mut mem = vec![];
            if let Some(kv) = m.kv {
                mem.push(format!("KV {} B/token", 4 * (kv.k + kv.v)));
            }
            for st in &m.states {
                mem.push(format!("{} {} B", st.name, 4 * st.floats as u64));
            }
            o += &format!("  {il:>3}  {mix:<22} ffn {:<16} {}\n", ffn.unwrap_or("—"), mem.join(", "));
        }
        o += &format!(
            "memory per session: {} B of KV per token (F32; half with an F16 cache, where the adapter has shader-f16), {} B of recurrent state\n",
            layout.kv_bytes_per_token(),
            layout.state_bytes()
        );
        out_text(&o);
        Ok(())
    }

    fn diff(path: &PathBuf, tokens: &[u32], tol: f32, layer: Option<usize>, as_json: bool) -> Result<(), String> {
        use braid::model::forward::{SeqStep, Want};
        let m = open_model(path)?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let r = braid::model::reference::RefModel::from_bytes(&bytes).map_err(|e| e.to_string())?;
        let mut mem = m.new_memory();
        let mut got: braid::model::taps::Taps = vec![];
        let step = m.max_step();
        for (i, piece) in tokens.chunks(step).enumerate() {
            let mut steps = [SeqStep { mem: &mut mem, pos: (i * step) as u32, tokens: piece }];
            let (_, t) = pollster::block_on(m.eval_taps(&mut steps, Want::All)).map_err(|e| e.to_string())?;
            if got.is_empty() {
                got = t;
            } else {
                for (a, b) in got.iter_mut().zip(t) {
                    a.values.extend(b.values);
                }
            }
        }
        let mut st = r.new_state();
        let (_, want) = r.eval_taps(&mut st, tokens);
        let (rows, first) = braid::model::taps::compare(&got, &want, tol);
        let keep = |name: &str| match layer {
            None => true,
            Some(l) => name.rsplit_once('-').map_or(true, |(_, n)| n.parse::<usize>().ok() == Some(l)),
        };
        if as_json {
            let list: Vec<_> = rows.iter().filter(|r| keep(&r.0)).map(|(n, d, s)| json!({"tap": n, "max_abs_diff": d, "max_abs": s})).collect();
            out_text(&format!("{}\n", json!({"taps": list, "first_over": first.map(|i| rows[i].0.clone()), "tol": tol})));
        } else {
            let mut o = String::new();
            for (i, (n, d, sc)) in rows.iter().enumerate() {
                if keep(n) {
                    let flag = if Some(i) == first { "  ← first over tolerance" } else { "" };
                    o += &format!("{n:<24} max|gpu−cpu| {d:.3e}  max|cpu| {sc:.3e}  rel {:.2e}{flag}\n", d / sc.max(1e-30));
                }
            }
            o += &match first {
                Some(i) => format!("GPU and reference first differ at {} (tolerance {tol:e} of max|value|)\n", rows[i].0),
                None => format!("GPU and reference agree at every tap (tolerance {tol:e} of max|value|)\n"),
            };
            out_text(&o);
        }
        if first.is_some() { Err("the GPU forward differs from the reference".into()) } else { Ok(()) }
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
