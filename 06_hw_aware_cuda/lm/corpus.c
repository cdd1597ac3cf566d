/* 06_hw_aware_cuda/lm/corpus.c — token files and the fortunes corpus (see corpus.h). */
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EOT "<|endoftext|>"

char *corpus_read_file(const char *path, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errcap, "%s: cannot open (%s)", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0, k;
    char *p = malloc(cap + 1);
    while (p && (k = fread(p + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *q = realloc(p, 2 * cap + 1);
            if (!q) { free(p); p = NULL; break; }
            p = q;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!p || bad) {
        free(p);
        snprintf(err, errcap, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    p[n] = 0;
    *len = n;
    return p;
}

int corpus_write_file(const char *path, const void *p, size_t n, char *err, size_t errcap)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        snprintf(err, errcap, "%s: cannot write (%s)", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static void put_le32(uint8_t *o, uint32_t v)
{
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int corpus_write_tokens(const char *path, const uint16_t *tok, size_t n, char *err, size_t errcap)
{
    if (n > 0x7FFFFFFF) { snprintf(err, errcap, "%s: %zu tokens do not fit the header", path, n); return -1; }
    size_t bytes = 4 * CORPUS_HEADER_INTS + 2 * n;
    uint8_t *buf = calloc(bytes, 1);
    if (!buf) { snprintf(err, errcap, "%s: out of memory", path); return -1; }
    put_le32(buf, CORPUS_MAGIC);
    put_le32(buf + 4, CORPUS_VERSION);
    put_le32(buf + 8, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        buf[4 * CORPUS_HEADER_INTS + 2 * i] = (uint8_t)tok[i];
        buf[4 * CORPUS_HEADER_INTS + 2 * i + 1] = (uint8_t)(tok[i] >> 8);
    }
    int rc = corpus_write_file(path, buf, bytes, err, errcap);
    free(buf);
    return rc;
}

uint16_t *corpus_read_tokens(const char *path, size_t *n, char *err, size_t errcap)
{
    size_t len;
    char *p = corpus_read_file(path, &len, err, errcap);
    if (!p) return NULL;
    const uint8_t *u = (const uint8_t *)p;
    uint16_t *tok = NULL;
    if (len < 4 * CORPUS_HEADER_INTS)
        snprintf(err, errcap, "%s: %zu bytes, shorter than the %d-byte header", path, len, 4 * CORPUS_HEADER_INTS);
    else if (get_le32(u) != CORPUS_MAGIC)
        snprintf(err, errcap, "%s: magic %u, expected %d (not a token file)", path, get_le32(u), CORPUS_MAGIC);
    else if (get_le32(u + 4) != CORPUS_VERSION)
        snprintf(err, errcap, "%s: version %u, expected %d (uint16 tokens)", path, get_le32(u + 4), CORPUS_VERSION);
    else if ((len - 4 * CORPUS_HEADER_INTS) != 2 * (size_t)get_le32(u + 8))
        snprintf(err, errcap, "%s: header says %u tokens, file holds %zu bytes of tokens", path,
                 get_le32(u + 8), len - 4 * CORPUS_HEADER_INTS);
    else {
        *n = get_le32(u + 8);
        tok = malloc((*n ? *n : 1) * sizeof *tok);
        if (!tok) snprintf(err, errcap, "%s: out of memory", path);
        for (size_t i = 0; tok && i < *n; i++)
            tok[i] = (uint16_t)(u[4 * CORPUS_HEADER_INTS + 2 * i] | u[4 * CORPUS_HEADER_INTS + 2 * i + 1] << 8);
    }
    free(p);
    return tok;
}

/* Append a document (skipping empty ones) to the split it belongs to. */
static int add_doc(const char *s, size_t n, long *k, FILE *tr, FILE *va, long *n_val)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    size_t lead = 0;
    while (lead < n && s[lead] == '\n') lead++;
    if (lead == n) return 0;
    FILE *f = (*k)++ % CORPUS_VAL_EVERY == 0 ? va : tr;
    if (f == va) (*n_val)++;
    return fputs(EOT, f) < 0 || fwrite(s + lead, 1, n - lead, f) != n - lead || fputc('\n', f) == EOF;
}

long corpus_split_fortunes(char *const *files, int n_files, const char *train_path,
                           const char *val_path, long *n_val, char *err, size_t errcap)
{
    char ttmp[4096], vtmp[4096];
    snprintf(ttmp, sizeof ttmp, "%s.tmp%ld", train_path, (long)getpid());
    snprintf(vtmp, sizeof vtmp, "%s.tmp%ld", val_path, (long)getpid());
    FILE *tr = fopen(ttmp, "wb"), *va = fopen(vtmp, "wb");
    long k = 0;
    *n_val = 0;
    int bad = !tr || !va;
    if (bad) snprintf(err, errcap, "%s: cannot write (%s)", !tr ? train_path : val_path, strerror(errno));
    for (int i = 0; !bad && i < n_files; i++) {
        size_t len;
        char *p = corpus_read_file(files[i], &len, err, errcap);
        if (!p) { bad = 1; break; }
        /* documents end at a line holding only "%" */
        size_t start = 0;
        for (size_t j = 0; j <= len && !bad; j++) {
            int at_sep = j + 1 < len + 1 && (j == 0 || p[j - 1] == '\n') && p[j] == '%' &&
                         (j + 1 == len || p[j + 1] == '\n');
            if (j == len || at_sep) {
                if (add_doc(p + start, j - start, &k, tr, va, n_val)) {
                    snprintf(err, errcap, "%s: write error", train_path);
                    bad = 1;
                }
                start = j + 2 <= len ? j + 2 : len;
                if (at_sep) j++;
            }
        }
        free(p);
    }
    if (tr && fclose(tr)) bad = 1;
    if (va && fclose(va)) bad = 1;
    if (!bad && (rename(ttmp, train_path) || rename(vtmp, val_path))) {
        snprintf(err, errcap, "%s: cannot rename (%s)", train_path, strerror(errno));
        bad = 1;
    }
    if (bad) { remove(ttmp); remove(vtmp); return -1; }
    return k;
}
