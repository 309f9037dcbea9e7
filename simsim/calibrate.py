"""``simsim-calibrate``: fit the derived model's constants on the reference set.

The derived step-time model has one constant per software stack that no datasheet or paper
gives: ``software.kernel_efficiency``, the fraction of best-case kernel speed (the shape-aware
MAMF rate for GEMMs, the stack's fused-attention rate) the stack reaches end to end. It is
fitted here, by grid search minimising the median absolute log error, on every steady-state
published figure (MFU, TFLOP/s, tokens/s, step time) of that stack
(:func:`simsim.validation.fold_constants` with nothing held out). ``simsim-validate --lofo``
judges the method: each study predicted with the constants fitted without it.

One global constant is measured rather than looked up: ``efficiency.moe_load_imbalance``, the
busiest expert-parallel rank's load under learned dropless routing, from the one published
pair that isolates it (Qwen3-235B-A22B at 16K context on 256 H100, force-balanced vs dropless
routing, Megatron-MoE-ModelZoo): :func:`fit_load_imbalance`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .validation import (
    IMBALANCE_PAIR,
    _entries,
    _fit_rows,
    _performance,
    _simulated,
    fit_kernel_efficiency,
    fold_constants,
)



def fit(software: str) -> tuple[float, float, int]:
    """``software.kernel_efficiency`` of ``software`` fitted on all its steady-state rows;
    returns (value, median |log error|, rows used)."""
    entries = _entries(None, "derived", ())
    by_id = {e["id"]: e for e in entries}
    rows = [r for r in _fit_rows(entries) if r[2] == software]
    return fit_kernel_efficiency(rows, by_id)


def fit_load_imbalance(grid: tuple[float, ...] = tuple(np.round(np.arange(1.0, 2.001, 0.01), 2))
                       ) -> float:  # fmt: skip
    """The ``efficiency.moe_load_imbalance`` whose predicted dropless / force-balanced
    throughput ratio matches the published one of :data:`IMBALANCE_PAIR` (bisection on the
    grid: the predicted ratio falls as the imbalance grows)."""
    entries = {e["id"]: e for e in _entries(None, "derived", ())}
    forced, dropless = (entries[i] for i in IMBALANCE_PAIR)
    target = float(dropless["metrics"][0]["value"]) / float(forced["metrics"][0]["value"])
    sc_f, r_f = _simulated(forced["_overrides"])
    base = _performance(forced["metrics"][0], r_f, sc_f)
    sc_d, _ = _simulated(dropless["_overrides"])
    from .api import simulate_many

    scs = [sc_d.replace(**{"efficiency.moe_load_imbalance": g}) for g in grid]
    ratios = np.array(
        [_performance(dropless["metrics"][0], r, s) / base
         for s, r in zip(scs, simulate_many(scs, top_n=1), strict=True)]
    )  # fmt: skip
    return float(grid[int(np.argmin(np.abs(ratios - target)))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--software", default=None, help="one stack (default: every fitted stack)")
    ap.add_argument(
        "--imbalance", action="store_true", help="also measure efficiency.moe_load_imbalance"
    )
    args = ap.parse_args(argv)
    entries = _entries(None, "derived", ())
    stacks = sorted({r[2] for r in _fit_rows(entries)})
    if args.software and args.software not in stacks:
        print(
            f"simsim-calibrate: software={args.software!r} has no steady-state published row; "
            f"stacks with rows: {', '.join(stacks)}",
            file=sys.stderr,
        )
        return 2
    fitted = fold_constants(entries, None)
    print(f"{'stack':<16} {'kernel_efficiency':>17} {'rows':>5}")
    for stack in [args.software] if args.software else stacks:
        value, n = fitted[stack]
        label = f"{value:.2f}" + ("" if n else " (pooled: too few rows of its own)")
        print(f"{stack:<16} {label:>17} {n:>5}")
    print(f"{'(pooled)':<16} {fitted['*'][0]:>17.2f} {fitted['*'][1]:>5}")
    if args.imbalance:
        print(f"efficiency.moe_load_imbalance: {fit_load_imbalance():.2f} (from {IMBALANCE_PAIR[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
