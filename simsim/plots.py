"""Plots of a single result. Deterministic: no timestamps in the metadata, fixed SVG hash salt."""

from __future__ import annotations

import functools
import io
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .output import atomic_write
from .result import Result
from .schema import Scenario

P = ParamSpec("P")
R = TypeVar("R")

_LABELS = {
    "attn_linear": "attention projections",
    "attn_core": "attention core (causal)",
    "dense_ffn": "dense FFN",
    "moe_routed": "routed experts (top-k)",
    "moe_shared": "shared experts",
    "router": "router",
    "lm_head": "LM head",
    "mtp": "MTP module",
}


STYLE = Path(__file__).with_name("simsim.mplstyle")


def styled(plot: Callable[P, R]) -> Callable[P, R]:
    """Run a plotting function under simsim's style sheet (``simsim/simsim.mplstyle``) without
    touching the caller's global matplotlib settings."""

    @functools.wraps(plot)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.style.context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def compact_label(value: float, _pos: object = None) -> str:
    """Tick label: 2000000 -> 2M, 500000 -> 500k, 0.4 -> 0.4."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def format_log_axis(axis: Axis, subs: tuple[float, ...] = (1.0, 2.0, 5.0)) -> None:
    """Readable log axis: major ticks at ``subs`` x 10^k (1, 2, 5 by default; give ``(1.0,)``
    for axes spanning many decades) with compact labels, no minor labels."""
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(compact_label))
    axis.set_minor_formatter(NullFormatter())


def subplots(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: a :class:`~matplotlib.figure.Figure` that belongs to
    no GUI backend, so plotting never changes the caller's backend (a notebook's stays)."""
    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "layout") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(*args, **kwargs)


#: Decimals an SVG coordinate keeps (1/100 of a point): the last digits of a float that
#: differ between machines' math libraries never reach a committed figure.
SVG_DECIMALS = 2
_SVG_NUMBER = re.compile(r"-?\d+\.\d{" + str(SVG_DECIMALS + 1) + ",}")


def _round_svg(text: str) -> str:
    """``text`` with every decimal number rounded to :data:`SVG_DECIMALS` places."""
    return _SVG_NUMBER.sub(lambda m: f"{float(m.group()):.{SVG_DECIMALS}f}", text)


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg``, byte-identical for identical figures (the
    SVG's numbers rounded to :data:`SVG_DECIMALS` places)."""
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "simsim", "svg.fonttype": "path"}):
        for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            path = stem.with_suffix(f".{ext}")

            def write(p: Path, ext: str = ext, meta: dict[str, None] = meta) -> None:
                if ext == "svg":
                    buf = io.StringIO()
                    fig.savefig(buf, format=ext, metadata=meta, dpi=150)
                    p.write_text(_round_svg(buf.getvalue()), encoding="utf-8")
                else:
                    fig.savefig(p, format=ext, metadata=meta, dpi=150)

            atomic_write(path, write)
            paths.append(path)
    return paths


@styled
def plot_result(r: Result, stem: Path) -> list[Path]:
    """Training FLOPs per token by component, annotated with the run's totals."""
    items = [(k, v) for k, v in r.flops_breakdown_gflop_per_token.items() if v > 0]
    fig, ax = subplots(figsize=(7.0, 3.8), layout="constrained")
    ax.barh([_LABELS.get(k, k) for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel("training FLOPs per token [GFLOP] (forward + backward, model FLOPs)")
    ax.set_title(
        f"{r.model}: {r.flops_per_token / 1e9:.1f} GFLOP/token at {r.seq_len} tokens", fontsize=10
    )
    if r.feasible and r.gpu_hours is not None:
        band = r.band("gpu_hours")
        text = (
            f"{r.n_gpus} x {r.hardware}, {r.precision}, MFU {100 * (r.mfu or 0):.1f}%\n"
            f"{r.gpu_hours / 1e6:.3g}M GPU-h"
            + ("" if band is None else f" (80%: {band[0] / 1e6:.3g}-{band[1] / 1e6:.3g}M)")
            + f", {r.wall_clock_days:.1f} days\n"
            f"{r.energy_mwh:,.0f} MWh, {r.co2_tonnes:,.0f} tCO2e"
            + (f", ${r.cost_usd / 1e6:.3g}M" if r.cost_usd is not None else "")
        )
    else:
        text = "\n".join(textwrap.wrap(f"infeasible: {r.infeasible_reason}", width=60))
    ax.text(
        0.98,
        0.04,
        text,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
    )
    return save_figure(fig, stem)


def _cost_parts(r: Result) -> dict[str, float]:
    """Money by stage of the run when it has stages (ramp-up slices together), else by
    component (rental, or capital and electricity)."""
    if not r.stages or r.cost_usd is None:
        return dict(r.cost_breakdown_usd)
    per_hour = r.cost_usd / r.gpu_hours if r.gpu_hours else 0.0
    parts: dict[str, float] = {}
    for s in r.stages:
        name = "batch ramp-up" if s["name"].startswith("batch ramp-up") else s["name"]
        name = "pre-training" if name == "main" else name
        parts[name] = parts.get(name, 0.0) + (s["gpu_hours"] or 0.0) * per_hour
    return parts


#: The output whose 80% interval whiskers each cost panel's total.
_BANDS = {"energy [MWh]": "energy_mwh", "cost [USD]": "cost_usd",
          "GPU-hours (whole run)": "gpu_hours"}  # fmt: skip


@styled
def plot_costs(r: Result, scenario: Scenario, stem: Path) -> list[Path] | None:
    """Where the energy, the money and (derived mode) the step time go, as stacked bars."""
    if not r.feasible or r.gpu_hours is None or r.energy_mwh is None:
        return None
    cl, hw = scenario.cluster, scenario.hardware
    gpu_w = hw.tdp_w * cl.gpu_power_fraction
    it = r.gpu_hours / 1e6
    energy = {
        "GPUs": it * gpu_w,
        "rest of node": it * cl.node_overhead_w_per_gpu,
        "facility (PUE)": r.energy_mwh - it * (gpu_w + cl.node_overhead_w_per_gpu),
    }
    panels = [("energy [MWh]", energy)]
    cost = _cost_parts(r)
    if cost:  # no panel for a chip with no price (the table says the cost is unknown)
        panels.append(("cost [USD]", cost))
    if r.gpu_hours_lost:
        useful = r.gpu_hours - sum(r.gpu_hours_lost.values())
        hours = {
            "training": useful,
            **{k.replace("_", " "): v for k, v in r.gpu_hours_lost.items()},
        }
        panels.append(("GPU-hours (whole run)", hours))
    if r.step_breakdown_s:
        step = {k: v for k, v in r.step_breakdown_s.items() if k != "step"}
        panels.append(("step time [s]", step))
    fig, axes = subplots(
        len(panels), 1, figsize=(7.0, 1.2 * len(panels) + 0.8), layout="constrained"
    )
    for ax, (label, parts) in zip(np.atleast_1d(axes), panels, strict=True):
        left = 0.0
        for i, (name, value) in enumerate(parts.items()):
            if value <= 0:
                continue
            ax.barh([0], [value], left=left, color=f"C{i}", label=name)
            left += value
        band = r.band(_BANDS[label]) if label in _BANDS else None
        if band is not None:  # the total's 80% interval as a whisker (it may not hold the point)
            ax.plot(band, [0, 0], color="black", linewidth=1, marker="|", markersize=12,
                    label="80% interval")  # fmt: skip
        ax.set_yticks([])
        ax.set_xlabel(label)
        ax.xaxis.set_major_formatter(FuncFormatter(compact_label))  # 5M, not 5 x 1e6
        ax.legend(
            ncols=min(len(parts), 5), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.45)
        )
    fig.suptitle(
        f"{r.model} on {r.n_gpus} x {r.hardware}: where energy, money and time go", fontsize=10
    )
    return save_figure(fig, stem)
