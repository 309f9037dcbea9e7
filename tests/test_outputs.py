"""An output directory holds one run's complete set of files or nothing: no stale files from an
earlier run, no mix of two concurrent runs, nothing left behind by a failed or killed run, and
a filtered validation never replaces the curated one."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simsim import validation_report
from simsim.output import staged_output

from .conftest import REPO, run_cli


def _staging_left(d: Path) -> list[Path]:
    return list(d.glob(".simsim-staging-*"))


def test_a_failed_run_publishes_nothing(tmp_path: Path):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "result.json").write_text("{}")  # an earlier run's file
    with pytest.raises(RuntimeError), staged_output(out) as stage:
        (stage / "result.csv").write_text("half")
        raise RuntimeError("plotting failed")
    assert sorted(p.name for p in out.iterdir() if p.name != ".simsim.lock") == ["result.json"]
    assert _staging_left(out) == []


def test_a_new_run_removes_the_files_the_old_one_left(tmp_path: Path):
    out = tmp_path / "out"
    with staged_output(out) as stage:
        for name in ("result.json", "flops_breakdown.png", "cost_breakdown.png"):
            (stage / name).write_text("old")
    (out / "notes.txt").write_text("mine")  # not simsim's: kept
    with staged_output(out) as stage:
        (stage / "result.json").write_text("new")
    names = {p.name for p in out.iterdir()} - {".simsim.lock"}
    assert names == {"result.json", "notes.txt"}
    assert (out / "result.json").read_text() == "new"


def test_concurrent_runs_into_one_directory_do_not_mix(tmp_path: Path):
    out = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simsim",
                f"model={m}",
                "cluster.n_gpus=64",
                "output.plot=false",
                f"output.dir={out}",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for m in ("llama3_8b", "mixtral_8x7b")
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    doc = json.loads((out / "result.json").read_text())
    row = next(csv.DictReader((out / "result.csv").open()))
    summary = (out / "summary.txt").read_text()
    assert row["model"] == doc["result"]["model"] == doc["config"]["model"]["name"]
    assert f"{row['model']} on 64" in summary
    assert _staging_left(out) == []


def test_sigterm_leaves_a_complete_set_or_nothing(tmp_path: Path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simsim", "model=llama3_8b", "cluster.n_gpus=64",
         f"output.dir={out}"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.2)  # start-up done, usually while plotting
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    written = {p.name for p in out.iterdir()} - {".simsim.lock"} if out.exists() else set()
    full = {"result.json", "result.csv", "summary.txt", "flops_breakdown.png",
            "flops_breakdown.svg", "cost_breakdown.png", "cost_breakdown.svg"}  # fmt: skip
    assert written in (set(), full)
    assert not out.exists() or _staging_left(out) == []


def test_unwritable_output_dir_is_one_line_and_exit_2(tmp_path: Path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    proc = run_cli("model=llama3_8b", f"output.dir={blocker}", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"simsim: output.dir={blocker}: cannot write there")
    assert "Traceback" not in proc.stderr


def test_filtered_validation_never_touches_curated_outputs(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert validation_report.main(["--run", "megatron21-1.7b"]) == 0
    assert "not written" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()
    readme = tmp_path / "README.md"
    readme.write_text("x")
    assert validation_report.main(["--run", "megatron21", "--update-readme", str(readme)]) == 2
    assert readme.read_text() == "x"
    assert validation_report.main(["--run", "megatron21-1.7b", "--out", "kept"]) == 0
    assert (tmp_path / "kept" / "validation.csv").is_file()
    assert os.listdir(tmp_path / "kept")


def test_written_files_follow_the_umask(tmp_path: Path):
    old = os.umask(0o022)
    try:
        with staged_output(tmp_path / "o") as stage:
            from simsim.output import atomic_write_text

            atomic_write_text(stage / "result.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "o" / "result.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "nope"], "--variant nope: not a hardware preset; available: a100_40gb, "),
        (["--equivalent", "h20", "--n-reference", "0"], "--n-reference 0: must be >= 1"),
        (["--model", "gpt5"], "--model gpt5: not a model preset"),
    ],
)
def test_export_flags_are_named_errors(args: list[str], message: str, capsys):
    from simsim import export_report

    assert export_report.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_export_out_that_is_a_file(tmp_path: Path, capsys):
    from simsim import export_report

    f = tmp_path / "f"
    f.write_text("x")
    assert export_report.main(["--headline", "--out", str(f)]) == 2
    assert f"--out {f}: is a file" in capsys.readouterr().err


def test_committed_svgs_are_rounded_to_a_stated_precision():
    # simsim.plots.SVG_DECIMALS: every number in a committed SVG has at most that many decimals,
    # so the last digits of floats that differ between machines never reach git
    import re

    from simsim.plots import SVG_DECIMALS

    svgs = sorted((REPO / "results").glob("*/*.svg"))
    assert len(svgs) >= 8
    too_long = re.compile(r"\d\.\d{%d,}" % (SVG_DECIMALS + 1))  # noqa: UP031
    for svg in svgs:
        assert not too_long.search(svg.read_text(encoding="utf-8")), svg
