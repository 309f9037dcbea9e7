"""Throughput of the vectorized physics: architecture points per second, memory/layout
candidates per second. Reports rates, not pass/fail; run with ``make bench``."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import simsim
from simsim.engine import _candidates, choose_layout, memory_per_gpu, stage_params
from simsim.performance import Layout, Workload, machine, step_time
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


def _grid(sc: simsim.Scenario) -> Layout:
    c = _candidates(sc)
    n = sc.cluster.n_gpus
    mp = c["tp"] * c["pp"] * c["cp"]
    keep = (n % mp == 0) & ((n // c["pp"]) % c["ep"] == 0)
    c = {k: v[keep] for k, v in c.items()}
    dp = n // (c["tp"] * c["pp"] * c["cp"])
    return Layout(
        tp=c["tp"],
        pp=c["pp"],
        cp=c["cp"],
        ep=c["ep"],
        dp=dp,
        zero_stage=c["zero_stage"],
        micro_batch=c["micro_batch"],
        schedule=c["schedule"],
        v=np.ones_like(dp),
        m=np.maximum(15360 // (dp * c["micro_batch"]), 1),
        max_nodes=4.0,
    )


def _step_rate(sc: simsim.Scenario, arch, lay: Layout) -> float:
    sp = stage_params(arch, lay.tp, lay.pp, lay.ep)
    mc = machine(sc)
    wl = Workload(arch, 4096, "fp8", "selective", 2048)
    return rate(lambda: step_time(wl, mc, lay, sp), len(lay.tp))


def _sweep_benchmark() -> None:
    """A 1,000,000-point fixed-mode sweep (tokens x PUE x MFU): points/s and peak memory."""
    import resource

    cfg = simsim.compose(["model=llama3_70b", "hardware=h100_sxm", "efficiency.mode=fixed"])
    axes = {
        "training.tokens": list(np.linspace(1e12, 20e12, 1000)),
        "cluster.pue": list(np.linspace(1.05, 1.5, 10)),
        "efficiency.mfu": list(np.linspace(0.2, 0.6, 100)),
    }
    simsim.sweep(cfg, {k: v[:2] for k, v in axes.items()})  # warm-up (imports, caches)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dt = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        df = simsim.sweep(cfg, axes)
        dt = min(dt, time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sweep, fixed mode: {len(df):,} points in {dt:.2f} s = {len(df) / dt:,.0f} points/s; "
          f"peak RSS {peak:.0f} MB (was {before:.0f} MB before the sweep)")  # fmt: skip
    # issue 12: the P10/P50/P90 columns must cost little (<= 3x the sweep without them)
    from simsim.sweeps import _interval_columns

    outputs = {c: df[c].to_numpy() for c in df.columns if f"{c}_p50" in df.columns}
    flags = np.zeros(len(df), dtype=bool)
    t0 = time.perf_counter()
    cols = _interval_columns(outputs, flags, flags)
    t_iv = time.perf_counter() - t0
    print(f"  its {len(cols)} interval columns: {t_iv:.2f} s of it; the sweep without them would "
          f"take {dt - t_iv:.2f} s: ratio {dt / (dt - t_iv):.2f} (target <= 3)")  # fmt: skip
    for mode in ("derived",):
        dcfg = simsim.compose(["model=llama3_70b", "hardware=h100_sxm", f"efficiency.mode={mode}"])
        small = {
            "cluster.n_gpus": [256, 512, 1024, 2048],
            "training.tokens": axes["training.tokens"],
        }
        t0 = time.perf_counter()
        n = len(simsim.sweep(dcfg, small))
        dt = time.perf_counter() - t0
        print(f"sweep, {mode} mode: {n:,} points (4 layout searches) in {dt:.2f} s")


def main() -> None:
    base = arch_from_model(simsim.resolve(simsim.compose(["model=deepseek_v3"])).model)
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
            base,
            precision="fp8",
            recompute="selective",
            schedule="1f1b",
            seq_len=4096,
            n_gpus=2048,
            tp=tp,
            pp=pp,
            cp=1,
            ep=ep,
            zero_stage=1,
            micro_batch=1,
            n_microbatches=32,
        ),
        n,
    )
    print(f"memory_per_gpu:        {r3:,.0f} layouts/s")

    # the full derived-mode layout search for DeepSeek-V3 on 2048 H800 (every field searched)
    sc = simsim.resolve(
        simsim.compose(
            ["model=deepseek_v3", "training.precision=fp8", "efficiency.mode=derived",
             "training.global_batch_tokens=62914560"]
        )
    )  # fmt: skip
    arch = arch_from_model(sc.model)
    choose_layout(sc, arch)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        choice = choose_layout(sc, arch)
        best = min(best, time.perf_counter() - t0)
    print(
        f"layout search, DeepSeek-V3 on 2048 H800: {choice.n_candidates:,} layouts in "
        f"{best * 1e3:.1f} ms = {choice.n_candidates / best:,.0f} layouts/s "
        f"(feasible: {choice.n_candidates - sum(choice.rejected.values()):,})"
    )
    g = _grid(sc)
    big = Layout(
        **{
            f: np.repeat(getattr(g, f), 100)
            for f in (
                "tp",
                "pp",
                "cp",
                "ep",
                "dp",
                "zero_stage",
                "micro_batch",
                "schedule",
                "v",
                "m",
            )
        },
        max_nodes=4.0,
    )
    _sweep_benchmark()
    print(f"step_time, vectorized:  {_step_rate(sc, arch, big):,.0f} layouts/s")


if __name__ == "__main__":
    main()
