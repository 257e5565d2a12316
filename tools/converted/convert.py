# Runs llama.cpp's convert_hf_to_gguf.py unchanged except for one lookup: the BPE
# pre-tokenizer is recognized by a hash of the tokenizer's output, and our self-trained
# tokenizers hash to nothing it knows, so PRE (the pre-type the real checkpoint's tokenizer maps
# to) is used where it would raise. Usage: PRE=dbrx LLAMA_CPP=... python convert.py ARGS...
import os, sys, runpy
LLAMA = os.environ.get("LLAMA_CPP", "target/llama-ref/llama.cpp")
sys.path.insert(0, os.path.join(LLAMA, "gguf-py"))
sys.path.insert(0, LLAMA)  # sys.path[0]: where the converter finds models/ggml-vocab-*.gguf
import conversion.base as base
orig = base.TextModel.get_vocab_base_pre
def patched(self, tokenizer):
    try:
        return orig(self, tokenizer)
    except NotImplementedError:
        pre = os.environ.get("PRE", "default")
        base.logger.warning(f"[convert.py] unknown pre-tokenizer hash: tokenizer.ggml.pre = {pre!r}")
        return pre
base.TextModel.get_vocab_base_pre = patched
if os.environ.get("RAW_CONFIG"):
    # Read config.json as it is, as the converter does where transformers does not know the
    # model type (AutoConfig fails). transformers 5 fills in defaults that change what the
    # converter writes: NemotronHConfig adds num_experts_per_tok to every config, and the
    # converter then writes a dense Nemotron-H as nemotron_h_moe, a file llama.cpp refuses.
    import json
    from pathlib import Path
    def raw(dir_model, is_mistral_format):
        return json.load(open(Path(dir_model) / "config.json", encoding="utf-8"))
    base.ModelBase.load_hparams = staticmethod(raw)
sys.argv = [os.path.join(LLAMA, "convert_hf_to_gguf.py")] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
