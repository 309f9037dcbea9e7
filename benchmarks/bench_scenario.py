"""Speed of the scenario layer and of whole scenarios (issue 13's targets), as times and rates.

    python benchmarks/bench_scenario.py            # or: make bench

Each figure is the best of several repeats on this machine (one process, one core). Start-up
figures (import, CLI) are wall-clock times of fresh interpreters. Reports, never asserts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
from bench_physics import rate

import simsim
from simsim.scenario import compose_dict


def best_of(fn: Callable[[], object], repeat: int = 20) -> float:
    """Best time of ``repeat`` calls after a warm-up [s]."""
    return 1.0 / rate(fn, 1, repeat)


def wall(cmd: list[str], repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return float(best)


def main() -> None:
    py = sys.executable
    t_import = wall([py, "-c", "import simsim"])
    print(f"import simsim:                          {t_import:6.2f} s   (target <= 0.5 s)")
    with tempfile.TemporaryDirectory() as tmp:
        t_help = wall([py, "-m", "simsim", "--help"])
        t_cli = wall([py, "-m", "simsim", f"output.dir={tmp}"], repeat=2)
    print(f"simsim --help:                          {t_help:6.2f} s   (target <= 1.5 s)")
    print(f"simsim (default run, table + plots):    {t_cli:6.2f} s   (target <= 1.5 s)")

    ov = ["experiment=deepseek_v3", "cluster.n_gpus=4096"]
    t = best_of(lambda: simsim.compose(ov))
    print(f"compose (after the first call):         {t * 1e3:6.1f} ms  (target <= 50 ms)")
    t = best_of(lambda: compose_dict(ov))
    print(f"compose_dict (no OmegaConf object):     {t * 1e3:6.1f} ms")
    cfg = simsim.compose(["experiment=deepseek_v3"])
    whole = simsim.resolve(cfg)
    t = best_of(lambda: simsim.resolve(cfg))
    print(f"resolve(DictConfig) -> Scenario:        {t * 1e3:6.2f} ms")
    t = best_of(lambda: simsim.simulate(whole), repeat=5)
    print(f"simulate, DeepSeek-V3 whole bill:       {t * 1e3:6.2f} ms  (ramp-up slices, two "
          "long-context stages: 7 layout searches)")  # fmt: skip
    # the pre-training stage alone (the layout-search target)
    sc = whole.replace(**{"training.stages": [], "training.batch_ramp": None})
    fixed = simsim.resolve(
        compose_dict(
            ["model=llama3_70b", "hardware=h100_sxm", "parallel.tp=8", "parallel.pp=4",
             "parallel.cp=1", "parallel.zero_stage=1", "parallel.micro_batch=1",
             "parallel.schedule=1f1b", "parallel.virtual_stages=1"]
        )
    )  # fmt: skip
    t = best_of(lambda: simsim.simulate(fixed))
    print(f"simulate(Scenario), given layout:       {t * 1e3:6.2f} ms  (target <= 2 ms; with "
          "the 1,000 input-uncertainty draws)")  # fmt: skip
    bare = fixed.replace(**{"uncertainty.samples": 0})
    t = best_of(lambda: simsim.simulate(bare))
    print(f"  the same, uncertainty.samples=0:      {t * 1e3:6.2f} ms")
    t = best_of(lambda: simsim.simulate(sc))
    print(f"simulate(Scenario), DeepSeek-V3 own:    {t * 1e3:6.2f} ms")
    searched = sc.replace(
        **{f"parallel.{k}": None for k in ("tp", "pp", "ep", "cp", "zero_stage", "schedule")}
    )
    t = best_of(lambda: simsim.simulate(searched), repeat=10)
    print(f"simulate, DeepSeek-V3 full search 2048: {t * 1e3:6.2f} ms  (target <= 10 ms)")

    # issue 13's structural sweep: 10 chips x 100 GPU counts x 4 models, layout searched per point
    base = simsim.resolve(
        compose_dict(["model=llama3_70b", "hardware=h100_sxm",
                      "training.global_batch_tokens=16777216"])
    )  # fmt: skip
    chips = ["h100_sxm", "h800_sxm", "h20", "h200", "b200", "a100_80gb", "a800_80gb",
             "ascend_910b", "ascend_910c", "mi300x"]  # fmt: skip
    models = ["llama3_8b", "llama3_70b", "llama3_405b", "mixtral_8x7b"]
    axes = {"model": models, "hardware": chips, "cluster.n_gpus": [64 * i for i in range(1, 101)]}
    simsim.sweep(base, {"model": models, "hardware": chips, "cluster.n_gpus": [64]})  # warm-up
    n = 10 * 100 * 4
    dt = best_of(lambda: simsim.sweep(base, axes), repeat=3)
    print(f"structural sweep, derived (searched):   {n / dt:6.0f} scenarios/s "
          f"({n:,} points: 10 chips x 100 GPU counts x 4 models; target >= 2,000)")  # fmt: skip
    fixed_mode = fixed.replace(**{"efficiency.mode": "fixed"})
    grid = {"cluster.n_gpus": list(range(32, 32 * 2001, 32))}
    simsim.sweep(fixed_mode, {"cluster.n_gpus": [32]})
    n = len(grid["cluster.n_gpus"])
    dt = best_of(lambda: simsim.sweep(fixed_mode, grid), repeat=5)
    print(f"structural sweep, fixed layout:         {n / dt:6.0f} scenarios/s "
          f"({n:,} GPU counts; target >= 10,000)")  # fmt: skip
    t0 = time.perf_counter()
    simsim.validate()
    print(f"simsim.validate() (all runs, derived):  {time.perf_counter() - t0:6.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t_validate = wall([py, "-m", "simsim.validation_report", "--out", tmp], repeat=2)
    print(f"simsim-validate (tables, parity plot):  {t_validate:6.2f} s   (target <= 3 s)")
    from simsim import frontier

    t0 = time.perf_counter()
    df = frontier.frontier()
    n = df[df["unit"] == "usd"]["budget"].nunique()
    print(
        f"frontier ({n:,} budgets x 6 chips):     {time.perf_counter() - t0:6.2f} s   "
        "(target < 10 s; the designs simulated once per chip and fleet)"
    )


if __name__ == "__main__":
    main()
