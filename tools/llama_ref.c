// Reference logits from llama.cpp for Braid's golden fixtures.
//
//   llama_ref BINS_DIR MODEL.gguf TOKENS [seq|batch] > out.json
//   llama_ref BINS_DIR MODEL.gguf script SCRIPT.txt > out.jsonl
//   llama_ref BINS_DIR MODEL.gguf bench P,G        (timing, llama.cpp's default settings)
//
// TOKENS is a comma-separated list of token ids. Evaluates them in a fresh context, as one
// batch (`batch`) or one token at a time (`seq`), with the settings that make llama.cpp
// precise (TOOLCHAIN.md): F32 K/V cache, no weight repacking, flash attention off, one thread
// pool. Prints {"n_vocab": V, "logits": [[V floats] per token]}.
//
// `script` mode runs session operations on sequences of one context, one per line of SCRIPT:
//   append NAME T1,T2,…      evaluate tokens after what sequence NAME holds (a new name starts
//                            an empty sequence); prints the logits of every token
//   fork NEW FROM            llama_memory_seq_cp(FROM → NEW)
//   step N1,N2,… T1,T2,…     one batch: one token for each named sequence; prints each logits
//   save NAME KEY            llama_state_seq_get_data(NAME) kept under KEY
//   restore NEW KEY          llama_state_seq_set_data(KEY → NEW)
// and prints one JSON line per operation: {"op": …, "logits": [[…]…]} (append / step).
//
// Built by scripts/make_goldens.sh against node-llama-cpp's prebuilt libraries.
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml-backend.h"

static void quiet(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

// ---- script mode (session operations on several sequences of one context)

#define MAX_SEQ 8
static char seq_name[MAX_SEQ][32];
static int seq_pos[MAX_SEQ];
static int n_seqs = 0;
static char save_key[MAX_SEQ][32];
static uint8_t *save_buf[MAX_SEQ];
static size_t save_len[MAX_SEQ];
static int n_saves = 0;

static int seq_of(const char *name) {
    for (int i = 0; i < n_seqs; i++) if (strcmp(seq_name[i], name) == 0) return i;
    if (n_seqs == MAX_SEQ) { fprintf(stderr, "too many sequences\n"); exit(1); }
    snprintf(seq_name[n_seqs], 32, "%s", name);
    seq_pos[n_seqs] = 0;
    return n_seqs++;
}

static int split_ints(char *s, int *out, int cap) {
    int n = 0;
    for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ",")) out[n++] = atoi(t);
    return n;
}

// Rows of logits as a JSON array of arrays.
static void print_matrix(const float *const *rows, int n, int n_vocab) {
    printf("[");
    for (int i = 0; i < n; i++) {
        printf(i ? ",[" : "[");
        for (int j = 0; j < n_vocab; j++) printf(j ? ",%.9g" : "%.9g", rows[i][j]);
        printf("]");
    }
    printf("]");
}

static void print_rows(struct llama_context *ctx, const char *op, int first, int n, int n_vocab) {
    const float *rows[MAX_SEQ * 512];
    for (int i = 0; i < n && i < MAX_SEQ * 512; i++) rows[i] = llama_get_logits_ith(ctx, first + i);
    printf("{\"op\": \"%s\", \"logits\": ", op);
    print_matrix(rows, n, n_vocab);
    printf("}\n");
}

// The KV cache's element type: F32 (Braid's F32 path), or F16 — llama.cpp's own default — with
// LLAMA_REF_KV=f16 (the reference of Braid's F16 caches).
static enum ggml_type kv_type(void) {
    const char *kv = getenv("LLAMA_REF_KV");
    return kv && strcmp(kv, "f16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_F32;
}

static int run_script(const char *bins, const char *path, const char *script_path) {
    (void)bins;
    struct llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = false;
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_seq_max = MAX_SEQ;
    cp.kv_unified = true;
    cp.n_ctx = 1024;
    cp.n_batch = 1024;
    cp.n_ubatch = 1024;
    cp.type_k = cp.type_v = kv_type();
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    FILE *f = fopen(script_path, "r");
    if (!f) { fprintf(stderr, "cannot open %s\n", script_path); return 1; }
    char line[65536];
    int toks[4096], ids[MAX_SEQ];
    while (fgets(line, sizeof line, f)) {
        char op[16], a[4096], b[4096];
        a[0] = b[0] = 0;
        if (sscanf(line, "%15s %4095s %4095s", op, a, b) < 2) continue;
        if (strcmp(op, "append") == 0) {
            int s = seq_of(a);
            int n = split_ints(b, toks, 4096);
            struct llama_batch bt = llama_batch_init(n, 0, 1);
            bt.n_tokens = n;
            for (int i = 0; i < n; i++) {
                bt.token[i] = toks[i]; bt.pos[i] = seq_pos[s] + i; bt.n_seq_id[i] = 1; bt.seq_id[i][0] = s; bt.logits[i] = 1;
            }
            if (llama_decode(ctx, bt)) { fprintf(stderr, "decode failed\n"); return 1; }
            seq_pos[s] += n;
            print_rows(ctx, "append", 0, n, n_vocab);
            llama_batch_free(bt);
        } else if (strcmp(op, "fork") == 0) {
            int from = seq_of(b), to = seq_of(a);
            llama_memory_seq_cp(llama_get_memory(ctx), from, to, -1, -1);
            seq_pos[to] = seq_pos[from];
            printf("{\"op\": \"fork\"}\n");
        } else if (strcmp(op, "step") == 0) {
            char names[4096];
            snprintf(names, sizeof names, "%s", a);
            int n = 0;
            for (char *t = strtok(names, ","); t && n < MAX_SEQ; t = strtok(NULL, ",")) ids[n++] = seq_of(t);
            int m = split_ints(b, toks, 4096);
            if (m != n) { fprintf(stderr, "step: %d sequences, %d tokens\n", n, m); return 1; }
            struct llama_batch bt = llama_batch_init(n, 0, 1);
            bt.n_tokens = n;
            for (int i = 0; i < n; i++) {
                bt.token[i] = toks[i]; bt.pos[i] = seq_pos[ids[i]]; bt.n_seq_id[i] = 1; bt.seq_id[i][0] = ids[i]; bt.logits[i] = 1;
            }
            if (llama_decode(ctx, bt)) { fprintf(stderr, "decode failed\n"); return 1; }
            for (int i = 0; i < n; i++) seq_pos[ids[i]]++;
            print_rows(ctx, "step", 0, n, n_vocab);
            llama_batch_free(bt);
        } else if (strcmp(op, "save") == 0) {
            int s = seq_of(a);
            size_t len = llama_state_seq_get_size(ctx, s);
            save_buf[n_saves] = malloc(len);
            save_len[n_saves] = llama_state_seq_get_data(ctx, save_buf[n_saves], len, s);
            snprintf(save_key[n_saves], 32, "%s", b);
            n_saves++;
            printf("{\"op\": \"save\"}\n");
        } else if (strcmp(op, "restore") == 0) {
            int s = seq_of(a), k = -1;
            for (int i = 0; i < n_saves; i++) if (strcmp(save_key[i], b) == 0) k = i;
            if (k < 0 || !llama_state_seq_set_data(ctx, save_buf[k], save_len[k], s)) { fprintf(stderr, "restore failed\n"); return 1; }
            // the restored sequence continues after the saved one's last position
            for (int i = 0; i < n_seqs; i++) if (strcmp(seq_name[i], b) == 0) seq_pos[s] = seq_pos[i];
            printf("{\"op\": \"restore\"}\n");
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 1;
        }
        fflush(stdout);
    }
    fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Timing with llama.cpp's defaults (2 threads; on the CPU unless LLAMA_REF_NGL offloads layers): a prefill of P tokens as one
 * batch (logits of the last), then G single-token decode steps. Prints one JSON object. */
static int run_bench(const char *path, int p, int g) {
    struct llama_model_params mp = llama_model_default_params();
    /* LLAMA_REF_NGL: layers offloaded to a GPU backend (scripts/device_bench.sh: 999, all). */
    const char *ngl = getenv("LLAMA_REF_NGL");
    mp.n_gpu_layers = ngl ? atoi(ngl) : 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = p + g + 16;
    cp.n_batch = p;
    cp.n_ubatch = p < 512 ? p : 512;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_batch b = llama_batch_init(p, 0, 1);
    b.n_tokens = p;
    for (int i = 0; i < p; i++) {
        b.token[i] = (i * 37 + 11) % n_vocab; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = i == p - 1;
    }
    double t0 = now_s();
    if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
    double t1 = now_s();
    llama_batch_free(b);
    for (int i = 0; i < g; i++) {
        struct llama_batch d = llama_batch_init(1, 0, 1);
        d.n_tokens = 1; d.token[0] = (i * 7 + 3) % n_vocab; d.pos[0] = p + i; d.n_seq_id[0] = 1; d.seq_id[0][0] = 0; d.logits[0] = 1;
        if (llama_decode(ctx, d)) { fprintf(stderr, "decode failed\n"); return 1; }
        llama_batch_free(d);
    }
    double t2 = now_s();
    printf("{\"prompt_tokens\": %d, \"prefill_tok_s\": %.3f, \"gen_tokens\": %d, \"decode_tok_s\": %.3f}\n", p, p / (t1 - t0), g, g / (t2 - t1));
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

static char *read_text(const char *path, int *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    if (fread(buf, 1, n, f) != (size_t)n) { fclose(f); free(buf); return NULL; }
    fclose(f);
    buf[n] = 0;
    *len = (int)n;
    return buf;
}

/* The text of FILE as llama.cpp tokenizes it (add_special: BOS as the vocabulary asks;
 * parse_special off), as in llama-perplexity's common_tokenize(ctx, text, true). */
static llama_token *tokenize_file(const struct llama_vocab *vocab, const char *path, int *n_out) {
    int len = 0;
    char *text = read_text(path, &len);
    if (!text) { fprintf(stderr, "cannot read %s\n", path); return NULL; }
    int cap = len + 16;
    llama_token *t = malloc(sizeof(llama_token) * cap);
    int n = llama_tokenize(vocab, text, len, t, cap, true, false);
    if (n < 0) { cap = -n; t = realloc(t, sizeof(llama_token) * cap); n = llama_tokenize(vocab, text, len, t, cap, true, false); }
    free(text);
    *n_out = n;
    return t;
}

/* Perplexity exactly as llama-perplexity computes it (tools/perplexity/perplexity.cpp,
 * ppl_stride 0, one sequence per chunk): chunks of N_CTX tokens, each from a cleared memory
 * with its first token replaced by BOS when the vocabulary adds one; the negative
 * log-likelihood of tokens first+1 .. N_CTX-1 (first = N_CTX/2) from the logits before them;
 * PPL = exp(mean). Prints one JSON object. */
static int run_ppl(const char *path, const char *text_path, int n_ctx, int max_chunks) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_tok = 0;
    llama_token *tokens = tokenize_file(vocab, text_path, &n_tok);
    if (!tokens) return 1;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx; cp.n_batch = n_ctx; cp.n_ubatch = n_ctx < 512 ? n_ctx : 512;
    cp.n_threads = 2; cp.n_threads_batch = 2; cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    int n_vocab = llama_vocab_n_tokens(vocab);
    int n_chunk = n_tok / n_ctx, first = n_ctx / 2;
    if (max_chunks > 0 && n_chunk > max_chunks) n_chunk = max_chunks;
    double nll = 0, nll2 = 0;
    long count = 0;
    for (int c = 0; c < n_chunk; c++) {
        llama_memory_clear(llama_get_memory(ctx), true);
        struct llama_batch b = llama_batch_init(n_ctx, 0, 1);
        b.n_tokens = n_ctx;
        for (int k = 0; k < n_ctx; k++) {
            b.token[k] = tokens[c * n_ctx + k]; b.pos[k] = k; b.n_seq_id[k] = 1; b.seq_id[k][0] = 0; b.logits[k] = k >= first;
        }
        if (llama_vocab_get_add_bos(vocab)) b.token[0] = llama_vocab_bos(vocab);
        if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
        for (int j = first; j < n_ctx - 1; j++) {
            const float *l = llama_get_logits_ith(ctx, j);
            float mx = l[0];
            for (int v = 1; v < n_vocab; v++) if (l[v] > mx) mx = l[v];
            double sum = 0;
            for (int v = 0; v < n_vocab; v++) sum += expf(l[v] - mx);
            double lp = l[tokens[c * n_ctx + j + 1]] - mx - log(sum);
            nll += -lp; nll2 += lp * lp; count++;
        }
        llama_batch_free(b);
    }
    if (count == 0) { fprintf(stderr, "the text has %d tokens: fewer than 2 x %d\n", n_tok, n_ctx); return 1; }
    printf("{\"tokens\": %d, \"n_ctx\": %d, \"chunks\": %d, \"scored\": %ld, \"nll\": %.9f, \"ppl\": %.6f}\n", n_tok, n_ctx, n_chunk, count, nll / count, exp(nll / count));
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

/* Token ids of FILE (add_special, no special parsing) and each id's piece, as JSON. */
static int run_tokenize(const char *path, const char *text_path) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.vocab_only = true;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n = 0;
    llama_token *t = tokenize_file(vocab, text_path, &n);
    if (!t) return 1;
    printf("{\"ids\": [");
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", t[i]);
    printf("]}\n");
    llama_model_free(model);
    return 0;
}

/* Every token's piece as llama_token_to_piece gives it, without and with `special`, as hex, and
 * its attribute bits: {"n": N, "tokens": [[attr, "hex", "hex_special"], ...]}. */
static int run_pieces(const char *path) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.vocab_only = true;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n = llama_vocab_n_tokens(vocab);
    char buf[1024];
    printf("{\"n\": %d, \"tokens\": [", n);
    for (int i = 0; i < n; i++) {
        printf(i ? ",[%d,\"" : "[%d,\"", (int)llama_vocab_get_attr(vocab, i));
        for (int sp = 0; sp < 2; sp++) {
            int k = llama_token_to_piece(vocab, i, buf, sizeof buf, 0, sp);
            for (int j = 0; j < k; j++) printf("%02x", (unsigned char)buf[j]);
            printf(sp ? "\"]" : "\",\"");
        }
    }
    printf("]}\n");
    llama_model_free(model);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BINS_DIR MODEL TOKENS [seq|batch]\n       %s BINS_DIR MODEL script FILE\n       %s BINS_DIR MODEL bench P,G\n       %s BINS_DIR MODEL ppl TEXT_FILE [N_CTX [MAX_CHUNKS]]\n       %s BINS_DIR MODEL tokenize TEXT_FILE\n       %s BINS_DIR MODEL pieces\n", argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
        return 2;
    }
    int sequential = argc > 4 && strcmp(argv[4], "seq") == 0;
    int script = strcmp(argv[3], "script") == 0;
    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();

    if (script) return run_script(argv[1], argv[2], argc > 4 ? argv[4] : "");
    if (strcmp(argv[3], "ppl") == 0 && argc > 4) return run_ppl(argv[2], argv[4], argc > 5 ? atoi(argv[5]) : 512, argc > 6 ? atoi(argv[6]) : 0);
    if (strcmp(argv[3], "tokenize") == 0 && argc > 4) return run_tokenize(argv[2], argv[4]);
    if (strcmp(argv[3], "pieces") == 0) return run_pieces(argv[2]);
    if (strcmp(argv[3], "bench") == 0) {
        int p = 512, g = 16;
        if (argc > 4) sscanf(argv[4], "%d,%d", &p, &g);
        return run_bench(argv[2], p, g);
    }
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
    cp.type_k = cp.type_v = kv_type();
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
    /* LLAMA_REF_TOPK=K: per row only the K largest logits, as {"top": [[[id, logit], ...], ...]} */
    const char *topk = getenv("LLAMA_REF_TOPK");
    if (topk && atoi(topk) > 0) {
        int k = atoi(topk);
        if (k > n_vocab) k = n_vocab;
        printf("{\"n_vocab\": %d, \"top\": [", n_vocab);
        int *idx = malloc(sizeof(int) * k);
        for (int i = 0; i < n; i++) {
            const float *r = out + (size_t)i * n_vocab;
            int m = 0;
            for (int v = 0; v < n_vocab; v++) {
                if (m < k) { idx[m++] = v; }
                else {
                    int lo = 0;
                    for (int j = 1; j < k; j++) if (r[idx[j]] < r[idx[lo]]) lo = j;
                    if (r[v] > r[idx[lo]]) idx[lo] = v; else continue;
                }
            }
            for (int a2 = 0; a2 < k; a2++) for (int b2 = a2 + 1; b2 < k; b2++) if (r[idx[b2]] > r[idx[a2]]) { int t = idx[a2]; idx[a2] = idx[b2]; idx[b2] = t; }
            printf(i ? ",[" : "[");
            for (int j = 0; j < k; j++) printf(j ? ",[%d,%.9g]" : "[%d,%.9g]", idx[j], r[idx[j]]);
            printf("]");
        }
        printf("]}\n");
        return 0;
    }
    printf("{\"n_vocab\": %d, \"logits\": ", n_vocab);
    const float **rows = malloc(sizeof(float *) * n);
    for (int i = 0; i < n; i++) rows[i] = out + (size_t)i * n_vocab;
    print_matrix(rows, n, n_vocab);
    printf("}\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
