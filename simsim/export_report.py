"""What export controls cost a training run: the headline comparison, threshold sweeps, and how
many GPUs of one chip match another. Also the ``simsim-export`` command.

All workload answers use ``efficiency.mode=derived``: a fixed MFU would make an H800 an H100,
because the export cuts removed bandwidth, not FLOP/s.

    simsim-export                                  # classification table of every preset
    simsim-export --headline                       # DeepSeek-V3 and Llama 3 405B on six chips
    simsim-export --variant h100_sxm --rule 2023-10
    simsim-export --sweep-tpp --model deepseek_v3  # GPU-hours vs the TPP line
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter
from numpy.typing import ArrayLike

from . import accounting as acc
from ._paths import available_presets
from .api import simulate
from .errors import ConfigError
from .export_control import (
    RULES,
    classification_table,
    classify,
    compliant_variant,
    hardware_spec,
    io_bidirectional_gbps,
    max_scale_up_under_io,
    total_processing_performance,
    with_compute_scaled,
)
from .output import write_csv
from .plots import compact_label, format_log_axis, save_figure, styled, subplots
from .report import format_frame
from .scenario import compose_dict, resolve
from .schema import Scenario

HEADLINE_HARDWARE = ["h800_sxm", "h100_sxm", "h20", "a800_80gb", "ascend_910b", "ascend_910c"]
HEADLINE_MODELS = ["deepseek_v3", "llama3_405b"]


def scenario_for(
    model: str, hardware: str | dict[str, Any], overrides: tuple[str, ...] = ()
) -> Scenario:
    """A derived-mode scenario of ``model`` on a preset or a custom hardware spec. DeepSeek-V3
    trains in FP8 (its recipe) where the chip has FP8, else BF16; other models in BF16."""
    spec = hardware_spec(hardware)
    spec = {k: v for k, v in spec.items() if k not in ("cut", "classification")}
    fp8 = model == "deepseek_v3" and spec["peak_tflops"].get("fp8")
    base = ["experiment=deepseek_v3"] if model == "deepseek_v3" else [f"model={model}"]
    data = compose_dict(
        [
            *base,
            "efficiency.mode=derived",
            f"training.precision={'fp8' if fp8 else 'bf16'}",
            "parallel.tp=null",
            "parallel.pp=null",
            "parallel.ep=null",
            "parallel.cp=null",
            "parallel.zero_stage=null",
            "parallel.schedule=null",
            *overrides,
        ]
    )
    data["hardware"] = spec
    if spec["peak_tflops"].get(data["training"]["precision"]) is None:
        data["training"]["precision"] = "fp16"  # V100-class parts without BF16
    return resolve(data)


def _status(c: Any) -> str:
    return {True: str(c.clause), False: "not controlled", None: "unknown"}[c.controlled]


def _row(model: str, spec: dict[str, Any], sc: Scenario) -> dict[str, Any]:
    r = simulate(sc)
    b = r.step_breakdown_s
    status = classify(spec, "2023-10")
    return {
        "model": model,
        "hardware": spec["name"],
        "precision": r.precision,
        "status_2022": _status(classify(spec, "2022-10")),
        "status_2023": _status(status),
        "feasible": r.feasible,
        "gpu_hours": r.gpu_hours,
        # the 80% interval: simsim's held-out errors (simsim.intervals; derived mode) combined
        # with the uncertain inputs (simsim.uncertainty), else the model error alone
        **r.band_columns("gpu_hours"),
        "_variance_share": r.variance_share,
        # the main stage's tokens at its steady-state rate: what the step breakdown divides
        "steady_gpu_hours": r.train_tokens / r.tokens_per_s * r.n_gpus / 3600.0
        if r.tokens_per_s
        else None,
        "days": r.wall_clock_days,
        "energy_mwh": r.energy_mwh,
        "cost_usd": r.cost_usd,
        "cost_basis": r.cost_basis,
        "mfu_bf16_basis": r.mfu_bf16_basis,
        "layout": ", ".join(f"{k}={r.layout[k]}" for k in ("tp", "pp", "ep", "schedule"))
        if r.layout
        else "",
        "compute_s": b.get("compute"),
        "exposed_comm_s": sum(b.get(k, 0.0) for k in ("tp", "cp", "ep", "pp", "dp")) if b else None,
        "bubble_s": b.get("bubble"),
        "step_s": b.get("step"),
        "why_infeasible": r.infeasible_reason,
    }


#: Outputs whose variance shares the headline report lists.
VARIANCE_OUTPUTS = ("gpu_hours", "cost_usd")


def headline(
    models: list[str] = HEADLINE_MODELS,
    hardware: list[str] = HEADLINE_HARDWARE,
    reference: str = "h100_sxm",
    overrides: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Each model as trained (tokens, GPU count of the scenario) on each chip, with the
    restriction's cost in percent of GPU-hours, days, energy and money against ``reference``."""
    rows = []
    for model in models:
        for hw in hardware:
            rows.append(_row(model, hardware_spec(hw), scenario_for(model, hw, overrides)))
    vs = [row.pop("_variance_share") for row in rows]
    shares = [
        {"model": row["model"], "hardware": row["hardware"], "output": out, "source": src,
         "share": share}
        for row, v in zip(rows, vs, strict=True) for out in VARIANCE_OUTPUTS
        for src, share in v.get(out, {}).items()
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    # which input (or the model error) drives each headline's spread (simsim.uncertainty)
    df.attrs["variance_share"] = pd.DataFrame(
        shares, columns=["model", "hardware", "output", "source", "share"]
    )
    extras = {
        "gpu_hours": "extra_gpu_hours_pct",
        "days": "extra_days_pct",
        "energy_mwh": "extra_energy_pct",
        "cost_usd": "extra_cost_pct",
    }
    for col, out in extras.items():
        ref = df[df["hardware"] == reference].set_index("model")[col]
        df[out] = [
            None if v is None or pd.isna(v) or pd.isna(ref.get(m)) else 100.0 * (v / ref[m] - 1.0)
            for m, v in zip(df["model"], df[col], strict=True)
        ]
    return df


def _variant_rows(
    model: str, variants: list[tuple[dict[str, Any], dict[str, Any]]], overrides: tuple[str, ...]
) -> pd.DataFrame:
    """Simulate ``model`` on each (extra columns, hardware variant) pair; one row each."""
    rows = [{**extra, **_row(model, v, scenario_for(model, v, overrides))} for extra, v in variants]
    return pd.DataFrame(rows)


def tpp_sweep(
    model: str,
    parent: str = "h100_sxm",
    thresholds: list[float] | None = None,
    overrides: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Training cost of ``model`` on the fastest ``parent`` variant under a rule 'TPP >= X is
    controlled', for each X: dense compute is cut to just under the line (bandwidth kept, as H20
    did). Price per GPU-hour is the parent's (an assumption: a cut chip may rent for less)."""
    spec = hardware_spec(parent)
    tpp, _ = total_processing_performance(spec["peak_tflops"])
    xs = thresholds or [600, 1200, 1600, 2400, 3200, 4800, 8000, 12000, tpp + 1]
    variants = []
    for x in xs:
        factor = min(1.0, (x - 1e-6) / tpp)
        variant = dict(with_compute_scaled(spec, factor), name=f"{parent}@tpp<{x:g}")
        variants.append(({"tpp_threshold": x, "compute_fraction": factor}, variant))
    return _variant_rows(model, variants, overrides)


def io_sweep(
    model: str,
    parent: str = "h100_sxm",
    thresholds: list[float] | None = None,
    overrides: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Like :func:`tpp_sweep` for the 2022-style I/O line: scale-up bandwidth is cut so that
    the bidirectional I/O sum stays under each threshold [GB/s], as A800 and H800 did."""
    spec = hardware_spec(parent)
    full_io = io_bidirectional_gbps(spec)
    if full_io is None:
        raise ValueError(f"hardware {parent!r}: pcie_gbps unknown, cannot size the I/O cut")
    xs = thresholds or [300, 400, 500, 600, 800, 1000, full_io + 1]
    variants = []
    for x in xs:
        up = max(min(spec["scale_up_gbps"], max_scale_up_under_io(spec, x)), 1.0)
        variant = dict(spec, scale_up_gbps=up, name=f"{parent}@io<{x:g}")
        variants.append(({"io_threshold_gbps": x, "scale_up_gbps": up}, variant))
    return _variant_rows(model, variants, overrides)


def equivalent_gpus(
    model: str,
    chip: str,
    n_reference: int = 2048,
    reference: str = "h100_sxm",
    overrides: tuple[str, ...] = (),
) -> dict[str, Any]:
    """How many GPUs of ``chip`` deliver the throughput of ``n_reference`` ``reference`` GPUs
    for ``model`` (derived mode, best layout at each size; searched in steps of a node), and
    what reaching the same wall-clock then costs in energy and money."""
    # throughput comparisons: no input-uncertainty draws (simsim.uncertainty) at each size
    overrides = (*overrides, "uncertainty.samples=0")
    ref = simulate(scenario_for(model, reference, (*overrides, f"cluster.n_gpus={n_reference}")))
    target = ref.tokens_per_s or 0.0
    node = hardware_spec(chip)["gpus_per_node"]

    def rate(n: int):
        r = simulate(scenario_for(model, chip, (*overrides, f"cluster.n_gpus={n}")))
        return r if r.feasible else None

    lo, hi = 0, node
    while (r := rate(hi)) is None or (r.tokens_per_s or 0.0) < target:
        lo, hi = hi, hi * 2
        if hi > 64 * n_reference:
            return {
                "model": model,
                "chip": chip,
                "n_gpus": None,
                "why": "not reached at 64x the GPUs",
            }
    while hi - lo > node:  # bisection in whole nodes
        mid = (lo + hi) // 2 // node * node
        r_mid = rate(mid)
        if r_mid is not None and (r_mid.tokens_per_s or 0.0) >= target:
            hi = mid
        else:
            lo = mid
    best = rate(hi)
    assert best is not None
    return {
        "model": model,
        "chip": chip,
        "reference": reference,
        "n_reference": n_reference,
        "n_gpus": hi,
        "ratio": hi / n_reference,
        "energy_mwh": best.energy_mwh,
        "reference_energy_mwh": ref.energy_mwh,
        "cost_usd": best.cost_usd,
        "cost_basis": best.cost_basis,
        "reference_cost_usd": ref.cost_usd,
        "days": best.wall_clock_days,
        "reference_days": ref.wall_clock_days,
    }


@styled
def plot_headline(df: pd.DataFrame, stem: Path) -> list[Path]:
    """GPU-hours per chip for each model, and the step breakdown behind it."""
    models = list(dict.fromkeys(df["model"]))
    fig, axes = subplots(
        1, len(models), figsize=(5.5 * len(models), 4.3), layout="constrained", squeeze=False
    )
    for ax, model in zip(axes[0], models, strict=True):
        sub = df[(df["model"] == model) & df["feasible"]]
        x = np.arange(len(sub))
        step = sub["step_s"].to_numpy(float)
        steady = sub["steady_gpu_hours"].to_numpy(float) / 1e6
        hours = sub["gpu_hours"].to_numpy(float) / 1e6
        parts = [
            ("compute", "compute_s", "C0"),
            ("exposed communication", "exposed_comm_s", "C3"),
            ("bubble", "bubble_s", "C7"),
        ]
        bottom = np.zeros(len(sub))
        for label, col, color in parts:
            share = sub[col].to_numpy(float) / step * steady
            ax.bar(x, share, bottom=bottom, color=color, label=label)
            bottom += share
        ax.bar(x, steady - bottom, bottom=bottom, color="C4", label="data parallel, optimizer")
        ax.bar(x, hours - steady, bottom=steady, color="C5",
               label="whole run: interruptions, checkpoints, ramp-up, other stages")  # fmt: skip
        lo = sub["gpu_hours_p10"].to_numpy(float) / 1e6
        hi = sub["gpu_hours_p90"].to_numpy(float) / 1e6
        if np.isfinite(lo).any():  # whiskers: the 80% interval (P10 may lie above the point)
            ax.vlines(x, lo, hi, color="black", linewidth=1.0,
                      label="80% interval (model error and uncertain inputs)")  # fmt: skip
            ax.plot(np.r_[x, x], np.r_[lo, hi], linestyle="none", marker="_", color="black")
        labels = [f"{h}\n{p}" for h, p in zip(sub["hardware"], sub["precision"], strict=True)]
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_ylabel("GPU-hours [millions]")
        ax.set_title(model, fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7)
    fig.suptitle(
        "Training GPU-hours by chip (derived mode), split by where the step time goes", fontsize=10
    )
    return save_figure(fig, stem)


@styled
def plot_sweep(df: pd.DataFrame, x: str, xlabel: str, stem: Path) -> list[Path]:
    """GPU-hours against a rule's threshold; the right axis reads the same curve as wall-clock
    days on the scenario's cluster."""
    n_gpus = float(df["gpu_hours"].iloc[-1] / df["days"].iloc[-1] / acc.HOURS_PER_DAY)
    fig, ax = subplots(figsize=(6.0, 3.8), layout="constrained")
    ax.plot(df[x], df["gpu_hours"] / 1e6, marker="o", label="simsim")
    lo, hi = (df[c].to_numpy(float) / 1e6 for c in ("gpu_hours_p10", "gpu_hours_p90"))
    if np.isfinite(lo).any():
        ax.fill_between(df[x], lo, hi, alpha=0.2, label="80% interval")
        ax.legend(fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="GPU-hours [millions]")

    def to_days(hours_m: ArrayLike) -> ArrayLike:
        return acc.wall_clock_days(np.asarray(hours_m, dtype=float) * 1e6, n_gpus)

    def to_hours(days: ArrayLike) -> ArrayLike:
        return np.asarray(days, dtype=float) * n_gpus * acc.HOURS_PER_DAY / 1e6

    right = ax.secondary_yaxis("right", functions=(to_days, to_hours))
    right.set_ylabel(f"wall-clock on {n_gpus:.0f} GPUs [days]")
    for axis in (ax.xaxis, ax.yaxis, right.yaxis):
        format_log_axis(axis)
    # a tick at every threshold swept (a log axis over less than a decade shows only one or two)
    xs = df[x].to_numpy(float)
    crowded = np.r_[False, xs[1:] / xs[:-1] < 1.1]  # a tick closer than 10% to the previous
    labels = [
        "" if c else compact_label(float(f"{v:.3g}")) for v, c in zip(xs, crowded, strict=True)
    ]
    ax.set_xticks(xs, labels)
    ax.xaxis.set_minor_formatter(NullFormatter())
    base = str(df["hardware"].iloc[0]).split("@")[0]
    ax.set_title(
        f"{df['model'].iloc[0]} on the fastest {base} variant each threshold allows", fontsize=10
    )
    return save_figure(fig, stem)


def write_headline(df: pd.DataFrame, out: Path) -> list[Path]:
    paths = [write_csv(df, out / "export_controls.csv")]
    if "variance_share" in df.attrs:
        paths.append(write_csv(df.attrs["variance_share"], out / "variance_share.csv"))
    return [*paths, *plot_headline(df, out / "export_controls")]


def format_variance_share(df: pd.DataFrame, output: str = "gpu_hours", top: int = 3) -> str:
    """Per model and chip, the ``top`` sources of ``output``'s spread with their shares."""
    shares = df.attrs.get("variance_share")
    if shares is None or shares.empty:
        return ""
    lines = [f"what drives the spread of {output} (share of its log-variance):"]
    for (model, hw), g in shares[shares["output"] == output].groupby(
        ["model", "hardware"], sort=False
    ):
        g = g[g["share"] >= 0.01].head(top)  # sources with at least 1% of the variance
        parts = ", ".join(
            f"{s} {100 * v:.0f}%" for s, v in zip(g["source"], g["share"], strict=True)
        )
        lines.append(f"  {model:<12} {hw:<12} {parts}")
    return "\n".join(lines)


def format_headline(df: pd.DataFrame) -> str:
    formats = {
        "gpu_hours": "{:,.0f}",
        "gpu_hours_p10": "{:,.0f}",
        "gpu_hours_p90": "{:,.0f}",
        "days": "{:.1f}",
        "energy_mwh": "{:,.0f}",
        "cost_usd": "${:,.0f}",
        "extra_gpu_hours_pct": "{:+.1f}%",
        "extra_cost_pct": "{:+.1f}%",
    }
    columns = ["model", "hardware", "precision", "status_2023", *formats, "layout"]
    return format_frame(df, formats, columns)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hardware", action="append", help="preset(s) to classify (default: all)")
    ap.add_argument("--variant", metavar="PARENT", help="fastest compliant variant of PARENT")
    ap.add_argument("--rule", choices=RULES, default="2023-10")
    ap.add_argument("--headline", action="store_true", help="the DeepSeek-V3 / Llama 3 405B table")
    ap.add_argument("--sweep-tpp", action="store_true", help="cost of --model vs the TPP line")
    ap.add_argument("--sweep-io", action="store_true", help="cost of --model vs the I/O line")
    ap.add_argument(
        "--equivalent", metavar="CHIP", help="GPUs of CHIP matching --n-reference H100s"
    )
    ap.add_argument("--n-reference", type=int, default=2048)
    ap.add_argument("--model", default="deepseek_v3")
    ap.add_argument("--out", type=Path, default=Path("results/export_controls"))
    args = ap.parse_args(argv)
    problems = _check_args(args)
    if problems:
        for p in problems:
            print(f"simsim-export: {p}", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"simsim-export: {p}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"simsim-export: --out {args.out}: cannot write there ({exc.strerror or exc})",
              file=sys.stderr)  # fmt: skip
        return 2


def _check_args(args: argparse.Namespace) -> list[str]:
    """One line per bad flag, naming it and what is allowed."""
    presets, models = available_presets("hardware"), available_presets("model")
    problems = []
    for flag, value in (("--variant", args.variant), ("--equivalent", args.equivalent),
                        *(("--hardware", h) for h in args.hardware or ())):  # fmt: skip
        if value is not None and value not in presets:
            problems.append(
                f"{flag} {value}: not a hardware preset; available: {', '.join(presets)}"
            )
    if args.model not in models:
        problems.append(f"--model {args.model}: not a model preset; available: {', '.join(models)}")
    if args.n_reference < 1:
        problems.append(f"--n-reference {args.n_reference}: must be >= 1")
    if args.out.exists() and not args.out.is_dir():
        problems.append(f"--out {args.out}: is a file; give a directory")
    return problems


def _run(args: argparse.Namespace) -> int:
    if args.variant:
        v = compliant_variant(args.variant, args.rule)
        c = v.pop("classification")
        print(f"{v['name']}: cut {v.pop('cut')}\n  -> {c.reason}; {c.citation}")
        for key in ("peak_tflops", "scale_up_gbps", "pcie_gbps", "hbm_tbps"):
            print(f"  {key}: {v[key]}")
        return 0
    if args.equivalent:
        eq = equivalent_gpus(args.model, args.equivalent, args.n_reference)
        for key, value in eq.items():
            print(f"{key:<22} {value}")
        return 0
    if args.headline:
        df = headline()
        print(format_headline(df))
        print(format_variance_share(df))
        print(f"written: {', '.join(map(str, write_headline(df, args.out)))}")
        return 0
    if args.sweep_tpp or args.sweep_io:
        df = tpp_sweep(args.model) if args.sweep_tpp else io_sweep(args.model)
        print(df.drop(columns=["layout", "why_infeasible"]).to_string(index=False))
        name = "tpp_sweep" if args.sweep_tpp else "io_sweep"
        x = "tpp_threshold" if args.sweep_tpp else "io_threshold_gbps"
        xlabel = "TPP line (controlled at or above)" if args.sweep_tpp else "I/O line [GB/s]"
        stem = args.out / f"{name}_{args.model}"
        paths = [write_csv(df, stem.with_suffix(".csv")), *plot_sweep(df, x, xlabel, stem)]
        print(f"written: {', '.join(map(str, paths))}")
        return 0
    rows = classification_table(args.hardware)
    print(
        f"{'hardware':<12} {'TPP':>6} {'basis':<22} {'PD':>6} {'I/O GB/s':>8}  "
        f"{'Oct 2022 (87 FR 62186)':<24} Oct 2023 (88 FR 73458)"
    )
    for r in rows:
        pd_ = "n/a" if r["performance_density"] is None else f"{r['performance_density']:.2f}"
        io = "n/a" if r["io_gbps"] is None else f"{r['io_gbps']:.0f}"
        print(
            f"{r['hardware']:<12} {r['tpp']:>6.0f} {r['tpp_basis']:<22} {pd_:>6} {io:>8}  "
            f"{r['rule_2022-10']:<24} {r['rule_2023-10']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
