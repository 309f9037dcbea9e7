"""Export-control classification against the published classifications, thresholds at their
edges, compliant variants, and the workload reports."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import simsim
from simsim import export_control as X
from simsim import export_report as R

from .conftest import run_cli


def spec(**kw):
    base = {"name": "test", "peak_tflops": {"bf16": 300.0}, "scale_up_gbps": 200.0,
            "pcie_gbps": 64.0, "onchip_nic_gbps": 0.0, "die_mm2": 800.0}  # fmt: skip
    return {**base, **kw}


@pytest.mark.parametrize(
    ("chip", "r2022", "r2023"),
    [
        # published classifications of these chips (88 FR 73458 and its technical notes;
        # SemiAnalysis, 'Wafer Wars', 2023-10-24: simsim/data/references.md)
        ("a100_80gb", "3A090.a", "3A090.a"),
        ("h100_sxm", "3A090.a", "3A090.a"),
        ("a800_80gb", None, "3A090.a"),
        ("h800_sxm", None, "3A090.a"),
        ("h20", None, None),
        ("ascend_910b", None, "3A090.a"),
        ("ascend_910c", "3A090.a", "3A090.a"),
        ("v100", None, None),
    ],
)
def test_published_classifications(chip: str, r2022: str | None, r2023: str | None):
    for rule, expected in (("2022-10", r2022), ("2023-10", r2023)):
        c = X.classify(chip, rule)
        assert c.controlled is (expected is not None), (chip, rule, c.reason)
        assert c.clause == expected
        assert c.citation.startswith("87 FR 62186" if rule == "2022-10" else "88 FR 73458")


def test_tpp_pd_io_of_h100_h20_a800():
    # the presets' figures: H100 TPP 15832, PD 19.45, I/O 1028; H20 2368 / 2.91; A800 I/O 464
    h100 = X.classify("h100_sxm")
    assert h100.tpp == pytest.approx(15832) and h100.performance_density == pytest.approx(
        19.45, abs=0.01
    )
    assert h100.io_gbps == pytest.approx(1028)
    h20 = X.classify("h20")
    assert h20.tpp == pytest.approx(2368) and h20.performance_density == pytest.approx(
        2.91, abs=0.01
    )
    assert X.classify("a800_80gb", "2022-10").io_gbps == pytest.approx(464)


def test_thresholds_fall_on_the_side_the_wording_says():
    # 3A090.a (2022): "4800 or more" and "600 Gbyte/s or more": both bounds inclusive
    at = spec(peak_tflops={"bf16": 300.0}, scale_up_gbps=236.0)  # TPP 4800, I/O 600
    assert X.classify(at, "2022-10").controlled is True
    assert (
        X.classify(spec(peak_tflops={"bf16": 299.99}, scale_up_gbps=236.0), "2022-10").controlled
        is False
    )
    assert (
        X.classify(spec(peak_tflops={"bf16": 300.0}, scale_up_gbps=235.99), "2022-10").controlled
        is False
    )
    # 2023 b.1: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92 ; a.2: TPP >= 1600 and PD >= 5.92
    b1 = X.classify(spec(peak_tflops={"bf16": 150.0}, die_mm2=1500.0))  # TPP 2400, PD 1.6
    assert (b1.controlled, b1.clause) == (True, "3A090.b")
    assert X.classify(spec(peak_tflops={"bf16": 149.99}, die_mm2=1500.0)).controlled is False
    a2 = X.classify(spec(peak_tflops={"bf16": 100.0}, die_mm2=1600 / 5.92))  # TPP 1600, PD 5.92
    assert (a2.controlled, a2.clause) == (True, "3A090.a")


def test_unknown_die_area_is_said_not_guessed():
    c = X.classify(spec(peak_tflops={"bf16": 200.0}, die_mm2=None))  # TPP 3200: depends on PD
    assert c.controlled is None and c.performance_density is None
    assert "die area" in c.reason
    big = X.classify(spec(peak_tflops={"bf16": 400.0}, die_mm2=None))  # TPP 6400: a.1 regardless
    assert (big.controlled, big.clause) == (True, "3A090.a")


def test_non_datacenter_note_2():
    c = X.classify(spec(peak_tflops={"bf16": 200.0}, datacenter=False))
    assert c.controlled is False and "Note 2" in c.reason


def test_classify_accepts_config_and_dict():
    cfg = simsim.compose(["hardware=h800_sxm"])
    assert X.classify(cfg, "2022-10").controlled is False
    assert X.classify(cfg.hardware, "2023-10").clause == "3A090.a"
    assert X.classify(simsim.resolve(cfg).hardware).tpp == pytest.approx(15832)
    assert X.classify(simsim.resolve(cfg).to_dict()["hardware"]).tpp == pytest.approx(15832)
    with pytest.raises(ValueError, match="rule='2021-01'"):
        X.classify("h100_sxm", "2021-01")


def test_compliant_variants_of_h100():
    # 2022: cut the interconnect below the 600 GB/s line (H800 went to 200 GB/s per direction)
    v22 = X.compliant_variant("h100_sxm", "2022-10")
    assert v22["classification"].controlled is False
    assert v22["scale_up_gbps"] == 235.0 and v22["classification"].io_gbps < 600
    assert v22["peak_tflops"]["bf16"] == 989.5
    # 2023: cut dense compute under every line (H20: BF16 148 TFLOP/s, TPP 2368)
    v23 = X.compliant_variant("h100_sxm", "2023-10")
    assert v23["classification"].controlled is False
    assert v23["classification"].tpp < 2400
    assert v23["peak_tflops"]["bf16"] == pytest.approx(148, rel=0.02)
    assert v23["scale_up_gbps"] == 450.0


def test_uncontrolled_parent_needs_no_cut():
    assert X.compliant_variant("h20", "2023-10")["cut"].startswith("nothing")


def test_tpp_sweep_is_monotonic():
    overrides = ("cluster.n_gpus=256", "training.global_batch_tokens=4194304")
    df = R.tpp_sweep("llama3_8b", thresholds=[1200, 2400, 4800, 16000], overrides=overrides)
    hours = df["gpu_hours"].to_list()
    assert all(b <= a for a, b in itertools.pairwise(hours))
    assert hours[0] > 5 * hours[-1]


def test_equivalent_gpus_h20_vs_h100():
    out = R.equivalent_gpus("llama3_8b", "h20", n_reference=64,
                            overrides=("training.global_batch_tokens=4194304",))  # fmt: skip
    # H20 has 148 vs 989.5 BF16 TFLOP/s: a compute-bound dense model needs ~6-7x the GPUs
    assert 5 <= out["ratio"] <= 9
    assert out["n_gpus"] % 8 == 0


def test_export_controls_experiment(tmp_path: Path):
    proc = run_cli("experiment=export_controls", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    df = pd.read_csv(tmp_path / "export_controls.csv")
    assert len(df) == 12 and set(df["model"]) == {"deepseek_v3", "llama3_405b"}
    ref = df[df["hardware"] == "h100_sxm"]
    assert (ref["extra_gpu_hours_pct"] == 0).all()
    h800 = df[df["hardware"] == "h800_sxm"]
    assert (h800["extra_gpu_hours_pct"] >= 0).all()
    h20 = df[(df["hardware"] == "h20")]
    assert (h20["compute_s"] > 0.9 * h20["step_s"]).all()
    assert (tmp_path / "export_controls.png").exists()
    # the committed copy the README shows is what the command writes (run `make export`)
    committed = Path(__file__).resolve().parents[1] / "results" / "export_controls"
    assert (committed / "export_controls.csv").read_text() == (
        tmp_path / "export_controls.csv"
    ).read_text()


def test_cli_table(capsys: pytest.CaptureFixture[str]):
    assert R.main([]) == 0
    out = capsys.readouterr().out
    assert "87 FR 62186" in out and "88 FR 73458" in out and "h20" in out
