/* 08_xlstm/xtasks.h — the data of stage 08's experiments (MQAR is stage 07's, mqar.h).
 *
 * Parity (a regular language; the xLSTM paper's Chomsky-hierarchy tasks, after Delétang
 * et al. 2023): tokens are bits 0/1; at every position t the target is the parity of the
 * prefix, encoded as token 2 + (x₁ ⊕ … ⊕ xₜ). Tracking it needs a state that flips on
 * every 1 — a sign change, which a diagonal recurrence with positive decays (Mamba's Ā,
 * mLSTM's f) cannot represent at every length, and sLSTM's recurrent R h can.
 *
 * Text: a byte-level corpus (vocabulary 128: 7-bit text; other bytes become '?'), split
 * into training and validation parts; batches of random windows, a function of
 * (seed, step) only. */
#ifndef XTASKS_H
#define XTASKS_H

#include <stddef.h>
#include <stdint.h>

enum { PARITY_VOCAB = 4 };
void parity_batch(uint64_t seed, long step, int B, int L, int *tok, int *tgt);

typedef struct {
    unsigned char *text;
    size_t n, n_train;      /* [0, n_train) training, [n_train, n) validation */
    char source[512];       /* what was read */
} corpus;
enum { CORPUS_VOCAB = 128 };
/* Read and concatenate the files (paths separated by ':'); exit 2 naming a file that is
 * missing or empty, or if the total is below min_bytes. The last val_frac is validation. */
void corpus_load(corpus *c, const char *paths, double val_frac, size_t min_bytes);
void corpus_free(corpus *c);
/* B windows of L+1 bytes → tokens (B, L) and next-byte targets (B, L). val: draw from the
 * validation part (batches indexed by step as well, so an evaluation is repeatable). */
void corpus_batch(const corpus *c, int val, uint64_t seed, long step, int B, int L, int *tok,
                  int *tgt);

#endif
