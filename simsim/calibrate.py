"""``simsim-calibrate``: fit the derived model's constants on the reference set.

The derived step-time model has one constant per software stack that no datasheet or paper
gives: ``software.kernel_efficiency``, the fraction of best-case kernel speed (the shape-aware
MAMF rate for GEMMs, the stack's fused-attention rate) the stack reaches end to end. It is
fitted here, by grid search minimising the median absolute log error, on every steady-state
published figure (MFU, TFLOP/s, tokens/s, step time) of that stack
(:func:`simsim.validation.fold_constants` with nothing held out). ``simsim-validate``
(leaving one study out, its default) judges the method: each study predicted with the
constants fitted without it.

Three constants are measured from published A/B pairs that change one setting of one run
(:func:`fit_pair`): ``efficiency.moe_load_imbalance``, the busiest expert-parallel rank's load
under learned dropless routing (Qwen3-235B-A22B at 16K context on 256 H100, force-balanced vs
dropless, Megatron-MoE-ModelZoo), the share of TP collectives torchtitan's async TP hides
(Llama 3 70B on 256 H100, vanilla vs async TP, BF16), and the share of the MoE all-to-all
Megatron-Core's 1F1B overlap hides (Qwen3-235B-A22B, EP32 PP8 on 256 H100, without and with it,
Megatron-MoE-ModelZoo).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .api import simulate_many
from .validation import (
    MEASUREMENTS,
    _entries,
    _fit_rows,
    _performance,
    _simulated,
    fold_constants,
)


def fit_pair(base: str, variant: str, key: str, grid: tuple[float, ...]) -> float:
    """The value of ``key`` (a dotted config field) at which the predicted throughput ratio of
    two published runs that differ in one setting, ``variant`` over ``base``, matches the
    published ratio (the grid value closest to it)."""
    entries = {e["id"]: e for e in _entries(None, "derived", ())}
    b, v = entries[base], entries[variant]
    target = float(v["metrics"][0]["value"]) / float(b["metrics"][0]["value"])
    sc_b, r_b = _simulated(b["_overrides"])
    ref = _performance(b["metrics"][0], r_b, sc_b)
    sc_v, _ = _simulated(v["_overrides"])
    scs = [sc_v.replace(**{key: g}) for g in grid]
    preds = [_performance(v["metrics"][0], r, s) for s, r in
             zip(scs, simulate_many(scs, top_n=1), strict=True)]  # fmt: skip
    if ref is None or any(p is None for p in preds):
        raise ValueError(f"{base} / {variant}: a run of the pair has no prediction")
    ratios = np.array(preds, dtype=float) / ref
    return float(grid[int(np.argmin(np.abs(ratios - target)))])


def fit_measured(key: str) -> float:
    """The constant ``key`` measured on its published pair
    (:data:`simsim.validation.MEASUREMENTS`)."""
    m = next(m for m in MEASUREMENTS if m.key == key)
    return fit_pair(m.base, m.variant, m.key, m.grid)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--software", default=None, help="one stack (default: every fitted stack)")
    ap.add_argument(
        "--measured",
        action="store_true",
        help="also measure the constants that published A/B pairs isolate (MoE load imbalance, "
        "async TP overlap, MoE all-to-all overlap)",
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
        label = f"{value:.2f}" + ("" if n else " (pooled over the other stacks)")
        print(f"{stack:<16} {label:>17} {n:>5}")
    print(f"{'(pooled)':<16} {fitted['*'][0]:>17.2f} {fitted['*'][1]:>5}")
    if args.measured:
        for m in MEASUREMENTS:
            print(f"{m.label} {m.key}: {fit_measured(m.key):.2f} (from {m.base} vs {m.variant})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
