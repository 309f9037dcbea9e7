"""Human-readable summary table of a :class:`~simsim.result.Result`."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from .result import Result

if TYPE_CHECKING:
    import pandas as pd


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _band(r: Result, name: str) -> str:
    """``" (80%: lo-hi; model error lo-hi, inputs lo-hi)"``: the combined 80% interval and its
    two sources (:mod:`simsim.intervals`, :mod:`simsim.uncertainty`), those the result has."""

    def pair(iv: dict[str, float]) -> str | None:
        lo, hi = iv.get(f"{name}_p10"), iv.get(f"{name}_p90")
        return None if lo is None or hi is None else f"{_short(lo)}-{_short(hi)}"

    both, model, inputs = pair(r.combined_intervals), pair(r.intervals), pair(r.input_intervals)
    if r.input_intervals.get(f"{name}_p10") == r.input_intervals.get(f"{name}_p90"):
        both = inputs = None  # no uncertain input moves this output
    if both:
        return f" (80%: {both}; model error {model}, inputs {inputs})"
    if model:
        return f" (80%: {model}, from simsim's held-out errors)"
    if inputs:
        return f" (80%: {inputs}, from the uncertain inputs)"
    return ""


def _drivers(r: Result, name: str) -> str:
    """The sources of an output's spread with at least 1% of its log-variance, largest first."""
    shares = r.variance_share.get(name, {})
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items() if v >= 0.01)


def _short(x: float) -> str:
    """Three significant figures with a K/M/B suffix."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def summary_table(r: Result) -> str:
    """A two-column text table with units, for the terminal and the README."""
    lay = r.layout
    layout = (
        ", ".join(f"{k}={lay[k]}" for k in ("tp", "pp", "dp", "ep", "cp", "zero_stage", "schedule"))
        if lay
        else "none feasible"
    )
    rows = [
        (
            "scenario",
            f"{r.model} on {r.n_gpus} x {r.hardware}, {r.precision}, "
            f"{r.train_tokens / 1e12:.4g}T tokens",
        ),
        (
            "parameters total / active",
            f"{r.total_params / 1e9:.1f}B / {r.active_params / 1e9:.2f}B"
            + (
                f" ({r.total_params_with_mtp / 1e9:.1f}B with MTP)"
                if r.total_params_with_mtp != r.total_params
                else ""
            ),
        ),
        (
            "training FLOPs per token",
            f"{r.flops_per_token / 1e9:.1f} GFLOP (model; "
            f"{r.hardware_flops_per_token / 1e9:.1f} with recompute)",
        ),
        ("training FLOPs", f"{r.train_flops:.3e} FLOP"),
        ("layout", layout),
        ("memory per GPU", f"{_num(r.memory_gb_per_gpu, '.1f')} GB"),
        (
            "MFU (vs dense peak)",
            f"{_pct(r.mfu)} of {r.peak_tflops_per_gpu:g} TFLOP/s {r.precision} "
            f"({r.efficiency_mode}"
            + (f", software={r.software}" if r.efficiency_mode == "derived" else "")
            + f"); {_pct(r.mfu_bf16_basis)} on the BF16 basis",
        ),
        ("throughput", f"{_num(r.tokens_per_s, ',.0f')} tokens/s" + _band(r, "tokens_per_s")),
        ("GPU-hours", f"{_num(r.gpu_hours, ',.0f')}" + _band(r, "gpu_hours")),
        ("wall-clock", f"{_num(r.wall_clock_days, '.1f')} days" + _band(r, "wall_clock_days")),
        (
            "energy",
            f"{_num(r.energy_mwh, ',.0f')} MWh (at {r.power_per_gpu_w:g} W per GPU, with PUE)"
            + _band(r, "energy_mwh"),
        ),
        (
            "cost",
            "n/a (infeasible)"
            if not r.feasible
            else f"${r.cost_usd:,.0f} ({r.cost_basis})" + _band(r, "cost_usd")
            if r.cost_usd is not None
            else f"unknown: {r.cost_basis}",
        ),
        ("emissions", f"{_num(r.co2_tonnes, ',.0f')} tCO2e" + _band(r, "co2_tonnes")),
    ]
    for name, label in (("gpu_hours", "GPU-hours"), ("cost_usd", "cost")):
        if _drivers(r, name):
            rows.append(("spread driven by" if name == "gpu_hours" else "",
                         f"{label}: {_drivers(r, name)}"))  # fmt: skip
    if r.goodput is not None:
        lost = ", ".join(f"{k} {v:,.0f}" for k, v in r.gpu_hours_lost.items())
        rows.append(
            (
                "goodput",
                f"{100 * r.goodput:.1f}% of wall-clock trains"
                + (
                    f" (derived: {r.interruptions_expected:,.0f} interruptions expected, "
                    f"checkpoint every {r.checkpoint_interval_s / 60:.0f} min; GPU-h lost: {lost})"
                    if r.gpu_hours_lost and r.interruptions_expected is not None
                    and r.checkpoint_interval_s is not None
                    else " (given)"
                ),
            )
        )  # fmt: skip
    for s in r.stages:
        rows.append(
            (
                "stage" if s is r.stages[0] else "",
                f"{s['name']}: {_num(s['gpu_hours'], ',.0f')} GPU-h"
                + (f", {s['tokens'] / 1e9:,.0f}B tokens at {s['seq_len']}" if s["tokens"] else "")
                + (f" ({s['layout']})" if s["layout"] and s["layout"] != "given" else "")
                + (" (published cost)" if s["layout"] == "given" else ""),
            )
        )  # fmt: skip
    b = r.step_breakdown_s
    if b:
        parts = ", ".join(
            f"{k} {v:.3g} s ({100 * v / b['step']:.0f}%)"
            for k, v in b.items()
            if k != "step" and v > 0.001 * b["step"]
        )
        rows.append(("step breakdown", f"{b['step']:.3g} s = {parts}"))
    for i, alt in enumerate(r.alternative_layouts[:3] if b else []):
        desc = ", ".join(
            f"{k}={alt[k]}" for k in ("tp", "pp", "ep", "cp", "zero_stage", "schedule")
        )
        rows.append(
            ("runner-up" if i == 0 else "", f"{desc}: {alt.get('step_time_s', 0):.3g} s/step")
        )
    if b:
        rows.append(
            (
                "layouts searched",
                f"{r.layouts_evaluated:,} with software={r.software}'s schedules and ZeRO stages",
            )
        )
    if r.layouts_rejected:
        rejected = "; ".join(f"{n} {why}" for why, n in r.layouts_rejected.items())
        rows.append(("layouts rejected", rejected))
    if not r.feasible:
        rows.append(("INFEASIBLE", str(r.infeasible_reason)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def format_frame(df: pd.DataFrame, formats: dict[str, str], columns: list[str]) -> str:
    """``columns`` of ``df`` as aligned text, formatting the ones in ``formats`` (``str.format``
    patterns); missing values print as ``n/a``."""
    import pandas as pd

    show = df[columns].copy()
    for c, fmt in formats.items():
        show[c] = [("n/a" if v is None or pd.isna(v) else fmt.format(v)) for v in show[c]]
    return str(show.to_string(index=False))


class Progress:
    """Progress on stderr for loops that run longer than ``after_s`` seconds (quiet before), and
    only on a terminal: a log file or a pipe gets no carriage-return fragments."""

    def __init__(self, total: int, label: str, after_s: float = 2.0):
        self.total, self.label, self.after_s = total, label, after_s
        self.t0 = time.perf_counter()
        self.shown = False
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if self.tty and time.perf_counter() - self.t0 > self.after_s:
            print(f"\r{self.label}: {done}/{self.total}", end="", file=sys.stderr, flush=True)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)
