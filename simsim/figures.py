"""Report figures that span many scenarios: training cost against model size, dense and MoE, per
chip. ``python -m simsim.figures`` (part of ``make report``) writes ``results/model_size/``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .api import simulate
from .output import write_csv
from .plots import format_log_axis, save_figure, styled, subplots
from .scenario import compose

DENSE = ["llama3_8b", "llama2_70b", "qwen2_72b", "deepseek_67b", "gpt3_175b", "llama3_405b"]
MOE = [
    "deepseek_v2_lite",
    "deepseek_moe_16b",
    "mixtral_8x7b",
    "mixtral_8x22b",
    "deepseek_v2",
    "deepseek_v3",
]
HARDWARE = ["h100_sxm", "h800_sxm", "h20"]


def model_size_table(
    hardware: list[str] = HARDWARE, tokens: float = 15e12, n_gpus: int = 2048, mode: str = "derived"
) -> pd.DataFrame:
    """Every dense and MoE preset trained on ``tokens`` tokens on ``n_gpus`` of each chip (BF16,
    searched layout, 4K sequences, 16M-token batches)."""
    rows = []
    for hw in hardware:
        for kind, models in (("dense", DENSE), ("moe", MOE)):
            for m in models:
                r = simulate(
                    compose(
                        [
                            f"model={m}",
                            f"hardware={hw}",
                            f"training.tokens={tokens}",
                            f"cluster.n_gpus={n_gpus}",
                            "training.global_batch_tokens=16777216",
                            "training.seq_len=4096",
                            f"efficiency.mode={mode}",
                        ]
                    )
                )
                rows.append(
                    {
                        "hardware": hw,
                        "kind": kind,
                        "model": m,
                        "total_params": r.total_params,
                        "active_params": r.active_params,
                        "gpu_hours": r.gpu_hours,
                        "energy_mwh": r.energy_mwh,
                        "cost_usd": r.cost_usd,
                        "feasible": r.feasible,
                        # 80% intervals (model error and uncertain inputs)
                        **r.band_columns("gpu_hours"),
                        **r.band_columns("energy_mwh"),
                        **r.band_columns("cost_usd"),
                    }
                )
    return pd.DataFrame(rows)


@styled
def plot_model_size(df: pd.DataFrame, stem: Path) -> list[Path]:
    """GPU-hours, energy and cost against total parameters; dense filled, MoE hollow."""
    metrics = [
        ("gpu_hours", "GPU-hours"),
        ("energy_mwh", "energy [MWh]"),
        ("cost_usd", "cost [USD]"),
    ]
    # x = parameters active per token (= all of them for a dense model): what a token's compute
    # scales with, so each family's curve is monotone; MoE points are labelled with their model
    fig, axes = subplots(1, 3, figsize=(12, 4.0), layout="constrained")
    for ax, (col, label) in zip(axes, metrics, strict=True):
        for i, hw in enumerate(dict.fromkeys(df["hardware"])):
            for kind, marker in (("dense", "o"), ("moe", "s")):
                sub = df[
                    (df["hardware"] == hw) & (df["kind"] == kind) & df["feasible"]
                ].sort_values("active_params")
                ax.plot(
                    sub["active_params"],
                    sub[col],
                    marker=marker,
                    color=f"C{i}",
                    ls="-" if kind == "dense" else "--",
                    mfc=f"C{i}" if kind == "dense" else "none",
                    label=f"{hw}, {kind}",
                )
                lo, hi = (
                    sub[f"{col}_p{p}"].to_numpy(float) if f"{col}_p{p}" in sub else np.array([])
                    for p in (10, 90)
                )
                if len(lo) and np.isfinite(lo).all():  # the 80% interval as a band
                    ax.fill_between(sub["active_params"], lo, hi, color=f"C{i}", alpha=0.12,
                                    linewidth=0)  # fmt: skip
                if i == 0 and kind == "moe":  # name each MoE once, at the first chip's point
                    for _, row in sub.iterrows():
                        ax.annotate(
                            str(row["model"]), (row["active_params"], row[col]), fontsize=5,
                            xytext=(3, -6), textcoords="offset points", color="0.35",
                        )  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="active parameters per token", ylabel=label)
        format_log_axis(ax.xaxis, subs=(1.0,))
        format_log_axis(ax.yaxis, subs=(1.0,))
    axes[0].legend(fontsize=6)
    fig.suptitle(
        "Training cost vs model size (active parameters), 15T tokens on 2048 GPUs (derived mode;"
        " bands: 80% intervals)",
        fontsize=10,
    )
    return save_figure(fig, stem)


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["results/model_size"])[0])
    df = model_size_table()
    write_csv(df, out / "model_size.csv")
    paths = plot_model_size(df, out / "model_size")
    print(f"written: {out / 'model_size.csv'}, {', '.join(map(str, paths))}")
    ok = df["feasible"].to_numpy()
    print(
        f"{int(ok.sum())} of {len(df)} scenarios feasible; {np.unique(df['hardware']).size} chips"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
