"""Fresh public runs outside the reference set, predicted with the shipped constants.

    python benchmarks/fresh_runs.py

The rows (simsim/data/fresh_runs.yaml) are Megatron-Bridge's 26.04.01 performance table, each
with its recipe's layout, dispatcher, recompute and overlaps, one A/B pair from its
performance notes (Qwen3-30B-A3B on 16 H100, with and without the MoE all-to-all overlap), and
two measured steady rates of open models (Olmo 3 32B's trainer, TinyLlama). They are kept out of
simsim/data/published_runs.yaml, so no constant is fitted to them: this is an out-of-sample
check (the one A/B pair a constant was measured on, `calibration` in the file, is printed
but left out of the summary). The whole runs that were here (Granite 3.0, SmolLM3, Olmo 3,
Falcon) joined the reference set in December 2026: `simsim-validate` reports them held out.
Reports, never asserts.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import yaml

import simsim
from simsim.scenario import compose_dict


#: What a published figure is compared with: the per-GPU rate, or the whole run's bill.
def _predicted(r: simsim.Result, metric: str) -> float | None:
    if metric == "tokens_per_s":
        return None if r.tokens_per_s is None else r.tokens_per_s / r.n_gpus
    return getattr(r, metric)


def main() -> None:
    text = resources.files("simsim.data").joinpath("fresh_runs.yaml").read_text("utf-8")
    runs = yaml.safe_load(text)["runs"]
    errors: dict[str, dict[str, float]] = {"dense": {}, "MoE": {}, "whole run": {}}
    covered: dict[str, list[bool]] = {k: [] for k in errors}
    for run in runs:
        metric = run["metrics"][0]["metric"]
        published = float(run["metrics"][0]["value"])
        r = simsim.simulate(compose_dict([*run["scenario"], "uncertainty.samples=0"]))
        predicted = _predicted(r, metric) if r.feasible else None
        if predicted is None:
            print(f"{run['id']:42s} {published:10.0f}  infeasible: {r.infeasible_reason}")
            continue
        error = 100.0 * (predicted / published - 1.0)
        kind = ("whole run" if metric != "tokens_per_s"
                else "MoE" if run["arch"] == "moe" else "dense")  # fmt: skip
        held_out = "calibration" not in run  # a constant was measured on the row otherwise
        if held_out:
            errors[kind][run["id"]] = error
        # the 80% band of simsim's held-out errors (simsim.intervals; per GPU for a rate)
        band = r.band(metric)
        scale = r.n_gpus if metric == "tokens_per_s" else 1.0
        inside = band is not None and band[0] / scale <= published <= band[1] / scale
        if held_out:
            covered[kind].append(inside)
        tag = "" if held_out else "  (calibration: left out of the summary)"
        print(f"{run['id']:42s} {metric:16s} {published:10,.0f} {predicted:10,.0f}  "
              f"{error:+6.1f}%  {'in' if inside else 'out of'} the 80% band{tag}")  # fmt: skip
    for label, found in errors.items():
        e = np.array(list(found.values()))
        if len(e):
            print(
                f"{label}: {len(e)} rows, median {np.median(e):+.1f}%, "
                f"median |error| {np.median(np.abs(e)):.1f}%, mean {np.mean(e):+.1f}%, "
                f"{sum(covered[label])} of {len(e)} inside their 80% band"
            )


if __name__ == "__main__":
    main()
