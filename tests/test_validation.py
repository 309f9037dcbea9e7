"""The validation report: the reference set, its filters and sorting, its files, and a
regression pin on simsim's current error against published runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simsim
from simsim.validation import (
    COLUMNS,
    METRICS,
    STEADY_METRICS,
    _steady,
    load_reference,
    summarize,
    validate,
)
from simsim.validation_report import README_END, README_START, main, readme_section

REPO = Path(__file__).resolve().parents[1]

# Current headline errors (median, worst absolute %), each rounded up to the next whole percent:
# derived mode leave one family out (the default: every study predicted with constants fitted
# on the others), and fixed mode. A change that makes simsim worse on the reference set fails
# here; a change that makes it better should lower these pins.
PINNED = {
    # (measured 2026-12-02) worst rows: Phi-3-medium's 42 days on 512 H100 (-52.0%) and
    # Granite 3.0 1B-A400M (-51.7%): the recent whole runs with layouts simsim searches;
    # median 10.6% since Microsoft's Phi rows joined (8.9% before)
    "gpu_hours": (11, 53),
    # Llama 3 405B on 16K GPUs (-20.8%): held out, the default stack's constant is fitted on
    # Skywork-MoE, SmolLM3 and Nemotron-4 15B, whose three rows (micro-batch unpublished,
    # searched) want a lower constant than Meta's run; in sample the fit stays 0.72
    "mfu": (5, 21),
    "tflops_per_gpu": (9, 23),  # GPT-3 on V100 (+22.5%: a whole run's average, layout assumed)
    # DeepSeek-V3 with MTP on B200, Megatron-Bridge 25.11 (+54%: the fine-grained MoE layer
    # of a current FP8 stack, references.md N16); median: Pythia held out
    # median 13.1% since Apertus 70B on 4,096 GH200 joined (+35.9%: Alps' 25 GB/s per GPU
    # Slingshot, the 20% strong-scaling loss its report measures; 12% before)
    "tokens_per_s": (14, 55),
    # Qwen3-235B TP4-EP8-PP8 (Megatron-MoE-ModelZoo, -32.8%: 16 local experts of 512-1,024
    # rows run slower than simsim's grouped GEMM; layout ranking rho 0.4)
    "step_time_s": (5, 33),
    # GPT-3 on V100 (-18.5%); SmolLM3's 24 days came to -3.8% once its ZeRO-0 FP32 all-reduce
    # was modelled as nanotron runs it (it was -35.1% as ZeRO-1)
    "wall_clock_days": (9, 19),
    "energy_mwh": (1, 1),
    "co2_tonnes": (1, 4),
}
PINNED_FIXED = {  # efficiency.mode=fixed: the constant-MFU prior, the same ceilings
    "gpu_hours": (25, 69),  # Granite 3.0 1B-A400M (-68%); median 24.7% with the Phi rows
    "mfu": (25, 48),
    "tflops_per_gpu": (21, 89),
    "tokens_per_s": (33, 443),  # the fixed MFU prior on 256K-token context parallelism
    "step_time_s": (31, 64),  # the fixed MFU prior on Qwen3-235B's four layouts
    "wall_clock_days": (16, 47),
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


#: Each study's held-out error (median and worst absolute %, headline rows with a prediction,
#: derived mode), as measured when the pins were last written (tests/data/study_pins.json). A
#: change that moves one study by more than STUDY_SLACK points fails here even when the
#: aggregate pins above hold; a study not pinned yet (new rows) passes and is pinned by
#: ``python -m tests.test_validation`` (rewrite only with the reason in the commit message).
STUDY_PINS = Path(__file__).parent / "data" / "study_pins.json"
STUDY_SLACK = 1.0


def study_errors(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    head = df[df["headline"] & df["predicted"].notna()]
    by = head.groupby("study")["abs_error_pct"]
    return {
        study: {"median": round(float(med), 2), "worst": round(float(worst), 2)}
        for (study, med), worst in zip(by.median().items(), by.max(), strict=True)
    }


def test_no_study_regresses(table: pd.DataFrame):
    pins = json.loads(STUDY_PINS.read_text())["studies"]
    now = study_errors(table)
    assert set(pins) <= set(now), "a pinned study left the reference set"
    worse = {
        s: (pins[s], now[s])
        for s in pins
        if any(now[s][k] > pins[s][k] + STUDY_SLACK for k in ("median", "worst"))
    }
    assert not worse, worse


def test_fresh_runs_stay_out_of_the_reference_set_and_resolve():
    """simsim/data/fresh_runs.yaml (benchmarks/fresh_runs.py): an out-of-sample check, so none
    of its runs may enter the reference set, nor share a study with a steady-state reference
    row (those fit the constants and the steady-state residuals its bands use; a whole-run row
    fits nothing, so Olmo 3's steady rate may stay fresh beside its whole runs); each is a
    valid scenario with one published figure."""
    from importlib import resources

    import yaml

    from simsim.scenario import compose_dict

    text = resources.files("simsim.data").joinpath("fresh_runs.yaml").read_text("utf-8")
    fresh = yaml.safe_load(text)["runs"]
    steady = {r.get("study") for r in load_reference() if any(_steady(m) for m in r["metrics"])}
    reference = {r["id"] for r in load_reference()}
    assert len(fresh) >= 15
    for run in fresh:
        assert run["id"] not in reference and run["study"] not in steady
        assert run["source"] and len(run["metrics"]) == 1 and run["metrics"][0]["value"] > 0
        simsim.resolve(compose_dict(run["scenario"]))


@pytest.mark.parametrize("metric", list(PINNED))
def test_error_does_not_regress(table: pd.DataFrame, fixed_table: pd.DataFrame, metric: str):
    for df, pins in ((table, PINNED), (fixed_table, PINNED_FIXED)):
        s = summarize(df)
        row = s[(s["metric"] == metric) & (s["group"] == "all")].iloc[0]
        median_pin, worst_pin = pins[metric]
        assert row["median_abs_error_pct"] <= median_pin
        assert row["worst_abs_error_pct"] <= worst_pin


def test_leave_one_family_out_meets_the_steady_state_median(table: pd.DataFrame):
    # Issue 11's first bar, leave one family out on both reference files: steady-state
    # throughput / MFU / step time within 8% median over every headline row with a prediction.
    # (Its other bars -- worst <= 25%, mean signed error within +-4% per class -- are not met;
    # the closing note lists the rows.)
    head = table[table["headline"] & table["steady"]]
    assert len(head) >= 80 and head["predicted"].notna().all()
    assert set(head["metric"]) <= set(STEADY_METRICS)
    assert set(head["study"]) >= {
        "megatron-2021",
        "megascale",
        "nemo-24.07-perf",
        "torchtitan-2412-benchmark",
        "megatron-moe-modelzoo",
    }
    assert head["abs_error_pct"].median() <= 8
    # every steady-state row is held out (only whole-run rows may be calibration)
    assert not (table["role"].eq("calibration") & table["steady"]).any()


def test_each_study_is_predicted_without_its_own_rows():
    # leave one family out: the constants a study is predicted with are fitted on the other
    # studies' rows only (the held-out study's rows are missing from the count)
    from simsim.validation import _entries, _fit_rows, fold_constants

    entries = _entries(None, "derived", ())
    rows = _fit_rows(entries)
    for study in ("megascale", "torchtitan-2412-benchmark"):
        folds = fold_constants(entries, study)
        for stack, (_value, n) in folds.items():
            if stack == "*":
                assert n == sum(r[1] != study for r in rows)
            elif n:
                assert n == sum(r[2] == stack and r[1] != study for r in rows)
    # a stack with too few rows takes the other stacks' pooled fit: its own rows (DeepSeek-V3's
    # two) never set its constant, so its whole-bill comparison is not in-sample
    from simsim.validation import fit_kernel_efficiency

    by_id = {e["id"]: e for e in entries}
    others = [r for r in rows if r[2] != "deepseek"]
    assert fold_constants(entries, None)["deepseek"] == (fit_kernel_efficiency(others, by_id)[0], 0)
    # megascale's own stack has no rows elsewhere: it falls back to the pooled fit
    folds = fold_constants(entries, "megascale")
    assert folds["megascale"] == (folds["*"][0], 0)


def test_layout_ranking_is_spearman():
    from simsim.validation import _spearman

    assert _spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == 1.0
    assert _spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == -1.0
    # one swapped pair of four: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert _spearman(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])) == pytest.approx(0.8)
    # grouped by setup; a setup needs 3 distinct layouts to be ranked
    from simsim.validation import layout_ranking

    df = pd.DataFrame({
        "headline": True, "metric": "tokens_per_s", "run": list("abcde"),
        "setup": ["s1"] * 3 + ["s2"] * 2, "layout_used": ["tp=1", "tp=2", "tp=4", "pp=2", "pp=4"],
        "published": [3.0, 2.0, 1.0, 1.0, 2.0], "predicted": [1.0, 2.0, 3.0, 1.0, 2.0],
    })  # fmt: skip
    ranked = layout_ranking(df)
    assert list(ranked["group"]) == ["s1"] and ranked["spearman"].iloc[0] == pytest.approx(-1.0)
    assert ranked["n_layouts"].iloc[0] == 3


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
    per_metric = s[(s["group"] == "all") & (s["metric"] != "steady_state")]
    assert per_metric[["n", "n_no_prediction"]].sum().sum() == n_headline


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
    assert main(["--run", "no-such-run-xyz", "--out", "/nonexistent"]) == 2
    assert "no published figure matches --run 'no-such-run-xyz'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "{file}"], "--out {file}: cannot write there"),
        (["--out", "{file}/sub"], "--out {file}/sub: cannot write there"),
        (["--update-readme", "{tmp}/missing.md"], "--update-readme {tmp}/missing.md: cannot read"),
        (["--update-readme", "{file}"], "--update-readme {file}: no '<!-- validation:start"),
        (["--update-residuals", "{tmp}/no/such/r.json"], "no folder {tmp}/no/such"),
        (["--update-residuals", "{tmp}"], "--update-residuals {tmp}: is a folder"),
    ],
)
def test_cli_bad_paths_are_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A path simsim-validate cannot use is refused in one line naming the flag, before
    anything is written (the curated results/validation/ and the README stay as they were)."""
    file = tmp_path / "a_file.txt"
    file.write_text("not a README\n")
    fill = {"tmp": str(tmp_path), "file": str(file)}
    before = sorted(tmp_path.rglob("*"))
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err
    assert message.format(**fill) in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before and file.read_text() == "not a README\n"


def test_readme_section_is_the_commands_output(table: pd.DataFrame):
    text = (REPO / "README.md").read_text()
    section = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert section == readme_section(table, summarize(table))


def test_packaged_residuals_are_the_validation_s(table: pd.DataFrame, fixed_table: pd.DataFrame):
    # simsim/data/residuals.json is what `simsim-validate --update-residuals` writes from the
    # leave-one-family-out tables of both modes (the prediction intervals read it)
    from simsim.validation_report import residuals_json

    packaged = (REPO / "simsim" / "data" / "residuals.json").read_text()
    assert packaged == residuals_json(table, fixed_table)


def test_calibration_reproduces_every_configured_constant():
    # configs/software/<stack>.yaml: kernel_efficiency is what simsim-calibrate fits, for every
    # stack (its own steady-state rows on a 0.02 grid, or the pooled fit with fewer than 3)
    import yaml

    from simsim.validation import _entries, fold_constants

    fitted = fold_constants(_entries(None, "derived", ()), None)
    for path in sorted((REPO / "configs" / "software").glob("*.yaml")):
        configured = yaml.safe_load(path.read_text())["kernel_efficiency"]
        assert fitted.get(path.stem, fitted["*"])[0] == configured, path.stem


def test_each_measurement_is_a_pair_of_one_study():
    # a pair isolates one setting of one run: both rows in one study, which leave-one-study-out
    # then predicts without the measurement
    from simsim.validation import MEASUREMENTS, _study, measured_in

    runs = {r["id"]: r for r in load_reference()}
    for m in MEASUREMENTS:
        assert _study(runs[m.base]) == _study(runs[m.variant]), m.label
    assert measured_in() == {
        "megatron-moe-modelzoo": ("efficiency.moe_load_imbalance=1", "software.ep_overlap=0"),
        "torchtitan-asynctp-2506": ("software.tp_overlap=0",),
    }


def test_measured_constants_reproduce():
    # configs/config.yaml's moe_load_imbalance and the async-TP rows' tp_overlap are what the
    # published A/B pairs give (simsim-calibrate --measured; references.md note N8)
    from simsim.calibrate import fit_measured

    imbalance = simsim.resolve(simsim.compose([])).efficiency.moe_load_imbalance
    assert fit_measured("efficiency.moe_load_imbalance") == imbalance  # on its 0.01 grid
    measured = fit_measured("software.tp_overlap")
    assert measured == 0.45
    # the places that carry it: the async-TP reference rows and Megatron-Core's userbuffer overlap
    import yaml

    # (a row whose stack runs without the overlap, Apertus's, sets 0: not a carrier)
    carried = [o for r in load_reference() for o in r.get("scenario", ())
               if o.startswith("software.tp_overlap=") and float(o.split("=")[1]) > 0]  # fmt: skip
    assert len(carried) >= 7 and {float(o.split("=")[1]) for o in carried} == {measured}
    core = yaml.safe_load((REPO / "configs" / "software" / "megatron_core.yaml").read_text())
    assert core["tp_overlap"] == measured
    # the 1F1B all-to-all overlap: the row that runs it carries what its pair measures
    ep = fit_measured("software.ep_overlap")
    assert 0.0 < ep < 1.0
    carried = [o for r in load_reference() for o in r.get("scenario", ())
               if o.startswith("software.ep_overlap=")]  # fmt: skip
    assert carried and {float(o.split("=")[1]) for o in carried} == {ep}


def test_in_sample_rows_of_fitted_stacks_are_calibration():
    df = validate(run="megascale", metric="mfu", mode="derived", lofo=False)
    assert len(df) == 16 and (df["role"] == "calibration").all() and not df["headline"].any()


if __name__ == "__main__":  # write the per-study pins from the current table
    STUDY_PINS.write_text(
        json.dumps(
            {
                "note": "held-out absolute error per study (%), written by "
                "python -m tests.test_validation; see STUDY_PINS in tests/test_validation.py",
                "studies": study_errors(validate()),
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
