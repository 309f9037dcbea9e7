"""Numeric sweeps: the vectorized grid equals point-by-point single runs."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

import simsim
from simsim import ConfigError

from .conftest import run_cli, scenario

AXES = {
    "cluster.n_gpus": [256, 1024],
    "training.tokens": [2e12, 15e12],
    "cluster.pue": [1.1, 1.4],
    "efficiency.mfu": [0.3, 0.45],
}


@pytest.mark.parametrize("mode", ["fixed", "derived"])
def test_sweep_matches_single_runs(mode: str):
    base = ["model=mixtral_8x7b", "hardware=h100_sxm", "training.global_batch_tokens=4194304",
            f"efficiency.mode={mode}"]  # fmt: skip
    axes = (
        dict(AXES) if mode == "fixed" else {k: v for k, v in AXES.items() if k != "efficiency.mfu"}
    )
    df = simsim.sweep(simsim.compose(base), axes)
    assert len(df) == int(np.prod([len(v) for v in axes.values()]))
    for values in itertools.product(*axes.values()):
        row = df
        for k, v in zip(axes, values, strict=True):
            row = row[row[k] == v]
        assert len(row) == 1
        r = simsim.simulate(
            simsim.compose([*base, *(f"{k}={v}" for k, v in zip(axes, values, strict=True))])
        )
        for field in (
            "gpu_hours",
            "wall_clock_days",
            "energy_mwh",
            "cost_usd",
            "co2_tonnes",
            "mfu",
        ):
            assert row[field].iloc[0] == pytest.approx(getattr(r, field), rel=1e-9), field
        assert row["train_flops"].iloc[0] == pytest.approx(r.train_flops)


def test_a_staged_run_sweeps_to_its_whole_bill():
    """A run in stages (DeepSeek-V3: batch ramp-up, two context extensions, given
    post-training): every point's GPU-hours are the whole run's, as simulate() bills it, with
    a swept token count, goodput or fleet (the sweep once priced every token at the main
    stage's rate: 2.886M GPU-hours against simulate's 3.014M)."""
    sc = scenario("experiment=deepseek_v3", "uncertainty.samples=0")
    axes = {"training.tokens": [14.8e12, 16e12], "cluster.goodput": [0.9],
            "cluster.n_gpus": [2048, 4096]}  # fmt: skip
    df = simsim.sweep(sc, axes)
    assert len(df) == 4
    for row in df.to_dict("records"):
        r = simsim.simulate(sc.replace(**{k: row[k] for k in axes}))
        assert r.stages
        for field in ("gpu_hours", "wall_clock_days", "energy_mwh", "cost_usd", "co2_tonnes"):
            assert row[field] == pytest.approx(getattr(r, field), rel=1e-9), field
    # derived goodput (no goodput axis): the simulated stages keep their own ETTR
    df = simsim.sweep(sc, {"cluster.n_gpus": [2048, 3072]})
    for row in df.to_dict("records"):
        r = simsim.simulate(sc.replace(**{"cluster.n_gpus": row["cluster.n_gpus"]}))
        assert row["gpu_hours"] == pytest.approx(r.gpu_hours, rel=1e-9)


def test_nested_axes_and_errors():
    cfg = simsim.compose(["model=llama3_8b"])
    df = simsim.sweep(cfg, {"cluster": {"n_gpus": [64, 128]}})
    assert list(df["cluster.n_gpus"]) == [64, 128]
    with pytest.raises(ConfigError, match=r"sweep\.axes\.cluster\.n_gpu"):
        simsim.sweep(cfg, {"cluster.n_gpu": [1, 2]})
    with pytest.raises(ConfigError, match="empty"):
        simsim.sweep(cfg, {"cluster.pue": []})


def test_infeasible_points_are_flagged():
    df = simsim.sweep(simsim.compose(["model=llama3_405b"]), {"cluster.n_gpus": [8, 4096]})
    assert list(df["feasible"]) == [False, True]
    assert np.isnan(df["gpu_hours"].iloc[0]) and df["gpu_hours"].iloc[1] > 0


def test_cli_sweep(tmp_path: Path):
    proc = run_cli(
        "model=llama3_8b", "sweep.axes.cluster.n_gpus=[64,128,256]",
        "sweep.axes.training.tokens=[1e12,2e12]", f"output.dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'h'}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert len(rows) == 6
    import pandas as pd

    parquet = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(parquet) == 6 and parquet["gpu_hours"].iloc[0] == pytest.approx(
        float(rows[0]["gpu_hours"]), rel=1e-5
    )
    assert {"cluster.n_gpus", "training.tokens", "gpu_hours", "energy_mwh"} <= set(rows[0])


def test_report_figures_are_byte_identical(tmp_path: Path):
    import pandas as pd

    from simsim.figures import plot_model_size

    df = pd.DataFrame({
        "hardware": ["h100_sxm"] * 4, "kind": ["dense", "dense", "moe", "moe"],
        "model": list("abcd"), "total_params": [1e10, 1e11, 5e10, 5e11],
        "active_params": [1e10, 1e11, 1e10, 4e10], "gpu_hours": [1e5, 1e6, 5e4, 3e5],
        "energy_mwh": [80.0, 800.0, 40.0, 240.0], "cost_usd": [2e5, 2e6, 1e5, 6e5],
        "feasible": [True] * 4,
    })  # fmt: skip
    for col in ("gpu_hours", "energy_mwh", "cost_usd"):  # 80% bands
        df[f"{col}_p10"], df[f"{col}_p90"] = df[col] * 0.8, df[col] * 1.3
    a = plot_model_size(df, tmp_path / "one")
    b = plot_model_size(df, tmp_path / "two")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name
