"""Prediction intervals from simsim's own held-out errors (model error, conformal-style).

``simsim-validate`` predicts every published run of the reference set with the constants fitted
without that run's study (leave one family out) and records, for each headline row, the log
ratio of the published to the predicted figure, in the *throughput* sense for steady-state rows
(published / predicted tokens/s, MFU or TFLOP/s; predicted / published step time) and in the
*bill* sense for whole-run rows (published / predicted GPU-hours). Those residuals are packaged
(``simsim/data/residuals.json``, refreshed by ``simsim-validate --update-residuals``) and an
output's interval is its point value times the residuals' 10th, 50th and 90th percentiles of
its group:

* ``steady/dense`` and ``steady/moe``: tokens/s (and MFU, TFLOP/s) of a dense or MoE model;
* ``whole_run/dense`` and ``whole_run/moe``: GPU-hours, wall-clock, energy, cost and CO2, which
  all scale with GPU-hours (in December 2026, 13 dense and 6 MoE residuals: the MoE group has
  fewer than an 80% interval needs, :data:`MIN_RESIDUALS`, and two of its six are DeepSeek-V3's
  own). Until a whole-run group has enough, a bill takes its class's *steady-state* residuals,
  negated (:func:`bill_fallback`):
  the GPU-hours of a fixed token count go as one over the throughput, so the throughput's
  held-out error is the part of the bill's error that simsim can measure today. It leaves out
  the error of the between-step overheads (goodput, stages), so it is a lower bound on the
  bill's model error; ``simsim-validate`` reports how often it covers the whole-run rows.

A fixed-mode result (``efficiency.mode=fixed``: one MFU for the whole run) takes the residuals
of the same groups from ``simsim-validate --mode fixed`` (the ``fixed_groups`` of the file): the
error of a constant-MFU estimate held out by study, wider than the derived model's.

Only the model's error is covered here; :mod:`simsim.uncertainty` propagates the uncertain inputs
(peaks, prices, failure rates) and combines both. Deterministic: the same scenario gives the
same interval.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

#: The percentiles of an interval (an 80% interval and its median).
PERCENTILES = (10, 50, 90)
#: Outputs that scale with GPU-hours and take the whole-run residuals.
BILL_OUTPUTS = ("gpu_hours", "wall_clock_days", "energy_mwh", "cost_usd", "co2_tonnes")
#: Outputs that scale with throughput and take the steady-state residuals of the model's class.
RATE_OUTPUTS = ("tokens_per_s", "mfu", "achieved_tflops_per_gpu")
RESIDUALS_FILE = "residuals.json"
#: Fewest residuals an 80% interval stands on: the split-conformal upper bound is the
#: ceil(0.9 (n + 1))-th smallest of n residuals, which exists only for n >= 9 (Lei et al. 2018,
#: JASA 113:1094, §2.2; with fewer the bound is infinite). A smaller group gives no interval.
MIN_RESIDUALS = 9
GROUPS = ("steady/dense", "steady/moe", "whole_run/dense", "whole_run/moe")


def group_of(output: str, moe: bool) -> str:
    """The residual group an output draws its interval from."""
    kind = "whole_run" if output in BILL_OUTPUTS else "steady"
    return f"{kind}/{'moe' if moe else 'dense'}"


#: The residual set of each efficiency mode in ``residuals.json``.
MODE_KEYS = {"derived": "groups", "fixed": "fixed_groups"}


@cache
def residuals(mode: str = "derived") -> dict[str, tuple[float, ...]]:
    """The packaged held-out log residuals per group of an efficiency ``mode``
    (``simsim/data/residuals.json``), of the groups with at least :data:`MIN_RESIDUALS`, a
    too-small whole-run group replaced by :func:`bill_fallback`."""
    path = resources.files("simsim.data").joinpath(RESIDUALS_FILE)
    if not path.is_file():  # before the first `simsim-validate --update-residuals`
        return {}
    data = json.loads(path.read_text("utf-8"))
    groups = data.get(MODE_KEYS[mode], {})
    return usable({g: [float(x) for x in v] for g, v in groups.items()})


def usable(groups: dict[str, list[float]]) -> dict[str, tuple[float, ...]]:
    """The groups an interval can stand on: those with at least :data:`MIN_RESIDUALS`
    residuals, and for a whole-run group with fewer, :func:`bill_fallback` of its class."""
    out = {g: tuple(v) for g, v in groups.items() if len(v) >= MIN_RESIDUALS}
    for g in GROUPS:
        if g.startswith("whole_run/") and g not in out:
            fallback = bill_fallback(groups, g)
            if fallback:
                out[g] = fallback
    return out


def bill_fallback(groups: dict[str, list[float]], group: str) -> tuple[float, ...]:
    """A bill's residuals from its class's steady-state throughput residuals: for a fixed
    token count GPU-hours go as 1 / throughput, so a throughput log residual ``r`` (published
    over predicted rate) is a GPU-hour log residual ``-r``. Empty if that group is too small."""
    steady = groups.get(group.replace("whole_run/", "steady/"), [])
    return tuple(sorted(-x for x in steady)) if len(steady) >= MIN_RESIDUALS else ()


def factors(values: Any) -> tuple[float, float, float]:
    """The P10 / P50 / P90 multipliers of log residuals ``values``: the median, and the split-
    conformal bounds of an 80% interval, the ``floor(0.1 (n+1))``-th smallest and
    ``ceil(0.9 (n+1))``-th smallest of the n residuals (Vovk et al. 2005; Lei et al. 2018,
    JASA 113:1094), for n >= :data:`MIN_RESIDUALS` (:func:`residuals` keeps no smaller
    group)."""
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    lo = v[min(max(int(np.floor(0.1 * (n + 1))) - 1, 0), n - 1)]
    hi = v[min(max(int(np.ceil(0.9 * (n + 1))) - 1, 0), n - 1)]
    return float(np.exp(lo)), float(np.exp(np.median(v))), float(np.exp(hi))


def intervals(point: dict[str, float | None], moe: bool, mode: str = "derived") -> dict[str, float]:
    """``{output}_p10`` / ``_p50`` / ``_p90`` for every output of ``point`` with a value."""
    out: dict[str, float] = {}
    for name, value in point.items():
        this = group_factors(group_of(name, moe), mode)
        if value is None or this is None:
            continue
        for p, f in zip(PERCENTILES, this, strict=True):
            out[f"{name}_p{p}"] = float(value) * f
    return out


@cache
def group_factors(group: str, mode: str = "derived") -> tuple[float, float, float] | None:
    """The P10 / P50 / P90 multipliers of a residual group of an efficiency ``mode`` (None: no
    residuals packaged)."""
    values = residuals(mode).get(group)
    return factors(values) if values else None


def _grouped_rows(df: Any) -> list[tuple[str, str, float]]:
    """``(study, group, log residual)`` of every headline performance row with a prediction
    of a leave-one-family-out validation table."""
    head = df[df["headline"] & df["predicted"].notna() & (df["check"] == "performance")]
    return [(r["study"], g, float(np.log(_ratio(r))))
            for r in head.to_dict("records") if (g := _row_group(r)) is not None]  # fmt: skip


def residual_groups(df: Any) -> dict[str, list[float]]:
    """Held-out log residuals per group from a leave-one-family-out validation table (the
    headline rows with a prediction), rounded to 6 decimals, sorted."""
    rows = _grouped_rows(df)
    return {g: sorted(round(x, 6) for _, gg, x in rows if gg == g) for g in GROUPS}


def _row_group(r: dict[str, Any]) -> str | None:
    """The residual group of a validation row: steady-state throughput, or whole-run GPU-hours
    (the other whole-run metrics repeat what the GPU-hours rows say)."""
    if r["steady"]:
        return f"steady/{r['arch']}"
    return f"whole_run/{r['arch']}" if r["metric"] == "gpu_hours" else None


def _ratio(r: dict[str, Any]) -> float:
    """Published over predicted, in the throughput sense for a step time (a longer published
    step is a lower published rate)."""
    ratio = float(r["published"]) / float(r["predicted"])
    return 1.0 / ratio if r["metric"] == "step_time_s" else ratio


def coverage(df: Any) -> list[dict[str, Any]]:
    """Coverage of the 80% interval on held-out rows, leave one family out: each row's interval
    from the residuals of the *other* studies, as :func:`usable` forms them (a whole-run row
    takes the steady-state fallback while its own group is too small; a row with no usable
    group is skipped); per group, and per kind (steady / whole run) over both classes: rows,
    share covered, median width (P90 / P10 - 1)."""
    rows = _grouped_rows(df)
    found: dict[str, tuple[list[bool], list[float]]] = {g: ([], []) for g in GROUPS}
    for study, group, residual in rows:
        others = usable(
            {g: [x for s, gg, x in rows if gg == g and s != study] for g in GROUPS}
        ).get(group)
        if not others:
            continue
        lo, _, hi = factors(others)
        found[group][0].append(bool(np.log(lo) <= residual <= np.log(hi)))
        found[group][1].append(hi / lo - 1.0)
    for kind in ("steady", "whole_run"):  # each kind pooled over dense and MoE (issue 12's bar)
        parts = [found[g] for g in GROUPS if g.startswith(kind + "/")]
        found[f"{kind} (all)"] = ([c for p in parts for c in p[0]],
                                  [w for p in parts for w in p[1]])  # fmt: skip
    return [
        {"group": g, "rows": len(c), "coverage": float(np.mean(c)),
         "median_width": float(np.median(w))}
        for g, (c, w) in found.items() if c
    ]  # fmt: skip
