/* 07_ssd_mamba2/vectors07.h — the stage's golden vectors (docs/vectors.md).
 *
 * A set may hold either problem, or both:
 *   SSD layer  inputs x (batch, L, H, P), dt (batch, L, H) > 0, A (H) < 0,
 *              B, C (batch, L, G, N), D (H), chunk (1) = Q, dy (batch, L, H, P)
 *              outputs y, h_last (batch, H, P, N)                         (7.2)–(7.3)
 *                      M (batch, H, L, L)                                 (7.4)–(7.5)
 *                      y_diag (batch, L, H, P)                            (7.6) step 1
 *                      chunk_states, chunk_states_entering
 *                          (batch, nchunks, H, P, N)                      (7.7), (7.8)
 *                      dx, ddt, dA, dB, dC, dD (gradients of Σ dy ⊙ y)    (7.19)–(7.21)
 *   Mamba-2 LM inputs  config (10) = vocab, d_model, n_layer, N, P, G, K, expand, chunk,
 *              norm group size; input_ids, targets (batch, L), −1 = not scored; every
 *              parameter under its Hugging Face name
 *              outputs logits (batch, L, vocab), loss (1), grad.<name> for every parameter
 * The LM problem is also the format of reference/hf_mamba2_debug_state.py, so --check
 * grades transformers' Mamba2ForCausalLM (vectors/07_ssd_mamba2/hf_mamba2/). */
#ifndef SSD07_VECTORS_H
#define SSD07_VECTORS_H

/* dumping = 1: write the seeded set to DIR; 0: grade the set in DIR. Returns the exit
 * code; exits 2 with one line on a malformed set. */
int ssd07_vectors(const char *dir, int dumping);

#endif
