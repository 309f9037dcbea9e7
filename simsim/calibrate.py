"""``simsim-calibrate``: fit the derived model's global constants on part of the reference set.

The derived step-time model has one constant that no datasheet or paper gives:
``software_efficiency``, the fraction of best-case kernel speed (MAMF for GEMMs, FlashAttention's
published rate for attention) that a training framework achieves end to end. It is fitted here,
by grid search minimising the median absolute log error, on the *calibration runs* only;
``simsim-validate --mode derived`` judges the result on every other run. The fitted value goes
into ``configs/config.yaml`` with the command that produced it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

# The calibration set: MegaScale's Megatron-LM baseline (NSDI'24 Table 2, 8 rows of GPT-3 175B
# on 256-12,288 Ampere GPUs): an open-source framework at a published layout. Every other run of
# the reference set is held out.
from .report import Progress
from .validation import CALIBRATION_RUNS, validate


def fit(
    runs: str = CALIBRATION_RUNS,
    grid: tuple[float, ...] = tuple(np.round(np.arange(0.40, 1.001, 0.01), 2)),
) -> tuple[float, float]:
    """Grid-search ``software_efficiency``; return the best value and its median |log error|."""
    best = (np.inf, float("nan"))
    progress = Progress(len(grid), "simsim-calibrate: grid points")
    for done, value in enumerate(grid, start=1):
        progress.update(done)
        df = validate(
            run=runs,
            metric=["mfu", "tflops_per_gpu", "step_time_s"],
            mode="derived",
            overrides=(f"efficiency.software_efficiency={value}",),
        ).dropna(subset=["predicted"])
        if df.empty:
            continue
        err = float(np.median(np.abs(np.log(df["predicted"] / df["published"]))))
        best = min(best, (err, float(value)))
    progress.close()
    return best[1], best[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=CALIBRATION_RUNS, help="calibration runs (glob or regex)")
    args = ap.parse_args(argv)
    value, err = fit(args.runs)
    if np.isnan(value):
        print("simsim-calibrate: no calibration run has a prediction", file=sys.stderr)
        return 1
    print(f"calibration runs: {args.runs}")
    print(f"efficiency.software_efficiency: {value}")
    print(f"median |log error| on the calibration runs: {err:.3f} ({100 * (np.exp(err) - 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
