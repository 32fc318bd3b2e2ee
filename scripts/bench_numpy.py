#!/usr/bin/env python3
"""numpy baseline for BENCHMARKS.md: the Swift engine is measured against these
numbers, taken on the same machine in the same run.

Usage:  python3 scripts/bench_numpy.py [--json]
        python3 scripts/bench_numpy.py --workload w1|w3|wide|conv   (one JSON line: seconds)

Single-threaded (OPENBLAS/OMP/MKL_NUM_THREADS=1 set before numpy is imported,
and threadpoolctl if installed). Measures:
  normals_per_s                float64 standard normals per second,
                               np.random.default_rng(1).standard_normal(2**22);
                               median of 9 repeats.
  dgemm_gflops                 float64 1024x1024 @ 1024x1024 (2 N^3 flops);
                               median of 7 repeats.
  forward_seconds_per_network  the dense forward workload: N=1024, L=50, B=8,
                               tanh, sigma_w=1.5, sigma_b=0.3, float64. Per layer
                               W = N(0, sigma_w^2/N) (N x N, drawn fresh),
                               b = N(0, sigma_b^2), H = W X + b, X = tanh(H);
                               records q (mean of H^2 over rows, per input) and
                               the B x B Gram H^T H / N. Inputs have |x|^2/N = 1.
                               Median over 7 networks (after one warm-up).
  jacobian_*_seconds_per_network  the Jacobian workload: tanh N=512, L=64,
                               sigma_w=1, sigma_b=0.05, B=4, Gaussian and orthogonal
                               (QR of a Gaussian matrix, signs fixed), J <- D W J with
                               RMS renormalisation, SVD at the last layer; median of 4.
  --workload w1, w3, wide      the campaign workloads of BENCHMARKS.md (issue 10), each
                               timed once: see workload_w1, workload_w3, workload_wide.
  --workload conv              one implicit conv net of examples/bench-conv.toml (issue 12):
                               see workload_conv.
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:  # optional: also pin pools that ignore the environment
    from threadpoolctl import threadpool_limits, threadpool_info
    threadpool_limits(1)
except ImportError:
    threadpool_info = None


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), float(np.min(ts))


def bench_normals(repeats=9):
    n = 1 << 22
    rng = np.random.default_rng(1)
    t, tmin = median_time(lambda: rng.standard_normal(n), repeats)
    return n / t, n / tmin


def bench_dgemm(n=1024, repeats=7):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = np.empty((n, n))
    t, tmin = median_time(lambda: np.matmul(a, b, out=c), repeats)
    return 2 * n**3 / t / 1e9, 2 * n**3 / tmin / 1e9


def forward_network(rng, x0, L=50, sigma_w=1.5, sigma_b=0.3):
    """One network: returns q (L x B) and the Gram matrices (L x B x B)."""
    n, bsz = x0.shape
    q = np.empty((L, bsz))
    gram = np.empty((L, bsz, bsz))
    x = x0
    scale = sigma_w / np.sqrt(n)
    for l in range(L):
        w = rng.standard_normal((n, n)) * scale
        b = rng.standard_normal(n) * sigma_b
        h = w @ x + b[:, None]
        q[l] = np.mean(h * h, axis=0)
        gram[l] = h.T @ h / n
        x = np.tanh(h)
    return q, gram


def bench_forward(n=1024, L=50, bsz=8, networks=7):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((n, bsz))
    x0 *= np.sqrt(n) / np.linalg.norm(x0, axis=0)  # |x|^2/N = 1
    t, tmin = median_time(lambda: forward_network(rng, x0, L), networks)
    q, _ = forward_network(rng, x0, L)
    return t, tmin, float(q[-1].mean())


def jacobian_network(rng, x0, L=64, sigma_w=1.0, sigma_b=0.05, orthogonal=False):
    """The issue-4 Jacobian workload, as a researcher writes it in numpy: per layer
    W (Gaussian, or sigma_w * Haar via QR with the sign fix), h = W x + b, the Jacobian
    J <- D W J with D = diag tanh'(h) at the first input, renormalised by its RMS norm
    (log carried), and the squared singular values of J at the last layer."""
    n, _ = x0.shape
    x, J, log_scale = x0, np.eye(n), 0.0
    for _ in range(L):
        g = rng.standard_normal((n, n))
        if orthogonal:
            q, r = np.linalg.qr(g)
            w = sigma_w * q * np.sign(np.diag(r))
        else:
            w = g * (sigma_w / np.sqrt(n))
        h = w @ x + (rng.standard_normal(n) * sigma_b)[:, None]
        d = 1 - np.tanh(h[:, 0]) ** 2
        J = d[:, None] * (w @ J)
        rms = np.linalg.norm(J) / np.sqrt(n)
        J /= rms
        log_scale += np.log(rms)
        x = np.tanh(h)
    s = np.linalg.svd(J, compute_uv=False)
    return np.log(s**2) + 2 * log_scale


def bench_jacobian(n=512, L=64, bsz=4, networks=4):
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal((n, bsz))
    x0 *= np.sqrt(n) / np.linalg.norm(x0, axis=0)
    out = {}
    for name, orth in (("gaussian", False), ("orthogonal", True)):
        t, _ = median_time(lambda: jacobian_network(rng, x0, L, orthogonal=orth), networks, warmup=0)
        out[name] = t
    return out


def gram_inputs(n, count, q0=1.0, c0=0.5):
    """The engine's `gram` inputs: column a = sqrt(N q0) (sqrt(c0) e_0 + sqrt(1 - c0) e_{a+1})."""
    x = np.zeros((max(n, count + 1), count))
    x[0, :] = np.sqrt(n * q0 * c0)
    for a in range(count):
        x[a + 1, a] = np.sqrt(n * q0 * (1 - c0))
    return x[:n]


def record(h):
    """q per input, mean pairwise c and the Gram h^T h / N, as the engine records them."""
    n, bsz = h.shape
    g = h.T @ h / n
    d = np.diag(g)
    c = (g / np.sqrt(np.outer(d, d)))[np.triu_indices(bsz, 1)].mean()
    return d, c, g


def dense_network(rng, x0, depth, sigma_w, sigma_b, phi):
    n = x0.shape[0]
    x, scale, out = x0, sigma_w / np.sqrt(n), []
    for _ in range(depth):
        h = (rng.standard_normal((n, n)) * scale) @ x
        if sigma_b > 0:
            h += (rng.standard_normal(n) * sigma_b)[:, None]
        out.append(record(h))
        x = phi(h)
    return out


def workload_w1():
    """W1 (examples/bench-w1.toml): 64 dense tanh networks, N = 256, L = 50, B = 8 Gram
    inputs (q0 = 1, c0 = 0.5), sigma_w = 1.5, sigma_b = 0.3; q, c and the Gram per layer."""
    x0 = gram_inputs(256, 8)
    for s in range(64):
        dense_network(np.random.default_rng([1, s]), x0, 50, 1.5, 0.3, np.tanh)


def workload_w3():
    """W3 (examples/bench-grid.toml): 84 points (sigma_w x sigma_b x phi in tanh, relu, erf),
    8 dense networks each, N = 512, L = 30, B = 4 Gram inputs; q and c per layer."""
    try:
        from scipy.special import erf
    except ImportError:
        import math
        erf = np.vectorize(math.erf, otypes=[float])
    acts = {"tanh": np.tanh, "relu": lambda h: np.maximum(h, 0.0), "erf": erf}
    x0 = gram_inputs(512, 4)
    i = 0
    for phi in acts.values():
        for sb in (0.0, 0.05, 0.3, 1.0):
            for sw in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
                for s in range(8):
                    dense_network(np.random.default_rng([1, i, s]), x0, 30, sw, sb, phi)
                i += 1


def workload_wide(n=1_000_000, depth=100, bsz=8, sigma_w=1.5, sigma_b=0.3):
    """One tanh network of width 10^6, depth 100, B = 8 Gram inputs, drawn from the exact law
    of W X without forming W: the rows of W X are iid N(0, sigma_w^2/N X^T X), so
    W X = (sigma_w/sqrt N) Z R with Z an N x B standard normal matrix and R from the QR of X
    (the engine's implicit backend); q, c and the Gram per layer."""
    rng = np.random.default_rng(5)
    x = gram_inputs(n, bsz)
    for _ in range(depth):
        r = np.linalg.qr(x, mode="r")
        h = (rng.standard_normal((n, bsz)) @ r) * (sigma_w / np.sqrt(n))
        h += (rng.standard_normal(n) * sigma_b)[:, None]
        record(h)
        x = np.tanh(h)


def workload_conv(channels=20_000, depth=10, positions=16, c0=16, bsz=4, k=3, sigma_w=1.5, sigma_b=0.3):
    """One tanh conv net (1-D, circular, kernel 3) of 2*10^4 channels and depth 10 on B = 4
    Gaussian signals of 16 channels at 16 positions, drawn from the exact law of a layer
    without forming its kernel: given x the output channels are iid Gaussian over the
    n = P*B (position, input) pairs with covariance sigma_w^2/(C_in k) sum_t X_t^T X_t, so
    H = (sigma_w/sqrt(C_in k)) Z R, R from the QR of the taps' stacked shifted copies of x
    (the engine's implicit conv layer); a bias per channel, q, c and the Gram per layer."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((bsz, positions, c0))
    x /= np.sqrt((x ** 2).mean(axis=(1, 2), keepdims=True))
    half = (k - 1) // 2
    for _ in range(depth):
        c_in = x.shape[2]
        # tap t reads position p + t (circular): roll by -t along positions
        stacked = np.concatenate([np.roll(x, -t, axis=1) for t in range(-half, half + 1)], axis=2)
        r = np.linalg.qr(stacked.reshape(bsz * positions, k * c_in).T, mode="r")
        h = (rng.standard_normal((channels, r.shape[0])) @ r) * (sigma_w / np.sqrt(c_in * k))
        h += (rng.standard_normal(channels) * sigma_b)[:, None]
        h = h.reshape(channels, bsz, positions).transpose(1, 2, 0)      # (B, P, C)
        record(h.reshape(bsz, positions * channels).T)
        x = np.tanh(h)


WORKLOADS = {"w1": workload_w1, "w3": workload_w3, "wide": workload_wide, "conv": workload_conv}


def blas_info():
    if threadpool_info is not None:
        return [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for d in threadpool_info()]
    try:
        cfg = np.show_config(mode="dicts")
        bl = cfg.get("Build Dependencies", {}).get("blas", {})
        return {k: bl.get(k) for k in ("name", "version")}
    except Exception:
        return None


def main():
    if "--workload" in sys.argv:
        name = sys.argv[sys.argv.index("--workload") + 1]
        start = time.perf_counter()
        WORKLOADS[name]()
        print(json.dumps({"workload": name, "seconds": time.perf_counter() - start}))
        return
    normals, normals_best = bench_normals()
    gflops, gflops_best = bench_dgemm()
    fwd, fwd_best, q_last = bench_forward()
    jac = bench_jacobian()
    res = {
        "jacobian_gaussian_seconds_per_network": jac["gaussian"],
        "jacobian_orthogonal_seconds_per_network": jac["orthogonal"],
        "normals_per_s": normals,
        "dgemm_gflops": gflops,
        "forward_seconds_per_network": fwd,
        "best": {"normals_per_s": normals_best, "dgemm_gflops": gflops_best,
                 "forward_seconds_per_network": fwd_best},
        "forward_workload": {"N": 1024, "L": 50, "B": 8, "activation": "tanh",
                             "sigma_w": 1.5, "sigma_b": 0.3, "dtype": "float64",
                             "q_last_layer": q_last},
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "machine": platform.machine(),
        "blas": blas_info(),
        "threads": 1,
    }
    if "--json" in sys.argv[1:]:
        print(json.dumps(res, indent=2))
        return
    print(f"numpy {res['numpy_version']}, python {res['python_version']}, 1 thread, blas: {res['blas']}")
    print(f"{'measure':<30}{'median':>14}{'best':>14}")
    print(f"{'normals_per_s':<30}{normals:>14.4g}{normals_best:>14.4g}")
    print(f"{'dgemm_gflops (1024^3, f64)':<30}{gflops:>14.2f}{gflops_best:>14.2f}")
    print(f"{'forward_s/network (N1024 L50 B8)':<30}{fwd:>14.4f}{fwd_best:>14.4f}")
    for k in ("gaussian", "orthogonal"):
        print(f"{'jacobian_s/network ' + k:<30}{jac[k]:>14.4f}")
    print(f"(forward: q at the last layer = {q_last:.4f}; mean-field q* = 0.961 for tanh, sigma_w=1.5, sigma_b=0.3)")


if __name__ == "__main__":
    main()
