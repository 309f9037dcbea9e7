"""Numeric sweeps: the whole grid of several axes in one vectorized evaluation.

    simsim.sweep(cfg, axes={"cluster.n_gpus": [512, 1024, 2048], "training.tokens": [2e12, 15e12]})
    simsim sweep.axes.cluster.n_gpus=[512,1024,2048] sweep.axes.training.tokens=[2e12,15e12]

Axes that change the layout or the step time (model shape, hardware, GPU count, sequence,
batch, precision, parallel fields, derived-mode constants) are *structural*: simsim simulates
each distinct combination of them once. Every other axis (tokens, goodput, power, PUE, grid,
prices, and the MFU in fixed mode) is applied to the whole grid at once with the vectorized
accounting functions, so a million-point sweep over them is one numpy evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import accounting as acc
from . import checks
from ._paths import available_presets
from .api import paused_gc, simulate_many
from .errors import ConfigError
from .intervals import BILL_OUTPUTS, PERCENTILES, RATE_OUTPUTS, group_factors, group_of
from .scenario import compose_dict, resolve
from .schema import Scenario, convert, replace_path, schema_keys, set_path

#: Axes applied vectorized after the structural simulations (everything else is structural).
CHEAP_AXES = (
    "training.tokens",
    "cluster.goodput",
    "cluster.pue",
    "cluster.grid_kgco2_per_kwh",
    "cluster.electricity_usd_per_kwh",
    "cluster.gpu_power_fraction",
    "cluster.node_overhead_w_per_gpu",
    "hardware.price_usd_per_hour",
)


#: Groups swept by preset name (``sweep.axes.hardware=[h100_sxm,h800_sxm]``).
PRESET_AXES = ("model", "hardware", "software")


def flatten_axes(axes: Mapping[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``{"cluster": {"n_gpus": [..]}}`` or ``{"cluster.n_gpus": [..]}`` -> dotted paths.
    Values may be lists, tuples or numpy arrays (numpy scalars become Python numbers)."""
    out: dict[str, list[Any]] = {}
    for key, value in axes.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in PRESET_AXES:
            out.update(flatten_axes(value, f"{path}."))
            continue
        if isinstance(value, np.ndarray):
            values = value.ravel().tolist()
        elif isinstance(value, Sequence) and not isinstance(value, str):
            values = [v.item() if isinstance(v, np.generic) else v for v in value]
        else:
            values = [value.item() if isinstance(value, np.generic) else value]
        if not values:
            raise ConfigError(f"sweep.axes.{path}: empty list of values")
        out[path] = values
    return out


def _check_axis(path: str, values: list[Any]) -> None:
    if path in PRESET_AXES:
        allowed = available_presets(path)
        for v in values:
            if v not in allowed:
                raise ConfigError(
                    f"sweep.axes.{path}: {v!r} is not a {path} preset; available: "
                    f"{', '.join(allowed)}"
                )
        return
    if path.endswith(".name") or path == "model.path":
        group = path.split(".")[0]
        raise ConfigError(
            f"sweep.axes.{path}: a name labels numbers it does not change; sweep the preset "
            f"instead: sweep.axes.{group}=[...]"
        )
    parent, _, leaf = path.rpartition(".")
    if leaf not in schema_keys(parent):
        allowed = schema_keys(parent)
        raise ConfigError(
            f"sweep.axes.{path}: unknown field {leaf!r} in {parent or 'the scenario'}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        )


def _point(base: dict[str, Any], changes: Mapping[str, Any]) -> Scenario:
    """The scenario at one point of the grid, validated like any other (a bad value names its
    axis)."""
    data = copy.deepcopy(base)
    for path, value in sorted(changes.items(), key=lambda kv: kv[0] not in PRESET_AXES):
        if path in PRESET_AXES:
            data[path] = preset(path, value)
        else:
            set_path(data, path, value, "sweep.axes.")
    try:
        return resolve(data)
    except ConfigError as exc:
        where = ", ".join(f"sweep.axes.{k}={v!r}" for k, v in changes.items())
        raise ConfigError([f"at {where}: {p}" for p in exc.problems]) from None


def _validated_part(base_sc: Scenario, base: dict[str, Any], axis: str, value: Any) -> Any:
    """The typed value of one axis value (a preset's section, or a field), checked in the base
    scenario; an error names the axis and the value."""
    if axis in PRESET_AXES:
        return getattr(_point(base, {axis: value}), axis)
    try:
        typed = convert(axis, value)
    except ConfigError as exc:
        raise ConfigError([f"sweep.axes.{p}" for p in exc.problems]) from None
    sc = replace_path(base_sc, axis, typed)
    if sc is None:  # under a null section: the slow path builds it
        at_base = _point(base, {axis: value})
        group, *rest = axis.split(".")
        obj: Any = getattr(at_base, group)
        for name in rest:
            obj = getattr(obj, name)
        return obj
    try:
        checks.validate(sc, changed=[axis])
    except ConfigError as exc:
        raise ConfigError([f"at sweep.axes.{axis}={value!r}: {p}" for p in exc.problems]) from None
    return typed


def _scenarios(
    base_sc: Scenario, base: dict[str, Any], structural: list[str], flat: dict[str, list[Any]],
    combos: list[tuple[int, ...]],
) -> list[Scenario]:  # fmt: skip
    """The scenario of every structural combination. Each axis value is validated once at the
    base (a bad value names its axis); each combination is built from the validated parts by
    replacing fields of frozen dataclasses, then range-checked as a whole (relations between
    axes: a model's heads and a given TP, a chip and the precision ...)."""
    order = sorted(structural, key=lambda a: a not in PRESET_AXES)  # presets first
    parts: dict[str, list[Any]] = {}
    for a in order:
        parts[a] = [_validated_part(base_sc, base, a, v) for v in flat[a]]
    # with one axis every point is one of its values, validated above
    check_points = len(structural) > 1
    out = []
    for combo in combos:
        pick = dict(zip(structural, combo, strict=True))
        sc: Any = base_sc
        for a in order:
            sc = replace_path(sc, a, parts[a][pick[a]])
            if sc is None:  # a field under a null section (e.g. model.moe of a dense model)
                break
        changes = {a: flat[a][pick[a]] for a in structural}
        if sc is None:
            out.append(_point(base, changes))
            continue
        if not check_points:
            out.append(sc)
            continue
        try:  # each value passed the number check in _validated_part
            checks.validate(sc, changed=structural, numbers=False)
        except ConfigError as exc:
            where = ", ".join(f"sweep.axes.{k}={v!r}" for k, v in changes.items())
            raise ConfigError([f"at {where}: {p}" for p in exc.problems]) from None
        out.append(sc)
    return out


def sweep(cfg: Any, axes: Mapping[str, Any]) -> pd.DataFrame:
    """Evaluate the Cartesian grid of ``axes`` around the scenario ``cfg``.

    ``axes`` maps a dotted field (``cluster.n_gpus``) to its values, or a preset group
    (``hardware``, ``model``, ``software``) to preset names.

    Returns
    -------
    pandas.DataFrame
        one row per grid point: the axes (as given) and the outputs ``feasible``,
        ``flops_per_token``, ``train_flops``, ``mfu``, ``tokens_per_s``, ``gpu_hours``,
        ``wall_clock_days``, ``energy_mwh``, ``cost_usd``, ``cost_basis``, ``co2_tonnes``,
        ``memory_gb_per_gpu``. Time, energy and money are NaN where a point is infeasible
        (``feasible`` False).
    """
    with paused_gc():  # see simsim.api.paused_gc
        return _sweep(cfg, axes)


def _sweep(cfg: Any, axes: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`sweep`, with the garbage collector paused."""
    base_sc = resolve(cfg)
    # a sweep's points carry the model-error intervals only: the input-uncertainty Monte Carlo
    # (simsim.uncertainty) is per scenario (simulate one point to get it)
    base_sc = dataclasses.replace(
        base_sc, uncertainty=dataclasses.replace(base_sc.uncertainty, samples=0)
    )
    base = base_sc.to_dict()
    flat = flatten_axes(axes)
    for path, values in flat.items():
        _check_axis(path, values)
    fixed = base_sc.efficiency.mode == "fixed"
    cheap = [a for a in flat if a in CHEAP_AXES or (fixed and a == "efficiency.mfu")]
    structural = [a for a in flat if a not in cheap]
    shape = [len(flat[a]) for a in flat]
    grid = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), int)
    index = dict(zip(flat, grid, strict=True))
    n_points = grid.shape[1]
    # the cheap axes: numbers a scenario takes, and their extremes pass the scenario's range
    # checks (every check of a cheap field is an interval)
    for a in cheap:
        values = flat[a]
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int | float)]
        if bad:
            raise ConfigError(f"sweep.axes.{a}: {bad[0]!r} is not a number")
        problems = [p for v in values if (p := checks.number_problem(f"sweep.axes.{a}", v))]
        if problems:
            raise ConfigError(problems)
        _point(base, {a: min(values)})
        _point(base, {a: max(values)})

    # one simulation per structural combination
    s_shape = [len(flat[a]) for a in structural]
    combos = list(itertools.product(*[range(k) for k in s_shape])) or [()]
    combo_id = (
        np.ravel_multi_index([index[a] for a in structural], s_shape)
        if structural
        else np.zeros(n_points, int)
    )
    keys = ("feasible", "fpt", "rate", "mfu", "n", "tdp", "purchase", "price", "mem", "model",
            "hardware", "cost_model", "goodput", "moe", "derived", "staged", "tokens", "simulated",
            "given")  # fmt: skip
    per_combo: dict[str, list[Any]] = {k: [] for k in keys}
    scenarios = [
        sc
        if sc.uncertainty.samples == 0  # all but a sweep of uncertainty.samples itself
        else dataclasses.replace(sc, uncertainty=dataclasses.replace(sc.uncertainty, samples=0))
        for sc in _scenarios(base_sc, base, structural, flat, combos)
    ]
    results = simulate_many(scenarios, top_n=1, intervals=False)  # its own interval columns
    for sc, r in zip(scenarios, results, strict=True):
        hw = sc.hardware
        per_combo["feasible"].append(r.feasible)
        per_combo["fpt"].append(r.flops_per_token)
        per_combo["rate"].append(np.nan if r.tokens_per_s is None else r.tokens_per_s)
        per_combo["mfu"].append(np.nan if r.mfu is None else r.mfu)
        per_combo["n"].append(r.n_gpus)
        per_combo["tdp"].append(hw.tdp_w)
        per_combo["purchase"].append(np.nan if hw.purchase_usd is None else hw.purchase_usd)
        per_combo["price"].append(
            np.nan if hw.price_usd_per_hour is None else hw.price_usd_per_hour
        )
        per_combo["mem"].append(np.nan if r.memory_gb_per_gpu is None else r.memory_gb_per_gpu)
        per_combo["model"].append(r.model)
        per_combo["hardware"].append(r.hardware)
        per_combo["cost_model"].append(sc.cluster.cost_model)
        per_combo["goodput"].append(np.nan if r.goodput is None else r.goodput)
        per_combo["moe"].append(sc.model.moe is not None)
        per_combo["derived"].append(sc.efficiency.mode == "derived")
        # a run in stages (batch ramp-up, context extension, given post-training): its GPU-hours
        # simulated stage by stage, and those of the stages given as published figures
        given = sum(s["gpu_hours"] or 0.0 for s in r.stages if s.get("layout") == "given")
        per_combo["staged"].append(bool(r.stages) and r.gpu_hours is not None)
        per_combo["tokens"].append(sc.training.tokens)
        per_combo["simulated"].append(np.nan if r.gpu_hours is None else r.gpu_hours - given)
        per_combo["given"].append(given)
    col = {k: np.asarray(v)[combo_id] for k, v in per_combo.items()}

    def axis_or(path: str, default: Any) -> np.ndarray:
        if path in cheap:
            return np.asarray(flat[path], dtype=float)[index[path]]
        return np.full(n_points, np.nan if default is None else float(default))

    cl = base_sc.cluster
    tokens = axis_or("training.tokens", base_sc.training.tokens)
    rate = col["rate"].astype(float)
    mfu = col["mfu"].astype(float)
    if fixed and "efficiency.mfu" in cheap:  # throughput scales with the swept MFU
        new_mfu = axis_or("efficiency.mfu", None)
        rate = rate * new_mfu / mfu
        mfu = new_mfu
    # the goodput axis when swept, else each point's own (given or derived from reliability)
    goodput = (
        axis_or("cluster.goodput", None)
        if "cluster.goodput" in cheap
        else col["goodput"].astype(float)
    )
    n = col["n"].astype(float)
    fpt = col["fpt"].astype(float)
    hours = acc.gpu_hours(fpt * tokens, rate * fpt / n, goodput)
    # a run in stages keeps its simulated stages' bill (each at its own batch and context),
    # scaled by the swept goodput and MFU, with a change of tokens in the main stage; the given
    # stages stay as published
    with np.errstate(divide="ignore", invalid="ignore"):
        staged = col["simulated"].astype(float) * (col["goodput"].astype(float) / goodput) * (
            col["rate"].astype(float) / rate
        ) + acc.gpu_hours(fpt * (tokens - col["tokens"].astype(float)), rate * fpt / n, goodput)
    hours = np.where(col["staged"].astype(bool), staged + col["given"].astype(float), hours)
    days = acc.wall_clock_days(hours, n)
    power = acc.power_per_gpu_w(
        col["tdp"].astype(float),
        axis_or("cluster.gpu_power_fraction", cl.gpu_power_fraction),
        axis_or("cluster.node_overhead_w_per_gpu", cl.node_overhead_w_per_gpu),
    )
    energy = acc.energy_mwh(hours, power, axis_or("cluster.pue", cl.pue))
    price = (
        axis_or("hardware.price_usd_per_hour", None)
        if "hardware.price_usd_per_hour" in cheap
        else col["price"].astype(float)
    )
    parts = acc.training_cost_usd(
        cl.cost_model,
        hours=hours,
        days=days,
        energy=energy,
        n_gpus=n,
        price_usd_per_hour=price,
        purchase_usd=col["purchase"].astype(float),
        server_cost_overhead=cl.server_cost_overhead,
        interconnect_cost_overhead=cl.interconnect_cost_overhead,
        depreciation_per_year=cl.depreciation_per_year,
        usd_per_kwh=axis_or("cluster.electricity_usd_per_kwh", cl.electricity_usd_per_kwh),
    )
    cost = parts["rental"] + parts["capital_amortised"] + parts["electricity"]
    out = {a: np.asarray(flat[a])[index[a]] for a in flat}
    out.update(
        model=col["model"],
        hardware=col["hardware"],
        feasible=col["feasible"].astype(bool),
        flops_per_token=fpt,
        train_flops=fpt * tokens,
        mfu=mfu,
        tokens_per_s=rate,
        goodput=goodput,
        gpu_hours=hours,
        wall_clock_days=days,
        energy_mwh=energy,
        cost_usd=cost,
        cost_basis=np.where(
            parts["use_rental"], "rental", np.where(np.isfinite(cost), "owned", "unknown")
        ),
        co2_tonnes=acc.co2_tonnes(
            energy, axis_or("cluster.grid_kgco2_per_kwh", cl.grid_kgco2_per_kwh)
        ),
        memory_gb_per_gpu=col["mem"].astype(float),
    )
    out.update(_interval_columns(out, col["moe"].astype(bool), col["derived"].astype(bool)))
    return pd.DataFrame(out)


def _interval_columns(
    out: dict[str, Any], moe: np.ndarray, derived: np.ndarray
) -> dict[str, np.ndarray]:
    """``{output}_p10`` / ``_p50`` / ``_p90`` of every point, as :func:`simsim.intervals.intervals`
    gives a single result: the factors of the point's efficiency mode and class, one gather and
    one product per column."""
    cols: dict[str, np.ndarray] = {}
    which = 2 * derived.astype(int) + moe.astype(int)  # (fixed, derived) x (dense, MoE)
    for name in (*RATE_OUTPUTS, *BILL_OUTPUTS):
        if name not in out:
            continue
        by_kind = [group_factors(group_of(name, m), mode)
                   for mode in ("fixed", "derived") for m in (False, True)]  # fmt: skip
        if all(f is None for f in by_kind):
            continue
        table = np.array([f if f is not None else (np.nan,) * 3 for f in by_kind])  # (4, 3)
        factors = table[which]  # (points, 3)
        value = np.asarray(out[name], dtype=float)
        for j, p in enumerate(PERCENTILES):
            cols[f"{name}_p{p}"] = value * factors[:, j]
    return cols


def preset(group: str, name: str) -> dict[str, Any]:
    """The plain section of a ``model``, ``hardware`` or ``software`` preset."""
    section: dict[str, Any] = compose_dict([f"{group}={name}"])[group]
    return section
