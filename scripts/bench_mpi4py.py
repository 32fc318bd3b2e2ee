#!/usr/bin/env python3
"""mpi4py + numpy baseline for BENCHMARKS.md (issue 3's grid): the campaign a
researcher would write by hand, timed the same way as `signalprop sweep` under mpirun.

Usage:  mpirun -n P python3 scripts/bench_mpi4py.py [--out layers.csv] [--seed 1]
        (as root add --allow-run-as-root, or export OMPI_ALLOW_RUN_AS_ROOT=1
         OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; needs `pip install mpi4py`)

Campaign, the engine's benchmark grid: 84 points = sigma_w in {0.5, 1, 1.5, 2, 2.5,
3, 4} x sigma_b in {0, 0.05, 0.3, 1} x phi in {tanh, relu, erf}; dense Gaussian
networks of width N = 512 and depth L = 30, 8 networks per point, float64; B = 4
inputs built like the engine's `gram` inputs, x_a = sqrt(N q0) (sqrt(c0) e_0 +
sqrt(1 - c0) e_{a+1}) with q0 = 1, c0 = 0.5 (|x_a|^2/N = 1, pairwise correlation 0.5).
Per network and layer: W ~ N(0, sigma_w^2/N) drawn fresh (N x N), b ~ N(0, sigma_b^2),
H = W X + b, record q = mean over inputs of |h_a|^2/N and c = mean over pairs of
h_a.h_b / (|h_a| |h_b|), then X = phi(H). Per point: mean and standard error
(sample std / sqrt(8)) over the 8 networks, per layer.

Parallelism as a researcher would do it: every rank builds the grid, takes the
points `points[rank::size]` (static round-robin), computes them, and the results are
`comm.gather`ed to rank 0, which writes the CSV (--out, the engine's layers.csv
columns without `theory`) and prints one JSON line:
  {"ranks", "points", "networks", "seconds", "networks_per_s", "rank_seconds", ...}
seconds: on rank 0, from a barrier before the first point to the last result
gathered (so at least the slowest rank's compute time; rank_seconds lists each
rank's own compute time). Imports, MPI start-up and the CSV are not counted.

One BLAS/OpenMP thread per rank (set before numpy is imported). Every network has
its own stream, np.random.default_rng([seed, point, sample]), so the results do not
depend on the number of ranks (they differ from the engine's, which uses Philox).
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

try:
    from mpi4py import MPI  # noqa: E402
except ImportError:
    sys.exit("bench_mpi4py.py needs mpi4py: pip install mpi4py "
             "(a wheel that loads the system OpenMPI, or a build against it with libopenmpi-dev)")

try:
    from scipy.special import erf
except ImportError:  # slower, same values
    erf = np.vectorize(math.erf, otypes=[float])

try:  # optional: also pin thread pools that ignore the environment
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
except ImportError:
    pass

SIGMA_W = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
SIGMA_B = [0.0, 0.05, 0.3, 1.0]
ACTIVATIONS = {"tanh": np.tanh, "relu": lambda h: np.maximum(h, 0.0), "erf": erf}
WIDTH, DEPTH, SAMPLES, BATCH, Q0, C0 = 512, 30, 8, 4, 1.0, 0.5


def grid():
    """The 84 points, in the engine's order (the first axis varies fastest)."""
    return [(sw, sb, act) for act in ACTIVATIONS for sb in SIGMA_B for sw in SIGMA_W]


def inputs(n=WIDTH, count=BATCH, q0=Q0, c0=C0):
    """N x B, column a = sqrt(N q0) (sqrt(c0) e_0 + sqrt(1 - c0) e_{a+1})."""
    x = np.zeros((n, count))
    x[0, :] = math.sqrt(n * q0 * c0)
    for a in range(count):
        x[a + 1, a] = math.sqrt(n * q0 * (1 - c0))
    return x


def network(rng, x0, sigma_w, sigma_b, phi, depth=DEPTH):
    """One network: q and c per layer (arrays of length depth)."""
    n, bsz = x0.shape
    q, c = np.empty(depth), np.empty(depth)
    upper = np.triu_indices(bsz, 1)
    scale = sigma_w / math.sqrt(n)
    x = x0
    for layer in range(depth):
        h = (rng.standard_normal((n, n)) * scale) @ x
        if sigma_b > 0:
            h += (rng.standard_normal(n) * sigma_b)[:, None]
        g = h.T @ h / n
        d = np.diag(g)
        q[layer] = d.mean()
        c[layer] = (g / np.sqrt(np.outer(d, d)))[upper].mean()
        x = phi(h)
    return q, c


def point(seed, index, sigma_w, sigma_b, activation, x0):
    """Mean and standard error over SAMPLES networks, per layer."""
    qs, cs = np.empty((SAMPLES, DEPTH)), np.empty((SAMPLES, DEPTH))
    for s in range(SAMPLES):
        rng = np.random.default_rng([seed, index, s])
        qs[s], cs[s] = network(rng, x0, sigma_w, sigma_b, ACTIVATIONS[activation])
    se = lambda v: v.std(axis=0, ddof=1) / math.sqrt(SAMPLES)  # noqa: E731
    return qs.mean(axis=0), se(qs), cs.mean(axis=0), se(cs)


def write_csv(path, points, results):
    with open(path + ".tmp", "w") as f:
        f.write("point,width,depth,sigma_w,sigma_b,activation,init,architecture,layer,observable,mean,stderr,n\n")
        for i, (sw, sb, act) in enumerate(points):
            qm, qse, cm, cse = results[i]
            for layer in range(DEPTH):
                for name, m, se in (("q", qm, qse), ("c", cm, cse)):
                    f.write(f"{i},{WIDTH},{DEPTH},{sw!r},{sb!r},{act},gaussian,feedforward,{layer + 1},{name},"
                            f"{float(m[layer])!r},{float(se[layer])!r},{SAMPLES}\n")
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write per-layer mean/stderr of q and c to this CSV")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    points = grid()
    x0 = inputs()

    comm.Barrier()
    t0 = MPI.Wtime()
    mine = {i: point(args.seed, i, *points[i], x0) for i in range(rank, len(points), size)}
    elapsed = MPI.Wtime() - t0
    gathered = comm.gather((mine, elapsed), root=0)
    if rank != 0:
        return
    seconds = MPI.Wtime() - t0

    results = {}
    for part, _ in gathered:
        results.update(part)
    assert len(results) == len(points)
    if args.out:
        write_csv(args.out, points, results)
    networks = len(points) * SAMPLES
    print(json.dumps({
        "ranks": size, "points": len(points), "networks": networks,
        "width": WIDTH, "depth": DEPTH, "batch": BATCH,
        "seconds": seconds, "networks_per_s": networks / seconds,
        "rank_seconds": [t for _, t in gathered],
        "numpy": np.__version__, "mpi": MPI.Get_library_version().rstrip("\x00").splitlines()[0].strip(),
    }), flush=True)


if __name__ == "__main__":
    main()
