"""The validation report: the reference set, its filters and sorting, its files, and a
regression pin on simsim's current error against published runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

import simsim
from simsim.validation import COLUMNS, METRICS, load_reference, summarize, validate
from simsim.validation_report import README_END, README_START, main, summary_markdown

REPO = Path(__file__).resolve().parents[1]

# Current headline errors (median, worst absolute %, all held-out runs), each rounded up to the
# next whole percent, in derived mode (the default) and in fixed mode. A change that makes simsim
# worse on the reference set fails here; a change that makes it better should lower these pins.
PINNED = {
    "gpu_hours": (16, 32),  # Llama 3.1 405B is calibration since the goodput model uses its record
    "mfu": (7, 11),
    "tflops_per_gpu": (8, 62),
    "step_time_s": (5, 10),
    "wall_clock_days": (34, 35),
    "energy_mwh": (1, 1),
    "co2_tonnes": (1, 4),
}
# fixed mode's GPU-hours median rose 11 -> 15 when goodput became derived and Llama 3.1 405B
# left the held-out rows (its MFU prior was already optimistic on some whole runs, which now
# also pay for interruptions)
PINNED_FIXED = {
    "gpu_hours": (15, 35),
    "mfu": (27, 48),
    "tflops_per_gpu": (21, 101),
    "step_time_s": (31, 64),
    "wall_clock_days": (32, 48),
    "energy_mwh": (1, 1),
    "co2_tonnes": (1, 4),
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return validate()


@pytest.fixture(scope="module")
def fixed_table() -> pd.DataFrame:
    return validate(mode="fixed")


def test_reference_set_is_complete():
    runs = load_reference()
    assert len(runs) >= 40
    ids = [r["id"] for r in runs]
    assert len(ids) == len(set(ids))
    for r in runs:
        assert r["source"] and r["arch"] in ("dense", "moe") and r["family"]
        for m in r["metrics"]:
            assert m["status"] in ("primary", "secondary", "derived", "unverified")
            if m["metric"] == "mfu":
                assert m["peak_tflops"] > 0 and m["flops"]


def test_no_run_is_given_its_own_efficiency():
    # the weaker tools' trick: feeding a run its measured MFU and calling the match a validation
    for r in load_reference():
        assert not any(o.startswith(("efficiency.", "+efficiency")) for o in r.get("scenario", []))


def test_every_metric_appears(table: pd.DataFrame):
    assert set(table["metric"]) == set(METRICS)
    assert list(table.columns) == COLUMNS


@pytest.mark.parametrize("metric", list(PINNED))
def test_error_does_not_regress(table: pd.DataFrame, fixed_table: pd.DataFrame, metric: str):
    for df, pins in ((table, PINNED), (fixed_table, PINNED_FIXED)):
        s = summarize(df)
        row = s[(s["metric"] == metric) & (s["group"] == "all")].iloc[0]
        median_pin, worst_pin = pins[metric]
        assert row["median_abs_error_pct"] <= median_pin
        assert row["worst_abs_error_pct"] <= worst_pin


def test_derived_mode_meets_its_targets(table: pd.DataFrame):
    # Issue 4's bar, on held-out runs only: MFU and TFLOP/s per GPU on the runs that publish
    # their layout (Megatron-LM 2021 Table 1, MegaScale, Llama 3 405B, DeepSeek-V3) within 10%
    # median and 25% worst; GPU-hours of whole runs within 20% median.
    head = table[table["headline"]]
    perf = head[head["metric"].isin(["mfu", "tflops_per_gpu"]) & (head["layout"] == "published")]
    assert len(perf) >= 20 and perf["predicted"].notna().all()
    assert set(perf["family"]) >= {"A100", "H100", "H800"}
    assert perf["abs_error_pct"].median() <= 10
    assert perf["abs_error_pct"].max() <= 25
    hours = head[head["metric"] == "gpu_hours"]
    assert len(hours) >= 8 and hours["abs_error_pct"].median() <= 20


def test_patterson_energy_within_ten_percent(table: pd.DataFrame):
    # Patterson et al. 2021 Table 4, given its hours, chips, power and PUE.
    rows = table[table["run"].isin(["t5-11b", "meena", "gshard-600b", "switch-1500b", "gpt3-175b"])]
    energy = rows[rows["metric"] == "energy_mwh"]
    assert len(energy) == 5
    assert (energy["abs_error_pct"] < 10).all()


def test_derived_and_unverified_stay_out_of_headline(table: pd.DataFrame):
    assert not table[table["status"].isin(["derived", "unverified"])]["headline"].any()
    s = summarize(table)
    n_headline = int(table["headline"].sum())
    assert s[s["group"] == "all"][["n", "n_no_prediction"]].sum().sum() == n_headline


def test_sorted_worst_first(table: pd.DataFrame):
    assert table["headline"].is_monotonic_decreasing
    head = table[table["headline"]].dropna(subset=["abs_error_pct"])
    assert head["abs_error_pct"].is_monotonic_decreasing


def test_filters():
    only = validate(metric="gpu_hours")
    assert set(only["metric"]) == {"gpu_hours"}
    h800 = validate(hardware="H800")
    assert set(h800["family"]) == {"H800"} and len(h800) >= 4
    by_preset = validate(hardware="a100_80gb", metric=["mfu", "tflops_per_gpu"])
    assert set(by_preset["hardware"]) == {"a100_80gb"}
    glob = validate(run="megatron21-*")
    assert len(glob) == 10 and glob["run"].str.startswith("megatron21-").all()
    regex = validate(run="llama3-405b")
    assert set(regex["run"]) == {
        "llama3-405b-8192gpu",
        "llama3-405b-16384gpu",
        "llama3-405b-16384gpu-cp16",
    }
    with pytest.raises(ValueError, match="metric='bogus'"):
        validate(metric="bogus")


def test_python_entry_point_is_public():
    assert simsim.validate is validate


def test_cli_writes_csv_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["--hardware", "H800", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dsv3-pretrain" in out and "Summary" in out
    with (tmp_path / "validation.csv").open() as f:
        header = next(csv.reader(f))
    assert header == COLUMNS
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"metric", "group", "median_abs_error_pct", "worst_abs_error_pct"} <= set(
        summary.columns
    )
    assert (tmp_path / "parity.png").stat().st_size > 10_000
    assert (tmp_path / "parity.svg").exists()


def test_cli_bad_filter(capsys: pytest.CaptureFixture[str]):
    assert main(["--run", "no-such-run-xyz", "--out", "/nonexistent"]) == 1
    assert "no published figure" in capsys.readouterr().err


def test_readme_section_is_the_commands_output(table: pd.DataFrame):
    text = (REPO / "README.md").read_text()
    section = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert section == summary_markdown(summarize(table))


@pytest.mark.parametrize("software", ["megatron_lm", "megascale"])
def test_calibration_reproduces_the_configured_constant(software: str):
    # configs/software/<stack>.yaml: kernel_efficiency fitted by simsim-calibrate on the stack's
    # calibration rows (megatron_lm: megascale-mlm-*, 2.1%; megascale: half of megascale-mls-*,
    # 3.4%). A coarse grid around the configured value must pick it again.
    import yaml

    from simsim.calibrate import fit

    configured = yaml.safe_load((REPO / "configs" / "software" / f"{software}.yaml").read_text())
    k = configured["kernel_efficiency"]
    value, err = fit(software, grid=(round(k - 0.1, 2), k, round(k + 0.1, 2)))
    assert value == k
    assert err < 0.04


def test_calibration_and_held_out_runs_are_disjoint():
    # every MegaScale row is either fitted or judged, never both; half of MegaScale's own rows
    # are held out (512, 1024, 6144, 12288 GPUs)
    df = validate(run="megascale", metric="mfu", mode="derived")
    roles = dict(zip(df["run"], df["role"], strict=True))
    held = [r for r, role in roles.items() if role != "calibration"]
    assert sorted(held) == sorted(f"megascale-mls-{n}" for n in (512, 1024, 6144, 12288))
    assert sum(role == "calibration" for role in roles.values()) == 12
