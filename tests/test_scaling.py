"""Scaling laws against the papers' own numbers, and the MoE dense-equivalent anchors."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import simsim
from simsim import scaling as S
from simsim.shapes import dense_shape

from .conftest import run_cli


def test_epoch_refit_puts_chinchilla_at_70b_and_20_tokens_per_param():
    # Chinchilla: 70B parameters on 1.4T tokens, 5.76e23 FLOPs (Hoffmann et al. 2022); the
    # Besiroglu et al. 2024 refit, as simsim evaluates it, gives 72.2B (+3.2%), 1.33T (-5.1%),
    # 18.4 tokens/param. The tolerances are set just above those measured gaps: they pin the
    # current agreement, not an a-priori accuracy of the refit.
    a = S.compute_optimal(5.76e23, law="besiroglu2024")
    assert a.n_params == pytest.approx(70e9, rel=0.05)
    assert a.n_tokens == pytest.approx(1.4e12, rel=0.06)
    assert 15 <= a.tokens_per_param <= 22


def test_hoffmann_constants_as_published_land_far_smaller():
    # Besiroglu et al. 2024 §3: the published Approach-3 fit implies far fewer parameters and
    # ~90 tokens/param at Chinchilla's budget, inconsistent with Chinchilla itself.
    a = S.compute_optimal(5.76e23, law="hoffmann2022")
    assert a.n_params < 40e9 and a.tokens_per_param > 60


@pytest.mark.parametrize(
    ("flops", "law", "n_b", "d_t"),
    [  # Chinchilla allocations derived from the same constants (references.md note N5)
        (1e23, "besiroglu2024", 29.4, 0.57),
        (1e25, "besiroglu2024", 312.1, 5.34),
        (1e24, "hoffmann2022", 41.3, 4.04),
    ],
)
def test_allocation_table(flops: float, law: str, n_b: float, d_t: float):
    a = S.compute_optimal(flops, law)
    assert a.n_params / 1e9 == pytest.approx(n_b, rel=0.005)
    assert a.n_tokens / 1e12 == pytest.approx(d_t, rel=0.01)
    assert a.n_params * a.n_tokens * 6 == pytest.approx(flops)


def test_inverse_round_trip_and_extrapolation_flag():
    a = S.compute_optimal(3e24)
    back = S.compute_for_loss(a.loss)
    assert back.flops == pytest.approx(3e24, rel=1e-6)
    assert S.compute_optimal(1e26).extrapolated and not S.compute_optimal(1e22).extrapolated
    with pytest.raises(ValueError, match="law='kaplan'"):
        S.compute_optimal(1e24, law="kaplan")


def test_budget_in_gpu_hours_and_dollars():
    f = S.budget_flops(gpu_hours=1e6, hardware="h100_sxm")
    assert f == pytest.approx(1e6 * 3600 * 0.40 * 989.5e12)
    assert S.budget_flops(usd=2.4e6, hardware="h100_sxm") == pytest.approx(f)


def test_clark_effective_parameters():
    # references.md note N5 (Clark et al. 2022 S-BASE): E^ = 53.1 for 64 experts; N_eq/N at
    # N = 1e9: 1.95 (8 experts), 3.70 (64), 5.10 (256); no gain at N = 1e12.
    assert float(S.clark_effective_experts(64)) == pytest.approx(53.1, abs=0.05)
    for e, ratio in ((8, 1.95), (64, 3.70), (256, 5.10)):
        assert float(S.clark_effective_params(1e9, e)) / 1e9 == pytest.approx(ratio, abs=0.01)
    assert float(S.clark_effective_params(1e12, 64)) == pytest.approx(1e12, rel=1e-6)


def test_abnar_readings():
    assert float(S.efficiency_leverage(8.0, "abnar2025")) == pytest.approx(3.0)
    assert float(S.efficiency_leverage(32.0, "abnar2025")) == pytest.approx(6.0)


def test_deepseek_el_reproduces_its_own_anchor():
    # Not a validation: EL_GAMMA's central 0.51 was fitted on this very pair (DeepSeekMoE
    # 16.4B/2.8B matching DeepSeek 7B, 30 layers, d 4096, FFN 11008: 6.07B non-embedding, on the
    # same 2T tokens; arXiv:2401.06066). The check is that the fit and simsim's parameter counts
    # agree: the anchor comes back within 5% (it is 4.1% off: gamma rounded to 0.51, and the
    # paper's 2.8B active counts differ slightly from simsim's).
    d = S.dense_equivalent(simsim.compose(["model=deepseek_moe_16b", "training.tokens=2e12"]))
    dense_7b = 30 * (4 * 4096**2 + 3 * 4096 * 11008)
    assert d.n_params == pytest.approx(dense_7b, rel=0.05)
    assert d.n_tokens == 2e12 and d.framing == "same_data"


def test_deepseek_v2_saves_about_42_percent_gpu_hours_against_67b():
    # DeepSeek-V2 (arXiv:2405.04434) §3.2.3: 172.8K vs 300.6K H800 GPU-hours per 1T tokens
    # (saves 42.5%). simsim's derived mode, same reference-set scenarios: within 15% of the ratio.
    from simsim.validation import load_reference

    runs = {r["id"]: r.get("scenario", []) for r in load_reference()}
    hours = {
        k: simsim.simulate(simsim.compose([*runs[k], "efficiency.mode=derived"])).gpu_hours
        for k in ("dsv2-rate", "ds67b-rate")
    }
    assert hours["dsv2-rate"] / hours["ds67b-rate"] == pytest.approx(172.8 / 300.6, rel=0.15)


def test_dense_equivalent_methods_and_flags():
    cfg = simsim.compose(["experiment=deepseek_v3"])
    results = {m: S.dense_equivalent(cfg, m) for m in S.METHODS}
    assert results["clark2022"].extrapolated  # 37B active >> Clark's 1.3B
    assert all(r.n_params > 37e9 for r in results.values())
    opt = S.dense_equivalent(cfg, "deepseek_el", framing="compute_optimal")
    assert opt.train_flops == pytest.approx(opt.multiplier * 3.857e24, rel=0.01)
    with pytest.raises(ValueError, match="dense"):
        S.dense_equivalent(simsim.compose(["model=llama3_8b"]))


@pytest.mark.parametrize("n", [6e9, 70e9, 400e9])
def test_dense_shape_has_the_requested_size(n: float):
    from simsim.physics.architecture import param_counts
    from simsim.scenario import arch_from_model

    base = simsim.resolve(simsim.compose(["model=llama3_8b"])).to_dict()
    model = simsim.resolve({**base, "model": dense_shape(n, 128256, "x")}).model
    pc = param_counts(arch_from_model(model))
    assert float(pc["total"] - pc["embedding"]) == pytest.approx(n, rel=0.05)


def test_dense_vs_moe_experiment(tmp_path: Path):
    proc = run_cli("experiment=dense_vs_moe", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "dense_vs_moe.csv")
    assert len(df) == 2 * (1 + len(S.METHODS))
    dense = df[df["method"] != "moe (as configured)"]
    assert (dense["moe_saving_gpu_hours_pct"] > 0).all()
    assert (tmp_path / "moe_multiplier.png").exists()
    assert not math.isnan(dense["energy_mwh"].min())
