"""The command line as a user runs it: a single run, a Hydra multirun, and determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import simsim
from simsim.scenario import resolve_all

from .conftest import run_cli


def test_single_run_writes_json_csv_and_plot(tmp_path: Path):
    out = tmp_path / "run"
    proc = run_cli("experiment=deepseek_v3", f"hydra.run.dir={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "GPU-hours" in proc.stdout and "deepseek_v3 on 2048 x h800_sxm" in proc.stdout
    doc = json.loads((out / "result.json").read_text())
    assert doc["simsim_version"] == simsim.__version__
    assert doc["config"]["training"]["precision"] == "fp8"
    assert doc["config"]["parallel"]["pp"] == 16
    api = simsim.simulate(simsim.compose(["experiment=deepseek_v3"]))
    assert doc["result"]["gpu_hours"] == api.gpu_hours
    assert doc["result"]["layout"]["ep"] == 64
    rows = list(csv.DictReader((out / "result.csv").open()))
    assert len(rows) == 1
    assert float(rows[0]["gpu_hours"]) == api.gpu_hours
    assert rows[0]["layout.schedule"] == "dualpipe"
    assert (out / "flops_breakdown.png").stat().st_size > 10_000
    assert (out / "flops_breakdown.svg").read_text().startswith("<?xml")


def test_output_dir_override(tmp_path: Path):
    proc = run_cli(
        "model=llama3_8b",
        "hardware=h100_sxm",
        f"output.dir={tmp_path / 'mine'}",
        "output.plot=false",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine" / "result.json").exists()
    assert not (tmp_path / "mine" / "flops_breakdown.png").exists()


def test_multirun_over_hardware(tmp_path: Path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "hardware=h100_sxm,h800_sxm,h20",
        "output.plot=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert sorted(d["result"]["hardware"] for d in docs) == ["h100_sxm", "h20", "h800_sxm"]
    hours = {d["result"]["hardware"]: d["result"]["gpu_hours"] for d in docs}
    # derived mode: H800 has H100's FLOP/s and less bandwidth, so it is never faster; H20 has
    # about 1/6.7 of the FLOP/s (148 vs 989.5 TFLOP/s BF16) and more HBM bandwidth
    assert hours["h800_sxm"] >= hours["h100_sxm"]
    assert 4 < hours["h20"] / hours["h100_sxm"] < 6.7
    # the merge callback: one table and one comparison plot for the whole sweep
    merged = list(csv.DictReader((sweep / "merged.csv").open()))
    assert sorted(r["hardware"] for r in merged) == ["h100_sxm", "h20", "h800_sxm"]
    assert all("hardware=" in r["overrides"] for r in merged)
    assert (sweep / "comparison.png").exists()


def test_same_config_gives_byte_identical_outputs(tmp_path: Path):
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        proc = run_cli(
            "model=mixtral_8x7b", "cluster.n_gpus=256", f"hydra.run.dir={out}", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    names = ("result.json", "result.csv", "flops_breakdown.png", "flops_breakdown.svg",
             "cost_breakdown.png", "cost_breakdown.svg")  # fmt: skip
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_infeasible_scenario_reports_reason(tmp_path: Path):
    proc = run_cli(
        "model=llama3_405b", "cluster.n_gpus=8", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path
    )
    assert proc.returncode == 3  # infeasible: exit 3, the table and result.json say why
    assert "INFEASIBLE" in proc.stdout and "does not fit" in proc.stdout
    doc = json.loads((tmp_path / "r" / "result.json").read_text())
    assert doc["result"]["feasible"] is False
    assert doc["result"]["gpu_hours"] is None


def test_committed_default_result_is_current():
    # results/default/ is what `make run` writes; it is committed for the README, so a model
    # change that alters it must also update it (run `make run`), or this fails.
    from simsim.output import result_document

    repo = Path(__file__).resolve().parents[1]
    committed = json.loads((repo / "results" / "default" / "result.json").read_text())
    sc, app = resolve_all(simsim.compose(["experiment=deepseek_v3", "output.dir=results/default"]))
    fresh = json.loads(json.dumps(result_document(simsim.simulate(sc), sc, app)))
    assert fresh == committed


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_multirun_launchers(tmp_path: Path, launcher: str):
    # hydra-joblib-launcher runs jobs in parallel locally; hydra-submitit-launcher's local
    # executor exercises the same path as submitit_slurm on a cluster.
    sweep = tmp_path / "sweep"
    extra = (
        ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=5"]
    )
    proc = run_cli(
        "-m", "hardware=h100_sxm,h20", "output.plot=false", f"hydra/launcher={launcher}",
        *extra, f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    merged = list(csv.DictReader((sweep / "merged.csv").open()))
    assert sorted(r["hardware"] for r in merged) == ["h100_sxm", "h20"]


def test_multirun_reports_a_bad_job_and_runs_the_others(tmp_path: Path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "model=llama3_8b", "cluster.n_gpus=64,-1,128", "output.plot=false",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = list(csv.DictReader((sweep / "merged.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "cluster.n_gpus=-1 must be >= 1" in rows[1]["error"]
    assert rows[2]["n_gpus"] == "128" and float(rows[2]["gpu_hours"]) > 0


def test_readme_shows_the_committed_default_table():
    repo = Path(__file__).resolve().parents[1]
    table = (repo / "results" / "default" / "summary.txt").read_text().rstrip("\n")
    assert f"```text\n{table}\n```" in (repo / "README.md").read_text()


def test_committed_default_figures_are_current(tmp_path: Path):
    # the README shows results/default/*.png: re-render them and compare byte for byte
    from simsim.plots import plot_costs, plot_result

    repo = Path(__file__).resolve().parents[1]
    sc = simsim.resolve(simsim.compose(["experiment=deepseek_v3"]))
    r = simsim.simulate(sc)
    plot_result(r, tmp_path / "flops_breakdown")
    plot_costs(r, sc, tmp_path / "cost_breakdown")
    for name in ("flops_breakdown.png", "cost_breakdown.png", "cost_breakdown.svg"):
        fresh = (tmp_path / name).read_bytes()
        assert fresh == (repo / "results" / "default" / name).read_bytes(), name


def test_cost_figure_of_a_chip_without_a_price_has_no_empty_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # gh200 has no published price: the cost is unknown, so its figure shows energy, GPU-hours
    # and step time only (an empty cost panel drew a legend with no entries and warned)
    import warnings

    from matplotlib.figure import Figure

    from simsim import plots

    sc = simsim.resolve(simsim.compose(["model=llama3_8b", "hardware=gh200", "cluster.n_gpus=64"]))
    r = simsim.simulate(sc)
    assert r.cost_usd is None
    shown: list[Figure] = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: shown.append(fig) or [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_costs(r, sc, tmp_path / "cost_breakdown")
    labels = [ax.get_xlabel() for ax in shown[0].axes]
    assert labels == ["energy [MWh]", "GPU-hours (whole run)", "step time [s]"]
