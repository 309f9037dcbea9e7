"""Input uncertainty (simsim.uncertainty): ranges with sources, Latin-hypercube propagation,
intervals by source and combined, variance shares."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import simsim
from simsim.intervals import PERCENTILES
from simsim.uncertainty import MODEL_ERROR, latin_hypercube, percentiles

from .conftest import scenario

PUE = 'uncertainty.inputs=[{path: cluster.pue, low: 1.2, high: 1.6, source: "test range"}]'
RESTART = 'uncertainty.inputs=[{path: reliability.restart_minutes, low: 5, high: 20, source: "t"}]'
LAYOUT = ("parallel.tp=8", "parallel.pp=4", "parallel.zero_stage=1", "parallel.schedule=1f1b",
          "parallel.micro_batch=1")  # fmt: skip


def _llama(*extra: str) -> simsim.Scenario:
    return scenario("model=llama3_70b", "hardware=h100_sxm", "cluster.n_gpus=1024", *LAYOUT,
                    *extra)  # fmt: skip


def test_latin_hypercube_has_one_draw_per_stratum():
    u = latin_hypercube(500, 3, 7)
    for j in range(3):
        strata = np.sort(np.floor(u[:, j] * 500).astype(int))
        assert (strata == np.arange(500)).all()
    assert not np.array_equal(u[:, 0], u[:, 1])  # independent orders


@pytest.mark.parametrize("n", [1, 2, 10, 999, 1000])
def test_percentiles_are_numpys_to_the_bit(n: int):
    # ties and a constant row included: the intervals must not move by a bit when the faster
    # sort-based percentile stands in for np.percentile
    rng = np.random.default_rng(n)
    x = np.vstack([rng.lognormal(size=(5, n)) * 1e6, np.round(rng.random((2, n)), 1),
                   np.full((1, n), 3.7)])  # fmt: skip
    assert np.array_equal(percentiles(x), np.percentile(x, PERCENTILES, axis=1))


def test_bill_input_is_propagated_exactly():
    # energy = hours x W x PUE: with PUE uniform in [1.2, 1.6] alone, the energy's P10 / P90 are
    # the point's at PUE 1.24 / 1.56 (GPU-hours do not move)
    r = simsim.simulate(_llama(PUE))
    e0 = r.energy_mwh / 1.1  # the scenario's PUE is the default 1.1
    iv = r.input_intervals
    assert iv["energy_mwh_p10"] == pytest.approx(e0 * 1.24, rel=2e-3)
    assert iv["energy_mwh_p90"] == pytest.approx(e0 * 1.56, rel=2e-3)
    assert iv["gpu_hours_p10"] == iv["gpu_hours_p90"] == pytest.approx(r.gpu_hours)
    assert r.variance_share.get("gpu_hours", {}).get("cluster.pue", 0.0) == 0.0


def test_variance_share_of_two_independent_sources():
    # CO2 = hours x W x PUE x grid intensity: with PUE uniform in [1.2, 1.6] and the grid in
    # [0.3, 0.5] kg/kWh, two independent sources of its log-variance (closed forms below)
    grid = "{path: cluster.grid_kgco2_per_kwh, low: 0.3, high: 0.5, source: t}"
    pue = "{path: cluster.pue, low: 1.2, high: 1.6, source: t}"
    r = simsim.simulate(_llama(f"uncertainty.inputs=[{pue},{grid}]"))

    def log_variance(a: float, b: float) -> float:  # of ln(x), x uniform in [a, b]
        def moment(k: int, x: float) -> float:  # antiderivative of ln(x)^k, k = 1, 2
            lx = np.log(x)
            return x * (lx - 1) if k == 1 else x * (lx * lx - 2 * lx + 2)

        mean = (moment(1, b) - moment(1, a)) / (b - a)
        return (moment(2, b) - moment(2, a)) / (b - a) - mean**2

    v_pue, v_grid = log_variance(1.2, 1.6), log_variance(0.3, 0.5)
    share = r.variance_share["co2_tonnes"]  # the model error is a third source of the bill's
    inputs = share["cluster.pue"] + share["cluster.grid_kgco2_per_kwh"]
    assert inputs + share["model error"] == pytest.approx(1.0)
    assert share["cluster.pue"] / inputs == pytest.approx(v_pue / (v_pue + v_grid), rel=0.03)
    assert share["cluster.grid_kgco2_per_kwh"] / inputs == pytest.approx(
        v_grid / (v_pue + v_grid), rel=0.03
    )
    energy = r.variance_share["energy_mwh"]  # the grid moves only CO2
    assert energy["cluster.grid_kgco2_per_kwh"] == 0.0
    assert energy["cluster.pue"] + energy["model error"] == pytest.approx(1.0)


def test_reliability_input_matches_a_direct_simulation():
    # the 90th percentile of the restart time (5 + 0.9 x 15 = 18.5 min) gives the GPU-hours'
    # P90: the bill is monotone in it, and the ETTR model is evaluated exactly per draw
    r = simsim.simulate(_llama(RESTART))
    direct = simsim.simulate(_llama("reliability.restart_minutes=18.5",
                                    "uncertainty.samples=0"))  # fmt: skip
    assert r.input_intervals["gpu_hours_p90"] == pytest.approx(direct.gpu_hours, rel=1e-3)
    assert r.input_intervals["gpu_hours_p90"] > r.gpu_hours  # 10 min nominal, 18.5 min worse


def test_performance_input_is_simulated_at_the_ends_of_its_range():
    # Ascend 910B's BF16 peak is quoted from 256 to 376 TFLOP/s (the preset's range): the
    # GPU-hours' spread lies between the preset's point (376) and a run at 256 with the same layout
    sc = scenario("model=llama3_70b", "hardware=ascend_910b", "cluster.n_gpus=1024",
                  "uncertainty.inputs=[]")  # fmt: skip
    r = simsim.simulate(sc)
    assert [u["path"] for u in r.uncertain_inputs] == [
        "hardware.peak_tflops.bf16", "hardware.peak_tflops.fp16"]  # fmt: skip
    lay = r.layout
    fixed = [f"parallel.{k}={lay[k]}" for k in ("tp", "pp", "ep", "cp", "zero_stage",
                                                "micro_batch", "schedule")]  # fmt: skip
    slow = simsim.simulate(scenario("model=llama3_70b", "hardware=ascend_910b",
                                    "cluster.n_gpus=1024", "hardware.peak_tflops.bf16=256",
                                    "uncertainty.samples=0", *fixed))  # fmt: skip
    iv = r.input_intervals
    assert r.gpu_hours < iv["gpu_hours_p10"] < iv["gpu_hours_p50"] < iv["gpu_hours_p90"]
    assert iv["gpu_hours_p90"] < slow.gpu_hours
    assert r.variance_share["gpu_hours"]["hardware.peak_tflops.bf16"] > 0.1
    assert r.variance_share["gpu_hours"]["hardware.peak_tflops.fp16"] == 0.0  # bf16 training


def test_combined_interval_and_shares():
    # throughput carries both sources: the model's held-out error (steady/dense) and Ascend
    # 910B's quoted BF16 peak (256-376 TFLOP/s, simulated at the ends of its range)
    r = simsim.simulate(scenario("model=llama3_70b", "hardware=ascend_910b",
                                 "cluster.n_gpus=1024", "uncertainty.inputs=[]"))  # fmt: skip
    c = r.combined_intervals
    assert c["tokens_per_s_p10"] < c["tokens_per_s_p50"] < c["tokens_per_s_p90"]
    shares = r.variance_share["tokens_per_s"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares[MODEL_ERROR] > 0 and shares["hardware.peak_tflops.bf16"] > 0
    # the combined spread is at least either source's (the model error's quantiles of the
    # combination and of simsim.intervals differ by the quantile rule: 5% slack)
    m, i = r.intervals, r.input_intervals
    width = lambda iv: iv["tokens_per_s_p90"] / iv["tokens_per_s_p10"]  # noqa: E731
    assert width(c) >= 0.95 * max(width(m), width(i))


def test_same_config_gives_byte_identical_intervals():
    a = simsim.simulate(_llama(PUE))
    latin_hypercube.cache_clear()  # the second run draws its own hypercube from the seed
    b = simsim.simulate(_llama(PUE))
    dump = lambda r: json.dumps([r.input_intervals, r.combined_intervals, r.variance_share])  # noqa: E731
    assert dump(a) == dump(b)
    other = simsim.simulate(_llama(PUE, "uncertainty.seed=1"))
    assert dump(other) != dump(a)


def test_samples_zero_turns_it_off():
    r = simsim.simulate(_llama("uncertainty.samples=0"))
    assert r.input_intervals == {} and r.variance_share == {} and r.uncertain_inputs == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("[{path: cluster.pue, low: 0.5, high: 1.2, source: x}]", "uncertainty.inputs[0].low"),
        ("[{path: cluster.pue, low: 1.5, high: 1.2, source: x}]", "must be <= high"),
        ("[{path: cluster.nope, low: 1, high: 2, source: x}]", "must name a numeric field"),
        ("[{path: parallel.tp, low: 1, high: 2, source: x}]", "parallel.* and uncertainty.*"),
        ("[{path: model.name, low: 1, high: 2, source: x}]", "must name a numeric field"),
        ("[{path: cluster.pue, low: 1.1, high: 2}]", "source"),
    ],
)
def test_bad_ranges_are_config_errors(inputs: str, message: str):
    with pytest.raises(simsim.ConfigError, match=re.escape(message)):
        scenario(f"uncertainty.inputs={inputs}")


def test_a_null_field_cannot_be_uncertain():
    with pytest.raises(simsim.ConfigError, match="is null in this scenario"):
        scenario(
            "hardware=h800_sxm",
            "uncertainty.inputs=[{path: hardware.purchase_usd, low: 1, high: 2, source: x}]",
        )


def test_an_input_that_breaks_the_layout_is_named_not_dropped_silently():
    # 40-50 GiB of HBM cannot hold DeepSeek-V3's published layout: the range is not propagated
    # and the result says so
    sc = scenario("experiment=deepseek_v3", "uncertainty.inputs=[{path: hardware.hbm_gib, "
                  "low: 40, high: 50, source: t}]")  # fmt: skip
    r = simsim.simulate(sc)
    assert r.feasible
    assert any("hardware.hbm_gib not propagated" in a for a in r.assumptions)
    assert r.variance_share.get("gpu_hours", {}).get("hardware.hbm_gib", 0.0) == 0.0
