// Reference logits from llama.cpp for Braid's golden fixtures.
//
//   llama_ref BINS_DIR MODEL.gguf TOKENS [seq|batch] > out.json
//
// TOKENS is a comma-separated list of token ids. Evaluates them in a fresh context, as one
// batch (`batch`) or one token at a time (`seq`), with the settings that make llama.cpp
// precise (TOOLCHAIN.md): F32 K/V cache, no weight repacking, flash attention off, one thread
// pool. Prints {"n_vocab": V, "logits": [[V floats] per token]}.
//
// Built by scripts/make_goldens.sh against node-llama-cpp's prebuilt libraries.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml-backend.h"

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BINS_DIR MODEL TOKENS [seq|batch]\n", argv[0]);
        return 2;
    }
    int sequential = argc > 4 && strcmp(argv[4], "seq") == 0;
    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();

    int n = 0, cap = 16;
    llama_token *toks = malloc(sizeof(llama_token) * cap);
    for (char *s = strtok(argv[3], ","); s; s = strtok(NULL, ",")) {
        if (n == cap) { cap *= 2; toks = realloc(toks, sizeof(llama_token) * cap); }
        toks[n++] = atoi(s);
    }

    struct llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = false;
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n < 256 ? 256 : n + 16;
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    float *out = malloc(sizeof(float) * (size_t)n_vocab * n);
    if (sequential) {
        for (int i = 0; i < n; i++) {
            struct llama_batch b = llama_batch_init(1, 0, 1);
            b.n_tokens = 1; b.token[0] = toks[i]; b.pos[0] = i; b.n_seq_id[0] = 1; b.seq_id[0][0] = 0; b.logits[0] = 1;
            if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
            memcpy(out + (size_t)i * n_vocab, llama_get_logits_ith(ctx, 0), sizeof(float) * n_vocab);
            llama_batch_free(b);
        }
    } else {
        struct llama_batch b = llama_batch_init(n, 0, 1);
        b.n_tokens = n;
        for (int i = 0; i < n; i++) {
            b.token[i] = toks[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
        }
        if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
        for (int i = 0; i < n; i++)
            memcpy(out + (size_t)i * n_vocab, llama_get_logits_ith(ctx, i), sizeof(float) * n_vocab);
        llama_batch_free(b);
    }
    printf("{\"n_vocab\": %d, \"logits\": [", n_vocab);
    for (int i = 0; i < n; i++) {
        printf(i ? ",[" : "[");
        for (int j = 0; j < n_vocab; j++) printf(j ? ",%.9g" : "%.9g", out[(size_t)i * n_vocab + j]);
        printf("]");
    }
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
