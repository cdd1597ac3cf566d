"""tools/labs/labs_def.py — the course labs: one entry per marked region of the reference code.

Each region is marked in its source file, comment lines only:
    /* LAB n.k BEGIN: what to implement */
    ... the reference solution ...
    /* LAB END */
`make labs` replaces each region by `stub` (code that compiles and returns a clearly wrong
answer); the grader scores lab n.k by the stage's own Check tests listed in `tests`.

  id        the lab's number: chapter.k
  stage     the stage directory
  file      the source holding the region (relative to the repository root)
  function  the function the student writes in (for the handout)
  section   the chapter section the lab belongs to; eqs: the equations it computes
  title     one line; task: the handout's paragraph(s)
  stub      the C (or CUDA) lines that replace the region
  tests     the graded Check tests: every one calls the region, and none needs another
            lab's region except those in `requires`
  requires  labs whose regions the graded tests also run (a gradient check needs the
            forward it differentiates); the autograder test swaps those in together
  minutes   the time a student needs, estimated (see docs/INSTRUCTORS.md)
  gpu       graded only on a machine with an NVIDIA GPU (make test-gpu)
"""

# Stages whose golden set (`--check`) runs only code that no lab stubs: their skeleton passes
# it too, and the autograder test expects that (a stage not named here must fail it).
GOLDEN_UNTOUCHED = {
    '06_hw_aware_cuda': 'its --check grades with v4 and the fused backward, which no lab stubs',
}

LABS = [
    # ------------------------------------------------------------------ chapter 1
    dict(id='1.1', stage='01_ssm_continuous', file='01_ssm_continuous/ssm_continuous.c',
         function='expm', section='1.3', eqs='(1.5a)–(1.5d)',
         title='The matrix exponential by scaling and squaring',
         task="""Write the body of `expm(n, A, E)`: E = e^A for a dense n×n matrix (row-major).
Scale A by 2^-s with s from `expm_squarings` (1.5a), evaluate the [13/13] Padé approximant
through its odd and even parts U and V with six matrix products (the coefficients are
`pade13_b`; `matmul` multiplies two n×n matrices) (1.5b), solve (V − U) R = V + U with
`lu_factor` / `lu_solve` (1.5c), and square R s times (1.5d).""",
         stub=['for (size_t i = 0; i < nn; i++) E[i] = 0.0;   /* LAB 1.1: e^A goes here */',
               '(void)pade13_b; (void)matmul;'],
         tests=['expm_diagonal', 'expm_nilpotent', 'expm_rotation', 'expm_large_norm',
                'expm_augmented_matches_integral', 'exact_rc_step_and_sine',
                'exact_samples_is_zoh_recurrence'],
         minutes=90),
    dict(id='1.2', stage='01_ssm_continuous', file='01_ssm_continuous/ssm_continuous.c',
         function='eig_general', section='1.4', eqs='(1.8)',
         title='Eigenvalues: Hessenberg reduction and the shifted QR iteration',
         task="""Write the body of `eig_general(n, A, lambda)`: all n eigenvalues of a real matrix,
sorted by decreasing real part (then by imaginary part) with `cmp_lambda`. Reduce A to upper
Hessenberg form with Householder reflections, then run the QR iteration with Wilkinson
shifts and deflation (complex arithmetic is the simplest way to get complex pairs). Return 0,
or −1 if the iteration does not converge. Stability (1.8) is then the sign of the largest
real part (`spectral_abscissa`).""",
         stub=['for (int i = 0; i < n; i++) lambda[i] = 0.0;   /* LAB 1.2: the eigenvalues go here */',
               '(void)A;', '(void)cmp_lambda;', 'return 0;'],
         tests=['eigenvalues_known_spectrum', 'random_system_is_stable'],
         minutes=120),
    dict(id='1.3', stage='01_ssm_continuous', file='01_ssm_continuous/ssm_continuous.c',
         function='ssm_rk4', section='1.5', eqs='(1.10)',
         title='One step of the classic Runge–Kutta method',
         task="""Inside `ssm_rk4`'s time loop, advance the state h by one step of RK4 (1.10): four
evaluations of the right-hand side (1.1) with `ssm_rhs(s, h, x, f)`, at the start of the step
(input `x0`), twice at the midpoint (`xm`) and at the end (`x1`, the input's left limit there),
combined with weights 1/6, 1/3, 1/3, 1/6. The work arrays k1…k4 and g are allocated for you.
The tests measure the order of the method against the exact solution (1.4), which uses your
`expm` of lab 1.1.""",
         stub=['(void)xm; (void)x1; (void)k1; (void)k2; (void)k3; (void)k4; (void)g;',
               '/* LAB 1.3: h is never advanced */'],
         tests=['rk4_order_four'], requires=['1.1'],
         minutes=30),
    # ------------------------------------------------------------------ chapter 2
    dict(id='2.1', stage='02_zoh_discretize', file='02_zoh_discretize/zoh.c',
         function='gbt_dense', section='2.3', eqs='(2.5)',
         title='The generalized bilinear transform',
         task="""Write `gbt_dense`: (Ā, B̄) of (2.5) for a dense N×N A and N×M B, for any α in
[0, 1] — forward Euler (α = 0), backward Euler (α = 1) and bilinear (α = ½) are the named
cases (2.6)–(2.8). Do not form an inverse: factor I − αΔA once (`lu_factor`, stage 01) and
solve for the N + M right-hand sides [I + (1 − α)ΔA | ΔB]. A singular I − αΔA must exit 2
with one line naming Δ (`die(EXIT_BAD_INPUT, ...)`).""",
         stub=['(void)alpha; (void)A; (void)B;',
               'for (int i = 0; i < N * N; i++) Abar[i] = 0.0;   /* LAB 2.1 */',
               'for (int i = 0; i < N * M; i++) Bbar[i] = 0.0;'],
         tests=['gbt_family', 'bilinear_diag_vs_dense'], minutes=45),
    dict(id='2.2', stage='02_zoh_discretize', file='02_zoh_discretize/zoh.c',
         function='phi1', section='2.8', eqs='(2.10)',
         title='φ₁(z) = (e^z − 1)/z without losing digits',
         task="""Write `phi1(z)` for complex z, accurate to 1e-14 relative for every z from 1e-300
to |z| = 700: the naive (exp(z) − 1)/z loses all digits below |z| ≈ 1e-16. Use the Taylor
series in Horner form for small |z| and a form of e^z − 1 that never subtracts 1 otherwise
(`expm1`, and 2 sin²(y/2) for the real part).""",
         stub=['(void)z;', 'return 0.0;   /* LAB 2.2 */'],
         tests=['phi1_small_z', 'zoh_diag_vs_dense'], minutes=40),
    dict(id='2.3', stage='02_zoh_discretize', file='02_zoh_discretize/zoh.c',
         function='ssm_recurrence_dense', section='2.1', eqs='(2.1)',
         title='The discrete recurrence',
         task="""Write the loop of `ssm_recurrence_dense`: run h_k = Ā h_{k−1} + B̄ x_k,
y_k = C h_k + D x_k (2.1) over k = 0…L−1 from h_{−1} = h0 (zero when h0 is NULL), with the
convention of §2.1 (h_k is read after x_k entered the state). Two state buffers `h`, `hn` are
allocated for you.""",
         stub=['(void)Abar; (void)Bbar; (void)C; (void)D; (void)x;',
               'for (int k = 0; k < L; k++) y[k] = 0.0;   /* LAB 2.3 */'],
         tests=['recurrence_free_response', 'zoh_exact_against_stage01'], minutes=20),
    # ------------------------------------------------------------------ chapter 3
    dict(id='3.1', stage='03_recurrent_conv', file='03_recurrent_conv/recconv.c',
         function='ssm_kernel_diag', section='3.3', eqs='(3.5)',
         title='The SSM kernel of a diagonal system (Vandermonde)',
         task="""Write the kernel loop of `ssm_kernel_diag`: K̄_k = Re Σ_n C_n B̄_n λ_n^k for
k < L (3.5), O(LN), advancing each power by one multiplication per step. Flush values below
DBL_MIN to exactly zero (`flush`): a decaying kernel otherwise runs into subnormal numbers
and becomes 66× slower (§3.3).""",
         stub=['(void)flush;', 'for (int k = 0; k < L; k++) K[k] = 0.0;   /* LAB 3.1 */'],
         tests=['kernels_dense_diag_agree', 'kernel_precision_f32', 'kernel_flushes_subnormals'], minutes=25),
    dict(id='3.2', stage='03_recurrent_conv', file='03_recurrent_conv/recconv.c',
         function='ssm_step_diag', section='3.1', eqs='(3.1), (3.5)',
         title='One step of the diagonal recurrence',
         task="""Write `ssm_step_diag`: advance the N complex modes h_n ← λ_n h_n + B̄_n x in
place and return the real output Re(Σ_n C_n h_n) + D x (3.1) with the output convention of
(3.5). Every recurrent path of the stage (the recurrence, generation) calls it. The tests
compare it with the convolution by the kernel of lab 3.1.""",
         stub=['(void)N; (void)Abar; (void)Bbar; (void)C; (void)D; (void)h; (void)x;',
               'return 0.0;   /* LAB 3.2 */'],
         tests=['causality', 'generation_views_agree'], requires=['3.1'], minutes=15),
    dict(id='3.3', stage='03_recurrent_conv', file='03_recurrent_conv/recconv.c',
         function='conv_fft_with', section='3.4', eqs='(3.6)',
         title='The causal convolution by FFT, with its padding',
         task="""Write `conv_fft_with`: y = K̄ ∗ x + D x (3.4) for x, K̄ of length L through FFTs of
size n = p->n ≥ 2L − 1 (3.6). Pad K̄ and x with zeros to n in the work array `w->r`,
transform both (`fftw_execute_dft_r2c(p->fwd, …)` into `w->Kf`, `w->Xf`), multiply the
spectra, transform back (`p->inv`), and keep [0, L) — FFTW's inverse is unnormalized.
Too little padding wraps the tail of x onto the start of y: the tests check that exactly.""",
         stub=['(void)p; (void)w; (void)K;',
               'for (int k = 0; k < L; k++) y[k] = D * x[k];   /* LAB 3.3: the convolution is missing */'],
         tests=['dense_system_views_agree', 'fft_padding_lengths'], minutes=40),
    # ------------------------------------------------------------------ chapter 4
    dict(id='4.1', stage='04_hippo_s4', file='04_hippo_s4/hippo.c',
         function='hippo_legs', section='4.1', eqs='(4.3)',
         title='The HiPPO-LegS matrices',
         task="""Write `hippo_legs(N, A, B)`: the N×N matrix A (row-major) and the vector B of
HiPPO-LegS (4.3), from which the online update (4.5) and S4's normal-plus-low-rank form
(4.6), (4.7) follow. A is lower triangular with n + 1 on the diagonal.""",
         stub=['for (int i = 0; i < N * N; i++) A[i] = 0.0;   /* LAB 4.1 */',
               'for (int n = 0; n < N; n++) B[n] = 0.0;'],
         tests=['test_hippo_matrices', 'test_nplr_reconstructs_legs'], minutes=20),
    dict(id='4.2', stage='04_hippo_s4', file='04_hippo_s4/s4.c',
         function='s4_kernel', section='4.2', eqs='(4.10)–(4.12)',
         title="The S4 kernel at one root of unity: Cauchy kernels and Woodbury",
         task="""Inside `s4_kernel`'s loop over the roots of unity z (z ≠ −1), compute the
generating function K̂(z) (4.12): the bilinear map g(z) (4.10), the four Cauchy kernels
k_CB, k_CP, k_QB, k_QP sharing the resolvent 1/(g − λ_n) (4.11) (their numerators are in
CB, CP, QB, QP), and the Woodbury correction. Store it in Kh[k]; the inverse FFT after the
loop turns it into the kernel. The test compares it with the naive kernel of the LegS system
built from your matrices of lab 4.1.""",
         stub=['(void)Lambda; (void)z;', 'Kh[k] = 0.0;   /* LAB 4.2 */'],
         tests=['test_s4_kernel_equals_naive'], requires=['4.1'], minutes=45),
    dict(id='4.3', stage='04_hippo_s4', file='04_hippo_s4/s4d_model.c',
         function='conv_causal_fft_backward', section='4.4', eqs='(4.17)',
         title='The backward of the FFT convolution',
         task="""Write `conv_causal_fft_backward`: given dy = ∂loss/∂y for y = K ∗ x + D x, ADD
dx, dK and dD (each only when its pointer is not NULL) by (4.17). Both sums are convolutions
in reversed time: dx = rev(K ∗ rev(dy)) + D dy and dK = rev(x ∗ rev(dy)), so stage 03's
`conv_causal_fft` computes them in O(L log L).""",
         stub=['(void)K; (void)x; (void)L; (void)D; (void)dy; (void)dK; (void)dx; (void)dD;',
               '/* LAB 4.3: no gradient is added */'],
         tests=['test_grad_conv', 'test_grad_layer'], minutes=35),
    # ------------------------------------------------------------------ chapter 5
    dict(id='5.1', stage='05_selective_s6', file='05_selective_s6/s6.c',
         function='s6_scan_forward', section='5.2', eqs='(5.1)–(5.6)',
         title='The selective scan, forward',
         task="""Inside `s6_scan_forward`'s loop over t for one (batch, channel) pair, compute one
step of the selective SSM: Δ_t from the raw δ (`s6_dt`, (5.1)), Ā_t and the B̄ coefficient
(`discretize`, (5.2)–(5.3)), the state update h_t = Ā_t ⊙ h_{t−1} + B̄_t u_t (5.4) over the N
states, the output y_t = C_t · h_t (5.5), and the gated output with the D skip (`gate_out`,
(5.6)) into out[i]. `bc_row` gives B_t and C_t (time-varying or fixed).""",
         stub=['(void)b; (void)d; (void)A;', 'out[i] = 0;   /* LAB 5.1 */'],
         tests=['test_scan_selective_ref', 'test_scan_lti_ref', 'test_scan_zoh_ref', 'test_large_delta_resets_state'], minutes=40),
    dict(id='5.2', stage='05_selective_s6', file='05_selective_s6/s6.c',
         function='blelloch_vec', section='5.3', eqs='(5.7)',
         title='The parallel scan (Blelloch) of the affine pairs',
         task="""Write `blelloch_vec(Lp, N, a, b)`: the exclusive prefix scan, under (5.7)
(`s6_combine`), of Lp (a power of two) elements, each a vector of N pairs: an up-sweep that
builds partial compositions in a tree, the root set to the identity (1, 0), and a
down-sweep. It runs inside an OpenMP parallel region: share each level's loop with
`#pragma omp for` and let one thread reset the root (`#pragma omp single`).""",
         stub=['(void)Lp; (void)N; (void)a; (void)b;   /* LAB 5.2: the prefixes are never formed */'],
         tests=['test_blelloch_pairs', 'test_parallel_ref'], minutes=50),
    dict(id='5.3', stage='05_selective_s6', file='05_selective_s6/s6.c',
         function='s6_scan_backward', section='5.4', eqs='(5.8)',
         title='The selective scan, backward: the state loop',
         task="""Inside `s6_scan_backward`'s reverse loop over t, write the loop over the N states
that (a) adds dC_t += dy h_t, (b) adds C_t dy to the state adjoint g_t (5.8), (c) sends g_t
through (5.4) into dΔ (via Ā = e^{ΔA} and via the B̄ coefficient w, whose derivatives are
w_dt, w_dA), dA, dB_t and du, and (d) carries g to step t − 1 (multiply by Ā_t). Return
dΔ's contribution in `ddt`. The tests check every gradient against central differences
of your forward (lab 5.1).""",
         stub=['real ddt = 0;   /* LAB 5.3: the state loop of the backward is missing */',
               '(void)hp; (void)Bn; (void)dBn; (void)dCn; (void)w_dt; (void)w_dA; (void)dA;'],
         tests=['test_grad_selective', 'test_grad_lti', 'test_grad_zoh', 'test_grad_no_softplus'], requires=['5.1'], minutes=60),
    dict(id='5.4', stage='05_selective_s6', file='05_selective_s6/mamba.c',
         function='mamba_block_backward', section='5.5', eqs='(5.10)',
         title="The Mamba block's backward through SiLU and the causal conv1d",
         task="""In `mamba_block_backward`, write the backward of u = SiLU(conv1d(x) + b) (5.10):
for every channel d, batch b and step t, the gradient reaching the conv output is
(du + du_td) · SiLU'(xc); add it to the conv bias gradient, to the conv weights (times the
input it multiplied, `a.xz`, K − 1 − k steps back, zero before the sequence starts) and to
dxz (times the weight). The depthwise conv is causal: output t sees inputs t−K+1 … t.
The block's gradient check runs your forward (5.1) and backward scan (5.3).""",
         stub=['(void)K;   /* LAB 5.4: no gradient reaches the conv or the block input */'],
         tests=['test_block_s6', 'test_block_lti', 'test_block_nogate'], requires=['5.1', '5.3'], minutes=40),
    # ------------------------------------------------------------------ chapter 6
    dict(id='6.1', stage='06_hw_aware_cuda', file='06_hw_aware_cuda/scan/v2_fused_seq.cu',
         function='v2_kernel', section='6.3', eqs='(5.1)–(5.6)',
         title='The fused sequential scan kernel (v2)', gpu=True,
         task="""Write the time loop of `v2_kernel`: one thread owns one (batch, channel), keeps
its N states in registers and walks the sequence, reading u, Δ, z and the tile of B, C from
shared memory, and writes y — nothing of size N leaves the SM (§6.3). Graded on a GPU by the
stage's test `gpu_v2`: v2 alone against the float64 CPU reference (stage 05's scan) at
L = 7, 2049, 4100, N = 1, 16, 64 and every option set (z gate, D skip, Δ bias, h0).""",
         stub=['(void)bias; (void)Dd; (void)A; (void)h; (void)sB; (void)sC; (void)sz; (void)sd;',
               'su[tid * (TT + 1) + j] = 0.f;   /* LAB 6.1: y is never computed */'],
         tests=['gpu_v2'], minutes=60),
    dict(id='6.2', stage='06_hw_aware_cuda', file='06_hw_aware_cuda/scan/v3_fused_chunked.cu',
         function='v3_kernel', section='6.4', eqs='(6.4)',
         title="The chunked kernel's carry (v3)", gpu=True,
         task="""In `v3_kernel`, apply each thread's block-scan prefix to the carry — the state at
the end of the previous chunk — to get its starting state, replay its steps, and hand the
last thread's final state to the next chunk through the double-buffered `carry` (§6.4).
Graded on a GPU by the stage's test `gpu_v3`: v3 alone against the float64 CPU reference at
L = 7 (one chunk), 2049 (two, the second one step long) and 4100 (three), N = 1, 16, 64,
every option set, followed by the fused backward, which starts from the chunk states your
carry saved.""",
         stub=['(void)ea; (void)eb; (void)carry; (void)Cg; (void)chunk_states; (void)h_last; (void)nchunks;',
               '/* LAB 6.2: no state reaches the output or the next chunk */'],
         tests=['gpu_v3'], minutes=45),
]
