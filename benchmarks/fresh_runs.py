"""Fresh public runs outside the reference set, predicted with the shipped constants.

    python benchmarks/fresh_runs.py

The rows (simsim/data/fresh_runs.yaml) are Megatron-Bridge's 26.04.01 performance table, each
with its recipe's layout, dispatcher, recompute and overlaps, and one A/B pair from its
performance notes (Qwen3-30B-A3B on 16 H100, with and without the MoE all-to-all overlap). They are kept out of
simsim/data/published_runs.yaml, so no constant is fitted to them: this is an out-of-sample
check. Reports, never asserts.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import yaml

import simsim
from simsim.scenario import compose_dict


def main() -> None:
    text = resources.files("simsim.data").joinpath("fresh_runs.yaml").read_text("utf-8")
    runs = yaml.safe_load(text)["runs"]
    errors = {}
    for run in runs:
        published = float(run["metrics"][0]["value"])
        r = simsim.simulate(compose_dict([*run["scenario"], "uncertainty.samples=0"]))
        if not r.feasible or r.tokens_per_s is None:
            print(f"{run['id']:42s} {published:8.0f}  infeasible: {r.infeasible_reason}")
            continue
        predicted = r.tokens_per_s / r.n_gpus
        errors[run["id"]] = 100.0 * (predicted / published - 1.0)
        print(f"{run['id']:42s} {published:8.0f} {predicted:8.0f}  {errors[run['id']]:+6.1f}%")
    for label, keep in (("dense", lambda k: "llama" in k), ("MoE", lambda k: "llama" not in k)):
        e = np.array([v for k, v in errors.items() if keep(k)])
        print(f"{label}: {len(e)} rows, median {np.median(e):+.1f}%, "
              f"median |error| {np.median(np.abs(e)):.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
