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
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import accounting as acc
from .api import simulate, simulate_many
from .physics import architecture as A
from .report import Progress
from .result import Result
from .scenario import arch_from_model, compose_dict, resolve
from .schema import ClusterConfig, Scenario

PERFORMANCE_METRICS = (
    "gpu_hours", "mfu", "tflops_per_gpu", "tokens_per_s", "step_time_s", "wall_clock_days",
)  # fmt: skip
#: Steady-state throughput metrics: what the fitted constants are fitted on (whole-run GPU-hours
#: and wall-clock add restarts, ramps and stages, judged separately).
STEADY_METRICS = ("mfu", "tflops_per_gpu", "tokens_per_s", "step_time_s")
ACCOUNTING_METRICS = ("energy_mwh", "co2_tonnes")
METRICS = PERFORMANCE_METRICS + ACCOUNTING_METRICS
UNITS = {
    "gpu_hours": "GPU-h",
    "mfu": "fraction of peak",
    "tflops_per_gpu": "TFLOP/s per GPU",
    "tokens_per_s": "tokens/s per GPU",
    "step_time_s": "s",
    "wall_clock_days": "days",
    "energy_mwh": "MWh",
    "co2_tonnes": "tCO2e",
}
HEADLINE_STATUSES = ("primary", "secondary")
FLOP_CONVENTIONS = ("causal", "non_causal", "megatron2021_hfu", "six_n")

COLUMNS = [
    "run", "name", "arch", "class", "hardware", "family", "study", "software", "layout", "metric",
    "steady", "check", "published", "predicted", "error_pct", "abs_error_pct", "status", "role",
    "headline", "fitted", "setup", "layout_used", "scope", "source", "note",
]  # fmt: skip

#: Runs whose own record supplies a whole-run constant of configs/config.yaml: the interruption
#: rates of ``reliability`` are Llama 3's 54-day record (Llama 3 Herd Table 5), so Llama 3.1
#: 405B's whole-run figures are reported as ``role=calibration``, not as validation.
WHOLE_RUN_SOURCE_RUNS = "llama31-405b"
WHOLE_RUN_METRICS = ("gpu_hours", "wall_clock_days")


@cache
def load_reference() -> tuple[dict[str, Any], ...]:
    """The packaged reference set, one dict per run (see the YAML file's header)."""
    text = resources.files("simsim.data").joinpath("published_runs.yaml").read_text("utf-8")
    # libyaml's parser where PyYAML has it (the same safe schema, ~10x faster than pure Python)
    runs = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["runs"]
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
    # the published figures are points: no input-uncertainty draws (simsim.uncertainty)
    sc = resolve(compose_dict([*overrides, "uncertainty.samples=0"]))
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
    tokens_per_gpu_s = r.tokens_per_s / r.n_gpus
    if spec.get("over") == "whole_run":  # averaged over the whole run's wall-clock
        if r.wall_clock_days is None:
            return None
        tokens_per_gpu_s = r.train_tokens / (r.wall_clock_days * 86400.0) / r.n_gpus
    if metric == "tokens_per_s":
        return tokens_per_gpu_s
    if metric in ("mfu", "tflops_per_gpu"):
        rate = tokens_per_gpu_s * flops_per_token(sc, spec["flops"])
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


@dataclass(frozen=True)
class Measurement:
    """A constant measured on a published A/B pair: two runs of one study that differ in the
    field ``key`` alone (:func:`simsim.calibrate.fit_measured`). ``undo`` is its value without
    the measurement: leave-one-study-out predicts that study with it."""

    label: str
    key: str
    base: str
    variant: str
    undo: float
    grid: tuple[float, ...]


def _grid(lo: float, hi: float, step: float) -> tuple[float, ...]:
    return tuple(float(x) for x in np.round(np.arange(lo, hi + step / 2, step), 2))


#: The measured constants (references.md note N8). Each variant row carries the measured value
#: where it runs the setting (async TP, the all-to-all overlap); the imbalance is the default.
MEASUREMENTS = (
    # one run force-balanced vs with learned dropless routing (Megatron-MoE-ModelZoo, 16K)
    Measurement("MoE load imbalance", "efficiency.moe_load_imbalance",
                "mz-qwen3-235b-lc16k-forced-balance", "mz-qwen3-235b-lc16k-dropless", 1.0,
                _grid(1.0, 2.0, 0.01)),
    # Llama 3 70B on 256 H100 with vanilla and with async TP (torchtitan, June 2025)
    Measurement("async TP", "software.tp_overlap", "tt-l3-70b-256g-bf16-vanillatp",
                "tt-l3-70b-256g-bf16-asynctp", 0.0, _grid(0.0, 1.0, 0.05)),
    # Qwen3-235B EP32 PP8 without and with the 1F1B all-to-all overlap (Megatron-MoE-ModelZoo)
    Measurement("1F1B all-to-all overlap", "software.ep_overlap", "mz-qwen3-235b-4k-ep32-pp8",
                "mz-qwen3-235b-4k-ep32-pp8-a2a-overlap", 0.0, _grid(0.0, 1.0, 0.05)),
)  # fmt: skip


@cache
def measured_in() -> dict[str, tuple[str, ...]]:
    """Per study, the overrides that undo the measurements taken from it (leave one out)."""
    study = {r["id"]: _study(r) for r in load_reference()}
    out: dict[str, tuple[str, ...]] = {}
    for m in MEASUREMENTS:
        out[study[m.base]] = (*out.get(study[m.base], ()), f"{m.key}={m.undo:g}")
    return out


#: Fewest steady-state figures a stack's own fit needs; with fewer, the stack takes the pooled
#: fit of every stack (one published figure would set the constant by itself).
MIN_STACK_ROWS = 3
#: Grid of ``software.kernel_efficiency`` values the fits search (the constant is a fraction).
FIT_GRID = tuple(float(x) for x in np.round(np.arange(0.40, 1.0001, 0.02), 2))


def _entries(run: str | None, mode: str, overrides: tuple[str, ...]) -> list[dict[str, Any]]:
    """The reference entries matching ``run``, each with its scenario overrides for ``mode``."""
    out = []
    for entry in load_reference():
        if _matches(entry, run):
            ov = (*entry.get("scenario", ()), f"efficiency.mode={mode}", *overrides)
            out.append({**entry, "_overrides": ov if entry.get("scenario") else None})
    return out


def _fit_rows(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(run id, study, stack, metric spec) of every steady-state headline figure that the
    fitted constants may be fitted on."""
    rows = []
    for e in entries:
        if e["_overrides"] is None or not e.get("modelled", True):
            continue
        sc, _ = _simulated(e["_overrides"])
        for spec in e["metrics"]:
            if _steady(spec) and spec["status"] in HEADLINE_STATUSES:
                rows.append((e["id"], _study(e), sc.software.name, spec))
    return rows


def _setup(sc: Scenario | None) -> str:
    """What a run trains on what, apart from its parallel layout (the layout-ranking groups)."""
    if sc is None:
        return ""
    tr = sc.training
    return (f"{sc.model.name} {tr.seq_len}x{tr.global_batch_tokens:.0f} {tr.precision} on "
            f"{sc.cluster.n_gpus} {sc.hardware.name} ({sc.software.name})")  # fmt: skip


def _layout_used(result: Result | None) -> str:
    lay = result.layout if result is not None else {}
    keys = ("tp", "pp", "cp", "ep", "micro_batch", "schedule", "virtual_stages")
    return " ".join(f"{k}={lay[k]}" for k in keys if k in lay)


def _steady(spec: dict[str, Any]) -> bool:
    """A steady-state throughput figure (not one averaged over a whole run's wall-clock)."""
    return spec["metric"] in STEADY_METRICS and spec.get("over") != "whole_run"


def _study(entry: dict[str, Any]) -> str:
    """The run's family for leave-one-family-out: one paper or one benchmark table."""
    return str(entry.get("study") or entry["id"])


#: The kernel efficiencies each run is simulated at; predictions on :data:`FIT_GRID` are
#: interpolated between them (log-linear: throughput varies smoothly with the constant).
COARSE_GRID = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@cache
def _on_coarse_grid(overrides: tuple[str, ...]) -> tuple[tuple[Scenario, Result], ...]:
    """The run simulated at every :data:`COARSE_GRID` value of its stack's kernel efficiency
    (one batched layout search)."""
    sc, _ = _simulated(overrides)
    scs = [sc.replace(**{"software.kernel_efficiency": k}) for k in COARSE_GRID]
    return tuple(zip(scs, simulate_many(scs, top_n=1), strict=True))


@cache
def _grid_predictions(overrides: tuple[str, ...], spec_items: tuple[Any, ...]) -> np.ndarray:
    """The prediction of one published figure at every :data:`FIT_GRID` value (NaN where the
    run is infeasible)."""
    spec = dict(spec_items)
    preds = [_performance(spec, r, sc) for sc, r in _on_coarse_grid(overrides)]
    if any(p is None or p <= 0 for p in preds):
        return np.full(len(FIT_GRID), np.nan)
    logs = np.log(np.asarray(preds, dtype=float))
    return np.exp(np.interp(FIT_GRID, COARSE_GRID, logs))


@cache
def _at(overrides: tuple[str, ...], kernel_efficiency: float) -> tuple[Scenario, Result]:
    """The run simulated with its stack's kernel efficiency set to ``kernel_efficiency``."""
    sc, _ = _simulated(overrides)
    sc = sc.replace(**{"software.kernel_efficiency": kernel_efficiency})
    return sc, simulate(sc)


def fit_kernel_efficiency(
    rows: list[tuple[str, str, str, dict[str, Any]]], by_id: dict[str, dict[str, Any]]
) -> tuple[float, float, int]:
    """The grid value of ``software.kernel_efficiency`` minimising the median |log error| over
    ``rows``; returns (value, that median, rows used)."""
    errs = np.full((len(FIT_GRID), len(rows)), np.nan)
    for j, (run_id, _, _, spec) in enumerate(rows):
        preds = _grid_predictions(by_id[run_id]["_overrides"], tuple(sorted(spec.items())))
        errs[:, j] = np.abs(np.log(preds / float(spec["value"])))
    ok = ~np.isnan(errs).all(axis=0)
    if not ok.any():
        return float("nan"), float("nan"), 0
    med = np.nanmedian(np.where(np.isnan(errs[:, ok]), 10.0, errs[:, ok]), axis=1)
    i = int(np.argmin(med))
    return FIT_GRID[i], float(med[i]), int(ok.sum())


def fold_constants(
    entries: list[dict[str, Any]], held_out: str | None
) -> dict[str, tuple[float, int]]:
    """Each software stack's kernel efficiency fitted without the study ``held_out``: on the
    stack's own steady-state rows of the other studies, or, where fewer than
    :data:`MIN_STACK_ROWS` are left, on the other stacks' rows pooled (so a stack's few rows
    never set its own constant). Returns stack -> (value, rows used of its own: 0 when
    pooled); the key ``*`` is the pooled fit of every stack's rows."""
    by_id = {e["id"]: e for e in entries}
    rows = [r for r in _fit_rows(entries) if r[1] != held_out]
    out: dict[str, tuple[float, int]] = {}
    pooled, _, n_pooled = fit_kernel_efficiency(rows, by_id)
    out["*"] = (pooled, n_pooled)
    for stack in sorted({r[2] for r in _fit_rows(entries)}):
        own = [r for r in rows if r[2] == stack]
        if len(own) < MIN_STACK_ROWS:
            others = [r for r in rows if r[2] != stack]
            out[stack] = (fit_kernel_efficiency(others, by_id)[0] if own else pooled, 0)
            continue
        value, _, n = fit_kernel_efficiency(own, by_id)
        out[stack] = (value, n) if n else (pooled, 0)
    return out


@cache
def _fitted_stacks(mode: str, overrides: tuple[str, ...]) -> frozenset[str]:
    """The stacks whose shipped constant is fitted on their own rows (enough of them)."""
    counts: dict[str, int] = {}
    for _, _, stack, _ in _fit_rows(_entries(None, mode, overrides)):
        counts[stack] = counts.get(stack, 0) + 1
    return frozenset(s for s, n in counts.items() if n >= MIN_STACK_ROWS)


@cache
def _fold(
    mode: str, overrides: tuple[str, ...], held_out: str | None
) -> dict[str, tuple[float, int]]:
    """:func:`fold_constants` of the whole reference set (cached: the set is immutable)."""
    return fold_constants(_entries(None, mode, overrides), held_out)


def validate(
    metric: str | list[str] | None = None,
    run: str | None = None,
    hardware: str | None = None,
    mode: str = "derived",
    include_derived: bool = True,
    overrides: tuple[str, ...] = (),
    lofo: bool | None = None,
) -> pd.DataFrame:
    """Compare simsim with every published figure in the reference set.

    Parameters
    ----------
    metric : one metric or a list (``gpu_hours``, ``mfu``, ``tflops_per_gpu``, ``tokens_per_s``
        (per GPU), ``step_time_s``, ``wall_clock_days``, ``energy_mwh``, ``co2_tonnes``);
        None = all
    run : a regular expression (or a glob with ``*``) matched against run id and name
    hardware : hardware family (``H800``, ``A100``, ``TPU v3`` ...) or preset name, case-insensitive
    mode : efficiency mode of the performance predictions (``derived``, the default, or
        ``fixed``)
    include_derived : keep derived/unverified and calibration rows (``headline=False``)
    overrides : extra Hydra overrides applied to every run (e.g. efficiency constants)
    lofo : leave one family out (the default in derived mode): every run is predicted with
        each stack's ``kernel_efficiency`` fitted on the *other* studies only
        (:func:`fold_constants`) and without the measurements taken from its own study
        (:func:`measured_in`); every row is then held out and ``fitted`` gives the value used.
        False: the shipped constants (in-sample; the rows they were fitted on are
        ``role=calibration``)

    Returns
    -------
    pandas.DataFrame
        one row per published figure, worst headline error first; columns :data:`COLUMNS`.
    """
    metrics = [metric] if isinstance(metric, str) else metric
    for m in metrics or []:
        if m not in METRICS:
            raise ValueError(f"metric={m!r}: expected one of {', '.join(METRICS)}")
    if lofo and mode != "derived":
        raise ValueError("lofo=True needs mode='derived' (fixed mode fits nothing)")
    lofo = mode == "derived" if lofo is None else lofo
    defaults = resolve(compose_dict([])).cluster
    rows = []
    entries = _entries(run, mode, overrides)
    folds: dict[str, dict[str, tuple[float, int]]] = {}
    # in-sample: the steady-state rows each stack's shipped kernel_efficiency was fitted on
    fitted_on = _fitted_stacks(mode, overrides) if mode == "derived" and not lofo else frozenset()
    progress = Progress(len(entries), "simsim-validate: runs")
    for done, entry in enumerate(entries, start=1):
        progress.update(done)
        ov = entry["_overrides"]
        if lofo and ov:
            ov = (*ov, *measured_in().get(_study(entry), ()))
        sc, result = _simulated(ov) if ov else (None, None)
        hw_name = sc.hardware.name if sc else ""
        if hardware and hardware.lower() not in (entry["family"].lower(), hw_name.lower()):
            continue
        fitted = None
        if lofo and sc is not None:
            study = _study(entry)
            if study not in folds:
                folds[study] = _fold(mode, overrides, study)
            # a stack with no steady-state rows anywhere takes the pooled fit
            fitted = folds[study].get(sc.software.name, folds[study]["*"])[0]
            sc, result = _at(ov, fitted)
        for spec in entry["metrics"]:
            if metrics and spec["metric"] not in metrics:
                continue
            calibration = (
                spec["metric"] in STEADY_METRICS
                and sc is not None
                and (sc.software.name in fitted_on)
            )
            rows.append(
                _row(entry, spec, sc, result, defaults, calibration, fitted, hw_name)
            )  # fmt: skip
    progress.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not include_derived:
        df = df[df["headline"]]
    df = df.assign(_key=df["abs_error_pct"].fillna(-1.0))
    df = df.sort_values(["headline", "_key", "run"], ascending=[False, False, True], kind="stable")
    return df.drop(columns="_key").reset_index(drop=True)


def _row(
    entry: dict[str, Any],
    spec: dict[str, Any],
    sc: Scenario | None,
    result: Result | None,
    defaults: ClusterConfig,
    fitted_here: bool,
    fitted: float | None,
    hw_name: str,
) -> dict[str, Any]:
    """One output row: a published figure, simsim's prediction and how they compare."""
    check = spec.get("check", "performance")
    if check == "accounting":
        predicted: float | None = _accounting(spec, defaults)
    else:
        assert sc is not None and result is not None, f"{entry['id']}: no scenario"
        predicted = _performance(spec, result, sc)
    published = float(spec["value"])
    calibration = check == "performance" and (
        fitted_here
        or (spec["metric"] in WHOLE_RUN_METRICS and _matches(entry, WHOLE_RUN_SOURCE_RUNS))
    )
    modelled = entry.get("modelled", True)
    err = None if predicted is None else 100.0 * (predicted / published - 1.0)
    note = entry.get("note", "")
    scenario = entry.get("scenario", ())
    pinned = any(o.startswith(("parallel.", "experiment=")) for o in scenario)
    if predicted is None and result is not None:
        note = f"no prediction: infeasible ({result.infeasible_reason}). {note}".strip()
    precision = sc.training.precision if sc is not None else ""
    return {
        "run": entry["id"], "name": entry["name"], "arch": entry["arch"],
        "class": f"{entry['arch']}-{precision}" if precision else entry["arch"],
        "hardware": hw_name, "family": entry["family"], "study": _study(entry),
        "software": sc.software.name if sc is not None else "",
        "layout": entry.get("layout") or ("published" if pinned else "searched"),
        "metric": spec["metric"], "steady": _steady(spec), "check": check,
        "published": published,
        "predicted": predicted, "error_pct": err,
        "abs_error_pct": None if err is None else abs(err),
        "status": spec["status"],
        "role": "calibration" if calibration else ("not-modelled" if not modelled else "held-out"),
        "headline": spec["status"] in HEADLINE_STATUSES and not calibration and modelled,
        "fitted": fitted,
        "setup": _setup(sc), "layout_used": _layout_used(result),
        "scope": spec.get("scope", ""), "source": entry["source"], "note": note,
    }  # fmt: skip


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Median and worst absolute error per metric over the headline rows, overall, by dense/MoE,
    by class (architecture and precision), by study, by hardware family and by whether the run
    publishes its parallel layout; ``steady_state`` pools the steady-state metrics
    (:data:`STEADY_METRICS`). Rows without a prediction are counted in ``n_no_prediction``."""
    head = df[df["headline"]]
    out = []
    present = [m for m in METRICS if m in set(head["metric"])]
    steady = head["steady"].astype(bool)
    for metric in (["steady_state"] if steady.any() else []) + present:
        sub = head[steady] if metric == "steady_state" else head[head["metric"] == metric]
        groups = [("all", sub)]
        groups += [(f"arch={a}", g) for a, g in sub.groupby("arch", sort=True)]
        groups += [(f"class={c}", g) for c, g in sub.groupby("class", sort=True)]
        groups += [(f"study={c}", g) for c, g in sub.groupby("study", sort=True)]
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


#: Metrics that rank layouts (higher = faster, except step time).
RANK_METRICS = ("tokens_per_s", "tflops_per_gpu", "mfu", "step_time_s")


def layout_ranking(df: pd.DataFrame, min_layouts: int = 3) -> pd.DataFrame:
    """Spearman rank correlation between predicted and published throughput for every setup
    (model, hardware, GPU count, sequence, batch, precision and stack: the ``setup`` column)
    published with at least ``min_layouts`` different parallel layouts, one row per group. The
    second run of a measurement pair (the same layout with one setting changed: async TP, the
    all-to-all overlap) measures that setting, not a layout, and is left out."""
    variants = {m.variant for m in MEASUREMENTS}
    head = df[df["headline"] & df["metric"].isin(RANK_METRICS) & ~df["run"].isin(variants)]
    head = head.dropna(subset=["predicted"])
    out = []
    for (key, metric), g in head.groupby(["setup", "metric"], sort=True):
        if not key or g["layout_used"].nunique() < min_layouts:
            continue
        rho = _spearman(g["predicted"].to_numpy(), g["published"].to_numpy())
        out.append({"group": key, "metric": metric, "n_layouts": g["layout_used"].nunique(),
                    "spearman": rho,
                    "runs": " ".join(g["run"])})  # fmt: skip
    return pd.DataFrame(out, columns=["group", "metric", "n_layouts", "spearman", "runs"])


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (ties get their mean rank)."""
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
