"""Issue 11's physics: FP8 recipes, MoE routing imbalance and overlap, unfused attention, the
NVL72 scale-up domain, and the presets the second reference set needs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import simsim
from simsim.physics import architecture as A
from simsim.scenario import arch_from_model

from .conftest import matches_published, scenario

QWEN = [
    "model=qwen3_30b_a3b", "hardware=h100_sxm", "software=megatron_core", "cluster.n_gpus=16",
    "training.seq_len=4096", "training.global_batch_tokens=2097152", "parallel.tp=1",
    "parallel.pp=1", "parallel.cp=1", "parallel.micro_batch=1", "parallel.schedule=1f1b",
]  # fmt: skip


def _rate(*overrides: str) -> float:
    r = simsim.simulate(scenario(*overrides))
    assert r.feasible, r.infeasible_reason
    assert r.tokens_per_s is not None
    return r.tokens_per_s


def test_fp8_recipes_cost_their_casts():
    # same GEMM rate; the recipes differ in the bytes they move to quantise: delayed scaling 4
    # B/element < DeepSeek's block-wise 5 < per-tensor current scaling and MXFP8 6 (torchao's
    # cost model; DeepSeek-V3 §3.5.2)
    base = ["model=llama3_8b", "hardware=h100_sxm", "training.precision=fp8",
            "cluster.n_gpus=8", "training.global_batch_tokens=1048576", "parallel.tp=1",
            "parallel.pp=1", "parallel.micro_batch=1"]  # fmt: skip
    rates = {r: _rate(*base, f"training.fp8_recipe={r}") for r in
             ("delayed", "tensorwise", "blockwise", "mxfp8")}  # fmt: skip
    assert rates["delayed"] > rates["blockwise"] > rates["tensorwise"]
    assert rates["tensorwise"] == pytest.approx(rates["mxfp8"], rel=0.01)
    # and FP8 is faster than BF16 end to end, by less than the 2x of the peaks
    bf16 = _rate(*base[:2], *base[3:])
    assert 1.1 < rates["delayed"] / bf16 < 2.0


def test_dropless_routing_pays_the_busiest_rank():
    forced = _rate(*QWEN, "parallel.ep=8", "model.moe.load_imbalance=1")
    dropless = _rate(*QWEN, "parallel.ep=8")  # efficiency.moe_load_imbalance (1.50, measured)
    assert dropless < 0.9 * forced
    # with every expert on one rank there is no busiest rank to wait for
    one_rank = [*QWEN, "parallel.ep=1", "parallel.pp=8", "training.recompute=full"]
    one_rank.remove("parallel.pp=1")
    assert _rate(*one_rank) == pytest.approx(_rate(*one_rank, "model.moe.load_imbalance=1"))


def test_expert_all_to_all_overlap_hides_exposed_traffic():
    sc = scenario(*QWEN, "parallel.ep=16", "model.moe.load_imbalance=1")
    plain = simsim.simulate(sc)
    hidden = simsim.simulate(sc.replace(**{"software.ep_overlap": 1.0}))
    # hidden up to the compute it overlaps: what is left is the all-to-all beyond it
    assert plain.step_breakdown_s["ep"] > hidden.step_breakdown_s["ep"] >= 0
    assert hidden.step_time_s < plain.step_time_s


def test_unfused_attention_pays_for_the_scores():
    # Megatron-LM 2021 wrote the s x s scores to HBM: the longer the sequence, the larger the gap
    def gap(seq: int) -> float:
        common = ["model=llama3_8b", "hardware=a100_80gb", "cluster.n_gpus=64",
                  f"training.seq_len={seq}", "training.global_batch_tokens=4194304",
                  "parallel.tp=1", "parallel.pp=1", "parallel.cp=1",
                  "parallel.micro_batch=1"]  # fmt: skip
        return _rate(*common) / _rate(*common, "software.fused_attention=false")

    assert 1.0 < gap(2048) < gap(8192)


def test_nvl72_keeps_the_expert_all_to_all_on_nvlink():
    # EP64: inside one GB200 NVL72 rack the all-to-all rides NVLink; on 8-GPU B200 nodes most of
    # it crosses the 400 Gb/s scale-out network
    common = ["model=deepseek_v3", "model.moe.load_imbalance=1", "software=megatron_core",
              "cluster.n_gpus=256", "training.precision=bf16",
              "training.global_batch_tokens=16777216",
              "parallel.tp=1", "parallel.pp=4", "parallel.ep=64", "parallel.cp=1",
              "parallel.micro_batch=1", "parallel.schedule=1f1b"]  # fmt: skip
    gb = simsim.simulate(scenario(*common, "hardware=gb200"))
    b = simsim.simulate(scenario(*common, "hardware=b200"))
    assert gb.step_breakdown_s["ep"] < 0.25 * b.step_breakdown_s["ep"]


@pytest.mark.parametrize(
    ("model", "total", "active", "unit", "no_input_embedding"),
    [
        # published totals / actives: Qwen3 model cards, Skywork-MoE report ("146B", "22B"),
        # OpenAI's gpt-oss card (5.13B leaves out the input embedding simsim counts), Nemotron-4
        # report ("340B"); matched within 1% or the figure's own rounding (tests/test_hf.py)
        ("qwen3_235b_a22b", 235e9, 22e9, 1e9, False),
        ("qwen3_30b_a3b", 30.5e9, 3.3e9, 0.1e9, False),
        ("skywork_moe", 146e9, 22e9, 1e9, False),
        ("gpt_oss_120b", 116.83e9, 5.13e9, 0.01e9, True),
        ("nemotron4_340b", 340e9, None, 1e9, False),
    ],
)
def test_new_model_presets_match_their_published_sizes(
    model: str, total: float, active: float | None, unit: float, no_input_embedding: bool
):
    sc = scenario(f"model={model}")
    counts = {k: float(v) for k, v in A.param_counts(arch_from_model(sc.model)).items()}
    assert matches_published(counts["total"], total, unit), counts["total"]
    if active is None:
        assert counts["active"] == counts["total"]
    else:
        embedding = sc.model.vocab_size * sc.model.d_model if no_input_embedding else 0
        assert matches_published(counts["active"] - embedding, active, unit), counts["active"]


def test_power_capped_h100_is_slower():
    common = ["model=llama3_8b", "cluster.n_gpus=8", "training.global_batch_tokens=1048576",
              "parallel.tp=1", "parallel.pp=1", "parallel.micro_batch=2"]  # fmt: skip
    assert _rate(*common, "hardware=h100_96gb_500w") < _rate(*common, "hardware=h100_sxm")


def test_small_kernels_wait_for_the_host():
    # a 0.3B model at one 256-token sequence per micro-batch: each kernel is a few microseconds
    # of GPU work, so 10 us of host time per launch (eager PyTorch) sets the pace; a step captured
    # in a CUDA graph (host_us_per_kernel=0) does not wait
    common = ["model=llama3_8b", "model.n_layers=16", "model.d_model=1024", "model.n_heads=8",
              "model.n_kv_heads=8", "model.d_ff=2816", "model.vocab_size=32000",
              "hardware=h100_sxm", "cluster.n_gpus=8", "training.seq_len=256",
              "training.global_batch_tokens=65536", "parallel.tp=1", "parallel.pp=1",
              "parallel.micro_batch=1"]  # fmt: skip
    eager = _rate(*common)
    graphed = _rate(*common, "software.host_us_per_kernel=0")
    assert graphed > 1.2 * eager
    # big micro-batches hide the host entirely
    big = [c.replace("training.seq_len=256", "training.seq_len=8192") for c in common]
    big = [c.replace("training.global_batch_tokens=65536", "training.global_batch_tokens=1048576")
           for c in big]  # fmt: skip
    assert _rate(*big) == pytest.approx(_rate(*big, "software.host_us_per_kernel=0"))


def test_prediction_intervals_come_from_held_out_errors():
    # simsim.intervals: P10/P50/P90 = the point value times the median and conformal bounds of
    # the packaged held-out residuals of its group (bill outputs: whole run; rates: steady);
    # a whole-run group with fewer residuals than an 80% conformal bound needs takes its class's
    # steady-state residuals negated (GPU-hours go as 1 / throughput)
    from importlib import resources

    from simsim.intervals import MIN_RESIDUALS, factors, residuals

    packaged = json.loads(resources.files("simsim.data").joinpath("residuals.json").read_text())

    sc = scenario("experiment=deepseek_v3")
    r = simsim.simulate(sc)
    iv = r.intervals
    groups = {"gpu_hours": "whole_run/moe", "energy_mwh": "whole_run/moe",
              "cost_usd": "whole_run/moe", "co2_tonnes": "whole_run/moe",
              "wall_clock_days": "whole_run/moe", "tokens_per_s": "steady/moe",
              "mfu": "steady/moe"}  # fmt: skip
    for name, group in groups.items():
        value = getattr(r, name)
        own = packaged["groups"][group]
        if len(own) < MIN_RESIDUALS:
            steady = packaged["groups"][group.replace("whole_run", "steady")]
            lo, mid, hi = factors(steady)
            assert factors(residuals()[group]) == pytest.approx((1 / hi, 1 / mid, 1 / lo))
        for p, f in zip((10, 50, 90), factors(residuals()[group]), strict=True):
            assert iv[f"{name}_p{p}"] == pytest.approx(value * f, rel=1e-12)
        assert iv[f"{name}_p10"] <= iv[f"{name}_p50"] <= iv[f"{name}_p90"]
    # DeepSeek-V3's published 2.788M GPU-hours (Table 1, all stages) inside its 80% interval
    assert r.combined_intervals["gpu_hours_p10"] < 2.788e6 < r.combined_intervals["gpu_hours_p90"]
    # deterministic, and CSV columns of their own
    assert simsim.simulate(sc).intervals == iv
    assert r.to_row()["tokens_per_s_p90"] == iv["tokens_per_s_p90"]


def test_conformal_bounds():
    # n = 3 or 5 residuals: the whole range; n = 74: the 7th smallest and 68th (of 74)
    from simsim.intervals import factors

    v = [0.3, -0.2, 0.1]
    assert factors(v) == pytest.approx((np.exp(-0.2), np.exp(0.1), np.exp(0.3)))
    v = list(np.linspace(-1.0, 1.0, 74))
    assert factors(v)[0] == pytest.approx(np.exp(v[6]))
    assert factors(v)[2] == pytest.approx(np.exp(v[67]))


def test_fixed_mode_takes_the_constant_mfu_error():
    # a fixed-mode result's model-error interval is that of a constant MFU held out by study
    # (residuals.json's fixed_groups, from simsim-validate --mode fixed), wider than the
    # derived model's
    from simsim.intervals import factors, residuals

    r = simsim.simulate(
        scenario("model=llama3_8b", "efficiency.mode=fixed", "uncertainty.samples=0")
    )
    lo, _, hi = factors(residuals("fixed")["steady/dense"])
    assert r.intervals["tokens_per_s_p10"] == pytest.approx(r.tokens_per_s * lo, rel=1e-12)
    assert r.intervals["tokens_per_s_p90"] == pytest.approx(r.tokens_per_s * hi, rel=1e-12)
    d_lo, _, d_hi = factors(residuals("derived")["steady/dense"])
    assert hi / lo > d_hi / d_lo


def test_sweeps_carry_the_intervals():
    # a derived sweep's points carry the same P10/P50/P90 as simulating each point alone
    from simsim.sweeps import sweep

    base = simsim.compose(["model=llama3_8b"])
    df = sweep(base, {"cluster.n_gpus": [64, 128]})
    alone = simsim.simulate(scenario("model=llama3_8b", "cluster.n_gpus=128"))
    row = df[df["cluster.n_gpus"] == 128].iloc[0]
    for col in ("tokens_per_s_p10", "tokens_per_s_p90", "tokens_per_s_p50", "mfu_p90"):
        assert row[col] == pytest.approx(alone.intervals[col], rel=1e-9)


PYTHIA_1B = ["software=gpt_neox", "model=gpt3_175b", "model.n_layers=16", "model.d_model=2048",
             "model.n_heads=8", "model.n_kv_heads=8", "model.d_ff=8192", "model.vocab_size=50304",
             "model.tie_embeddings=false", "hardware=a100_40gb", "training.precision=fp16",
             "training.recompute=full", "cluster.n_gpus=64", "training.seq_len=2048",
             "training.global_batch_tokens=2097152", "parallel.tp=1", "parallel.pp=1",
             "parallel.cp=1", "parallel.micro_batch=16", "parallel.zero_stage=1",
             "uncertainty.samples=0"]  # fmt: skip


def _step(*overrides: str) -> float:
    r = simsim.simulate(scenario(*overrides))
    assert r.feasible and r.step_time_s is not None, r.infeasible_reason
    return r.step_time_s


def test_the_loss_moves_its_bytes_per_logit():
    # software.loss_bytes_per_logit is HBM traffic, forward and backward together, once per
    # token and vocabulary entry (not recomputed): 54 - 6 = 48 more bytes x 50,304 logits x the
    # 32,768 tokens of this GPU's step at the A100-40GB's 1,555 GB/s
    fused = _step(*PYTHIA_1B, "software.loss_bytes_per_logit=6")
    unfused = _step(*PYTHIA_1B, "software.loss_bytes_per_logit=54")
    assert unfused - fused == pytest.approx(48 * 50304 * 32768 / 1.555e12, rel=1e-6)


def test_deepspeed_gathers_the_parameters_after_the_step():
    # ZeRO-1 in DeepSpeed all-gathers the updated 16-bit shards inside step(): unhidden, the
    # step grows by the whole ring all-gather of the model over the 64 data-parallel GPUs
    from simsim.physics.comm import ring_time

    params = A.param_counts(arch_from_model(scenario(*PYTHIA_1B).model))["total"]
    hidden = _step(*PYTHIA_1B, "software.param_gather_overlap=1")
    exposed = _step(*PYTHIA_1B)  # the gpt_neox preset: 0
    gather = ring_time(2.0 * float(params), 64, 25e9 * 0.8, 3.7e-6)
    assert exposed - hidden == pytest.approx(float(gather), rel=1e-6)


def test_deepep_crosses_each_node_once():
    # Qwen3-235B with EP32 over 4 nodes: the all-to-all dispatcher sends a token's copy to each
    # remote expert (8 x 3/4 of them), DeepEP one per remote node it routes to (3.63 of the 4
    # nodes x 3/4, references.md note N3): the scale-out time, which sets the pace, in that ratio
    from simsim.physics.comm import expected_distinct_nodes

    common = ["model=qwen3_235b_a22b", "hardware=h100_sxm", "software=megatron_core",
              "cluster.n_gpus=256", "training.seq_len=4096", "training.global_batch_tokens=8388608",
              "parallel.tp=2", "parallel.ep=32", "parallel.pp=8", "parallel.cp=1",
              "parallel.schedule=interleaved", "parallel.virtual_stages=4",
              "parallel.micro_batch=1", "uncertainty.samples=0"]  # fmt: skip
    ep = {d: simsim.simulate(scenario(*common, f"software.moe_dispatcher={d}")).to_row()[
        "step_breakdown_s.ep"] for d in ("alltoall", "deepep")}  # fmt: skip
    nodes = float(expected_distinct_nodes(4, 8, np.inf, 32))
    assert nodes == pytest.approx(3.63, abs=0.01)
    assert ep["deepep"] / ep["alltoall"] == pytest.approx(nodes / 8, rel=0.02)


def _mcore_moe(model: str, n_gpus: int, batch_tokens: int, **layout: object) -> list[str]:
    """Overrides of a Megatron-Core MoE run on H100 at 4K tokens a sequence: forced-balance
    routing, one sequence a micro-batch, no recompute, no input-uncertainty draws, ``layout``
    as parallel.* fields."""
    return [f"model={model}", "model.moe.load_imbalance=1", "hardware=h100_sxm",
            "software=megatron_core", f"cluster.n_gpus={n_gpus}", "training.seq_len=4096",
            f"training.global_batch_tokens={batch_tokens}", "parallel.cp=1",
            "parallel.micro_batch=1", "parallel.zero_stage=1", "training.recompute=none",
            "uncertainty.samples=0", *(f"parallel.{k}={v}" for k, v in layout.items())]  # fmt: skip


def test_a_grouped_gemm_of_few_rows_per_expert_costs_more():
    # software.grouped_gemm_half_rows = h: the expert GEMMs run M / (M + h) of a plain GEMM's
    # rate, i.e. their (compute-bound) time grows by h / M, linearly in h. Qwen3-235B at TP4 x
    # EP8 with one 4K sequence per micro-batch: M = 512 rows per expert (forced balance), so
    # h = 240 makes the expert GEMMs (512 + 240) / 512 = 1.47x as long; the step grows by less
    # (attention and the rest are unchanged), by the same amount again at h = 480; a dense
    # model does not move
    qwen = _mcore_moe("qwen3_235b_a22b", 256, 8388608, tp=4, ep=8, pp=8,
                      schedule="interleaved", virtual_stages=4)  # fmt: skip
    plain, te, twice = (_step(*qwen, f"software.grouped_gemm_half_rows={h}") for h in (0, 240, 480))
    assert plain < te < plain * (512 + 240) / 512
    assert twice - te == pytest.approx(te - plain, rel=1e-6)
    dense = ["model=llama3_8b", "software=megatron_core", "cluster.n_gpus=64",
             "uncertainty.samples=0"]  # fmt: skip
    assert _step(*dense, "software.grouped_gemm_half_rows=0") == _step(*dense)


#: Qwen3-30B-A3B on 16 H100 as Megatron-Bridge's profiled A/B pair ran it (references.md N18)
QWEN3_30B_16 = [*_mcore_moe("qwen3_30b_a3b", 16, 4194304, tp=1, ep=16, pp=1, schedule="1f1b"),
                "software.moe_dispatcher=deepep"]  # fmt: skip


def test_a_dropless_moe_layer_idles_the_gpu_once_per_micro_batch():
    # software.moe_sync_idle_us: the GPU idles that long per MoE layer and micro-batch while the
    # host reads the dispatcher's token counts; on the profiled pair's own setup (48 MoE layers,
    # 64 micro-batches of one sequence on each GPU, no pipeline) the step grows by exactly
    # 64 x 48 x 616 us = 1.89 s, the 24.714 - 22.821 s the profile shows idle
    off = _step(*QWEN3_30B_16, "software.moe_sync_idle_us=0")
    on = _step(*QWEN3_30B_16)
    assert scenario(*QWEN3_30B_16).software.moe_sync_idle_us == 616
    assert on - off == pytest.approx(64 * 48 * 616e-6, rel=1e-9)
    assert on - off == pytest.approx(24.7138 - 22.821, rel=1e-3)  # 616 us, rounded to the us


@pytest.mark.parametrize(
    "why",
    ["software.ep_overlap=0.15",  # another micro-batch computes meanwhile (1F1B a2a overlap)
     "model.moe.capacity_factor=1.25",  # token dropping: static shapes, no wait
     "model.moe.capacity_factor=1.0"],  # ... even with no padding (not the dropless default)
)  # fmt: skip
def test_the_moe_idle_is_absent_where_nothing_waits(why: str):
    assert _step(*QWEN3_30B_16, why, "software.moe_sync_idle_us=0") == _step(*QWEN3_30B_16, why)
    dense = ["model=llama3_8b", "software=megatron_core", "cluster.n_gpus=64",
             "uncertainty.samples=0"]  # fmt: skip
    assert _step(*dense, "software.moe_sync_idle_us=0") == _step(*dense)


def test_dualpipe_hides_the_moe_idle():
    dsv3 = ["experiment=deepseek_v3", "training.stages=[]", "training.batch_ramp=null",
            "uncertainty.samples=0"]  # fmt: skip
    assert scenario(*dsv3).parallel.schedule == "dualpipe"
    assert _step(*dsv3, "software.moe_sync_idle_us=0") == _step(
        *dsv3, "software.moe_sync_idle_us=616"
    )
