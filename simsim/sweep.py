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
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from . import accounting as acc
from .api import simulate
from .errors import ConfigError
from .report import Progress
from .scenario import resolve

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


def flatten_axes(axes: Mapping[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``{"cluster": {"n_gpus": [..]}}`` or ``{"cluster.n_gpus": [..]}`` -> dotted paths."""
    out: dict[str, list[Any]] = {}
    for key, value in axes.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_axes(value, f"{path}."))
        else:
            values = (
                list(value)
                if isinstance(value, Sequence) and not isinstance(value, str)
                else [value]
            )
            if not values:
                raise ConfigError(f"sweep.axes.{path}: empty list of values")
            out[path] = values
    return out


def _set(sc: dict[str, Any], path: str, value: Any) -> None:
    node = sc
    *parents, leaf = path.split(".")
    for p in parents:
        if not isinstance(node.get(p), dict):
            raise ConfigError(f"sweep.axes.{path}: unknown field {p!r}")
        node = node[p]
    if leaf not in node:
        raise ConfigError(f"sweep.axes.{path}: unknown field {leaf!r}")
    node[leaf] = value


def sweep(cfg: DictConfig | Mapping[str, Any], axes: Mapping[str, Any]) -> pd.DataFrame:
    """Evaluate the Cartesian grid of ``axes`` around the scenario ``cfg``.

    Returns
    -------
    pandas.DataFrame
        one row per grid point: the axes (as given) and the outputs ``feasible``,
        ``flops_per_token``, ``train_flops``, ``mfu``, ``tokens_per_s``, ``gpu_hours``,
        ``wall_clock_days``, ``energy_mwh``, ``cost_usd``, ``co2_tonnes``, ``memory_gb_per_gpu``.
        Time, energy and money are NaN where a point is infeasible (``feasible`` False).
    """
    base = resolve(cfg)
    base.pop("sweep", None)
    flat = flatten_axes(axes)
    fixed = base["efficiency"]["mode"] == "fixed"
    cheap = [a for a in flat if a in CHEAP_AXES or (fixed and a == "efficiency.mfu")]
    structural = [a for a in flat if a not in cheap]
    shape = [len(flat[a]) for a in flat]
    grid = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), int)
    index = dict(zip(flat, grid, strict=True))
    n_points = grid.shape[1]

    # one simulation per structural combination
    s_shape = [len(flat[a]) for a in structural]
    combos = list(itertools.product(*[range(k) for k in s_shape])) or [()]
    combo_id = (
        np.ravel_multi_index([index[a] for a in structural], s_shape)
        if structural
        else np.zeros(n_points, int)
    )
    per_combo: dict[str, list[Any]] = {
        k: []
        for k in (
            "feasible",
            "fpt",
            "rate",
            "mfu",
            "n",
            "tdp",
            "purchase",
            "price",
            "mem",
            "model",
            "hardware",
        )
    }
    progress = Progress(len(combos), "simsim sweep: layout points")
    for done, combo in enumerate(combos, start=1):
        progress.update(done)
        sc = copy.deepcopy(base)
        for a, i in zip(structural, combo, strict=True):
            _set(sc, a, flat[a][i])
        r = simulate(sc)
        hw = sc["hardware"]
        per_combo["feasible"].append(r.feasible)
        per_combo["fpt"].append(r.flops_per_token)
        per_combo["rate"].append(np.nan if r.tokens_per_s is None else r.tokens_per_s)
        per_combo["mfu"].append(np.nan if r.mfu is None else r.mfu)
        per_combo["n"].append(r.n_gpus)
        per_combo["tdp"].append(hw["tdp_w"])
        per_combo["purchase"].append(np.nan if hw["purchase_usd"] is None else hw["purchase_usd"])
        per_combo["price"].append(
            np.nan if hw["price_usd_per_hour"] is None else hw["price_usd_per_hour"]
        )
        per_combo["mem"].append(np.nan if r.memory_gb_per_gpu is None else r.memory_gb_per_gpu)
        per_combo["model"].append(r.model)
        per_combo["hardware"].append(r.hardware)
    progress.close()
    col = {k: np.asarray(v)[combo_id] for k, v in per_combo.items()}

    def axis_or(path: str, default: Any) -> np.ndarray:
        if path in cheap:
            return np.asarray(flat[path], dtype=float)[index[path]]
        return np.full(n_points, np.nan if default is None else float(default))

    cl = base["cluster"]
    tokens = axis_or("training.tokens", base["training"]["tokens"])
    rate = col["rate"].astype(float)
    mfu = col["mfu"].astype(float)
    if fixed and "efficiency.mfu" in cheap:  # throughput scales with the swept MFU
        new_mfu = axis_or("efficiency.mfu", None)
        rate = rate * new_mfu / mfu
        mfu = new_mfu
    goodput = axis_or("cluster.goodput", cl["goodput"])
    n = col["n"].astype(float)
    fpt = col["fpt"].astype(float)
    hours = acc.gpu_hours(fpt * tokens, rate * fpt / n, goodput)
    days = acc.wall_clock_days(hours, n)
    power = acc.power_per_gpu_w(
        col["tdp"].astype(float),
        axis_or("cluster.gpu_power_fraction", cl["gpu_power_fraction"]),
        axis_or("cluster.node_overhead_w_per_gpu", cl["node_overhead_w_per_gpu"]),
    )
    energy = acc.energy_mwh(hours, power, axis_or("cluster.pue", cl["pue"]))
    price = (
        axis_or("hardware.price_usd_per_hour", None)
        if "hardware.price_usd_per_hour" in cheap
        else col["price"].astype(float)
    )
    parts = acc.training_cost_usd(
        cl["cost_model"], hours, days, energy, n, price, col["purchase"].astype(float),
        cl["server_cost_overhead"], cl["interconnect_cost_overhead"],
        cl["depreciation_per_year"],
        axis_or("cluster.electricity_usd_per_kwh", cl["electricity_usd_per_kwh"]),
    )  # fmt: skip
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
        gpu_hours=hours,
        wall_clock_days=days,
        energy_mwh=energy,
        cost_usd=cost,
        co2_tonnes=acc.co2_tonnes(
            energy, axis_or("cluster.grid_kgco2_per_kwh", cl["grid_kgco2_per_kwh"])
        ),
        memory_gb_per_gpu=col["mem"].astype(float),
    )
    return pd.DataFrame(out)
