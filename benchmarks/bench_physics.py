"""Throughput of the vectorized physics: architecture points per second, memory/layout
candidates per second. Reports rates, not pass/fail; run with ``make bench``."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import simsim
from simsim.engine import memory_per_gpu
from simsim.physics import architecture as A
from simsim.scenario import arch_from_model


def rate(fn, n_points: int, repeat: int = 5) -> float:
    fn()  # warm-up
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_points / best


def main() -> None:
    base = arch_from_model(simsim.resolve(simsim.compose(["model=deepseek_v3"]))["model"])
    n = 1_000_000
    rng = np.random.default_rng(0)
    grid = dataclasses.replace(
        base,
        d_model=rng.integers(1, 64, n) * 128,
        n_layers=rng.integers(8, 128, n),
        top_k=rng.integers(1, 9, n),
    )
    seq = rng.choice([2048, 4096, 8192, 32768], n)
    r1 = rate(lambda: A.train_flops_per_token(grid, seq), n)
    print(f"train_flops_per_token: {r1:,.0f} model points/s ({n:,} points per call)")
    r2 = rate(lambda: A.param_counts(grid), n)
    print(f"param_counts:          {r2:,.0f} model points/s")
    tp = rng.choice([1, 2, 4, 8], n)
    pp = rng.choice([1, 2, 4, 8, 16], n)
    ep = rng.choice([1, 8, 64, 256], n)
    r3 = rate(
        lambda: memory_per_gpu(
            base, "fp8", "selective", "1f1b", 4096, 2048, tp, pp, 1, ep, 1, 1, 32
        ),
        n,
    )
    print(f"memory_per_gpu:        {r3:,.0f} layouts/s")


if __name__ == "__main__":
    main()
