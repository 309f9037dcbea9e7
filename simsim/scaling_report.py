"""Dense versus MoE at equal quality: simulate an MoE and its dense equivalents (every method of
:mod:`simsim.scaling`) on the same hardware, and plot the saving against sparsity and scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import scaling as S
from .api import simulate
from .output import write_csv
from .plots import format_log_axis, save_figure, styled, subplots
from .report import format_frame
from .scenario import compose, resolve
from .shapes import dense_shape


def _summary(label: str, method: str, r: Any) -> dict[str, Any]:
    return {
        "model": label,
        "method": method,
        "hardware": r.hardware,
        "precision": r.precision,
        "total_params": r.total_params,
        "train_flops": r.train_flops,
        "gpu_hours": r.gpu_hours,
        # the 80% interval (model error and uncertain inputs; simsim.intervals, .uncertainty)
        **r.band_columns("gpu_hours"),
        "days": r.wall_clock_days,
        "energy_mwh": r.energy_mwh,
        "cost_usd": r.cost_usd,
        "co2_tonnes": r.co2_tonnes,
        "feasible": r.feasible,
    }


def dense_vs_moe(
    moe_overrides: list[str],
    hardware: list[str],
    framing: str = "same_data",
    mode: str = "derived",
) -> pd.DataFrame:
    """The MoE scenario and its dense equivalents under every method, on each chip, with the
    MoE's saving in GPU-hours, days, MWh, USD and tCO2e. Dense models train in BF16 (FP8 for a
    dense model is not what was validated); the MoE keeps its scenario's precision."""
    rows = []
    for hw in hardware:
        sc = resolve(compose([*moe_overrides, f"hardware={hw}", f"efficiency.mode={mode}"]))
        moe = simulate(sc)
        rows.append(_summary(sc.model.name, "moe (as configured)", moe))
        for method in S.METHODS:
            eq = S.dense_equivalent(sc, method=method, framing=framing)
            dense = sc.to_dict()
            dense["model"] = dense_shape(eq.n_params, sc.model.vocab_size, f"dense_eq_{method}")
            dense["training"].update(tokens=eq.n_tokens, precision="bf16")
            dense["parallel"] = {}
            rows.append(_summary(dense["model"]["name"], method, simulate(dense)))
    df = pd.DataFrame(rows)
    for col in ("gpu_hours", "days", "energy_mwh", "cost_usd", "co2_tonnes"):
        base = df[df["method"] == "moe (as configured)"].set_index("hardware")[col]
        df[f"moe_saving_{col}_pct"] = [
            None if v is None or pd.isna(v) else 100.0 * (1.0 - base[h] / v)
            for h, v in zip(df["hardware"], df[col], strict=True)
        ]
    return df


@styled
def plot_saving_curves(stem: Path) -> list[Path]:
    """Compute multiplier C_dense/C_moe against sparsity (total/active) and, for Clark's law,
    against scale (active parameters), per method."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    ratio = np.geomspace(1.5, 64, 60)
    for method in ("deepseek_el", "abnar2025", "gundlach2025"):
        ax1.plot(ratio, S.efficiency_leverage(ratio, method), label=method)
    lo, hi = (
        S.efficiency_leverage(ratio, "deepseek_el", "low"),
        S.efficiency_leverage(ratio, "deepseek_el", "high"),
    )
    ax1.fill_between(ratio, lo, hi, alpha=0.2, label="deepseek_el, gamma 0.35-0.65")
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="total / active parameters",
        ylabel="dense compute / MoE compute at equal loss",
    )
    ax1.legend(fontsize=7)
    n = np.geomspace(1e8, 1e12, 60)
    for e in (8, 64, 256):
        ax2.plot(n, S.clark_effective_params(n, e) / n, label=f"clark2022, {e} experts")
    ax2.axvline(S.CLARK_FITTED["n_max"], color="0.5", ls=":", label="fitted up to here")
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="active parameters",
        ylabel="effective dense parameters / active",
    )
    ax2.legend(fontsize=7)
    for axis in (ax1.xaxis, ax1.yaxis, ax2.yaxis):
        format_log_axis(axis)
    format_log_axis(ax2.xaxis, subs=(1.0,))
    fig.suptitle("How much dense compute an MoE is worth, by method", fontsize=10)
    return save_figure(fig, stem)


def write_dense_vs_moe(df: pd.DataFrame, out: Path) -> list[Path]:
    return [write_csv(df, out / "dense_vs_moe.csv"), *plot_saving_curves(out / "moe_multiplier")]


def format_dense_vs_moe(df: pd.DataFrame) -> str:
    formats = {
        "total_params": "{:.3g}",
        "train_flops": "{:.3g}",
        "gpu_hours": "{:,.0f}",
        "gpu_hours_p10": "{:,.0f}",
        "gpu_hours_p90": "{:,.0f}",
        "energy_mwh": "{:,.0f}",
        "cost_usd": "${:,.0f}",
        "moe_saving_gpu_hours_pct": "{:.0f}%",
        "moe_saving_energy_mwh_pct": "{:.0f}%",
    }
    return format_frame(df, formats, ["hardware", "method", *formats])
