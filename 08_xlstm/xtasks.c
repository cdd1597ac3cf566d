/* 08_xlstm/xtasks.c — parity batches and the byte-level text corpus. */
#include "08_xlstm/xtasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"

static void batch_rng(rng_t *r, uint64_t seed, long step)
{
    rng_seed(r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)step);
}

void parity_batch(uint64_t seed, long step, int B, int L, int *tok, int *tgt)
{
    rng_t r;
    batch_rng(&r, seed, step);
    for (int b = 0; b < B; b++) {
        int p = 0;
        for (int t = 0; t < L; t++) {
            int x = (int)rng_below(&r, 2);
            p ^= x;
            tok[(size_t)b * L + t] = x;
            tgt[(size_t)b * L + t] = 2 + p;
        }
    }
}

void corpus_load(corpus *c, const char *paths, double val_frac, size_t min_bytes)
{
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "%s", paths);
    char *list = xmalloc(strlen(paths) + 1);
    strcpy(list, paths);
    size_t cap = 1 << 16;
    c->text = xmalloc(cap);
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        FILE *f = fopen(p, "rb");
        if (!f) die(2, "corpus: cannot open %s", p);
        size_t before = c->n;
        int ch;
        while ((ch = fgetc(f)) != EOF) {
            if (c->n == cap) {
                cap *= 2;
                unsigned char *t = xmalloc(cap);
                memcpy(t, c->text, c->n);
                free(c->text);
                c->text = t;
            }
            c->text[c->n++] = (unsigned char)(ch < CORPUS_VOCAB ? ch : '?');
        }
        fclose(f);
        if (c->n == before) die(2, "corpus: %s is empty", p);
    }
    free(list);
    if (c->n < min_bytes) die(2, "corpus: %s holds %zu bytes, need at least %zu", paths, c->n, min_bytes);
    if (!(val_frac > 0 && val_frac < 1)) die(2, "corpus: validation fraction must be in (0, 1), got %g", val_frac);
    c->n_train = (size_t)((1 - val_frac) * (double)c->n);
}

void corpus_free(corpus *c)
{
    free(c->text);
    memset(c, 0, sizeof *c);
}

void corpus_batch(const corpus *c, int val, uint64_t seed, long step, int B, int L, int *tok,
                  int *tgt)
{
    rng_t r;
    batch_rng(&r, seed + (val ? 7777 : 0), step);
    const size_t lo = val ? c->n_train : 0, hi = val ? c->n : c->n_train;
    if (hi - lo < (size_t)L + 2) die(2, "corpus: part of %zu bytes is shorter than a window of %d", hi - lo, L + 1);
    for (int b = 0; b < B; b++) {
        size_t s = lo + rng_below(&r, hi - lo - (size_t)L - 1);
        for (int t = 0; t < L; t++) {
            tok[(size_t)b * L + t] = c->text[s + t];
            tgt[(size_t)b * L + t] = c->text[s + t + 1];
        }
    }
}
