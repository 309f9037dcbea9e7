"""How far off is simsim? Predictions for every published run in the reference set.

The reference set (``simsim/data/published_runs.yaml``) holds, per run, the published setup as
Hydra overrides and the published figures with their status (primary, secondary, derived,
unverified), scope and source. Two kinds of checks:

* **performance** rows simulate the scenario with simsim's *global* efficiency settings (no run
  is given its own MFU) and compare GPU-hours, MFU, TFLOP/s per GPU, step time or wall-clock;
  MFU and TFLOP/s are converted to the FLOP convention the publication used;
* **accounting** rows feed the published hours, power, PUE and grid factor through simsim's
  energy and carbon accounting (this checks conventions, not the performance model).

Derived and unverified figures are reported but never enter the headline error.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import accounting as acc
from .api import simulate
from .physics import architecture as A
from .report import Progress
from .result import Result
from .scenario import arch_from_model, compose, resolve
from .schema import ClusterConfig, Scenario

PERFORMANCE_METRICS = ("gpu_hours", "mfu", "tflops_per_gpu", "step_time_s", "wall_clock_days")
ACCOUNTING_METRICS = ("energy_mwh", "co2_tonnes")
METRICS = PERFORMANCE_METRICS + ACCOUNTING_METRICS
UNITS = {
    "gpu_hours": "GPU-h",
    "mfu": "fraction of peak",
    "tflops_per_gpu": "TFLOP/s per GPU",
    "step_time_s": "s",
    "wall_clock_days": "days",
    "energy_mwh": "MWh",
    "co2_tonnes": "tCO2e",
}
HEADLINE_STATUSES = ("primary", "secondary")
FLOP_CONVENTIONS = ("causal", "non_causal", "megatron2021_hfu", "six_n")

COLUMNS = [
    "run", "name", "arch", "hardware", "family", "layout", "metric", "check", "published",
    "predicted", "error_pct", "abs_error_pct", "status", "role", "headline", "scope", "source",
    "note",
]  # fmt: skip

#: The runs each software stack's fitted ``kernel_efficiency`` was calibrated on
#: (:mod:`simsim.calibrate`); in derived mode their rows are reported as ``role=calibration`` and
#: kept out of the headline. MegaScale's own rows are split: every other GPU count fits, the rest
#: (512, 1024, 6144, 12288 GPUs) are held out with everything else.
CALIBRATION_RUNS: dict[str, str] = {
    "megatron_lm": "megascale-mlm-*",
    "megascale": r"megascale-mls-(256|768|3072|8192)\b",
}
#: Runs whose own record supplies a whole-run constant of configs/config.yaml: the interruption
#: rates of ``reliability`` are Llama 3's 54-day record (Llama 3 Herd Table 5), so Llama 3.1
#: 405B's whole-run figures are reported as ``role=calibration``, not as validation.
WHOLE_RUN_SOURCE_RUNS = "llama31-405b"
WHOLE_RUN_METRICS = ("gpu_hours", "wall_clock_days")


@cache
def load_reference() -> tuple[dict[str, Any], ...]:
    """The packaged reference set, one dict per run (see the YAML file's header)."""
    text = resources.files("simsim.data").joinpath("published_runs.yaml").read_text("utf-8")
    runs = yaml.safe_load(text)["runs"]
    for run in runs:
        for m in run["metrics"]:
            if m["metric"] not in METRICS:
                raise ValueError(f"{run['id']}: unknown metric {m['metric']!r}")
            if m.get("flops") not in (None, *FLOP_CONVENTIONS):
                raise ValueError(f"{run['id']}: unknown FLOP convention {m['flops']!r}")
    return tuple(runs)


@cache
def _simulated(overrides: tuple[str, ...]) -> tuple[Scenario, Result]:
    """Resolved scenario and result of one reference run (cached: both are immutable in use)."""
    sc = resolve(compose(list(overrides)))
    return sc, simulate(sc)


def flops_per_token(scenario: Scenario, convention: str) -> float:
    """Training FLOPs per token of ``scenario`` under a publication's convention [FLOP]."""
    arch = arch_from_model(scenario.model)
    seq = scenario.training.seq_len
    if convention == "six_n":
        return 6.0 * float(A.param_counts(arch)["active"])
    causal = convention == "causal"
    f = float(A.train_flops_per_token(arch, seq, causal=causal, include_mtp=False)["total"])
    if convention == "megatron2021_hfu":
        f += float(A.recompute_flops_per_token(arch, seq, "full", causal=False, include_mtp=False))
    return f


def _performance(spec: dict[str, Any], r: Result, sc: Scenario) -> float | None:
    metric = spec["metric"]
    if not r.feasible or r.tokens_per_s is None:
        return None
    if metric in ("mfu", "tflops_per_gpu"):
        rate = r.tokens_per_s / r.n_gpus * flops_per_token(sc, spec["flops"])
        return rate / (spec["peak_tflops"] * 1e12) if metric == "mfu" else rate / 1e12
    return getattr(r, metric)


def _accounting(spec: dict[str, Any], defaults: ClusterConfig) -> float:
    pue = spec.get("pue", defaults.pue)
    energy = float(acc.energy_mwh(spec["hours"], spec["power_w"], pue))
    if spec["metric"] == "energy_mwh":
        return energy
    return float(acc.co2_tonnes(energy, spec.get("grid", defaults.grid_kgco2_per_kwh)))


def _matches(run: dict[str, Any], pattern: str | None) -> bool:
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatch(run["id"], pattern) or fnmatch.fnmatch(run["name"], pattern)
    return bool(re.search(pattern, f"{run['id']} {run['name']}", re.IGNORECASE))


def validate(
    metric: str | list[str] | None = None,
    run: str | None = None,
    hardware: str | None = None,
    mode: str = "derived",
    include_derived: bool = True,
    overrides: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Compare simsim with every published figure in the reference set.

    Parameters
    ----------
    metric : one metric or a list (``gpu_hours``, ``mfu``, ``tflops_per_gpu``, ``step_time_s``,
        ``wall_clock_days``, ``energy_mwh``, ``co2_tonnes``); None = all
    run : a regular expression (or a glob with ``*``) matched against run id and name
    hardware : hardware family (``H800``, ``A100``, ``TPU v3`` ...) or preset name, case-insensitive
    mode : efficiency mode of the performance predictions (``derived``, the default, or
        ``fixed``)
    include_derived : keep derived/unverified and calibration rows (``headline=False``)
    overrides : extra Hydra overrides applied to every run (e.g. efficiency constants)

    Returns
    -------
    pandas.DataFrame
        one row per published figure, worst headline error first; columns :data:`COLUMNS`.
    """
    metrics = [metric] if isinstance(metric, str) else metric
    for m in metrics or []:
        if m not in METRICS:
            raise ValueError(f"metric={m!r}: expected one of {', '.join(METRICS)}")
    defaults = resolve(compose([])).cluster
    rows = []
    entries = load_reference()
    progress = Progress(len(entries), "simsim-validate: runs")
    for done, entry in enumerate(entries, start=1):
        progress.update(done)
        if not _matches(entry, run):
            continue
        ov = (*entry.get("scenario", ()), f"efficiency.mode={mode}", *overrides)
        sc, result = _simulated(ov) if entry.get("scenario") else (None, None)
        hw_name = sc.hardware.name if sc else ""
        if hardware and hardware.lower() not in (entry["family"].lower(), hw_name.lower()):
            continue
        for spec in entry["metrics"]:
            if metrics and spec["metric"] not in metrics:
                continue
            check = spec.get("check", "performance")
            if check == "accounting":
                predicted: float | None = _accounting(spec, defaults)
            else:
                assert sc is not None and result is not None, f"{entry['id']}: no scenario"
                predicted = _performance(spec, result, sc)
            published = float(spec["value"])
            calibration = check == "performance" and (
                (mode == "derived" and any(_matches(entry, p) for p in CALIBRATION_RUNS.values()))
                or (spec["metric"] in WHOLE_RUN_METRICS and _matches(entry, WHOLE_RUN_SOURCE_RUNS))
            )
            err = None if predicted is None else 100.0 * (predicted / published - 1.0)
            note = entry.get("note", "")
            scenario = entry.get("scenario", ())
            pinned = any(o.startswith(("parallel.", "experiment=")) for o in scenario)
            if predicted is None and result is not None:
                note = f"no prediction: infeasible ({result.infeasible_reason}). {note}".strip()
            rows.append(
                {
                    "run": entry["id"], "name": entry["name"], "arch": entry["arch"],
                    "hardware": hw_name, "family": entry["family"],
                    "layout": entry.get("layout") or ("published" if pinned else "searched"),
                    "metric": spec["metric"],
                    "check": check, "published": published, "predicted": predicted,
                    "error_pct": err, "abs_error_pct": None if err is None else abs(err),
                    "status": spec["status"],
                    "role": "calibration" if calibration else "held-out",
                    "headline": spec["status"] in HEADLINE_STATUSES and not calibration,
                    "scope": spec.get("scope", ""), "source": entry["source"], "note": note,
                }
            )  # fmt: skip
    progress.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not include_derived:
        df = df[df["headline"]]
    df = df.assign(_key=df["abs_error_pct"].fillna(-1.0))
    df = df.sort_values(["headline", "_key", "run"], ascending=[False, False, True], kind="stable")
    return df.drop(columns="_key").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Median and worst absolute error per metric over the headline rows, overall, by dense/MoE,
    by hardware family and by whether the run publishes its parallel layout. Rows without a
    prediction are counted in ``n_no_prediction``."""
    head = df[df["headline"]]
    out = []
    for metric in [m for m in METRICS if m in set(head["metric"])]:
        sub = head[head["metric"] == metric]
        groups = [("all", sub)]
        groups += [(f"arch={a}", g) for a, g in sub.groupby("arch", sort=True)]
        groups += [(f"family={f}", g) for f, g in sub.groupby("family", sort=True)]
        groups += [(f"layout={v}", g) for v, g in sub.groupby("layout", sort=True)]
        for label, g in groups:
            ok = g.dropna(subset=["abs_error_pct"])
            worst = ok.iloc[int(np.argmax(ok["abs_error_pct"].to_numpy()))] if len(ok) else None
            out.append(
                {
                    "metric": metric, "group": label, "n": len(ok),
                    "n_no_prediction": int(len(g) - len(ok)),
                    "median_abs_error_pct": (
                        float(np.median(ok["abs_error_pct"])) if len(ok) else None
                    ),
                    "worst_abs_error_pct": None if worst is None else float(worst["abs_error_pct"]),
                    "worst_run": None if worst is None else worst["run"],
                    "mean_signed_error_pct": float(ok["error_pct"].mean()) if len(ok) else None,
                }
            )  # fmt: skip
    return pd.DataFrame(out)
