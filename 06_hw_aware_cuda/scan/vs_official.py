#!/usr/bin/env python3
"""Stage 06's scan kernels against the official mamba_ssm selective-scan kernel, one GPU, one run.

The official extension (third-party, Apache-2.0: a baseline to run, never code to copy) is loaded
prebuilt from .official/ (load_official.py; build_official.py builds it from
../shared/baselines/mamba_ssm_selective_scan), our kernels from the shared library that
`make -C 06_hw_aware_cuda libscan` builds (the C API of scan/scan_gpu.h, through ctypes).
Adapted from ../shared/baselines/scan_vs_official.py. On the same inputs:

  check    every named forward against a float64 reference (selective_scan_ref semantics,
           written here with torch ops) and every named backward against the official backward,
           at sizes no test names, as a fraction of the issue's tolerance rtol 6e-4 / atol 2e-3
           (fp32; bf16 outputs also get the format's 2^-8 relative rounding); outputs poisoned
           with NaN first; the v7 backward run twice, its gradients compared bit for bit;
  sweep    v7's segment count forced through SCAN_V7_SEGS / SCAN_BWD7_SEGS at a few shapes, to
           see where the launch-shape rule should put it;
  time     CUDA-event medians over the configuration matrix, fp32 and bf16: official forward
           and backward, ours (v6, v7; the fused and v7 backwards), the ratios official / ours
           (> 1: ours faster) for the forward, the backward and forward + backward.
Writes OUT/vs_official.{md,json,csv} and a log. Usage on the GPU machine, from the project root:
  python3 06_hw_aware_cuda/scan/vs_official.py --lib 06_hw_aware_cuda/build/libscan.so --out DIR
"""
import argparse, ctypes, json, os, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--lib", default="06_hw_aware_cuda/build/libscan.so")
ap.add_argument("--official", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".official"),
                help="folder holding load_official.py (default: the project root's .official)")
ap.add_argument("--out", default="06_hw_aware_cuda/results")
ap.add_argument("--fwd", default="v6,v7")
ap.add_argument("--bwd", default="fused,v7",
                help="backwards: fused, v6, v7, or NAME:SPEC (NAME with the environment SPEC names: Ours.variant)")
ap.add_argument("--configs", default="1,1024,2048,16;1,2048,16384,16;1,4096,65536,16;"
                "2,2048,8192,16;8,2048,2048,16;8,1024,256,16;32,1024,512,16;8,2048,2048,64;"
                "2,4096,4096,64;4,2560,2048,16;1,2048,32768,16;8,2048,512,16;4,2048,4096,64")
ap.add_argument("--dtypes", default="fp32,bf16")
ap.add_argument("--reps", type=int, default=15)
ap.add_argument("--sweep", default="1,2048,16384,16;8,2048,2048,16;1,2048,2048,64;2,2048,8192,16",
                help="shapes for the segment sweep ('' for none)")
ap.add_argument("--segs", default="1,2,3,4,6,8,12,16,32")
ap.add_argument("--no-check", action="store_true")
ap.add_argument("--order", default="check,sweep,time",
                help="the parts in the order to run them (a short box: time first, its rows logged as they come)")
args = ap.parse_args()

if not os.path.exists(args.lib):
    sys.exit(f"vs_official: {args.lib}: not found (make -C 06_hw_aware_cuda libscan builds it)")
sys.path.insert(0, os.path.abspath(args.official))
try:
    import torch
    from load_official import ss
except Exception as ex:   # no torch, no GPU or no prebuilt extension: say so, exit 3 (make bench-gpu: skipped)
    print(f"vs_official: the official extension could not be loaded from {args.official}: {ex}", file=sys.stderr)
    sys.exit(3)

os.makedirs(args.out, exist_ok=True)
log = open(os.path.join(args.out, "vs_official.log"), "w")
def say(s):
    print(s, flush=True); log.write(s + "\n"); log.flush()

lib = ctypes.CDLL(os.path.abspath(args.lib))

class P(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int), ("D", ctypes.c_int), ("L", ctypes.c_int), ("N", ctypes.c_int),
                ("dtype", ctypes.c_int), ("u", ctypes.c_void_p), ("delta", ctypes.c_void_p),
                ("A", ctypes.c_void_p), ("B", ctypes.c_void_p), ("C", ctypes.c_void_p),
                ("Dskip", ctypes.c_void_p), ("z", ctypes.c_void_p), ("delta_bias", ctypes.c_void_p),
                ("delta_softplus", ctypes.c_int), ("h0", ctypes.c_void_p)]
class G(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in
                ("du", "ddelta", "dz", "dA", "dB", "dC", "dDskip", "ddelta_bias", "dh0")]
for f in ("scan_nchunks", "scan_v7_segments", "scan_v7_backward_segments"):
    getattr(lib, f).restype = ctypes.c_int
lib.scan_strerror.restype = ctypes.c_char_p
for f in ("scan_v7_forward_workspace_bytes", "scan_v7_backward_workspace_bytes"):
    getattr(lib, f).restype = ctypes.c_size_t
def ptr(t): return ctypes.c_void_p(t.data_ptr()) if t is not None else None
def ok(rc, what):
    if rc != 0: raise RuntimeError(f"{what}: {lib.scan_strerror(rc).decode()}")

def make(b, D, L, N, dt, seed):
    """The baseline's inputs: Δ = softplus(δ + bias) in about [1e-3, 0.5], A = −e^U(−1, 1.5)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    r = lambda *s, lo=-1.0, hi=1.0: torch.rand(*s, device="cuda", generator=g) * (hi - lo) + lo
    x = dict(u=r(b, D, L), delta=r(b, D, L, lo=-3.0, hi=0.5), A=-torch.exp(r(D, N, lo=-1.0, hi=1.5)),
             B=r(b, N, L), C=r(b, N, L), Dskip=r(D), z=r(b, D, L, lo=-2, hi=2), bias=r(D, lo=-4, hi=-1),
             dout=r(b, D, L))
    for k in ("u", "delta", "B", "C", "z", "dout"): x[k] = x[k].to(dt).contiguous()
    return x

def official_fwd(x):
    return ss.fwd(x["u"], x["delta"], x["A"], x["B"].unsqueeze(1), x["C"].unsqueeze(1),
                  x["Dskip"], x["z"], x["bias"], True)

def official_bwd(x, out, st):
    r = ss.bwd(x["u"], x["delta"], x["A"], x["B"].unsqueeze(1), x["C"].unsqueeze(1), x["Dskip"],
               x["z"], x["bias"], x["dout"], st, out, None, True, False)
    du, ddelta, dA, dB, dC, dD, dbias, dz = r[:8]
    return dict(du=du, ddelta=ddelta, dA=dA, dB=dB.squeeze(1), dC=dC.squeeze(1), dDskip=dD,
                ddelta_bias=dbias, dz=dz)

class Ours:
    """One problem's parameters and output buffers, made once: a timed call is one C call."""
    def __init__(self, x):
        self.x = x
        b, D, L = x["u"].shape; N = x["A"].shape[1]
        dt = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}[x["u"].dtype]
        self.p = P(b, D, L, N, dt, ptr(x["u"]), ptr(x["delta"]), ptr(x["A"]), ptr(x["B"]), ptr(x["C"]),
                   ptr(x["Dskip"]), ptr(x["z"]), ptr(x["bias"]), 1, None)
        self.pp = ctypes.byref(self.p)
        self.out = torch.empty_like(x["u"]); self.hl = torch.empty(b, D, N, device="cuda")
        self.cs = torch.empty(b, D, lib.scan_nchunks(L), N, device="cuda")
        self.ws7 = torch.empty(lib.scan_v7_forward_workspace_bytes(self.pp) // 4 + 4, device="cuda")
        self.gr = dict(du=torch.empty_like(x["u"]), ddelta=torch.empty_like(x["u"]), dz=torch.empty_like(x["u"]),
                       dA=torch.empty(D, N, device="cuda"), dB=torch.empty(b, N, L, device="cuda"),
                       dC=torch.empty(b, N, L, device="cuda"), dDskip=torch.empty(D, device="cuda"),
                       ddelta_bias=torch.empty(D, device="cuda"))
        self.g = G(*(ptr(self.gr[k]) if k in self.gr else None for k, _ in G._fields_))
        self.wsb = {}
    @staticmethod
    def variant(spec):
        """The environment of a NAME:SPEC version: SPEC's '+'-separated tokens, each VAR=VALUE,
        'nopf' (SCAN_WALK_PREFETCH=0: the walk without its prefetch) or a K3 launch shape of the
        v7 backward (SCAN_BWD7_VARIANT, e.g. s4m3)."""
        env = {}
        for t in spec.split("+"):
            if "=" in t: k, v = t.split("=", 1); env[k] = v
            elif t == "nopf": env["SCAN_WALK_PREFETCH"] = "0"
            else: env["SCAN_BWD7_VARIANT"] = t
        return env
    def with_env(self, ver, call):
        base, spec = ver.split(":", 1)
        env = self.variant(spec)
        os.environ.update(env)
        try: return call(base)
        finally:
            for k in env: os.environ.pop(k)
    def fwd(self, ver):
        if ":" in ver: return self.with_env(ver, self.fwd)
        if ver == "v7":
            ok(lib.scan_v7_forward(self.pp, ptr(self.out), ptr(self.hl), ptr(self.cs), ptr(self.ws7)), ver)
        else:
            ok(getattr(lib, f"scan_{ver}_forward")(self.pp, ptr(self.out), ptr(self.hl), ptr(self.cs)), ver)
        return self.out
    def bwd(self, ver):
        if ":" in ver: return self.with_env(ver, self.bwd)
        if ver == "fused":
            ok(lib.scan_fused_backward(self.pp, ptr(self.x["dout"]), None, ptr(self.cs), ctypes.byref(self.g)), ver)
        else:
            if ver not in self.wsb:
                n = getattr(lib, f"scan_{ver}_backward_workspace_bytes")(self.pp)
                self.wsb[ver] = torch.empty(n // 4 + 4, device="cuda")
            ok(getattr(lib, f"scan_{ver}_backward")(self.pp, ptr(self.x["dout"]), None, ptr(self.cs),
                                                   ptr(self.wsb[ver]), ctypes.byref(self.g)), ver)
        return self.gr
    def poison(self):
        for t in [self.out, self.hl, self.cs] + list(self.gr.values()): t.fill_(float("nan"))

def ref64(x, f16_exp=False):
    """selective_scan_ref in float64: the forward's exact answer for the rounded inputs. f16_exp:
    Ā as ex2.approx.f16x2 would give it (argument Δ·A·log₂e and result rounded to fp16), the
    rest exact: the error of that trade alone."""
    u, delta = x["u"].double(), x["delta"].double()
    A, B, C, Dk, z = (x[k].double() for k in ("A", "B", "C", "Dskip", "z"))
    delta = torch.nn.functional.softplus(delta + x["bias"].double()[None, :, None])
    b, D, L = u.shape
    h = torch.zeros(b, D, A.shape[1], dtype=torch.float64, device="cuda"); ys = []
    if f16_exp:
        arg = torch.einsum("bdl,dn->bldn", delta, A) * 1.4426950408889634
        dA = torch.exp2(arg.half().double()).half().double()
    else:
        dA = torch.exp(torch.einsum("bdl,dn->bldn", delta, A))
    dBu = torch.einsum("bdl,bnl,bdl->bldn", delta, B, u)
    for l in range(L):
        h = dA[:, l] * h + dBu[:, l]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, l]))
    return (torch.stack(ys, 2) + u * Dk[None, :, None]) * torch.nn.functional.silu(z)

def frac_tol(a, b, rtol=6e-4, atol=2e-3):
    """max |a − b| / (atol + rtol·|b|): ≤ 1 passes; NaN (an element never written) fails."""
    a, b = a.double(), b.double()
    e = (a - b).abs() / (atol + rtol * b.abs())
    return float("inf") if torch.isnan(e).any() else e.max().item()

def timeit(fn, reps, warm=3):
    for _ in range(warm): fn()
    torch.cuda.synchronize(); ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    return statistics.median(ts)

fwds, bwds = args.fwd.split(","), args.bwd.split(",")
DT = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)
props = torch.cuda.get_device_properties(0)
res = dict(device=f"{props.name} ({props.multi_processor_count} SMs)", torch=torch.__version__,
           check=[], sweep=[], timing=[])
T0 = time.time()
say(f"{res['device']}, torch {res['torch']}")

def do_check():
    # ---- check: sizes no test names (a prime L, L = 1, N = 64 over two chunks, N = 8, a long L at
    # batch 1 that v7 cuts into segments; bf16 too), forward vs float64, backward vs official
    if not args.no_check:
        for (b, D, L, N, dts) in [(2, 64, 3001, 16, "fp32"), (1, 48, 1, 16, "fp32"), (2, 80, 4097, 64, "fp32"),
                                  (3, 40, 700, 8, "fp32"), (1, 96, 12345, 16, "fp32"), (1, 96, 12345, 16, "bf16"),
                                  (1, 40, 9000, 64, "bf16")]:
            x = make(b, D, L, N, DT[dts], seed=L + N)
            y64 = ref64(x); o_out, o_st, o_z = official_fwd(x); og = official_bwd(x, o_out, o_st)
            # bf16 outputs: the fp32 bound plus the rounding of the stored output (2^-8 of it)
            rt = 6e-4 if dts == "fp32" else 6e-4 + 2.0 ** -8
            o = Ours(x)
            row = dict(cfg=[b, D, L, N], dtype=dts, official_fwd=frac_tol(o_z, y64, rt),
                       v7_segments=lib.scan_v7_segments(o.pp))
            for v in fwds:
                try:
                    o.poison(); row[f"{v}_fwd"] = frac_tol(o.fwd(v), y64, rt)
                except Exception as ex: row[f"{v}_fwd"] = str(ex)
            for v in bwds:
                try:
                    o.poison(); o.fwd(fwds[-1]); gg = o.bwd(v)
                    # du, ddelta, dz in the inputs' dtype on both sides: in bf16 each side rounds
                    # its own fp32 value, so the two may differ by two roundings (2·2^-8 relative).
                    # dz a third: the official backward forms it from its forward's `out` (y + D·u)
                    # as stored in bf16, ours from y in fp32 (the first run measured dz at 1.2 of
                    # the two-rounding bound, the official forward's own out at 0.69 of one)
                    rb = lambda k: rt if dts == "fp32" else 6e-4 + (3 if k == "dz" else 2) * 2.0 ** -8
                    row[f"{v}_bwd_vs_official"] = max(frac_tol(gg[k], og[k], rb(k)) for k in og)
                    row[f"{v}_bwd_worst"] = max(og, key=lambda k: frac_tol(gg[k], og[k], rb(k)))
                except Exception as ex: row[f"{v}_bwd_vs_official"] = str(ex)
            if "v7" in bwds:
                first = {k: t.clone() for k, t in o.bwd("v7").items()}
                o.poison(); second = o.bwd("v7")
                row["v7_bwd_bit_identical"] = all(torch.equal(first[k], second[k]) for k in first)
            row["t_s"] = round(time.time() - T0, 1)
            res["check"].append(row); say("check " + json.dumps(row))
            del x, o; torch.cuda.empty_cache()

        # the bf16 exponential trade, emulated on the baseline's inputs: Ā from fp16 exponentials
        for dts in ("fp32", "bf16"):
            x = make(2, 64, 3001, 16, DT[dts], seed=99); y64 = ref64(x); y16 = ref64(x, f16_exp=True)
            rel = ((y16 - y64).abs().max() / y64.abs().max()).item()
            row = dict(trade="ex2.approx.f16x2 for Abar", dtype=dts, cfg=[2, 64, 3001, 16],
                       frac_tol_fp32=frac_tol(y16, y64), frac_tol_bf16=frac_tol(y16, y64, 6e-4 + 2.0 ** -8),
                       max_err_over_max_out=rel)
            res["check"].append(row); say("trade " + json.dumps(row))

def do_sweep():
    # ---- sweep: v7 forward and backward at forced segment counts
    for cfg in [c for c in args.sweep.split(";") if c]:
        b, D, L, N = (int(v) for v in cfg.split(","))
        for dts in ("fp32", "bf16"):
            x = make(b, D, L, N, DT[dts], seed=11); o = Ours(x)
            row = dict(cfg=[b, D, L, N], dtype=dts, fwd={}, bwd={})
            for k in args.segs.split(","):
                os.environ["SCAN_V7_SEGS"] = k; os.environ["SCAN_BWD7_SEGS"] = k
                nf, nb = lib.scan_v7_segments(o.pp), lib.scan_v7_backward_segments(o.pp)
                row["fwd"][nf] = timeit(lambda: o.fwd("v7"), 7)
                row["bwd"][nb] = timeit(lambda: o.bwd("v7"), 5)
            os.environ.pop("SCAN_V7_SEGS"); os.environ.pop("SCAN_BWD7_SEGS")
            row["auto"] = [lib.scan_v7_segments(o.pp), lib.scan_v7_backward_segments(o.pp)]
            res["sweep"].append(row); say("sweep " + json.dumps(row))
            del x, o; torch.cuda.empty_cache()

def do_time():
    # ---- time
    for cfg in [c for c in args.configs.split(";") if c]:
        b, D, L, N = (int(v) for v in cfg.split(","))
        for dts in args.dtypes.split(","):
            try:
                x = make(b, D, L, N, DT[dts], seed=7); o = Ours(x)
                o_out, o_st, o_z = official_fwd(x)
                row = dict(cfg=[b, D, L, N], dtype=dts, segs=[lib.scan_v7_segments(o.pp), lib.scan_v7_backward_segments(o.pp)],
                           official_fwd=timeit(lambda: official_fwd(x), args.reps),
                           official_bwd=timeit(lambda: official_bwd(x, o_out, o_st), args.reps))
                for v in fwds:
                    try: row[f"{v}_fwd"] = timeit(lambda: o.fwd(v), args.reps)
                    except Exception as ex: row[f"{v}_fwd"] = str(ex)
                o.fwd(fwds[-1])
                for v in bwds:
                    try: row[f"{v}_bwd"] = timeit(lambda: o.bwd(v), args.reps)
                    except Exception as ex: row[f"{v}_bwd"] = str(ex)
                row["t_s"] = round(time.time() - T0, 1)
                res["timing"].append(row); say("time " + json.dumps(row))
                del x, o, o_out, o_st, o_z; torch.cuda.empty_cache()
            except torch.OutOfMemoryError:
                say(f"time {cfg} {dts}: out of memory, skipped"); torch.cuda.empty_cache()

for part in args.order.split(","):
    dict(check=do_check, sweep=do_sweep, time=do_time)[part]()

# ---- tables: ours = the newest versions (the last named forward and backward)
fv, bv = fwds[-1], bwds[-1]
def num(r, k): return r[k] if isinstance(r.get(k), float) else float("nan")
rows = []
for r in res["timing"]:
    f, bw = num(r, f"{fv}_fwd"), num(r, f"{bv}_bwd")
    r["ratio_fwd"] = r["official_fwd"] / f; r["ratio_bwd"] = r["official_bwd"] / bw
    r["ratio_train"] = (r["official_fwd"] + r["official_bwd"]) / (f + bw)
    rows.append(r)
csv = ["batch,D,L,N,dtype,v7_segs_fwd,v7_segs_bwd,official_fwd_ms," + ",".join(f"{v}_fwd_ms" for v in fwds) +
       ",official_bwd_ms," + ",".join(f"{v}_bwd_ms" for v in bwds) + ",ratio_fwd,ratio_bwd,ratio_fwd_bwd"]
md = [f"{res['device']}, torch {res['torch']}: the official mamba_ssm selective-scan extension "
      f"(prebuilt, fp32/bf16) against stage 06's kernels in the same run. Times in ms, CUDA-event "
      f"medians of {args.reps}; z, D, Δ bias + softplus on. Ratios official / ours (> 1: ours faster), "
      f"ours = {fv} forward and {bv} backward.", "",
      "| batch, D, L, N | dtype | segs f/b | official fwd | " + " | ".join(f"{v} fwd" for v in fwds) +
      " | official bwd | " + " | ".join(f"{v} bwd" for v in bwds) + " | fwd ratio | bwd ratio | fwd+bwd ratio |",
      "|" + "---|" * (8 + len(fwds) + len(bwds))]
for r in rows:
    b, D, L, N = r["cfg"]
    csv.append(f"{b},{D},{L},{N},{r['dtype']},{r['segs'][0]},{r['segs'][1]},{r['official_fwd']:.5f}," +
               ",".join(f"{num(r, v + '_fwd'):.5f}" for v in fwds) + f",{r['official_bwd']:.5f}," +
               ",".join(f"{num(r, v + '_bwd'):.5f}" for v in bwds) +
               f",{r['ratio_fwd']:.4f},{r['ratio_bwd']:.4f},{r['ratio_train']:.4f}")
    md.append(f"| {b}, {D}, {L}, {N} | {r['dtype']} | {r['segs'][0]}/{r['segs'][1]} | {r['official_fwd']:.3f} | " +
              " | ".join(f"{num(r, v + '_fwd'):.3f}" for v in fwds) + f" | {r['official_bwd']:.3f} | " +
              " | ".join(f"{num(r, v + '_bwd'):.3f}" for v in bwds) +
              f" | {r['ratio_fwd']:.2f} | {r['ratio_bwd']:.2f} | {r['ratio_train']:.2f} |")
md += ["", "Ratios over the matrix (min / median / max):", "",
       "| dtype | fwd | bwd | fwd+bwd |", "|---|---|---|---|"]
for dts in args.dtypes.split(","):
    rr = [r for r in rows if r["dtype"] == dts]
    if not rr: continue
    st = lambda k: f"{min(r[k] for r in rr):.2f} / {statistics.median(r[k] for r in rr):.2f} / {max(r[k] for r in rr):.2f}"
    md.append(f"| {dts} | {st('ratio_fwd')} | {st('ratio_bwd')} | {st('ratio_train')} |")
if len(bwds) > 1:   # every named backward, so that one run compares the candidates whole
    md += ["", f"Each backward named, ratios official / it over the matrix (min / median / max; "
           f"fwd+bwd with the {fv} forward):", "", "| backward | dtype | bwd | fwd+bwd |", "|---|---|---|---|"]
    for v in bwds:
        for dts in args.dtypes.split(","):
            rr = [r for r in rows if r["dtype"] == dts and isinstance(r.get(f"{v}_bwd"), float)]
            if not rr: continue
            qb = [r["official_bwd"] / r[f"{v}_bwd"] for r in rr]
            qt = [(r["official_fwd"] + r["official_bwd"]) / (num(r, f"{fv}_fwd") + r[f"{v}_bwd"]) for r in rr]
            st = lambda q: f"{min(q):.2f} / {statistics.median(q):.2f} / {max(q):.2f}"
            md.append(f"| {v} | {dts} | {st(qb)} | {st(qt)} |")
if res["check"]:
    md += ["", "Correctness at sizes no test names (fraction of the tolerance, ≤ 1 passes; forward vs a "
           "float64 reference, backward vs the official backward; v7 backward run twice):", "",
           "| batch, D, L, N | dtype | v7 segs | " + " | ".join(f"{v} fwd" for v in fwds) + " | " +
           " | ".join(f"{v} bwd" for v in bwds) + " | bwd v7 bit-identical |", "|" + "---|" * (4 + len(fwds) + len(bwds))]
    for r in [r for r in res["check"] if "trade" not in r]:
        fm = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
        md.append(f"| {', '.join(map(str, r['cfg']))} | {r['dtype']} | {r['v7_segments']} | " +
                  " | ".join(fm(r[f'{v}_fwd']) for v in fwds) + " | " +
                  " | ".join(fm(r[f'{v}_bwd_vs_official']) for v in bwds) + f" | {r.get('v7_bwd_bit_identical')} |")
    for r in [r for r in res["check"] if "trade" in r]:
        md.append(f"\nThe fp16-exponential trade (emulated, {r['dtype']} inputs, batch 2, D 64, L 3001, N 16): "
                  f"Ā from ex2.approx.f16x2 puts the forward at {r['frac_tol_fp32']:.3g} of the fp32 tolerance, "
                  f"{r['frac_tol_bf16']:.3g} of the bf16 one (max error / max |out| = {r['max_err_over_max_out']:.3g}).")
json.dump(res, open(os.path.join(args.out, "vs_official.json"), "w"), indent=1)
open(os.path.join(args.out, "vs_official.csv"), "w").write("\n".join(csv) + "\n")
open(os.path.join(args.out, "vs_official.md"), "w").write("\n".join(md) + "\n")
say("\n".join(md))
