"""Layout choice and memory: feasible or infeasible with a reason, never a guess."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import simsim
from simsim import ConfigError
from simsim.engine import GIB, choose_layout, memory_per_gpu
from simsim.physics import memory as M

from .conftest import arch, scenario


def test_model_state_bytes_per_recipe():
    # Megatron-LM dist_optimizer.md: bf16 params + fp32 grads + fp32 master/Adam = 18 B/param,
    # distributed optimizer 6 + 12/d. DeepSeek-V3 §3.3.3 recipe (BF16 moments): 14 B, 6 + 8/d.
    assert float(M.model_state_bytes(1.0, 1, 0, "bf16")) == 18.0
    assert float(M.model_state_bytes(1.0, 64, 1, "bf16")) == pytest.approx(6 + 12 / 64)
    assert float(M.model_state_bytes(1.0, 1, 0, "fp8")) == 14.0
    assert float(M.model_state_bytes(1.0, 128, 1, "fp8")) == pytest.approx(6 + 8 / 128)
    # ZeRO-3 (Rajbhandari et al. 2020 §5): everything sharded
    assert float(M.model_state_bytes(1.0, 16, 3, "bf16")) == pytest.approx(18 / 16)
    # ZeRO-2: weights replicated, gradients and optimizer sharded
    assert float(M.model_state_bytes(1.0, 16, 2, "bf16")) == pytest.approx(2 + 16 / 16)


def test_memory_is_vectorized_over_layouts():
    a = arch("model=deepseek_v3")
    tp = np.array([1, 1, 2, 8])
    pp = np.array([16, 8, 8, 4])
    ep = np.array([64, 32, 8, 64])
    fixed = {
        "precision": "fp8", "recompute": "selective", "schedule": "1f1b", "seq_len": 4096,
        "n_gpus": 2048, "cp": 1, "zero_stage": 1, "micro_batch": 1, "n_microbatches": 32,
    }  # fmt: skip
    grid = memory_per_gpu(a, tp=tp, pp=pp, ep=ep, **fixed)["total"]
    assert grid.shape == (4,)
    for i in range(4):
        one = memory_per_gpu(a, tp=tp[i], pp=pp[i], ep=ep[i], **fixed)["total"]
        assert float(one) == pytest.approx(grid[i])
    # more model parallelism never needs more memory per GPU
    assert grid[0] < grid[1]


def test_deepseek_v3_published_layout_fits_h800():
    # DeepSeek-V3 trained with PP16 / EP64 / ZeRO-1 / DualPipe and no TP on 80 GB H800s
    # (tech report §3.2); simsim must find that layout feasible and report it as given.
    sc = scenario("experiment=deepseek_v3")
    c = choose_layout(sc, arch("experiment=deepseek_v3"))
    assert c.feasible, c.reason
    assert (c.layout["tp"], c.layout["pp"], c.layout["ep"], c.layout["dp"]) == (1, 16, 64, 128)
    assert c.layout["n_microbatches"] == 120  # 15360 sequences / dp 128
    assert 0 < c.memory_gb["total"] * 1e9 <= 80 * GIB


def test_dense_layout_chosen_when_unset():
    r = simsim.simulate(
        simsim.compose(["model=llama3_405b", "hardware=h100_sxm", "cluster.n_gpus=16384"])
    )
    assert r.feasible
    lay = r.layout
    assert lay["tp"] * lay["pp"] * lay["cp"] * lay["dp"] == 16384
    assert lay["given"] == []
    assert r.memory_gb_per_gpu is not None and r.memory_gb_per_gpu * 1e9 <= 80 * GIB * 0.9


def test_model_too_big_is_infeasible_with_reason():
    r = simsim.simulate(
        simsim.compose(["model=llama3_405b", "hardware=h100_sxm", "cluster.n_gpus=8"])
    )
    assert not r.feasible
    assert "does not fit in usable HBM" in r.infeasible_reason
    assert r.gpu_hours is None and r.cost_usd is None and r.energy_mwh is None
    assert r.flops_per_token > 0  # FLOPs do not depend on feasibility


def test_layout_that_does_not_divide_gpus_is_a_config_error():
    # a contradiction in the given layout is the user's input, not an infeasible scenario
    with pytest.raises(ConfigError, match=r"parallel.tp\*parallel.pp=128 must divide cluster"):
        simsim.compose(["parallel.tp=8", "parallel.pp=16", "cluster.n_gpus=1000"])
    with pytest.raises(ConfigError, match=r"=1001 must equal cluster.n_gpus=1024"):
        simsim.compose(
            [
                "cluster.n_gpus=1024",
                *(f"parallel.{k}=1" for k in ("tp", "pp", "cp")),
                "parallel.dp=1001",
            ]
        )
    with pytest.raises(ConfigError, match=r"parallel.cp=3 must divide training.seq_len=4096"):
        simsim.compose(["parallel.cp=3"])


def test_batch_too_small_for_data_parallel():
    r = simsim.simulate(
        simsim.compose(
            [
                "model=llama3_8b",
                "parallel.tp=1",
                "parallel.pp=1",
                "training.global_batch_tokens=8192",
            ]
        )
    )
    assert not r.feasible
    assert "global batch is smaller than dp*micro_batch" in r.infeasible_reason


def test_given_fields_are_kept():
    r = simsim.simulate(
        simsim.compose(["model=llama3_70b", "parallel.tp=4", "parallel.zero_stage=1"])
    )
    assert r.layout["tp"] == 4 and r.layout["zero_stage"] == 1
    assert r.layout["given"] == ["tp", "zero_stage"]


def test_more_gpus_never_slower_in_fixed_mode():
    rates = [
        simsim.simulate(simsim.compose(["model=llama3_70b", f"cluster.n_gpus={n}"])).tokens_per_s
        for n in (256, 512, 1024, 2048)
    ]
    assert all(b > a for a, b in itertools.pairwise(rates))
