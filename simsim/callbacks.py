"""Hydra callbacks. ``MergeResults`` runs at the end of a multirun (``simsim -m ...``): it merges
every job's ``result.json`` into one table (``merged.csv``, one row per job, the job's overrides
as a column) and draws the comparison plot (``comparison.{png,svg}``) in the sweep directory, so
nobody globs output folders by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .output import write_csv
from .plots import save_figure, styled, subplots


def _flatten(result: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in result.items():
        if key == "alternative_layouts":
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                row[f"{key}.{sub}"] = ",".join(map(str, v)) if isinstance(v, list) else v
        else:
            row[key] = value
    return row


def merge_sweep(sweep_dir: Path) -> pd.DataFrame:
    """One row per job of a multirun: its overrides, ``status`` (``ok``, or ``failed`` with the
    ``error`` that stopped the job) and every scalar result field."""
    rows = []
    paths = [*sweep_dir.glob("*/result.json"), *sweep_dir.glob("*/error.json")]
    for path in sorted(paths, key=lambda p: p.parent.name):
        doc = json.loads(path.read_text())
        overrides_file = path.parent / ".hydra" / "overrides.yaml"
        job = path.parent.name
        overrides = overrides_file.read_text().strip() if overrides_file.exists() else job
        row = {"job": job, "overrides": overrides.replace("\n", " ")}
        if path.name == "error.json":
            row.update(status="failed", error="; ".join(doc["error"]))
        else:
            row.update(status="ok", error="", **_flatten(doc["result"]))
        rows.append(row)
    return pd.DataFrame(rows)


@styled
def plot_comparison(df: pd.DataFrame, stem: Path) -> list[Path]:
    """GPU-hours and energy per job (label: model on hardware)."""
    labels = [
        f"{m}\n{h} x{n}" for m, h, n in zip(df["model"], df["hardware"], df["n_gpus"], strict=True)
    ]
    fig, (ax1, ax2) = subplots(
        1, 2, figsize=(max(6.0, 1.2 * len(df) + 3), 3.8), layout="constrained"
    )
    ax1.bar(labels, df["gpu_hours"].fillna(0) / 1e6, color="C0")
    ax1.set_ylabel("GPU-hours [millions]")
    ax2.bar(labels, df["energy_mwh"].fillna(0), color="C2")
    ax2.set_ylabel("energy [MWh]")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.suptitle("simsim multirun: one bar per job (empty = infeasible)", fontsize=10)
    return save_figure(fig, stem)


class MergeResults(Callback):
    """Registered in ``configs/config.yaml`` under ``hydra.callbacks``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        df = merge_sweep(sweep_dir)
        if df.empty:
            return
        write_csv(df, sweep_dir / "merged.csv")
        ok = df[df["status"] == "ok"]
        if "gpu_hours" in ok and len(ok):
            plot_comparison(ok, sweep_dir / "comparison")
        failed = int((df["status"] == "failed").sum())
        print(
            f"merged {len(df)} jobs ({failed} failed): {sweep_dir / 'merged.csv'}"
            if failed
            else f"merged {len(df)} jobs: {sweep_dir / 'merged.csv'}"
        )
