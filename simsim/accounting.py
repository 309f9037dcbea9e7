"""Accounting: from training FLOPs and throughput to GPU-hours, days, energy, money and CO2.

Pure, vectorized functions; units in the names. Conventions:

* GPU-hours include lost time: ``ideal / goodput`` (``goodput`` = fraction of wall-clock that
  trains; Llama 3 reports > 90%, arXiv:2407.21783 §3.3.4).
* Energy = GPU-hours x average power per GPU (GPU draw plus its share of the node) x PUE, the
  convention of the LLaMA papers (Touvron et al. 2023, arXiv:2302.13971 §6: TDP x hours x PUE
  1.1) and Patterson et al. 2021 (arXiv:2104.10350, Table 4: hours x chips x power x PUE).
* Rental cost = GPU-hours x price (DeepSeek-V3 Table 1: 2.788M H800-hours x $2 = $5.576M).
* Owned cost follows Epoch AI's amortised method (Cottier et al. 2024, arXiv:2405.21015):
  accelerators x server overhead x cluster-interconnect overhead, depreciated over the
  wall-clock of the run, plus electricity.
* CO2 = energy x grid carbon intensity (location-based).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
DAYS_PER_YEAR = 365.25


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def gpu_hours(train_flops: ArrayLike, flops_per_gpu: ArrayLike, goodput: ArrayLike = 1.0) -> Array:
    """GPU-hours to process ``train_flops`` at ``flops_per_gpu`` model FLOP/s per GPU [h].

    Parameters
    ----------
    train_flops : model FLOPs of the whole run [FLOP]
    flops_per_gpu : achieved model FLOP/s per GPU in steady state [FLOP/s]
    goodput : fraction of wall-clock that trains (restarts, checkpoints, failures lose the rest)
    """
    return _f(train_flops) / _f(flops_per_gpu) / SECONDS_PER_HOUR / _f(goodput)


def wall_clock_days(gpu_hours_: ArrayLike, n_gpus: ArrayLike) -> Array:
    """Wall-clock of a run that occupies ``n_gpus`` for ``gpu_hours_`` [days]."""
    return _f(gpu_hours_) / _f(n_gpus) / HOURS_PER_DAY


def power_per_gpu_w(
    tdp_w: ArrayLike, gpu_power_fraction: ArrayLike = 1.0, node_overhead_w_per_gpu: ArrayLike = 0.0
) -> Array:
    """Average IT power per GPU: GPU draw plus its share of CPUs, NICs, fans [W]."""
    return _f(tdp_w) * _f(gpu_power_fraction) + _f(node_overhead_w_per_gpu)


def energy_mwh(gpu_hours_: ArrayLike, power_w: ArrayLike, pue: ArrayLike) -> Array:
    """Facility energy: GPU-hours x power per GPU x PUE [MWh]."""
    return _f(gpu_hours_) * _f(power_w) * _f(pue) / 1e6


def rental_cost_usd(gpu_hours_: ArrayLike, price_usd_per_hour: ArrayLike) -> Array:
    """Cloud rental: GPU-hours x price per GPU-hour [USD] (electricity is in the price)."""
    return _f(gpu_hours_) * _f(price_usd_per_hour)


def owned_capital_usd(
    n_gpus: ArrayLike,
    purchase_usd: ArrayLike,
    server_cost_overhead: ArrayLike,
    interconnect_cost_overhead: ArrayLike,
    depreciation_per_year: ArrayLike,
    days: ArrayLike,
) -> Array:
    """Amortised capital of an owned cluster over a run of ``days`` [USD].

    Cluster cost = GPUs x purchase x server overhead x interconnect overhead; the run is charged
    the value the cluster loses while it runs, ``depreciation_per_year x days / 365.25`` of it
    (Cottier et al. 2024, arXiv:2405.21015, §2 amortised hardware cost).
    """
    cluster = (
        _f(n_gpus) * _f(purchase_usd) * _f(server_cost_overhead) * _f(interconnect_cost_overhead)
    )
    return cluster * _f(depreciation_per_year) * _f(days) / DAYS_PER_YEAR


def electricity_usd(energy_mwh_: ArrayLike, usd_per_kwh: ArrayLike) -> Array:
    """Electricity bill of an owned cluster [USD]."""
    return _f(energy_mwh_) * 1e3 * _f(usd_per_kwh)


def training_cost_usd(
    cost_model: str,
    *,
    hours: ArrayLike,
    days: ArrayLike,
    energy: ArrayLike,
    n_gpus: ArrayLike,
    price_usd_per_hour: ArrayLike,
    purchase_usd: ArrayLike,
    server_cost_overhead: ArrayLike,
    interconnect_cost_overhead: ArrayLike,
    depreciation_per_year: ArrayLike,
    usd_per_kwh: ArrayLike,
) -> dict[str, Array]:
    """Cost of a run by component [USD]: ``rental`` where the run is rented, else
    ``capital_amortised`` and ``electricity``; ``use_rental`` says which (bool array).

    ``cost_model``: ``rental``, ``owned``, or ``auto`` (rental where ``price_usd_per_hour`` is
    known, i.e. finite). An unknown price or purchase (NaN) gives a NaN cost.
    """
    price = _f(price_usd_per_hour)
    shape = np.broadcast(price, _f(hours)).shape
    if cost_model == "auto":
        use_rental = np.broadcast_to(np.isfinite(price), shape)
    else:
        use_rental = np.full(shape, cost_model == "rental")
    capital = owned_capital_usd(
        n_gpus, purchase_usd, server_cost_overhead, interconnect_cost_overhead,
        depreciation_per_year, days,
    )  # fmt: skip
    return {
        "use_rental": use_rental,
        "rental": np.where(use_rental, rental_cost_usd(hours, price), 0.0),
        "capital_amortised": np.where(use_rental, 0.0, capital),
        "electricity": np.where(use_rental, 0.0, electricity_usd(energy, usd_per_kwh)),
    }


def co2_tonnes(energy_mwh_: ArrayLike, grid_kgco2_per_kwh: ArrayLike) -> Array:
    """Location-based emissions: energy x grid intensity [tCO2e] (MWh x kg/kWh = t)."""
    return _f(energy_mwh_) * _f(grid_kgco2_per_kwh)


def bill(
    cost_model: str, hours: ArrayLike, n_gpus: ArrayLike, field: Callable[[str], ArrayLike]
) -> dict[str, Any]:
    """Days, energy [MWh], cost parts (:func:`training_cost_usd`) and CO2 [t] of ``hours``
    GPU-hours on ``n_gpus``, the cluster's and chip's numbers read through ``field(path)``
    (the scenario field at a dotted path, NaN where it is null; arrays broadcast): the one
    accounting chain of a result's bill and of its input-uncertainty draws."""
    days = wall_clock_days(hours, n_gpus)
    power = power_per_gpu_w(
        field("hardware.tdp_w"), field("cluster.gpu_power_fraction"),
        field("cluster.node_overhead_w_per_gpu"),
    )  # fmt: skip
    energy = energy_mwh(hours, power, field("cluster.pue"))
    parts = training_cost_usd(
        cost_model,
        hours=hours,
        days=days,
        energy=energy,
        n_gpus=n_gpus,
        price_usd_per_hour=field("hardware.price_usd_per_hour"),
        purchase_usd=field("hardware.purchase_usd"),
        server_cost_overhead=field("cluster.server_cost_overhead"),
        interconnect_cost_overhead=field("cluster.interconnect_cost_overhead"),
        depreciation_per_year=field("cluster.depreciation_per_year"),
        usd_per_kwh=field("cluster.electricity_usd_per_kwh"),
    )
    return {"days": days, "energy": energy, "parts": parts,
            "co2": co2_tonnes(energy, field("cluster.grid_kgco2_per_kwh"))}  # fmt: skip
