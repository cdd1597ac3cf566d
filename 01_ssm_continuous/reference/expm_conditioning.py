"""01_ssm_continuous/reference/expm_conditioning.py — when stage 01's tolerances for e^{At}
(rtol 1e-10, atol 1e-12, elementwise) stop holding for ANY float64 implementation.

For N = 4 matrices A = Q T Q^T (Q random orthogonal), T = diag(-1, -s^(1/3), -s^(2/3), -s)
plus beta times a random strictly upper triangular part (beta = 0: normal; large beta:
far from normal), t = 1, this prints
  ||At||_1, kappa_exp (the relative condition number of e^X at X = At, Frobenius norm,
  from the Kronecker form of its Frechet derivative), and for two float64
  implementations — NumPy-only scaling and squaring of a Taylor series, and stage 01's
  expm through its own --check — the worst elementwise error measured against an
  80-digit reference (Python's decimal), in units of the tolerance atol + rtol |ref|
  (<= 1 passes).
Usage: python3 01_ssm_continuous/reference/expm_conditioning.py [PROGRAM]
(PROGRAM defaults to 01_ssm_continuous/build/ssm_continuous; run from the repository root.)"""
import decimal
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

RTOL, ATOL = 1e-10, 1e-12


def expm(X, dtype=np.float64):
    """Scaling and squaring of a 30-term Taylor series, in dtype."""
    X = X.astype(dtype)
    s = max(0, int(np.ceil(np.log2(max(float(np.abs(X).sum(axis=0).max()), 1e-300)))) + 1)
    Y, E, T = X / dtype(2.0) ** s, np.eye(len(X), dtype=dtype), np.eye(len(X), dtype=dtype)
    for k in range(1, 30):
        T = T @ Y / dtype(k)
        E = E + T
    for _ in range(s):
        E = E @ E
    return E


def expm_exact(X, digits=80):
    """e^X to ~digits significant digits (relative to its norm): the same algorithm in
    decimal arithmetic, with 60 Taylor terms after scaling to norm <= 1/2."""
    decimal.getcontext().prec = digits
    D = decimal.Decimal
    n = len(X)
    M = [[D(float(X[i][j])) for j in range(n)] for i in range(n)]   # the float64 inputs, exactly
    s = max(0, int(np.ceil(np.log2(max(float(np.abs(X).sum(axis=0).max()), 1e-300)))) + 2)
    M = [[x / (D(2) ** s) for x in row] for row in M]
    mul = lambda P, R: [[sum(P[i][k] * R[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    E = [[D(int(i == j)) for j in range(n)] for i in range(n)]
    T = [row[:] for row in E]
    for k in range(1, 60):
        T = [[x / k for x in row] for row in mul(T, M)]
        E = [[E[i][j] + T[i][j] for j in range(n)] for i in range(n)]
    for _ in range(s):
        E = mul(E, E)
    return np.array([[float(x) for x in row] for row in E])


def kappa_exp(X):
    """||L(X)|| ||X|| / ||e^X|| (Frobenius), L the Frechet derivative of exp at X."""
    n = len(X)
    K = np.zeros((n * n, n * n))
    for i in range(n * n):
        E = np.zeros(n * n)
        E[i] = 1
        big = np.block([[X, E.reshape(n, n)], [np.zeros((n, n)), X]])
        K[:, i] = expm(big)[:n, n:].ravel()
    return np.linalg.norm(K, 2) * np.linalg.norm(X) / np.linalg.norm(expm(X))


def units(got, ref):
    return float(np.max(np.abs(got - ref) / (ATOL + RTOL * np.abs(ref))))


def ours(prog, A, ref, work):
    """Stage 01's expm, graded against ref by its own --check: PASS/FAIL and max abs error."""
    d = os.path.join(work, "set")
    os.makedirs(d, exist_ok=True)
    for name, val in (("A", A), ("t", np.array([1.0])), ("eAt", ref)):
        np.save(os.path.join(d, name + ".npy"), val)
    json.dump({"stage": "01_ssm_continuous", "tensors": [
        {"name": "A"}, {"name": "t"}, {"name": "eAt", "role": "output"}]}, open(os.path.join(d, "manifest.json"), "w"))
    out = subprocess.run([prog, "--check", d], capture_output=True, text=True).stdout
    m = re.search(r"eAt\s+max abs err (\S+)", out)
    return ("PASS" if "PASS eAt" in out else "FAIL") + " (max abs err " + (m.group(1) if m else "?") + ")"


def main():
    prog = sys.argv[1] if len(sys.argv) > 1 else "01_ssm_continuous/build/ssm_continuous"
    rng = np.random.default_rng(11)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    U = np.triu(rng.standard_normal((4, 4)), 1)
    work = tempfile.mkdtemp()
    print(f"{'s':>7} {'beta':>7} {'||At||_1':>10} {'kappa_exp':>10} {'numpy f64 (units)':>18}  stage 01")
    for s in (1.0, 1e2, 1e4):
        for beta in (0.0, 10.0, 1e2, 1e3, 1e4):
            T = np.diag(-np.array([1, s ** (1 / 3), s ** (2 / 3), s])) + beta * U
            A = Q @ T @ Q.T
            ref = expm_exact(A)
            print(f"{s:7.0e} {beta:7.0e} {np.abs(A).sum(axis=0).max():10.2e} {kappa_exp(A):10.2e} "
                  f"{units(expm(A), ref):18.2e}  {ours(prog, A, ref, work)}")


if __name__ == "__main__":
    main()
