"""Whole-run reliability: interruptions, checkpoints, restarts and the derived goodput."""

from __future__ import annotations

import pytest

import simsim
from simsim.physics import reliability as R

from .conftest import scenario


@pytest.mark.parametrize(
    ("mtbf_h", "published_min"),
    [(24.0, 117.0), (6.0, 57.0), (0.25, 9.1)],
)
def test_daly_optimum_matches_his_figures(mtbf_h: float, published_min: float):
    # Daly 2006 (FGCS 22(3)), figure captions with a 5-minute checkpoint dump: tau_opt = 117 min
    # at M = 24 h, 57 min at 6 h, 9.1 min at 15 min (printed to the minute / tenth)
    tau = float(R.optimal_checkpoint_interval_s(300.0, mtbf_h * 3600.0)) / 60.0
    assert tau == pytest.approx(published_min, abs=0.5 if published_min > 10 else 0.05)


def test_young_is_the_first_order_term():
    # delta << M: Daly's estimate tends to Young's sqrt(2 delta M)
    tau = float(R.optimal_checkpoint_interval_s(1.0, 1e7))
    assert tau == pytest.approx((2.0 * 1.0 * 1e7) ** 0.5, rel=1e-3)


@pytest.mark.parametrize(("interval_min", "published"), [(60.0, 0.70), (5.0, 0.93)])
def test_kokolis_ettr_examples(interval_min: float, published: float):
    # Kokolis et al. HPCA'25 (arXiv:2410.21680, as transcribed): a 16k-GPU job on RSC-1
    # (6.50 failures per 1000 node-days, 8 GPUs a node), 5-minute restart, non-blocking
    # checkpoint writes: expected ETTR 0.7 with hourly checkpoints, 0.93 every 5 minutes
    per_gpu_hour = 6.50e-3 / 8 / 24
    mtbf = 3600.0 / float(R.job_interruptions_per_hour(16384, per_gpu_hour, 0.0))
    ettr = float(R.wasted_fractions(0.0, interval_min * 60.0, mtbf, 300.0)["ettr"])
    assert ettr == pytest.approx(published, abs=0.03)


def test_llama3_405b_effective_training_time_above_90_percent():
    # Llama 3 Herd §3.3.4: "higher than 90% effective training time" on 16,384 H100. The
    # interruption rate comes from the same paper (Table 5), the restart time and the storage
    # bandwidth from elsewhere, so this is a consistency check, not an independent validation.
    r = simsim.simulate(scenario("model=llama3_405b", "hardware=h100_sxm", "cluster.n_gpus=16384"))
    assert r.goodput == r.ettr
    assert 0.9 < r.ettr < 0.95
    lost = sum(r.gpu_hours_lost.values())
    assert lost == pytest.approx(r.gpu_hours * (1.0 - r.ettr), rel=1e-9)


def test_more_gpus_more_interruptions_lower_ettr():
    # the same job on 5x the GPUs (H20 vs H100 for DeepSeek-V3): ~5x the interruption rate,
    # so a lower ETTR; the expected interruptions per wall-clock hour scale with the fleet
    base = ("experiment=deepseek_v3", "efficiency.mode=fixed", "efficiency.mfu=0.2",
            "training.stages=[]", "training.batch_ramp=null")  # fmt: skip
    small = simsim.simulate(scenario(*base, "cluster.n_gpus=2048"))
    big = simsim.simulate(scenario(*base, "cluster.n_gpus=10240"))
    rate = lambda r: r.interruptions_expected / (r.wall_clock_days * 24)  # noqa: E731
    planned = 0.87 / 24
    assert (rate(big) - planned) / (rate(small) - planned) == pytest.approx(5.0, rel=1e-9)
    assert big.ettr < small.ettr


def test_a_job_that_cannot_progress_is_infeasible():
    # a restart every few minutes on a huge fleet: interruptions eat all the time
    r = simsim.simulate(
        scenario("model=llama3_8b", "cluster.n_gpus=64", "reliability.restart_minutes=600",
                 "reliability.interruptions_per_gpu_hour=0.01")
    )  # fmt: skip
    assert not r.feasible and r.gpu_hours is None
    assert "interruptions outpace training" in r.infeasible_reason


def test_given_goodput_overrides_the_derived_one():
    r = simsim.simulate(scenario("model=llama3_8b", "cluster.n_gpus=64", "cluster.goodput=0.8"))
    assert r.goodput == 0.8 and r.gpu_hours_lost == {}
    # 64 GPUs rarely fail: the derived ETTR is the evaluation's share (0.7%) and little more
    assert r.ettr is not None and r.ettr / (1.0 - 0.007) > 0.97
    ideal = simsim.simulate(scenario("model=llama3_8b", "cluster.n_gpus=64", "cluster.goodput=1"))
    assert r.gpu_hours == pytest.approx(ideal.gpu_hours / 0.8, rel=1e-12)


def test_evaluation_takes_its_share_of_the_time_the_interruptions_leave():
    # reliability.evaluation_share (BLOOM's chronicles: 0.7% of training): the ETTR of the
    # failure model times (1 - share), the GPU-hours it costs listed with the other causes
    base = ("model=llama3_70b", "hardware=h100_sxm", "cluster.n_gpus=2048")
    none = simsim.simulate(scenario(*base, "reliability.evaluation_share=0"))
    some = simsim.simulate(scenario(*base, "reliability.evaluation_share=0.05"))
    assert some.ettr == pytest.approx(none.ettr * 0.95, rel=1e-12)
    assert none.gpu_hours_lost["evaluation"] == 0.0
    assert some.gpu_hours_lost["evaluation"] == pytest.approx(
        some.gpu_hours * none.ettr * 0.05, rel=1e-12
    )
    assert sum(some.gpu_hours_lost.values()) == pytest.approx(
        some.gpu_hours * (1.0 - some.ettr), rel=1e-9
    )
    assert some.gpu_hours == pytest.approx(none.gpu_hours / 0.95, rel=1e-9)


def test_asynchronous_checkpoints_waste_less():
    base = ("model=llama3_405b", "hardware=h100_sxm", "cluster.n_gpus=16384")
    sync = simsim.simulate(scenario(*base))
    asyn = simsim.simulate(scenario(*base, "reliability.checkpoint=async"))
    assert asyn.ettr > sync.ettr
    assert asyn.gpu_hours_lost["checkpointing"] < sync.gpu_hours_lost["checkpointing"]


def test_deepseek_v3_whole_bill_by_stage():
    # DeepSeek-V3 tech report Table 1: 2,664K (pre-training) + 119K (context extension) + 5K
    # (post-training) = 2,788K H800 GPU-hours. simsim simulates the pre-training with its batch
    # ramp-up (§4.2) and derived goodput, the two 1000-step context-extension phases (§4.3) with
    # layouts of their own, and takes post-training at its published cost. Accuracy claims: the
    # published total inside the 80% band; its P50 and the point within 10% (issue 12's bar;
    # +9.9% and +8.9% today) and 20% on the context extension (-5%; a bound set after the first
    # measurement, not a prior claim; nothing is fitted to this run).
    r = simsim.simulate(scenario("experiment=deepseek_v3"))
    rows = {s["name"]: s for s in r.stages}
    assert r.gpu_hours == pytest.approx(sum(s["gpu_hours"] for s in r.stages), rel=1e-12)
    band = r.combined_intervals
    assert band["gpu_hours_p10"] < 2.788e6 < band["gpu_hours_p90"]
    assert band["gpu_hours_p50"] == pytest.approx(2.788e6, rel=0.10)
    assert r.gpu_hours == pytest.approx(2.788e6, rel=0.10)
    context = rows["context_32k"]["gpu_hours"] + rows["context_128k"]["gpu_hours"]
    assert context == pytest.approx(119e3, rel=0.20)
    assert rows["post_training"]["gpu_hours"] == 5000
    assert rows["post_training"]["cost_usd"] == pytest.approx(5000 * 2.0)  # $2/h, Table 1
    assert rows["context_128k"]["layout"] != rows["main"]["layout"]  # a layout of its own
    # the ramp-up's smaller batches run slower per token than the full batch
    ramp = [s for s in r.stages if s["name"].startswith("batch ramp-up")]
    assert len(ramp) == 4 and all(
        s["gpu_hours"] / s["tokens"] > rows["main"]["gpu_hours"] / rows["main"]["tokens"]
        for s in ramp
    )
    assert r.train_tokens == 14.8e12  # the contract's training tokens: the main stage's


def test_deepseek_v3_band_holds_with_its_own_study_left_out():
    # the band above is a user's: it takes every held-out residual simsim ships, DeepSeek-V3's
    # own two steady-state rows among the 19 of its class (a bill takes the steady MoE group
    # while the whole-run group is too small). Judged as an accuracy claim, its study is left
    # out of the residuals too (as simsim-validate's coverage does): the published total must
    # still fall inside the model-error band.
    from simsim.intervals import MIN_RESIDUALS, _grouped_rows, factors
    from simsim.validation import validate

    rows = _grouped_rows(validate())
    others = [x for study, group, x in rows if group == "steady/moe" and study != "deepseek-v3"]
    assert MIN_RESIDUALS <= len(others) < sum(group == "steady/moe" for _, group, _ in rows)
    lo, _, hi = factors(sorted(-x for x in others))  # GPU-hours go as 1 / throughput
    r = simsim.simulate(scenario("experiment=deepseek_v3", "uncertainty.samples=0"))
    assert r.gpu_hours * lo < 2.788e6 < r.gpu_hours * hi  # 2.46M .. 4.96M today


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.batch_ramp={start_batch_tokens: 1e9, ramp_tokens: 1e9}",
         "training.batch_ramp.start_batch_tokens=1000000000.0 must be in (0, "),
        ("training.stages=[{name: x, tokens: 1e9, gpu_hours: 5}]",
         "needs exactly one of tokens (simulated) or gpu_hours (given)"),
        ("training.stages=[{name: x, tokens: 1e9, seq_len: 8192, global_batch_tokens: 4096}]",
         "training.stages[0].global_batch_tokens=4096"),
        ("reliability.checkpoint=sometimes", "reliability.checkpoint='sometimes' must be one of"),
        ("reliability.restart_minutes=-1", "reliability.restart_minutes=-1.0 must be >= 0"),
        ("reliability.evaluation_share=1", "reliability.evaluation_share=1.0 must be in [0, 1)"),
    ],
)  # fmt: skip
def test_bad_stage_and_reliability_inputs(override: str, message: str):
    with pytest.raises(simsim.ConfigError) as exc:
        simsim.compose(["model=llama3_8b", override])
    assert message in str(exc.value)
