"""The cost chain: GPU-hours, energy, money and CO2, against published accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simsim
from simsim import accounting as acc


def test_deepseek_v3_headline_cost_is_exact():
    # DeepSeek-V3 tech report (arXiv:2412.19437) Table 1: 2,788K H800 GPU-hours at $2 = $5.576M.
    assert float(acc.rental_cost_usd(2.788e6, 2.0)) == pytest.approx(5.576e6, rel=1e-12)


def test_deepseek_v3_cost_through_simulate():
    # The same chain end to end: DeepSeek's $2/h H800 preset and a fixed MFU chosen so that the
    # run takes the published 2,788K GPU-hours; the cost must be $5.576M to the dollar.
    # the pre-training alone at a given goodput of 1: the identity hours x price
    cfg = simsim.compose(
        ["experiment=deepseek_v3", "efficiency.mode=fixed", "training.stages=[]",
         "training.batch_ramp=null", "cluster.goodput=1"]
    )  # fmt: skip
    r0 = simsim.simulate(cfg)
    mfu = r0.mfu * r0.gpu_hours / 2.788e6
    cfg.efficiency.mfu = mfu
    r = simsim.simulate(cfg)
    assert r.gpu_hours == pytest.approx(2.788e6, rel=1e-12)
    assert r.cost_basis == "rental"
    assert r.cost_usd == pytest.approx(5.576e6, abs=0.5)


def test_patterson_gpt3_energy():
    # Patterson et al. 2021 (arXiv:2104.10350) Table 4: GPT-3, 10,000 V100 x 14.8 days at
    # 330 W measured per accelerator, PUE 1.10 -> 1,287 MWh; 552.1 tCO2e at 0.429 kg/kWh.
    hours = 10_000 * 14.8 * 24
    e = float(acc.energy_mwh(hours, 330.0, 1.10))
    assert e == pytest.approx(1287, rel=0.01)
    assert float(acc.co2_tonnes(1287, 0.429)) == pytest.approx(552.1, rel=0.001)


def test_llama_convention_opt_energy():
    # LLaMA (arXiv:2302.13971) Table 15: OPT-175B 809,472 GPU-h at 400 W, PUE 1.1 -> 356 MWh.
    assert float(acc.energy_mwh(809_472, 400.0, 1.1)) == pytest.approx(356, rel=0.002)


def test_bloom_dynamic_energy_and_carbon():
    # Luccioni et al. 2022 (arXiv:2211.02001): 1,082,990 GPU-h x 400 W = 433,196 kWh dynamic;
    # at 57 gCO2e/kWh -> 24.69 t.
    e = float(acc.energy_mwh(1_082_990, 400.0, 1.0))
    assert e == pytest.approx(433.196, rel=1e-6)
    assert float(acc.co2_tonnes(e, 0.057)) == pytest.approx(24.69, rel=0.001)


def test_owned_cost_by_hand():
    # 1000 GPUs x $30k x 1.65 x 1.235 over 73.05 days (= 0.2 year) at 27.6%/year depreciation.
    capital = float(acc.owned_capital_usd(1000, 30_000, 1.65, 1.235, 0.276, 73.05))
    assert capital == pytest.approx(1000 * 30_000 * 1.65 * 1.235 * 0.276 * 0.2, rel=1e-9)
    assert float(acc.electricity_usd(100.0, 0.08)) == pytest.approx(8_000.0)


def test_gpu_hours_days_and_goodput():
    h = float(acc.gpu_hours(3.6e21, 1e15, 1.0))
    assert h == pytest.approx(1000.0)
    assert float(acc.gpu_hours(3.6e21, 1e15, 0.5)) == pytest.approx(2000.0)
    assert float(acc.wall_clock_days(2400.0, 100)) == pytest.approx(1.0)


def test_owned_cost_used_when_no_rental_price():
    r = simsim.simulate(simsim.compose(["hardware=h20", "training.precision=bf16"]))
    assert r.cost_basis == "owned"
    assert set(r.cost_breakdown_usd) == {"capital_amortised", "electricity"}
    assert r.cost_usd == pytest.approx(sum(r.cost_breakdown_usd.values()))


_LLAMA_8B_FIXED = simsim.resolve(
    simsim.compose(
        [
            "model=llama3_8b",
            "hardware=h100_sxm",
            "efficiency.mode=fixed",
            "efficiency.mfu=0.4",
            "training.global_batch_tokens=16777216",
        ]
    )
)


@settings(max_examples=25, deadline=None)
@given(
    n_gpus=st.sampled_from([256, 512, 1024, 2048, 4096]),
    mfu=st.floats(0.05, 0.9),
    pue=st.floats(1.0, 2.0),
    power_fraction=st.floats(0.3, 1.2),
    overhead=st.one_of(st.just(0.0), st.floats(1e-6, 500.0)),  # inputs: 0 or >= 1e-12
    goodput=st.floats(0.5, 1.0),
)
def test_simulated_chain_identities(n_gpus, mfu, pue, power_fraction, overhead, goodput):
    # energy = power x time x PUE; days = GPU-hours / GPUs / 24; cost = GPU-hours x price;
    # CO2 = energy x grid; all finite. Identities, not reproductions of published figures.
    sc = _LLAMA_8B_FIXED.replace(
        **{
            "cluster.n_gpus": n_gpus,
            "efficiency.mfu": mfu,
            "cluster.pue": pue,
            "cluster.gpu_power_fraction": power_fraction,
            "cluster.node_overhead_w_per_gpu": overhead,
            "cluster.goodput": goodput,
        }
    )
    r = simsim.simulate(sc)
    assert r.feasible
    power = 700 * power_fraction + overhead
    assert r.power_per_gpu_w == pytest.approx(power)
    assert r.energy_mwh == pytest.approx(r.gpu_hours * power * pue / 1e6, rel=1e-12)
    assert r.wall_clock_days == pytest.approx(r.gpu_hours / n_gpus / 24, rel=1e-12)
    assert r.cost_usd == pytest.approx(r.gpu_hours * 2.40, rel=1e-12)
    assert r.co2_tonnes == pytest.approx(r.energy_mwh * 0.385, rel=1e-12)
    ideal = r.train_flops / (mfu * 989.5e12) / 3600
    assert r.gpu_hours == pytest.approx(ideal / goodput, rel=1e-12)
    assert all(
        math.isfinite(x)
        for x in (r.gpu_hours, r.energy_mwh, r.cost_usd, r.co2_tonnes, r.tokens_per_s)
    )


def test_training_cost_picks_rental_where_a_price_is_known():
    # auto: rental where the hourly price is known, else owned capital + electricity (Epoch AI);
    # an owned run with no purchase price has no cost (NaN), never a guess
    nan = float("nan")
    parts = acc.training_cost_usd(
        "auto", hours=[1000.0, 1000.0, 1000.0], days=10.0, energy=5.0, n_gpus=8,
        price_usd_per_hour=[2.0, nan, nan], purchase_usd=[nan, 25_000.0, nan],
        server_cost_overhead=1.65, interconnect_cost_overhead=1.235, depreciation_per_year=0.276,
        usd_per_kwh=0.08,
    )  # fmt: skip
    total = parts["rental"] + parts["capital_amortised"] + parts["electricity"]
    assert list(parts["use_rental"]) == [True, False, False]
    assert total[0] == pytest.approx(2000.0)
    owned = 8 * 25_000 * 1.65 * 1.235 * 0.276 * 10 / 365.25 + 5.0 * 1e3 * 0.08
    assert total[1] == pytest.approx(owned)
    assert np.isnan(total[2])


def test_bills_of_many_runs_are_each_runs_bill():
    # simulate_many bills every run in one vectorised pass per cost model (api._bills): each
    # element must be exactly what the run's own bill is, whatever the mix of cost models,
    # rental and owned prices and chips in the batch
    from simsim.api import _bills

    def sc(*ov: str):
        return simsim.resolve(simsim.compose(["model=llama3_8b", *ov]))

    runs = [
        (sc("hardware=h100_sxm"), 1.0e5),
        (sc("hardware=h20", "training.precision=bf16"), 3.3e5),  # owned: no rental price
        (sc("hardware=h100_sxm", "cluster.cost_model=owned", "cluster.pue=1.4"), 2.5e4),
        (sc("hardware=ascend_910b", "cluster.n_gpus=512"), 7.7e5),
        (sc("hardware=b200", "cluster.grid_kgco2_per_kwh=0.05"), 1.0),
    ]
    batch = _bills(runs)
    for (s, hours), bill in zip(runs, batch, strict=True):
        alone = _bills([(s, hours)])[0]
        assert bill == alone  # exact: the same element-wise arithmetic
        days = hours / s.cluster.n_gpus / 24.0
        assert bill["wall_clock_days"] == pytest.approx(days, rel=1e-12)
        power = s.hardware.tdp_w * s.cluster.gpu_power_fraction + s.cluster.node_overhead_w_per_gpu
        energy = hours * power * s.cluster.pue / 1e6
        assert bill["energy_mwh"] == pytest.approx(energy, rel=1e-12)
        assert bill["co2_tonnes"] == pytest.approx(energy * s.cluster.grid_kgco2_per_kwh, rel=1e-12)
        if bill["cost_basis"] == "rental":
            assert bill["cost_usd"] == pytest.approx(hours * s.hardware.price_usd_per_hour)
    assert {b["cost_basis"] for b in batch} >= {"rental", "owned"}
