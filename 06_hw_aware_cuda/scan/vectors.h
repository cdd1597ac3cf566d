/* 06_hw_aware_cuda/scan/vectors.h — the stage's golden vectors (docs/vectors.md): one
 * selective scan, forward and backward, the tensors named as stage 05's ("scan.<name>",
 * 05_selective_s6/s6_problem.h) with the config entry "delta_softplus". Sizes from the set. */
#ifndef SCAN_VECTORS_H
#define SCAN_VECTORS_H

/* dumping = 1: write the seeded set to DIR (--dump-vectors); 0: grade the set in DIR
 * (--check) on the GPU (v4 and the fused backward) where there is one, else with stage
 * 05's CPU scan. Returns the exit code; exits 2 with one line on a malformed set. */
int scan_vectors(const char *dir, int dumping);

#endif
