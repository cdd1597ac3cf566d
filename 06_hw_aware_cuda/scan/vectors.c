/* 06_hw_aware_cuda/scan/vectors.c — the stage's golden vectors (see vectors.h): stage 05's
 * scan problem read or written, and one function, scan_outputs, that computes its outputs
 * for both --dump-vectors and --check. */
#include "06_hw_aware_cuda/scan/vectors.h"

#include <stdio.h>
#include <string.h>

#include "05_selective_s6/s6_problem.h"
#include "common/util.h"
#include "common/vectors.h"
#ifdef HAVE_CUDA
#include "06_hw_aware_cuda/scan/scan_problem_dev.h"
#endif

#define SEED 0x06c0da

/* The outputs of p: on the GPU (v4 forward, fused backward: the kernels this stage ships)
 * where there is one, else stage 05's CPU scan. The committed set comes from the CPU. */
static void scan_outputs(vec_set *v, s6_problem *p, int has_scan)
{
    char why[256] = "this build has no CUDA";
    if (has_scan) {
#ifdef HAVE_CUDA
        if (!vec_dumping(v) && scan_gpu_available(why, sizeof why)) {
            printf("computing with the GPU kernels (v4 forward + fused backward)\n");
            const int rc = scan_dev_solve(p, SCAN_V4, SCAN_BWD_FUSED);
            if (rc) die(1, "GPU scan failed: %s", scan_strerror(rc));
        } else
#endif
        {
            if (!vec_dumping(v)) printf("computing with stage 05's CPU scan (no GPU: %s)\n", why);
            s6_problem_solve(p);
        }
    }
    /* The kernels' float32 arithmetic rounds about 6 times a step: e^{ΔA} as ex2.approx of
     * ΔA·log₂e (2 ulp, and a rounding for the scaling), the two products and the sum. */
    s6_problem_vec_outputs(v, p, 6, REAL_EPS, 0,
                           "float32 GPU scan (6 roundings a step) against float64 or float32; holds "
                           "when the gradient sums are not ill-conditioned (05_selective_s6/s6_problem.c)");
}

int scan_vectors(const char *dir, int dumping)
{
    vec_set *v = dumping ? vec_set_dump(dir, "06_hw_aware_cuda",
                                        "selective scan (S6) forward and backward as the GPU kernels "
                                        "compute it (mamba_ssm selective_scan_fn's names, as stage 05's "
                                        "scan.*): batch 2, D 4, L 300 (the kernels' scalar tails run), N 16, "
                                        "z, D, delta bias + softplus, h0, dlast_state",
                                        SEED)
                         : vec_set_check(dir, "06_hw_aware_cuda");
    s6_problem p;
    if (dumping) s6_problem_make(&p, SEED, 2, 4, 300, 16, S6P_ALL);
    const int has_scan = s6_problem_vec_inputs(v, &p) || dumping;
    scan_outputs(v, &p, has_scan);
    s6_problem_free(&p);
    if (dumping) printf("wrote golden vectors to %s\n", dir);
    return vec_set_close(v);
}
