#!/usr/bin/env python3
"""07_ssd_mamba2/gpu/bench_ssd.py — the chunked SSD on the GPU against the official kernels,
in one run on one GPU (chapter 7.7). Needs torch with CUDA and triton; the official kernels
are read from the git-excluded copies .baselines/ (Triton SSD) and .official/ (the prebuilt
Mamba-1 selective-scan extension) — measured against, never part of the project.

  check    our v1 and v2 (gpu/ssd_gpu.h, through ctypes) against the official Triton SSD
           (mamba_chunk_scan_combined and its autograd backward) and a float64 PyTorch
           oracle (the quadratic form (7.4)-(7.5) with autograd), on shapes drawn from a seed:
           y, dx, ddt, dA, dB, dC, dD as max|a - b| / max|b|
  bench    forward and forward+backward times (CUDA events, median) in bf16 of: our SSD (the
           version and chunk length of the sweep with the fastest forward+backward at --qsweep);
           the Triton SSD (chunk 256, its autotuner's pick); our Mamba-1 scan (stage 06, v6 and
           its v6 backward, N a power of two <= 64); the official Mamba-1 scan; PyTorch SDPA
           (causal, FlashAttention) with heads x head_dim = H x P: the "attention view"
  --triton-warmup N:fwd,N:bwd,...  only run the Triton SSD once per item so its
           autotuner compiles (started in the background while the C tests run; a marker
           file per N tells the bench which N are ready)
Writes check.json, bench.csv, bench.md under --out.
"""
import argparse, csv, ctypes, json, math, os, statistics, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TRITON_CACHE_AUTOTUNING", "1")


def load_triton(first_config_only=False):
    """The official Triton SSD. Its autotuner compiles every candidate configuration of
    every kernel on first use (on the H200 machine: more than 130 s for one N, forward and
    backward, which is more than this lease has). first_config_only keeps one candidate per
    kernel: the same function, computed with a fixed tiling — right for CORRECTNESS checks,
    never used for timing; otherwise the candidates and the choice rule stay the official
    ones, with a shorter benchmark per candidate (25/100 ms by default)."""
    sys.path.insert(0, os.path.join(ROOT, ".baselines", "mamba_ssm_triton"))
    from mamba_ssm.ops.triton import ssd_combined
    import triton
    for modname in ("ssd_bmm", "ssd_chunk_state", "ssd_chunk_scan", "ssd_state_passing", "ssd_combined",
                    "k_activations", "layernorm_gated"):
        mod = sys.modules.get("mamba_ssm.ops.triton." + modname)
        for obj in vars(mod).values() if mod else ():
            if isinstance(obj, triton.runtime.autotuner.Autotuner):
                if first_config_only:
                    obj.configs = obj.configs[:1]
                for a, v in (("num_warmups", 5), ("num_reps", 20), ("warmup", 5), ("rep", 20)):
                    if hasattr(obj, a):
                        setattr(obj, a, v)
    return ssd_combined.mamba_chunk_scan_combined


# ---------------- our library (ctypes) ----------------
class SsdParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("batch", "L", "H", "P", "G", "N", "Q", "dtype")] + \
               [(n, ctypes.c_void_p) for n in ("x", "B", "C", "dt", "A", "D", "h0")]


class SsdGrads(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("dx", "ddt", "dA", "dB", "dC", "dD", "dh0")]


class ScanParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("batch", "D", "L", "N", "dtype")] + \
               [(n, ctypes.c_void_p) for n in ("u", "delta", "A", "B", "C", "Dskip", "z", "delta_bias")] + \
               [("delta_softplus", ctypes.c_int), ("h0", ctypes.c_void_p)]


class ScanGrads(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("du", "ddelta", "dz", "dA", "dB", "dC", "dDskip",
                                               "ddelta_bias", "dh0")]


def ptr(t):
    return ctypes.c_void_p(t.data_ptr()) if t is not None else None


class Lib:
    def __init__(self, path):
        self.l = ctypes.CDLL(path)
        self.l.ssd_gpu_workspace_bytes.restype = ctypes.c_size_t
        self.l.ssd_gpu_strerror.restype = ctypes.c_char_p
        self.l.scan_strerror.restype = ctypes.c_char_p
        self.l.scan_v6_backward_workspace_bytes.restype = ctypes.c_size_t
        self.l.scan_nchunks.restype = ctypes.c_int

    def ok(self, rc, what):
        if rc != 0:
            raise RuntimeError(f"{what}: {self.l.ssd_gpu_strerror(rc).decode()}")

    def ssd(self, version, x, dt, A, B, C, D, Q):
        """closures for our forward and backward on these tensors (x, B, C bf16 or fp32)"""
        b, L, H, P = x.shape
        G, N = B.shape[2], B.shape[3]
        p = SsdParams(b, L, H, P, G, N, Q, 1 if x.dtype == torch.bfloat16 else 0,
                      ptr(x), ptr(B), ptr(C), ptr(dt), ptr(A), ptr(D), None)
        ws = torch.empty(self.l.ssd_gpu_workspace_bytes(ctypes.byref(p), 1) // 4 + 1, device="cuda")
        y = torch.empty_like(x)
        g = dict(dx=torch.empty(x.shape, device="cuda"), ddt=torch.empty_like(dt), dA=torch.empty_like(A),
                 dB=torch.empty(B.shape, device="cuda"), dC=torch.empty(C.shape, device="cuda"),
                 dD=torch.empty_like(D) if D is not None else None)
        gs = SsdGrads(*(ptr(g[k]) for k in ("dx", "ddt", "dA", "dB", "dC", "dD")), None)

        def fwd():
            self.ok(self.l.ssd_gpu_forward(version, ctypes.byref(p), ptr(y), None, ptr(ws)), "ssd_gpu_forward")
            return y

        def bwd(dy):
            self.ok(self.l.ssd_gpu_backward(version, ctypes.byref(p), ptr(dy), None, ptr(ws), ctypes.byref(gs)),
                    "ssd_gpu_backward")
            return g
        return fwd, bwd

    def mamba1(self, u, delta, A, B, C, Dskip):
        """our stage-06 v6 scan and its v6 backward; u, delta (b, D, L), B, C (b, N, L)"""
        b, Dd, L = u.shape
        N = A.shape[1]
        p = ScanParams(b, Dd, L, N, 1, ptr(u), ptr(delta), ptr(A), ptr(B), ptr(C), ptr(Dskip), None, None, 0, None)
        cs = torch.empty(b * Dd * self.l.scan_nchunks(L) * N, device="cuda")
        ws = torch.empty(self.l.scan_v6_backward_workspace_bytes(ctypes.byref(p)) // 4 + 1, device="cuda")
        out = torch.empty_like(u)
        gr = dict(du=torch.empty_like(u), ddelta=torch.empty_like(u), dA=torch.empty_like(A),
                  dB=torch.empty(B.shape, device="cuda"), dC=torch.empty(C.shape, device="cuda"),
                  dD=torch.empty_like(Dskip))
        gs = ScanGrads(ptr(gr["du"]), ptr(gr["ddelta"]), None, ptr(gr["dA"]), ptr(gr["dB"]), ptr(gr["dC"]),
                       ptr(gr["dD"]), None, None)

        def fwd():
            rc = self.l.scan_v6_forward(ctypes.byref(p), ptr(out), None, ptr(cs))
            if rc:
                raise RuntimeError("scan_v6_forward: " + self.l.scan_strerror(rc).decode())
            return out

        def bwd(dout):
            rc = self.l.scan_v6_backward(ctypes.byref(p), ptr(dout), None, ptr(cs), ptr(ws), ctypes.byref(gs))
            if rc:
                raise RuntimeError("scan_v6_backward: " + self.l.scan_strerror(rc).decode())
        return fwd, bwd


# ---------------- the float64 oracle: the quadratic form (7.4)-(7.5), autograd ----------------
def ssd_f64(x, dt, A, B, C, D):
    H = x.shape[2]
    hpg = H // B.shape[2]
    Bh, Ch = B.repeat_interleave(hpg, dim=2), C.repeat_interleave(hpg, dim=2)   # (b, L, H, N)
    cs = torch.cumsum(dt * A, dim=1)                                              # (b, L, H)
    L = x.shape[1]
    causal = torch.tril(torch.ones(L, L, dtype=torch.bool, device=x.device))[None, :, :, None]
    seg = (cs[:, :, None, :] - cs[:, None, :, :]).masked_fill(~causal, -math.inf)  # (b, t, s, H)
    M = torch.exp(seg) * torch.einsum("bthn,bshn->btsh", Ch, Bh) * dt[:, None, :, :]
    return torch.einsum("btsh,bshp->bthp", M, x) + D[None, None, :, None] * x


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def check(lib, scan, out, seed=7, nshapes=3, dtypes=("bfloat16", "float32")):
    g = torch.Generator(device="cuda").manual_seed(seed)
    rows = []
    # shapes drawn from the seed (L not a multiple of any chunk, G > 1), none named by a test
    import random
    rnd = random.Random(seed)
    shapes = []
    for _ in range(nshapes):
        G = rnd.choice([1, 2])
        # N from the benchmark's set, so the Triton kernels compiled by its warm-up serve here too
        shapes.append(dict(b=rnd.choice([1, 2]), L=rnd.randrange(300, 2100), H=G * rnd.choice([2, 4]), P=64,
                           G=G, N=rnd.choice([64, 128]), Q=rnd.choice([64, 128, 256])))
    for s in shapes:
        b, L, H, P, G, N = s["b"], s["L"], s["H"], s["P"], s["G"], s["N"]
        x = torch.randn(b, L, H, P, device="cuda", generator=g, dtype=torch.float64)
        dt = torch.exp(torch.empty(b, L, H, device="cuda", dtype=torch.float64).uniform_(math.log(1e-3), math.log(1e-1), generator=g))
        A = -torch.empty(H, device="cuda", dtype=torch.float64).uniform_(0.5, 16, generator=g)
        B = torch.randn(b, L, G, N, device="cuda", generator=g, dtype=torch.float64)
        C = torch.randn(b, L, G, N, device="cuda", generator=g, dtype=torch.float64)
        D = torch.randn(H, device="cuda", generator=g, dtype=torch.float64)
        dy = torch.randn(b, L, H, P, device="cuda", generator=g, dtype=torch.float64)
        for dtype in (getattr(torch, d) for d in dtypes):
            # round once to the dtype; the float64 oracle sees the same rounded values
            xr, Br, Cr, dyr = (t.to(dtype) for t in (x, B, C, dy))
            dtr, Ar, Dr = dt.float(), A.float(), D.float()
            leaves = [t.double().requires_grad_() for t in (xr, dtr, Ar, Br, Cr, Dr)]
            yref = ssd_f64(*leaves)
            yref.backward(dyr.double())
            ref = dict(y=yref.detach(), dx=leaves[0].grad, ddt=leaves[1].grad, dA=leaves[2].grad,
                       dB=leaves[3].grad, dC=leaves[4].grad, dD=leaves[5].grad)
            tl = [t.clone().requires_grad_() for t in (xr, dtr, Ar, Br, Cr, Dr)]
            yt = scan(tl[0], tl[1], tl[2], tl[3], tl[4], chunk_size=256, D=tl[5])
            yt.backward(dyr)
            tri = dict(y=yt.detach(), dx=tl[0].grad, ddt=tl[1].grad, dA=tl[2].grad, dB=tl[3].grad,
                       dC=tl[4].grad, dD=tl[5].grad)
            for v, vname in ((0, "v1"), (1, "v2"), (2, "v3"), (3, "v4"), (4, "v5"), (5, "v6")):
                fwd, bwd = lib.ssd(v, xr, dtr, Ar, Br, Cr, Dr, s["Q"])
                y = fwd().clone()
                gg = bwd(dyr)
                torch.cuda.synchronize()
                ours = dict(y=y, **{k: gg[k].clone() for k in ("dx", "ddt", "dA", "dB", "dC", "dD")})
                for k in ref:
                    rows.append(dict(shape=s, dtype=str(dtype).replace("torch.", ""), version=vname, tensor=k,
                                     ours_vs_f64=rel(ours[k], ref[k]), triton_vs_f64=rel(tri[k], ref[k]),
                                     ours_vs_triton=rel(ours[k], tri[k])))
            del leaves, tl
            with open(os.path.join(out, "check.json"), "w") as f:   # after each, in case time runs out
                json.dump(rows, f, indent=1)
        torch.cuda.empty_cache()
    print("check: max|a-b|/max|b|   (shape b,L,H,P,G,N,Q)")
    for r in rows:
        s = r["shape"]
        print(f"  {s['b']},{s['L']},{s['H']},{s['P']},{s['G']},{s['N']},{s['Q']} {r['dtype']:8s} {r['version']} "
              f"{r['tensor']:4s} ours-f64 {r['ours_vs_f64']:.2e}  triton-f64 {r['triton_vs_f64']:.2e}  "
              f"ours-triton {r['ours_vs_triton']:.2e}")
    return rows


# ---------------- timing ----------------
TARGET_MS = 200.0


def timeit(fn, target_ms=None, min_reps=3, max_reps=25):
    target_ms = target_ms or TARGET_MS
    fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); fn(); e.record(); e.synchronize()
    reps = max(min_reps, min(max_reps, int(target_ms / max(s.elapsed_time(e), 1e-3))))
    ts = []
    for _ in range(reps):
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)


def inputs(b, L, H, P, N, seed=1):
    g = torch.Generator(device="cuda").manual_seed(seed)
    bf = torch.bfloat16
    x = torch.randn(b, L, H, P, device="cuda", generator=g).to(bf)
    dt = torch.exp(torch.empty(b, L, H, device="cuda").uniform_(math.log(1e-3), math.log(1e-1), generator=g))
    A = -torch.empty(H, device="cuda").uniform_(0.5, 16, generator=g)
    B = torch.randn(b, L, 1, N, device="cuda", generator=g).to(bf)
    C = torch.randn(b, L, 1, N, device="cuda", generator=g).to(bf)
    D = torch.randn(H, device="cuda", generator=g)
    dy = torch.randn(b, L, H, P, device="cuda", generator=g).to(bf)
    return x, dt, A, B, C, D, dy


def triton_closures(scan, x, dt, A, B, C, D, dy):
    def fwd():
        with torch.no_grad():
            return scan(x, dt, A, B, C, chunk_size=256, D=D)
    leaves = [t.detach().clone().requires_grad_() for t in (x, dt, A, B, C, D)]

    def fwdbwd():
        for t in leaves:
            t.grad = None
        y = scan(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], chunk_size=256, D=leaves[5])
        y.backward(dy)
    return fwd, fwdbwd


def triton_warmup(scan, items, markdir, b, H, P, L):
    """items: (N, "fwd" or "bwd") in order; a marker file N<N>_fwd / N<N>_bwd when that pass's
    kernels are compiled and tuned (bwd runs forward + backward)"""
    os.makedirs(markdir, exist_ok=True)
    for N, pas in items:
        t0 = time.time()
        x, dt, A, B, C, D, dy = inputs(b, L, H, P, N)
        f, fb = triton_closures(scan, x, dt, A, B, C, D, dy)
        f() if pas == "fwd" else fb()
        torch.cuda.synchronize()
        for m in (("fwd", "bwd") if pas == "bwd" else ("fwd",)):   # forward + backward tunes the forward too
            open(os.path.join(markdir, f"N{N}_{m}"), "w").write(f"{time.time() - t0:.1f}\n")
        print(f"triton warm-up N={N} {pas}: {time.time() - t0:.1f} s", flush=True)
        del x, dt, A, B, C, D, dy, f, fb
        torch.cuda.empty_cache()


def bench(lib, scan, official, out, configs, b, H, P, deadline, markdir, qsweep, sweep, versions=(), segsweep=()):
    gpu = torch.cuda.get_device_name()
    rows = []

    def add(L, N, impl, pas, ms, Q=""):
        rows.append(dict(gpu=gpu, batch=b, H=H, P=P, L=L, N=N, impl=impl, pass_=pas, Q=Q, ms=ms))
        print(f"  L={L:6d} N={N:4d} {impl:16s} {pas:8s} {ms:9.3f} ms {Q}", flush=True)

    # the chunk length of our v2: the fastest forward+backward at one middle shape
    L0, N0 = qsweep
    x, dt, A, B, C, D, dy = inputs(b, L0, H, P, N0)
    bestQ, bestV, best = 256, 1, math.inf
    # at this benchmark-sized shape (the GPU suite's shapes are small), every version's outputs
    # against v2's (checked against float64 by the suite in an earlier run): max|a-b|/max|b|
    f, bw = lib.ssd(1, x, dt, A, B, C, D, 128)
    ref = dict(y=f().clone(), **{k: v.clone() for k, v in bw(dy).items() if v is not None})
    agree = []
    for v, Q in sweep:
        f, bw = lib.ssd(v, x, dt, A, B, C, D, Q)
        got = dict(y=f().clone(), **{k: t.clone() for k, t in bw(dy).items() if t is not None})
        errs = {k: rel(got[k], ref[k]) for k in ref}
        agree.append(dict(version=f"v{v + 1}", Q=Q, L=L0, N=N0, **errs))
        print(f"  v{v + 1} Q={Q} vs v2 Q=128 at L={L0} N={N0}: " + " ".join(f"{k} {e:.1e}" for k, e in errs.items()),
              flush=True)
        del got
    with open(os.path.join(out, "agree_vs_v2.json"), "w") as fh:
        json.dump(agree, fh, indent=1)
    del ref
    for v, Q in (sweep if not versions else ()):   # --ours: timed at every shape below instead
        f, bw = lib.ssd(v, x, dt, A, B, C, D, Q)
        tf = timeit(f)
        tfb = timeit(lambda: (f(), bw(dy)))
        add(L0, N0, f"ssd_v{v + 1}_Q{Q}", "fwd", tf, Q)
        add(L0, N0, f"ssd_v{v + 1}_Q{Q}", "fwd+bwd", tfb, Q)
        if tfb < best:
            bestQ, bestV, best = Q, v, tfb
    del x, dt, A, B, C, D, dy
    torch.cuda.empty_cache()
    versions = list(versions) or [bestV]   # --ours: these at every shape, the first the headline
    if len(versions) > 1 or versions[0] != bestV:
        bestQ = 128
    print(f"ours: {', '.join(f'ssd_v{v + 1}' for v in versions)}, chunk Q = {bestQ}", flush=True)
    agree_all = []

    sdpa_done = set()
    for L, N in configs:
        if True:
            if time.time() > deadline:
                print(f"  deadline: L={L} N={N} skipped", flush=True)
                continue
            x, dt, A, B, C, D, dy = inputs(b, L, H, P, N)
            if any(v >= 8 for v in versions):   # v9's (and v10's) segments at this shape
                sp = SsdParams(b, L, H, P, 1, N, bestQ, 1, ptr(x), ptr(B), ptr(C), ptr(dt), ptr(A), ptr(D), None)
                cps = ctypes.c_int(0)
                nseg = lib.l.ssd_gpu_v9_segments(ctypes.byref(sp), ctypes.byref(cps))
                print(f"  v9 at L={L} N={N} Q={bestQ}: {nseg} segments of {cps.value} chunks", flush=True)
            first = None
            for v in versions:
                f, bw = lib.ssd(v, x, dt, A, B, C, D, bestQ)
                add(L, N, f"ssd_v{v + 1}", "fwd", timeit(f), bestQ)
                add(L, N, f"ssd_v{v + 1}", "fwd+bwd", timeit(lambda: (f(), bw(dy))), bestQ)
                if len(versions) > 1:   # the others against the headline version, at this shape
                    got = dict(y=f().clone(), **{k: t.clone() for k, t in bw(dy).items() if t is not None})
                    if first is None:
                        first = got
                    else:
                        errs = {k: rel(got[k], first[k]) for k in first}
                        agree_all.append(dict(version=f"v{v + 1}", vs=f"v{versions[0] + 1}", Q=bestQ, L=L, N=N, **errs))
                        print(f"  v{v + 1} vs v{versions[0] + 1} at L={L} N={N}: "
                              + " ".join(f"{k} {e:.1e}" for k, e in errs.items()), flush=True)
                        with open(os.path.join(out, "agree_versions.json"), "w") as fh:
                            json.dump(agree_all, fh, indent=1)
                    del got
                del f, bw
            del first
            if scan is not None:
                tf, tfb = triton_closures(scan, x, dt, A, B, C, D, dy)
                for pas, fn, mark in (("fwd", tf, "fwd"), ("fwd+bwd", tfb, "bwd")):
                    if os.path.exists(os.path.join(markdir, f"N{N}_{mark}")):
                        add(L, N, "triton_ssd", pas, timeit(fn), 256)
                    else:
                        print(f"  triton {pas} not compiled for N={N} in time: skipped", flush=True)
                del tf, tfb
            del x, dt, A, B, C, D
            torch.cuda.empty_cache()
            # Mamba-1 at equal (batch, D = H*P, L): u, delta (b, D, L), B, C (b, N, L)
            g = torch.Generator(device="cuda").manual_seed(2)
            Dd = H * P
            u = torch.randn(b, Dd, L, device="cuda", generator=g).to(torch.bfloat16)
            delta = torch.exp(torch.empty(b, Dd, L, device="cuda").uniform_(math.log(1e-3), math.log(1e-1), generator=g)).to(torch.bfloat16)
            A1 = -torch.empty(Dd, N, device="cuda").uniform_(0.5, 16, generator=g)
            B1 = torch.randn(b, N, L, device="cuda", generator=g).to(torch.bfloat16)
            C1 = torch.randn(b, N, L, device="cuda", generator=g).to(torch.bfloat16)
            D1 = torch.randn(Dd, device="cuda", generator=g)
            dout = torch.randn(b, Dd, L, device="cuda", generator=g).to(torch.bfloat16)
            if N <= 64 and N & (N - 1) == 0:
                mf, mb = lib.mamba1(u, delta, A1, B1, C1, D1)
                add(L, N, "mamba1_ours_v6", "fwd", timeit(mf))
                add(L, N, "mamba1_ours_v6", "fwd+bwd", timeit(lambda: (mf(), mb(dout))))
                del mf, mb
            if official is not None:
                Bo, Co = B1.unsqueeze(1), C1.unsqueeze(1)
                add(L, N, "mamba1_official", "fwd", timeit(lambda: official.fwd(u, delta, A1, Bo, Co, D1, None, None, False)))

                def ofb():
                    r = official.fwd(u, delta, A1, Bo, Co, D1, None, None, False)
                    official.bwd(u, delta, A1, Bo, Co, D1, None, None, dout, r[1], None, None, False, False)
                add(L, N, "mamba1_official", "fwd+bwd", timeit(ofb))
            del u, delta, A1, B1, C1, D1, dout
            torch.cuda.empty_cache()
            if L not in sdpa_done:   # the attention view: independent of N
                sdpa_done.add(L)
                q, k, v = (torch.randn(b, H, L, P, device="cuda", dtype=torch.bfloat16) for _ in range(3))
                F = torch.nn.functional
                try:
                    from torch.nn.attention import sdpa_kernel, SDPBackend
                    ctx = lambda: sdpa_kernel(SDPBackend.FLASH_ATTENTION)
                except ImportError:
                    import contextlib
                    ctx = contextlib.nullcontext
                with ctx():
                    with torch.no_grad():
                        add(L, 0, "sdpa_flash", "fwd", timeit(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)))
                    ql, kl, vl = (t.clone().requires_grad_() for t in (q, k, v))
                    gy = torch.randn_like(q)
                    add(L, 0, "sdpa_flash", "fwd+bwd",
                        timeit(lambda: F.scaled_dot_product_attention(ql, kl, vl, is_causal=True).backward(gy)))
                del q, k, v, ql, kl, vl, gy
                torch.cuda.empty_cache()
            write_csv(rows, out)
    write_csv(rows, out)
    vs = versions[0] if versions[0] >= 8 else 8
    for L, N, ns in segsweep:   # v9/v10 with the number of segments forced (SSD_V9_SEGMENTS), after the rest
        if time.time() > deadline:
            print(f"  deadline: segment sweep L={L} N={N} skipped", flush=True)
            break
        x, dt, A, B, C, D, dy = inputs(b, L, H, P, N)
        for n in ns:   # n segments; "b1": the default segments, the backward's adjoint walk in one piece
            env = "SSD_V9_BWD_SEGMENTS" if n == "b1" else "SSD_V9_SEGMENTS"
            os.environ[env] = "1" if n == "b1" else n
            f, bw = lib.ssd(vs, x, dt, A, B, C, D, 128)
            if n != "b1":
                add(L, N, f"ssd_v{vs + 1}_S{n}", "fwd", timeit(f), 128)
            add(L, N, f"ssd_v{vs + 1}_S{n}", "fwd+bwd", timeit(lambda: (f(), bw(dy))), 128)
            del f, bw
            os.environ.pop(env)
        del x, dt, A, B, C, D, dy
        torch.cuda.empty_cache()
        write_csv(rows, out)
    return rows, bestQ


def write_csv(rows, out):
    with open(os.path.join(out, "bench.csv"), "w") as f:
        f.write("gpu,batch,H,P,L,N,impl,pass,Q,ms\n")
        for r in rows:
            f.write(f"\"{r['gpu']}\",{r['batch']},{r['H']},{r['P']},{r['L']},{r['N']},{r['impl']},{r['pass_']},{r['Q']},{r['ms']:.4f}\n")


def our_impls(impls):
    """the versions timed at every shape (ssd_v<n>, no _Q or _S suffix), newest first"""
    return sorted((i for i in impls if i.startswith("ssd_v") and i[5:].isdigit()), key=lambda i: -int(i[5:]))


def ours_impl(impls):
    """the headline version: the newest one timed at every shape"""
    return (our_impls(impls) or ["ssd_v2"])[0]


def summary(rows, out, bestQ, b, H, P):
    t = {(r["impl"], r["pass_"], r["L"], r["N"]): r["ms"] for r in rows}
    ours = ours_impl({r["impl"] for r in rows})
    others = our_impls({r["impl"] for r in rows})[1:]   # the earlier versions timed at every shape
    Ls = sorted({r["L"] for r in rows if r["impl"] == ours})
    Ns = sorted({r["N"] for r in rows if r["impl"] == ours})
    lines = [f"# 07 SSD on {rows[0]['gpu']} (bf16, batch {b}, {H} heads x P {P}; ours = {ours} at Q = {bestQ}, Triton chunk 256)", "",
             "ms (median of CUDA-event timings); ratio = baseline / ours (> 1: ours faster)", ""]
    for pas in ("fwd", "fwd+bwd"):
        lines += [f"## {pas}", "",
                  f"| L | N | ours {ours[4:]} | Triton SSD | Triton/ours | Mamba-1 ours v6 | M1 ours/ours | Mamba-1 official | M1 official/ours | SDPA flash | SDPA/ours |"
                  + "".join(f" {o[4:]} | {o[4:]}/ours |" for o in others),
                  "|---|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * len(others)]
        for N in Ns:
            for L in Ls:
                o = t.get((ours, pas, L, N))
                if o is None:
                    continue
                cells = [f"{o:.3f}"]
                for impl, n in (("triton_ssd", N), ("mamba1_ours_v6", N), ("mamba1_official", N), ("sdpa_flash", 0),
                                *((o, N) for o in others)):
                    v = t.get((impl, pas, L, n))
                    cells += [f"{v:.3f}", f"{v / o:.2f}"] if v is not None else ["-", "-"]
                lines.append(f"| {L} | {N} | " + " | ".join(cells) + " |")
        lines.append("")
    open(os.path.join(out, "bench.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


# our versions 0 … 9 = v1 … v10 (gpu/ssd_gpu.h): the chunk-length sweep times v10, v9 and v8 at Q = 128,
# v8 at 64 and 256, v7, v6, v5, v4 (raw mma.sync) and v2 (WMMA) at Q = 128, for the ratios between them
SWEEP = ((9, 128), (8, 128), (7, 64), (7, 128), (7, 256), (6, 128), (5, 128), (4, 128), (3, 128), (1, 128))
IMPLS = ("ssd_v2", "triton_ssd", "mamba1_ours_v6", "mamba1_official", "sdpa_flash")


def plot_data(csv_path, outdir, L_fix=8192, N_fix=64):
    """bench.csv -> time_vs_N.dat (at L_fix) and time_vs_L.dat (at N_fix) for plots/gpu_bench.gp:
    columns N (or L), then fwd and fwd+bwd ms of each of IMPLS (NaN where not measured)"""
    t = {}
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    ours = ours_impl({r["impl"] for r in rows})
    for r in rows:   # our chosen version stands in the first column, named ssd_v2 in the header
        impl = "ssd_v2" if r["impl"] == ours else r["impl"]
        if impl in IMPLS and not (impl == "ssd_v2" and r["impl"] != ours):
            t[(impl, r["pass"], int(r["L"]), int(r["N"]))] = float(r["ms"])
    Ns = sorted({k[3] for k in t if k[0] == "ssd_v2"})
    Ls = sorted({k[2] for k in t if k[0] == "ssd_v2"})
    head = " ".join(f"{i}_{p}" for i in IMPLS for p in ("fwd", "fwdbwd"))
    for name, xs, key in (("time_vs_N.dat", Ns, lambda i, p, v: (i, p, L_fix, 0 if i == "sdpa_flash" else v)),
                          ("time_vs_L.dat", Ls, lambda i, p, v: (i, p, v, 0 if i == "sdpa_flash" else N_fix))):
        with open(os.path.join(outdir, name), "w") as f:
            f.write(f"# {'N' if 'N' in name else 'L'} {head}  (ms; L = {L_fix} or N = {N_fix})\n")
            for v in xs:
                cells = [t.get(key(i, p, v), float("nan")) for i in IMPLS for p in ("fwd", "fwd+bwd")]
                f.write(f"{v} " + " ".join(f"{c:.4f}" for c in cells) + "\n")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--plot-data":
        plot_data(sys.argv[2], sys.argv[3])
        return
    global torch
    import torch
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.path.join(ROOT, "07_ssd_mamba2", "build", "libssd07.so"))
    ap.add_argument("--out", default="results/gpu")
    ap.add_argument("--configs", default="2048:64,8192:64,32768:64,2048:128,8192:128,32768:128,8192:16,8192:256",
                    help="L:N pairs, benchmarked in this order")
    ap.add_argument("--qsweep", default="8192:128", help="L:N where our chunk length Q is chosen")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--P", type=int, default=64)
    ap.add_argument("--target-ms", type=float, default=200.0, help="timed repetitions per measurement, in ms")
    ap.add_argument("--budget-s", type=float, default=1e9, help="stop starting new shapes after this")
    ap.add_argument("--triton-warmup", default="", help="N:fwd / N:bwd list: only compile the Triton SSD for these")
    ap.add_argument("--sweep", default=",".join(f"v{v + 1}:{Q}" for v, Q in SWEEP),
                    help="version:Q pairs timed at --qsweep; the fastest forward+backward is 'ours'")
    ap.add_argument("--ours", default="", help="v9,v8: these versions at every shape (Q 128), the first the headline; "
                    "the others checked against it there (agree_versions.json). Default: the sweep's fastest")
    ap.add_argument("--segsweep", default="", help="L:N:n1/n2/..., ...: the headline version (v9 or v10) with n "
                    "segments forced (b1: the default, the backward's adjoint walk in one piece), after the rest")
    ap.add_argument("--profile-once", default="", help="L:N:Q[:V]: one forward + backward of our vV (default 4) for a profiler")
    ap.add_argument("--markdir", default="/tmp/ssd_triton_ready")
    ap.add_argument("--no-triton-bench", action="store_true", help="time no Triton (its autotuning takes minutes)")
    ap.add_argument("--check", default="first", choices=("first", "last", "none"),
                    help="the correctness check against Triton and float64: before or after the benchmark")
    ap.add_argument("--check-shapes", type=int, default=3)
    ap.add_argument("--check-dtypes", default="bfloat16,float32")
    ap.add_argument("--check-first-config", action="store_true",
                    help="Triton with one autotune candidate per kernel (correctness only; fast to compile)")
    a = ap.parse_args()
    global TARGET_MS
    TARGET_MS = a.target_ms
    t_start = time.time()
    configs = [tuple(int(v) for v in c.split(":")) for c in a.configs.split(",")]
    if a.profile_once:   # one forward + backward of version V between cudaProfilerStart/Stop, for ncu
        L, N, Q, V = ([int(v) for v in a.profile_once.split(":")] + [4])[:4]
        lib = Lib(os.path.abspath(a.lib))
        x, dt, A, B, C, D, dy = inputs(a.batch, L, a.heads, a.P, N)
        f, bw = lib.ssd(V - 1, x, dt, A, B, C, D, Q)
        f(); bw(dy)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        f(); bw(dy)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
        return
    try:
        scan = load_triton(a.check_first_config)
    except Exception as e:   # noqa: BLE001 — the baseline is optional; say why it is missing
        print(f"Triton SSD baseline not available: {e}")
        scan = None
    if a.triton_warmup:
        items = [(int(v.split(":")[0]), v.split(":")[1] if ":" in v else "bwd") for v in a.triton_warmup.split(",")]
        triton_warmup(scan, items, a.markdir, a.batch, a.heads, a.P, 8192)
        return
    os.makedirs(a.out, exist_ok=True)
    lib = Lib(os.path.abspath(a.lib))
    try:
        sys.path.insert(0, os.path.join(ROOT, ".official"))
        from load_official import ss as official
    except Exception as e:   # noqa: BLE001
        print(f"official Mamba-1 scan not available: {e}")
        official = None
    chk = lambda: check(lib, scan, a.out, nshapes=a.check_shapes, dtypes=a.check_dtypes.split(","))
    if a.check == "first" and scan is not None:
        chk()
    print(f"Triton SSD compiled for N: {sorted(os.listdir(a.markdir)) if os.path.isdir(a.markdir) else []}", flush=True)
    rows, bestQ = bench(lib, None if a.no_triton_bench else scan, official, a.out, configs, a.batch, a.heads, a.P,
                        t_start + a.budget_s, a.markdir, tuple(int(v) for v in a.qsweep.split(":")),
                        [(int(v.split(":")[0][1:]) - 1, int(v.split(":")[1])) for v in a.sweep.split(",")],
                        [int(v[1:]) - 1 for v in a.ours.split(",") if v],
                        [(int(c.split(":")[0]), int(c.split(":")[1]), c.split(":")[2].split("/"))
                         for c in a.segsweep.split(",") if c])
    summary(rows, a.out, bestQ, a.batch, a.heads, a.P)
    if a.check == "last" and scan is not None:
        chk()


if __name__ == "__main__":
    main()
