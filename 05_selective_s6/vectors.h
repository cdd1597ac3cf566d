/* 05_selective_s6/vectors.h — the stage's golden vectors (docs/vectors.md).
 *
 * A set may hold any of three problems, each on its own:
 *   scan   "scan.<name>": one selective scan, forward and backward, under the names of
 *          mamba_ssm's selective_scan_fn (05_selective_s6/s6_problem.h); the config entry
 *          "delta_softplus" (true or false) is its flag. Sizes batch, D, L, N from the set.
 *   block  "block.x", "block.dout" (batch, L, hidden_size) and layer 0's mixer parameters
 *          under Hugging Face names (backbone.layers.0.mixer.*): outputs block.out,
 *          block.dx and block.grad.<name> (the mixer alone: no norm, no residual).
 *   model  every parameter of a MambaForCausalLM under its HF name, input_ids and targets
 *          (batch, L; targets aligned with the logits, -1 ignored): outputs logits
 *          (batch, L, vocab_size), loss (the mean cross-entropy over the scored positions)
 *          and grad.<name> for every parameter.
 * The model's sizes come from its tensors' shapes; the manifest's "config" (HF names:
 * hidden_size, state_size, expand, conv_kernel, time_step_rank, num_hidden_layers,
 * vocab_size, layer_norm_epsilon, use_bias, use_conv_bias, tie_word_embeddings) must agree
 * with them where given, and is where layer_norm_epsilon (default 1e-5) comes from. */
#ifndef S6_VECTORS_H
#define S6_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check). Returns the exit code; exits 2 with one line on a malformed set. */
int s6_vectors(const char *dir, int dumping);

#endif
