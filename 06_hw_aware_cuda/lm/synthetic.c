/* 06_hw_aware_cuda/lm/synthetic.c — the synthetic tasks' CPU side (§6.23): the command line
 * checked against the model, the evaluation batches, the accuracy count. */
#include "06_hw_aware_cuda/lm/synthetic.h"

#include <string.h>

#include "05_selective_s6/mamba.h"
#include "common/util.h"

static const struct { const char *name; int kind, no_gate; } VARIANTS[] = {
    {"s6", MAMBA_S6, 0}, {"lti", MAMBA_LTI, 0}, {"nogate", MAMBA_S6, 1}, {"lti-nogate", MAMBA_LTI, 1}};

int lm_variant_find(const char *name, int *kind, int *no_gate)
{
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++)
        if (name && !strcmp(name, VARIANTS[i].name)) {
            *kind = VARIANTS[i].kind;
            *no_gate = VARIANTS[i].no_gate;
            return 1;
        }
    return 0;
}

const char *lm_variant_label(int kind, int no_gate)
{
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++)
        if (VARIANTS[i].kind == kind && VARIANTS[i].no_gate == no_gate) return VARIANTS[i].name;
    return "?";
}

int lm_variant_list(const char *spec, int kind[LM_TASK_MAX_VARIANTS], int no_gate[LM_TASK_MAX_VARIANTS])
{
    if (!spec) return 0;
    int n = 0;
    for (const char *p = spec;; p++) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[16];
        if (len == 0 || len >= sizeof name || n == LM_TASK_MAX_VARIANTS) return 0;
        memcpy(name, p, len);
        name[len] = '\0';
        if (!lm_variant_find(name, &kind[n], &no_gate[n])) return 0;
        for (int i = 0; i < n; i++)
            if (kind[i] == kind[n] && no_gate[i] == no_gate[n]) return 0;
        n++;
        if (!e) return n;
        p = e;
    }
}

void lm_task_path(const char *pattern, const char *variant, char *buf, size_t len)
{
    size_t k = 0;
    for (const char *p = pattern; *p; p++) {
        const char *add = strncmp(p, "{v}", 3) ? NULL : variant;
        const size_t n = add ? strlen(add) : 1;
        if (k + n >= len) die(2, "%s: path too long", pattern);
        memcpy(buf + k, add ? add : p, n);
        k += n;
        if (add) p += 2;
    }
    buf[k] = '\0';
}

void lm_task_setup(const lm_task_opts *o, int vocab, int d_inner, task_cfg *t)
{
    memset(t, 0, sizeof *t);
    int kind[LM_TASK_MAX_VARIANTS], no_gate[LM_TASK_MAX_VARIANTS];
    const int nv = lm_variant_list(o->variant, kind, no_gate);
    if (nv == 0)
        die(2, "--variant: expected s6, lti, nogate or lti-nogate, or several of them comma-separated "
            "(each once), got \"%s\"", o->variant ? o->variant : "");
    if (nv > 1 && o->log && !strstr(o->log, "{v}"))
        die(2, "--log %s: several variants need {v} in the path (each variant's name)", o->log);
    if (nv > 1 && o->out && !strstr(o->out, "{v}"))
        die(2, "--out %s: several variants need {v} in the path (each variant's name)", o->out);
    if (o->batch < 1) die(2, "--batch: expected >= 1, got %d", o->batch);
    if (o->steps < 0) die(2, "--steps: expected >= 0, got %d", o->steps);
    if (o->eval_seqs < 1) die(2, "--eval-seqs: expected >= 1, got %d", o->eval_seqs);
    if (o->log_every < 1) die(2, "--log-every: expected >= 1, got %d", o->log_every);
    if (o->eval_every < 0) die(2, "--eval-every: expected >= 0, got %d", o->eval_every);
    long long maxL;
    if (o->task && !strcmp(o->task, "copy")) {
        if (o->copy_context < 1) die(2, "--copy-context: expected >= 1, got %d", o->copy_context);
        if (o->copy_tokens < 1 || o->copy_tokens > o->copy_context)
            die(2, "--copy-tokens: expected 1 … --copy-context (%d), got %d", o->copy_context, o->copy_tokens);
        if (o->copy_colours < 1) die(2, "--copy-colours: expected >= 1, got %d", o->copy_colours);
        if (vocab != o->copy_colours + 2)
            die(2, "%s: vocab_size %d, but selective copying with %d colours needs %d (noise, marker, colours)",
                o->config ? o->config : "config", vocab, o->copy_colours, o->copy_colours + 2);
        *t = (task_cfg){.kind = TASK_COPY, .L_ctx = o->copy_context, .K = o->copy_tokens,
                        .M = o->copy_colours, .vocab = vocab};
        t->L = task_length(t);
        maxL = t->L;
    } else if (o->task && !strcmp(o->task, "induction")) {
        if (o->L < 4) die(2, "--seq: induction heads needs a length >= 4, got %d", o->L);
        if (vocab < 3) die(2, "%s: vocab_size %d: induction heads needs >= 3 (unused, trigger, values)",
                           o->config ? o->config : "config", vocab);
        if (o->eval_max_log2 < 6 || o->eval_max_log2 > 20)
            die(2, "--eval-max-log2: expected 6 … 20, got %d", o->eval_max_log2);
        *t = (task_cfg){.kind = TASK_INDUCTION, .L = o->L, .vocab = vocab};
        maxL = 1LL << o->eval_max_log2;
        if (maxL < o->L) maxL = o->L;
    } else {
        die(2, "--task: expected copy or induction, got \"%s\"", o->task ? o->task : "");
    }
    /* the largest forward: the training batch, or one evaluation batch of the longest length */
    long long T = (long long)o->batch * t->L;
    const long long Te = (long long)lm_task_eval_batch((int)maxL, o->eval_seqs) * maxL;
    if (Te > T) T = Te;
    if (T * vocab > LM_TASK_MAX_ELEMS || T * d_inner > LM_TASK_MAX_ELEMS)
        die(2, "--batch %d x length %d: %lld tokens x (vocab %d, d_inner %d) overflows 32-bit indices",
            o->batch, t->L, T, vocab, d_inner);
}

int lm_task_eval_batch(int L, int eval_seqs)
{
    int b = LM_TASK_EVAL_BATCH / (L > 0 ? L : 1);
    if (b < 1) b = 1;
    return b < eval_seqs ? b : eval_seqs;
}

int lm_task_eval_seqs(int L, int eval_seqs)
{
    int n = LM_TASK_EVAL_TOKENS / (L > 0 ? L : 1);
    if (n < 1) n = 1;
    return n < eval_seqs ? n : eval_seqs;
}

void lm_task_hits(const float *logits, const int *tgt, size_t T, int V, long *hit, long *tot)
{
    for (size_t i = 0; i < T; i++) {
        if (tgt[i] < 0) continue;
        const float *row = logits + i * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        *hit += best == tgt[i];
        (*tot)++;
    }
}
