"""``simsim-calibrate``: fit the derived model's global constants on part of the reference set.

The derived step-time model has one constant per software stack that no datasheet or paper
gives: ``software.kernel_efficiency``, the fraction of best-case kernel speed (MAMF for GEMMs,
FlashAttention's published rate for attention) the stack achieves end to end. It is fitted here,
by grid search minimising the median absolute log error, on that stack's *calibration runs* only
(:data:`simsim.validation.CALIBRATION_RUNS`); ``simsim-validate --mode derived`` judges the result
on every other run. The fitted value goes into ``configs/software/<stack>.yaml`` with the command
that produced it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .report import Progress
from .validation import CALIBRATION_RUNS, validate


def fit(
    software: str = "megatron_lm",
    runs: str | None = None,
    grid: tuple[float, ...] = tuple(np.round(np.arange(0.40, 1.001, 0.01), 2)),
) -> tuple[float, float]:
    """Grid-search ``software.kernel_efficiency`` of ``software`` on ``runs`` (default: the
    stack's calibration runs); return the best value and its median |log error|."""
    runs = runs or CALIBRATION_RUNS[software]
    best = (np.inf, float("nan"))
    progress = Progress(len(grid), "simsim-calibrate: grid points")
    for done, value in enumerate(grid, start=1):
        progress.update(done)
        df = validate(
            run=runs,
            metric=["mfu", "tflops_per_gpu", "step_time_s"],
            mode="derived",
            overrides=(f"software.kernel_efficiency={value}",),
        ).dropna(subset=["predicted"])
        if df.empty:
            continue
        err = float(np.median(np.abs(np.log(df["predicted"] / df["published"]))))
        best = min(best, (err, float(value)))
    progress.close()
    return best[1], best[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--software", default="megatron_lm", choices=sorted(CALIBRATION_RUNS), help="stack to fit"
    )
    ap.add_argument(
        "--runs", default=None, help="calibration runs, glob or regex (default: the stack's)"
    )
    args = ap.parse_args(argv)
    runs = args.runs or CALIBRATION_RUNS[args.software]
    value, err = fit(args.software, runs)
    if np.isnan(value):
        print("simsim-calibrate: no calibration run has a prediction", file=sys.stderr)
        return 1
    print(f"calibration runs: {runs}")
    print(f"software={args.software} kernel_efficiency: {value}")
    print(f"median |log error| on the calibration runs: {err:.3f} ({100 * (np.exp(err) - 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
