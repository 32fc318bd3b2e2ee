#!/usr/bin/env python3
"""Writes the small data set of examples/data/ (committed; rerun to regenerate it exactly).

A regression problem on the unit sphere S² ⊂ R³: inputs x uniform on the sphere (numpy's
PCG64 generator, seed 2026), targets y = sin(3 x₀) + x₁ x₂. 40 training and 12 test points,
float64, C order:  sphere-train-x.npy (40×3), sphere-train-y.npy (40,),
sphere-test-x.npy (12×3), sphere-test-y.npy (12,) — the last to score a posterior mean.
"""
import os

import numpy as np

rng = np.random.default_rng(2026)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data")


def sphere(n):
    x = rng.standard_normal((n, 3))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def target(x):
    return np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2]


for name, n in (("train", 40), ("test", 12)):
    x = sphere(n)
    np.save(os.path.join(here, f"sphere-{name}-x.npy"), np.ascontiguousarray(x, dtype=np.float64))
    np.save(os.path.join(here, f"sphere-{name}-y.npy"), target(x).astype(np.float64))
