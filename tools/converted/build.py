# Build tiny random-weight Hugging Face checkpoints (config.json + model.safetensors in bf16 +
# tokenizer files) for the architectures Braid runs, with the REAL configs' features, key
# names and tokenizer kinds and only the dimensions shrunk, so that llama.cpp's
# convert_hf_to_gguf.py turns them into GGUF files exactly as it does the real checkpoints.
#
# Usage: python build.py OUT_DIR NAME...   (NAME from MODELS below; `list` prints them with the
# tokenizer pre-type each is converted with). The comment of each builder names the checkpoint
# and the values of its public config.json that are kept ("real: ..." are the dimensions that
# were shrunk; the shrunk ones are in the code). The values were written down from those
# config.json files without network access to re-read them here: a check against the hub is
# worth doing when one is at hand.
import glob, json, sys
from pathlib import Path

import torch
import transformers as T

LLAMA = Path(__import__("os").environ.get("LLAMA_CPP", "target/llama-ref/llama.cpp"))
torch.set_num_threads(2)

# ---------------------------------------------------------------- tokenizers


def corpus():
    txt = []
    for f in sorted(glob.glob(str(LLAMA / "docs" / "**" / "*.md"), recursive=True))[:40]:
        txt.append(open(f, encoding="utf-8", errors="ignore").read())
    txt.append(open(LLAMA / "README.md", encoding="utf-8").read())
    return txt


# The split regex of each pre-tokenizer (the HF tokenizer's own; llama.cpp uses the one its
# `tokenizer.ggml.pre` names).
REGEX = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
}


def bpe_tokenizer(d: Path, vocab: int, specials, regex="llama3", bos=None, eos=None, pad=None, add_bos=False):
    """A byte-level BPE tokenizer.json (the `gpt2` GGUF tokenizer model), trained on llama.cpp's docs."""
    from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders, Regex
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(REGEX[regex]), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(specials),
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), tr)
    fast = T.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=None)
    fast.save_pretrained(str(d))
    tc = json.load(open(d / "tokenizer_config.json"))
    tc["add_bos_token"] = add_bos
    tc["add_eos_token"] = False
    json.dump(tc, open(d / "tokenizer_config.json", "w"), indent=1)
    return len(tok.get_vocab())


def sp_tokenizer(d: Path, vocab: int, pieces):
    """A SentencePiece tokenizer.model (the `llama` GGUF tokenizer model) with byte fallback.
    pieces: (pad, eos, bos, unk) ids and names."""
    import sentencepiece as spm
    (pad_id, pad), (eos_id, eos), (bos_id, bos), (unk_id, unk) = pieces
    tmp = d / "corpus.txt"
    with open(tmp, "w") as f:
        for t in corpus():
            f.write(t + "\n")
    spm.SentencePieceTrainer.train(input=str(tmp), model_prefix=str(d / "tokenizer"), vocab_size=vocab,
        model_type="bpe", byte_fallback=True, character_coverage=0.99, pad_id=pad_id, unk_id=unk_id, bos_id=bos_id,
        eos_id=eos_id, pad_piece=pad, unk_piece=unk, bos_piece=bos, eos_piece=eos, minloglevel=2)
    tmp.unlink()
    (d / "tokenizer.vocab").unlink()
    json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": bos, "eos_token": eos, "pad_token": pad,
               "unk_token": unk, "tokenizer_class": "LlamaTokenizer", "legacy": True},
              open(d / "tokenizer_config.json", "w"), indent=1)
    json.dump({"bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk},
              open(d / "special_tokens_map.json", "w"), indent=1)
    return vocab


# ---------------------------------------------------------------- weights


def perturb(model, seed):
    # Random init leaves norms / A_log / dt_bias / D at constants: add noise so they matter.
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.ndim == 1 or n.endswith("A_log") or "norm" in n or n.endswith(".D") or "bias" in n:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


DROP = object()


def save(model, d: Path, cfg_patch=None):
    """Save as the real checkpoints are (bf16 safetensors); cfg_patch puts back config.json keys
    the way the real file spells them where transformers re-spells them on save (DROP removes)."""
    # Real checkpoints ship bf16 safetensors.
    model.to(torch.bfloat16).save_pretrained(str(d), safe_serialization=True)
    if cfg_patch:
        c = json.load(open(d / "config.json"))
        c.update(cfg_patch)
        c = {k: v for k, v in c.items() if v is not DROP}
        json.dump(c, open(d / "config.json", "w"), indent=2)


BPE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
V = 320  # tokenizer size (the real ones: 32k .. 262k)

# ---------------------------------------------------------------- models
# name -> (pre-tokenizer the converter is told, builder). The pre-type is the one the real
# checkpoint's tokenizer hash maps to in convert_hf_to_gguf.py (ours are self-trained, so the
# hash is unknown and convert.py supplies it).


def granite(d, kind):
    # ibm-granite/granite-4.0-h-350m, granite-4.0-h-1b (dense) and granite-4.0-h-tiny (MoE):
    # GraniteMoeHybridForCausalLM, position_embedding_type "nope", tie_word_embeddings true,
    # embedding_multiplier 12, attention_multiplier 0.015625, residual_multiplier 0.246 (350m) /
    # 0.22 (1b, tiny), logits_scaling 3 (350m) / 6 (1b, tiny), rms_norm_eps 1e-5,
    # mamba_d_conv 4, mamba_expand 2, mamba_n_groups 1, mamba_conv_bias true, mamba_proj_bias false.
    # Tokenizer: GPT-2 byte-level BPE (cl100k-like; pre "dbrx"), bos = eos = <|end_of_text|>,
    # pad <|pad|>; vocab_size 100352 > the tokenizer's 100277 tokens: padded.
    specials = ["<|end_of_text|>", "<|pad|>", "<|start_of_role|>", "<|end_of_role|>"]
    n = bpe_tokenizer(d, V, specials, "llama3", bos="<|end_of_text|>", eos="<|end_of_text|>", pad="<|pad|>")
    common = dict(num_attention_heads=4, num_key_value_heads=2,  # real 12 / 4 heads
                  rms_norm_eps=1e-5, position_embedding_type="nope", tie_word_embeddings=True,
                  embedding_multiplier=12.0, attention_multiplier=0.015625,
                  mamba_d_conv=4, mamba_expand=2, mamba_n_groups=1, mamba_conv_bias=True, mamba_proj_bias=False,
                  mamba_chunk_size=256, max_position_embeddings=32768,
                  vocab_size=n + 32, bos_token_id=0, eos_token_id=0, pad_token_id=1)
    if kind == "350m":
        # real: hidden 768, 32 layers (4 of them attention), 12 heads / 4 kv,
        # mamba_n_heads 48, mamba_d_head 32, mamba_d_state 128, intermediate = shared 2048,
        # num_local_experts 0, num_experts_per_tok 0.
        cfg = T.GraniteMoeHybridConfig(**common, hidden_size=32, num_hidden_layers=3,
                                       layer_types=["mamba", "attention", "mamba"],
                                       mamba_n_heads=2, mamba_d_head=32, mamba_d_state=32,
                                       intermediate_size=64, shared_intermediate_size=64,
                                       num_local_experts=0, num_experts_per_tok=0,
                                       residual_multiplier=0.246, logits_scaling=3.0)
    elif kind == "1b":
        # real: hidden 1536, 40 layers (attention at 5, 15, 25, 35), mamba_n_heads 48,
        # mamba_d_head 64, mamba_d_state 128, intermediate = shared 4096, no experts.
        cfg = T.GraniteMoeHybridConfig(**common, hidden_size=64, num_hidden_layers=3,
                                       layer_types=["mamba", "mamba", "attention"],
                                       mamba_n_heads=2, mamba_d_head=64, mamba_d_state=32,
                                       intermediate_size=64, shared_intermediate_size=64,
                                       num_local_experts=0, num_experts_per_tok=0,
                                       residual_multiplier=0.22, logits_scaling=6.0)
    else:
        # granite-4.0-h-tiny: hidden 1536, 40 layers, num_local_experts 64, num_experts_per_tok 6,
        # intermediate_size 512 (per expert), shared_intermediate_size 1024, mamba_n_heads 48,
        # mamba_d_head 64, mamba_d_state 128.
        cfg = T.GraniteMoeHybridConfig(**common, hidden_size=64, num_hidden_layers=3,
                                       layer_types=["mamba", "attention", "mamba"],
                                       mamba_n_heads=2, mamba_d_head=64, mamba_d_state=32,
                                       intermediate_size=32, shared_intermediate_size=64,
                                       num_local_experts=4, num_experts_per_tok=2,
                                       residual_multiplier=0.22, logits_scaling=6.0)
    m = T.GraniteMoeHybridForCausalLM(cfg)
    perturb(m, 11)
    # transformers 5 saves layer_types as "linear_attention" / "full_attention"; the real
    # config.json says "mamba" / "attention", the only names the converter knows (with the
    # re-spelled names it marks every layer recurrent: head_count_kv all 0, and llama.cpp
    # refuses the file).
    real = {"linear_attention": "mamba", "full_attention": "attention"}
    save(m, d, {"layer_types": [real[t] for t in cfg.layer_types]})


def falcon_h1(d, kind):
    # tiiuae/Falcon-H1-0.5B-Instruct / Falcon-H1-1.5B-Instruct: FalconH1ForCausalLM, parallel
    # attention + Mamba2 in every layer, muP multipliers folded into the weights by the
    # converter, rope_theta 1e11, tie_word_embeddings false, rms_norm_eps 1e-5,
    # mamba_n_groups 1, mamba_d_conv 4, mamba_norm_before_gate false, projectors_bias false,
    # mamba_conv_bias true. Tokenizer: byte-level BPE (pre "falcon-h1").
    # 0.5B real: hidden 1024, 36 layers, 8 heads / 2 kv, head_dim 64 (q width 512 < hidden),
    # mamba_d_ssm 1536, mamba_n_heads 24, mamba_d_head 64, mamba_d_state 128, mamba_rms_norm false,
    # vocab 32784. 1.5B real: hidden 2048, 24 layers, 8 / 2 heads, head_dim 128, mamba_d_ssm 3072,
    # mamba_n_heads 48, mamba_d_head 64, mamba_d_state 256, mamba_rms_norm true (-> ssm_norm).
    specials = ["<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
    n = bpe_tokenizer(d, V, specials, "llama3", bos="<|begin_of_text|>", eos="<|end_of_text|>", pad="<|pad|>")
    mult = dict(embedding_multiplier=5.656854249492381, lm_head_multiplier=0.0390625, key_multiplier=0.390625,
                attention_in_multiplier=1.0, attention_out_multiplier=0.9375, ssm_in_multiplier=1.25,
                ssm_out_multiplier=0.23570226039551587, mlp_multipliers=[0.8838834764831844, 0.5859375],
                ssm_multipliers=[0.3535533905932738, 0.25, 0.3535533905932738, 0.5, 0.3535533905932738])
    common = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=1, rms_norm_eps=1e-5,
                  tie_word_embeddings=False, mamba_n_groups=1, mamba_d_conv=4, mamba_expand=2,
                  mamba_norm_before_gate=False, projectors_bias=False, mamba_conv_bias=True, mamba_proj_bias=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 1e11}, max_position_embeddings=16384,
                  intermediate_size=64, vocab_size=n + 16, bos_token_id=1, eos_token_id=2, pad_token_id=0, **mult)
    if kind == "0.5b":
        cfg = T.FalconH1Config(**common, num_hidden_layers=2, head_dim=4, mamba_d_ssm=64, mamba_n_heads=2,
                               mamba_d_head=32, mamba_d_state=32, mamba_rms_norm=False)
    else:
        cfg = T.FalconH1Config(**common, num_hidden_layers=2, head_dim=16, mamba_d_ssm=96, mamba_n_heads=3,
                               mamba_d_head=32, mamba_d_state=64, mamba_rms_norm=True)
    m = T.FalconH1ForCausalLM(cfg)
    perturb(m, 12)
    save(m, d)


def lfm2(d, kind):
    # LiquidAI/LFM2-350M: Lfm2ForCausalLM, 16 layers (attention at 2, 5, 8, 10, 12, 14, the rest
    # short convolutions, conv_L_cache 3, conv_bias false), hidden 1024, 16 heads / 8 kv,
    # block_ff_dim 6656 with block_auto_adjust_ff_dim true, block_multiple_of 256,
    # block_ffn_dim_multiplier 1.0, norm_eps 1e-5, rope_theta 1e6, tie_embedding true, vocab 65536.
    # LiquidAI/LFM2-8B-A1B (lfm2_moe): hidden 2048, 24 layers, num_dense_layers 2, 32 experts,
    # 4 per token, moe_intermediate_size 1792, use_expert_bias true, norm_topk_prob true.
    # Tokenizer: byte-level BPE (pre "lfm2"), bos <|startoftext|>, eos <|im_end|>, pad <|pad|>.
    specials = ["<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    n = bpe_tokenizer(d, V, specials, "llama3", bos="<|startoftext|>", eos="<|im_end|>", pad="<|pad|>", add_bos=True)
    common = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, norm_eps=1e-5,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, conv_bias=False, conv_L_cache=3,
                  tie_word_embeddings=True, vocab_size=n, bos_token_id=1, eos_token_id=4, pad_token_id=0,
                  max_position_embeddings=128000)
    if kind == "350m":
        cfg = T.Lfm2Config(**common, num_hidden_layers=4, layer_types=["conv", "conv", "full_attention", "conv"],
                           intermediate_size=96, block_ff_dim=96, block_auto_adjust_ff_dim=True,
                           block_multiple_of=32, block_ffn_dim_multiplier=1.0)
        m = T.Lfm2ForCausalLM(cfg)
    else:
        cfg = T.Lfm2MoeConfig(**common, num_hidden_layers=4, layer_types=["conv", "conv", "full_attention", "conv"],
                              intermediate_size=64, moe_intermediate_size=32, num_dense_layers=1, num_experts=4,
                              num_experts_per_tok=2, use_expert_bias=True, norm_topk_prob=True)
        m = T.Lfm2MoeForCausalLM(cfg)
    perturb(m, 13)
    save(m, d)


def nemotron_h(d, kind):
    # nvidia/Nemotron-H-8B-Base-8K: NemotronHForCausalLM, hybrid_override_pattern of Mamba2 (M),
    # attention (*) and squared-ReLU MLP (-) blocks ("M-M-M-M*-M-M-..."), hidden 4096,
    # 32 heads / 8 kv, head_dim 128, intermediate 21504, mlp_hidden_act relu2, mamba_num_heads 128,
    # mamba_head_dim 64, n_groups 8, ssm_state_size 128, conv_kernel 4, use_conv_bias true,
    # use_bias false, layer_norm_epsilon 1e-5, tie_word_embeddings false, vocab 131072.
    specials = ["<unk>", "<s>", "</s>", "<SPECIAL_10>"]
    n = bpe_tokenizer(d, V, specials, "llama3", bos="<s>", eos="</s>", pad="<unk>", add_bos=True)
    cfg = T.NemotronHConfig(hidden_size=32, layers_block_type=["linear_attention", "mlp", "linear_attention",
                                                               "full_attention", "mlp"],
                            num_attention_heads=4, num_key_value_heads=2, head_dim=8, intermediate_size=64,
                            mlp_hidden_act="relu2", mamba_num_heads=2, mamba_head_dim=32, n_groups=2, ssm_state_size=16,
                            conv_kernel=4, use_conv_bias=True, use_bias=False, layer_norm_epsilon=1e-5,
                            tie_word_embeddings=False, vocab_size=n, use_mamba_kernels=False,
                            bos_token_id=1, eos_token_id=2, pad_token_id=0)
    m = T.NemotronHForCausalLM(cfg)
    perturb(m, 14)
    # The real config.json has hybrid_override_pattern (what transformers 5 saves as
    # layers_block_type) and no MoE keys (transformers 5 saves its MoE defaults, and the converter
    # takes num_experts_per_tok to mean nemotron_h_moe).
    moe = ["n_routed_experts", "n_shared_experts", "moe_intermediate_size", "moe_shared_expert_intermediate_size",
           "moe_latent_size", "moe_shared_expert_overlap", "num_experts_per_tok", "routed_scaling_factor", "n_group",
           "topk_group", "norm_topk_prob", "num_nextn_predict_layers", "mtp_layers_block_type", "output_router_logits",
           "layers_block_type"]
    # rms_norm_eps: without it the converter writes only attention.layer_norm_epsilon and
    # llama.cpp cannot load the file.
    save(m, d, {"hybrid_override_pattern": "M-M*-", "num_hidden_layers": 5, "rms_norm_eps": 1e-5,
                **{k: DROP for k in moe}})


def mamba2(d, kind):
    # state-spaces/mamba2-370m (HF layout): Mamba2ForCausalLM, d_model 1024, 48 layers,
    # headdim 64, d_state 128, expand 2, ngroups 1, d_conv 4, rms_norm true, tie_embeddings true,
    # vocab 50277 with pad_vocab_size_multiple 16. The HF-layout copies ship GPT-NeoX's
    # tokenizer.json (byte-level BPE, GPT-2 split; its hash is mosaicml/mpt-7b's: pre "mpt").
    # (Without tokenizer files the converter writes its built-in GPT-NeoX vocabulary with all
    # 50009 merges: 800 KB, too big for a fixture.)
    n = bpe_tokenizer(d, 288, ["<|endoftext|>", "<|padding|>"], "gpt2", bos="<|endoftext|>", eos="<|endoftext|>",
                      pad="<|padding|>")
    cfg = T.Mamba2Config(hidden_size=64, num_hidden_layers=2, num_heads=2, head_dim=64, state_size=32, expand=2,
                         n_groups=1, conv_kernel=4, use_bias=False, use_conv_bias=True, tie_word_embeddings=True,
                         layer_norm_epsilon=1e-5, vocab_size=n + 16, pad_token_id=1, bos_token_id=0, eos_token_id=0)
    m = T.Mamba2ForCausalLM(cfg)
    perturb(m, 15)
    # As mamba2-370m: the embedding padded to a multiple of 16 rows, config.json's vocab_size not.
    save(m, d, {"vocab_size": n + 5, "pad_vocab_size_multiple": 16})


def llama3(d, kind):
    # meta-llama/Llama-3.2-1B: LlamaForCausalLM, hidden 2048, 16 layers, 32 heads / 8 kv,
    # head_dim 64, intermediate 8192, rope_theta 500000, rope_scaling {rope_type llama3,
    # factor 32, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192}
    # (-> rope_freqs.weight), tie_word_embeddings true, rms_norm_eps 1e-5.
    # Tokenizer: byte-level BPE (pre "llama-bpe"), bos <|begin_of_text|>, add_bos.
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    n = bpe_tokenizer(d, V, specials, "llama3", bos="<|begin_of_text|>", eos="<|end_of_text|>", add_bos=True)
    cfg = T.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                        head_dim=16, intermediate_size=64, rms_norm_eps=1e-5, tie_word_embeddings=True,
                        max_position_embeddings=131072, vocab_size=n, bos_token_id=0, eos_token_id=1,
                        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                         "original_max_position_embeddings": 8192})
    m = T.LlamaForCausalLM(cfg)
    perturb(m, 16)
    save(m, d)


def qwen(d, kind):
    # Qwen/Qwen2.5-0.5B: Qwen2ForCausalLM, hidden 896, 24 layers, 14 heads / 2 kv, head_dim 64,
    # q/k/v biases, intermediate 4864, rope_theta 1e6, rms_norm_eps 1e-6, tie true,
    # vocab_size 151936 > the tokenizer's 151665 (padded).
    # Qwen/Qwen3-0.6B: Qwen3ForCausalLM, hidden 1024, 28 layers, 16 heads / 8 kv, head_dim 128
    # (q width 2048 > hidden), q/k RMSNorm, intermediate 3072, rope_theta 1e6, tie true.
    # Tokenizer: byte-level BPE (pre "qwen2"), no BOS, eos <|endoftext|>.
    n = bpe_tokenizer(d, V, BPE_SPECIALS, "qwen2", eos="<|endoftext|>", pad="<|endoftext|>")
    common = dict(hidden_size=32, num_hidden_layers=2, intermediate_size=64, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, vocab_size=n + 24, max_position_embeddings=32768,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  bos_token_id=0, eos_token_id=0)
    if kind == "qwen2":
        cfg = T.Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=2)
        m = T.Qwen2ForCausalLM(cfg)
    else:
        cfg = T.Qwen3Config(**common, num_attention_heads=4, num_key_value_heads=2, head_dim=32)
        m = T.Qwen3ForCausalLM(cfg)
    perturb(m, 17)
    save(m, d)


def gemma3(d, kind):
    # google/gemma-3-270m: Gemma3ForCausalLM, hidden 640, 18 layers, 4 heads / 1 kv, head_dim 256
    # (q width 1024 > hidden), query_pre_attn_scalar 256, intermediate 2048 (GeGLU,
    # gelu_pytorch_tanh), sliding_window 512 with 5 sliding layers to 1 full (pattern 6),
    # rope_theta 1e6 (full) / rope_local_base_freq 10000 (sliding), rms_norm_eps 1e-6,
    # tie true, vocab 262144. Tokenizer: SentencePiece (<pad> 0, <eos> 1, <bos> 2, <unk> 3).
    n = sp_tokenizer(d, 400, ((0, "<pad>"), (1, "<eos>"), (2, "<bos>"), (3, "<unk>")))
    types = ["sliding_attention"] * 5 + ["full_attention"] + ["sliding_attention"]
    cfg = T.Gemma3TextConfig(hidden_size=32, num_hidden_layers=7, num_attention_heads=4, num_key_value_heads=1,
                             head_dim=16, query_pre_attn_scalar=16, intermediate_size=64,
                             hidden_activation="gelu_pytorch_tanh", sliding_window=4, layer_types=types,
                             rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                              "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
                             rms_norm_eps=1e-6, tie_word_embeddings=True, vocab_size=n, max_position_embeddings=32768,
                             pad_token_id=0, eos_token_id=1, bos_token_id=2)
    m = T.Gemma3ForCausalLM(cfg)
    perturb(m, 18)
    save(m, d, {"sliding_window_pattern": 6})


def linear_common(n):
    # Qwen3.5 / Qwen3-Next layout shrunk: 3 Gated-DeltaNet layers to 1 gated full-attention
    # layer (real: full_attention_interval 4), partial rotary 0.25, conv kernel 4.
    return dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1, head_dim=64,
                linear_conv_kernel_dim=4, linear_key_head_dim=32, linear_value_head_dim=32,
                linear_num_key_heads=1, linear_num_value_heads=2,
                layer_types=["linear_attention"] * 3 + ["full_attention"],
                max_position_embeddings=4096, rms_norm_eps=1e-6, vocab_size=n + 16,
                bos_token_id=None, eos_token_id=0, pad_token_id=0)


def qwen35(d, kind):
    # Qwen/Qwen3.5-0.8B (dense, tie true) / Qwen3.5-35B-A3B (MoE: 256 experts, 8 per token,
    # shared expert) / Qwen/Qwen3-Next-80B-A3B (512 experts, 10 per token, shared expert):
    # rope_theta 1e7, partial_rotary_factor 0.25, mrope_section [11, 11, 10] interleaved
    # (Qwen3.5), rms_norm_eps 1e-6. Tokenizer: byte-level BPE (pre "qwen35" / "qwen2").
    n = bpe_tokenizer(d, V, BPE_SPECIALS, "qwen2", eos="<|im_end|>", pad="<|endoftext|>")
    rope35 = {"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
              "mrope_section": [3, 3, 2], "mrope_interleaved": True}
    if kind == "dense":
        cfg = T.Qwen3_5TextConfig(**linear_common(n), intermediate_size=64, rope_parameters=rope35,
                                  tie_word_embeddings=True)
        m = T.Qwen3_5ForCausalLM(cfg)
    elif kind == "moe":
        cfg = T.Qwen3_5MoeTextConfig(**linear_common(n), num_experts=4, num_experts_per_tok=2,
                                     moe_intermediate_size=32, shared_expert_intermediate_size=32,
                                     rope_parameters=rope35, tie_word_embeddings=False)
        m = T.Qwen3_5MoeForCausalLM(cfg)
    else:
        cfg = T.Qwen3NextConfig(**linear_common(n), intermediate_size=64, num_experts=4, num_experts_per_tok=2,
                                moe_intermediate_size=32, shared_expert_intermediate_size=32, decoder_sparse_step=1,
                                mlp_only_layers=[], norm_topk_prob=True,
                                rope_parameters={"rope_type": "default", "rope_theta": 10000000.0,
                                                 "partial_rotary_factor": 0.25},
                                tie_word_embeddings=False)
        m = T.Qwen3NextForCausalLM(cfg)
    perturb(m, 19)
    save(m, d)


def jamba(d, kind):
    # ai21labs/Jamba-v0.1 (AI21-Jamba-Mini layout): JambaForCausalLM, 32 layers, attention every
    # 8th from 4 (attn_layer_period 8, offset 4), MoE every 2nd from 1 (16 experts, 2 per token),
    # Mamba-1 d_state 16, d_conv 4, expand 2, dt_rank 256 (hidden / 16), 32 heads / 8 kv,
    # rms_norm_eps 1e-6, tie false. Tokenizer: SentencePiece (<|pad|> 0, <|startoftext|> 1,
    # <|endoftext|> 2, <|unk|> 3).
    n = sp_tokenizer(d, 400, ((0, "<|pad|>"), (2, "<|endoftext|>"), (1, "<|startoftext|>"), (3, "<|unk|>")))
    cfg = T.JambaConfig(hidden_size=32, intermediate_size=32, num_hidden_layers=8, num_attention_heads=2,
                        num_key_value_heads=1, attn_layer_period=8, attn_layer_offset=4,
                        expert_layer_period=2, expert_layer_offset=1, num_experts=4, num_experts_per_tok=2,
                        mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=4,
                        mamba_conv_bias=True, mamba_proj_bias=False, use_mamba_kernels=False,
                        max_position_embeddings=4096, vocab_size=n, rms_norm_eps=1e-6,
                        bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    m = T.JambaForCausalLM(cfg)
    perturb(m, 20)
    save(m, d)


MODELS = {
    # name: (pre-tokenizer, builder, variant)
    "granite-4.0-h-350m": ("dbrx", granite, "350m"),
    "granite-4.0-h-1b": ("dbrx", granite, "1b"),
    "granite-4.0-h-tiny": ("dbrx", granite, "tiny"),
    "falcon-h1-0.5b": ("falcon-h1", falcon_h1, "0.5b"),
    "falcon-h1-1.5b": ("falcon-h1", falcon_h1, "1.5b"),
    "lfm2-350m": ("lfm2", lfm2, "350m"),
    "lfm2-8b-a1b": ("lfm2", lfm2, "moe"),
    "nemotron-h-8b": ("tekken", nemotron_h, ""),
    "mamba2-370m": ("mpt", mamba2, ""),
    "llama-3.2-1b": ("llama-bpe", llama3, ""),
    "qwen2.5-0.5b": ("qwen2", qwen, "qwen2"),
    "qwen3-0.6b": ("qwen2", qwen, "qwen3"),
    "gemma-3-270m": ("-", gemma3, ""),
    "qwen3.5-0.8b": ("qwen35", qwen35, "dense"),
    "qwen3.5-35b-a3b": ("qwen35", qwen35, "moe"),
    "qwen3-next-80b-a3b": ("qwen2", qwen35, "next"),
    "jamba-v0.1": ("-", jamba, ""),
}

if __name__ == "__main__":
    if sys.argv[1] == "list":
        for k, (pre, _, _) in MODELS.items():
            print(k, pre)
        sys.exit()
    out = Path(sys.argv[1])
    for name in sys.argv[2:]:
        pre, fn, kind = MODELS[name]
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(1234)
        fn(d, kind)
        print("built", name)
