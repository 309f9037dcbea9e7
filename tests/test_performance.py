"""Derived step-time model: closed-form pieces against their sources, and physical properties."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simsim
from simsim.engine import choose_layout, equal_rows, stage_params
from simsim.performance import (
    Layout,
    Workload,
    compute_class_columns,
    machine,
    step_class_columns,
    step_time,
    take_rows,
)
from simsim.physics import comm as C
from simsim.physics import compute as K
from simsim.physics.pipeline import SCHEDULE_CODES, bubble_time

from .conftest import arch, scenario


def test_ring_collective_volume():
    # nccl-tests PERFORMANCE.md: reduce-scatter / all-gather move (P-1)/P of the buffer
    assert float(C.ring_time(8e9, 8, 100e9)) == pytest.approx(7 / 8 * 8e9 / 100e9)
    assert float(C.ring_time(8e9, 1, 100e9, 1e-5)) == 0.0


def test_node_limited_routing_fan_out():
    # simsim/data/references.md note N3: 8 nodes x 32 experts, k=8, uniform routing:
    # 5.29 distinct nodes without a limit; 3.63 with M=4 node-limited routing.
    assert float(C.expected_distinct_nodes(8, 8, np.inf, 32)) == pytest.approx(5.29, abs=0.005)
    assert float(C.expected_distinct_nodes(8, 8, 4, 32)) == pytest.approx(3.63, abs=0.005)
    # with infinitely many experts per node: draws with replacement, 8 (1 - (7/8)^8)
    assert float(C.expected_distinct_nodes(8, 8, np.inf)) == pytest.approx(8 * (1 - (7 / 8) ** 8))


def test_dedup_cuts_scale_out_traffic():
    args = dict(tokens=4096, top_k=8, d_model=7168, bytes_per_elem=1.0, ep=64, gpus_per_node=8,
                scale_up_bw=160e9, scale_out_bw=40e9)  # fmt: skip
    naive = C.expert_all_to_all_time(**args, max_nodes=1e9, dedup=0.0, n_experts=256)
    limited = C.expert_all_to_all_time(**args, max_nodes=4, dedup=1.0, n_experts=256)
    # remote copies: 8 x 7/8 = 7 naive vs 3.63 x 7/8 = 3.18 node-limited: IB bytes ~0.45 of
    # naive (references.md note N3)
    assert float(limited / naive) == pytest.approx(0.45, abs=0.01)


def test_expert_all_to_all_inside_one_node_uses_scale_up_only():
    t = C.expert_all_to_all_time(4096, 8, 7168, 2.0, 8, 8, 200e9, 1.0, 1e9, 0.0)
    assert float(t) == pytest.approx(4096 * 7168 * 2.0 * 8 * 7 / 8 / 200e9)


#: Megatron-Core's measured dispatch and combine latencies [us] (Yan et al., "Scalable Training of
#: Mixture-of-Experts Models with Megatron Core", arXiv:2603.07685v2, Table 7: hidden 7168, 4,096
#: tokens a GPU, 256 experts; read from a text extraction of the PDF, references.md note N17):
#: (chip, EP, dispatcher) -> (dispatch, combine).
MCORE_TABLE7 = {
    ("gb200", 8, "hybridep"): (391, 353), ("gb200", 8, "alltoall"): (735, 741),
    ("gb200", 64, "hybridep"): (675, 744), ("gb200", 64, "alltoall"): (930, 827),
    ("h100_sxm", 8, "hybridep"): (661, 624), ("h100_sxm", 8, "alltoall"): (1265, 1277),
    ("h100_sxm", 64, "hybridep"): (4626, 4398), ("h100_sxm", 64, "alltoall"): (9164, 8727),
}  # fmt: skip


#: The one measured latency simsim misses by more than 30%: the all-to-all dispatcher's
#: dispatch on GB200 at EP64 (simsim 646 us against 930, -31%): NCCL's all-to-all inside the
#: NVL72 rack runs below the collective efficiency the preset borrows from H800 (references.md
#: N17). Expected to fail; it fails loudly once it passes (strict).
_GB200_A2A_DISPATCH = (("gb200", 64, "alltoall"), 0)


@pytest.mark.parametrize(
    ("case", "which"),
    [pytest.param(c, w, marks=pytest.mark.xfail(strict=True, reason="-31%: N17"))
     if (c, w) == _GB200_A2A_DISPATCH else (c, w)
     for c in MCORE_TABLE7 for w in (0, 1)],
)  # fmt: skip
def test_expert_all_to_all_against_megatron_core_measured_latencies(case, which):
    # simsim's one dispatch (which=0) or combine (1) of 4,096 tokens x top-8 x 7168 in BF16 with
    # the chip preset's links, DeepSeek-V3's routing (8 of 256 experts on at most 4 nodes),
    # HybridEP as the deduplicating dispatcher, within 30% of each measured latency (today -31%
    # to +22%; nothing in simsim is fitted to this table, but the 30% was set after the first
    # comparison, not claimed before it). The deduplicated cross-node case, the one that sets
    # DeepSeek-V3's traffic, is held to 10% (+1% and +6% today)
    chip, ep, dispatcher = case
    hw = scenario(f"hardware={chip}").hardware
    up, out = (x * 1e9 * hw.collective_efficiency for x in (hw.scale_up_gbps, hw.scale_out_gbps))
    t = C.expert_all_to_all_time(
        4096, 8, 7168, 2.0, ep, hw.scale_up_domain, up, out, 4, float(dispatcher == "hybridep"),
        hw.scale_out_latency_us * 1e-6, 256,
    )  # fmt: skip
    bound = 0.10 if case == ("h100_sxm", 64, "hybridep") else 0.30
    assert float(t) * 1e6 == pytest.approx(MCORE_TABLE7[case][which], rel=bound)


def test_bubbles_match_the_dualpipe_table():
    # DeepSeek-V3 Table 2 / references.md note N6: p=16, F=1, B=2, W=1 -> 1F1B 45, ZB1P 15;
    # DualPipe (p/2-1)(F&B+B-3W) with F&B taken as F+B = 3 (no overlap gain): 7 x 2 = 14.
    def b(name: str) -> float:
        return float(bubble_time(SCHEDULE_CODES[name], 16, 1.0, 2.0, 1.0))

    assert b("1f1b") == 45.0
    assert b("zero_bubble") == 15.0
    assert b("dualpipe") == 14.0
    assert float(bubble_time(SCHEDULE_CODES["interleaved"], 16, 1.0, 2.0, 1.0, 3)) == 15.0
    assert float(bubble_time(SCHEDULE_CODES["1f1b"], 1, 1.0, 2.0, 1.0)) == 0.0


def test_gemm_roofline():
    # compute-bound: FLOPs / (peak * eta); memory-bound when weights dominate and m is small
    n = 8192
    big = K.gemm_time(2 * n**3, n, n, n, n * n * 2, 0, 1e15, 3e12, 0.8, 1.0, 234, 101)
    assert float(big) == pytest.approx(2 * n**3 / (1e15 * 0.8))  # capped at eta_max
    small = K.gemm_time(2 * 16 * n * n, 16, n, n, n * n * 2, 0, 1e15, 3e12, 0.8, 1.0, 234, 101)
    assert float(small) == pytest.approx(n * n * 2 / 3e12)


def test_gemm_shape_efficiency_against_the_packaged_measurements():
    # the configured shape constants against the measured GEMMs they were fitted to
    # (simsim/data/gemm_measurements.csv; references.md note N1), each set under the ceiling it
    # was fitted with (H100 BF16 MAMF; DeepGEMM's 1550 TFLOP/s for Hopper FP8) and its own fixed
    # time per kernel: the fits' median errors, 5% and 10%, rounded up to 6% and 11%
    import csv
    from importlib import resources

    eff = simsim.resolve(simsim.compose([])).efficiency
    text = resources.files("simsim.data").joinpath("gemm_measurements.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    sources = {r["source"] for r in rows}
    refs = resources.files("simsim.data").joinpath("references.md").read_text("utf-8")
    assert all(f"{s}:" in refs for s in sources)  # every source is named in note N7
    for name, prec, peak, mamf, bound in (
        ("H100-bf16", "bf16", 989.5, 0.803, 0.06), ("Hopper-fp8", "fp8", 1979.0, 0.783, 0.11)
    ):  # fmt: skip
        sub = [r for r in rows if r["set"] == name]
        m, n, k = (np.array([float(r[c]) for r in sub]) for c in "MNK")
        measured = np.array([float(r["tflops"]) for r in sub])
        flops = 2 * m * n * k
        eta = K.gemm_efficiency(m, n, k, mamf, eff.gemm_scale.get(prec),
                                eff.gemm_mn_half.get(prec), eff.gemm_k_half.get(prec))  # fmt: skip
        t = flops / (peak * 1e12 * eta) + eff.gemm_fixed_us.get(prec) * 1e-6
        err = np.abs(flops / t / 1e12 / measured - 1.0)
        assert len(sub) >= 25 and np.median(err) <= bound, (name, np.median(err))


def test_small_dimensions_cost_what_they_cost():
    # a narrow output or a shallow reduction lowers the rate; large ones reach the cap
    e = K.gemm_efficiency(8192, np.array([256, 1024, 8192]), 8192, 0.8, 1.0, 234, 101)
    assert e[0] < e[1] < e[2] == 0.8
    e = K.gemm_efficiency(8192, 8192, np.array([128, 512, 8192]), 0.8, 0.8, 217, 292)
    assert e[0] < 0.5 * e[2] and e[1] < e[2]


def _derived(*overrides: str):
    return simsim.simulate(scenario("efficiency.mode=derived", *overrides))


def test_h800_is_slower_than_h100_only_through_bandwidth():
    # Llama 3 405B with TP: the cut NVLink (200 vs 450 GB/s per direction) shows in exposed TP
    # time; the compute time is identical (same tensor cores).
    common = [
        "model=llama3_405b", "training.global_batch_tokens=16777216", "parallel.tp=8",
        "parallel.pp=16", "parallel.schedule=interleaved", "parallel.zero_stage=1",
    ]  # fmt: skip
    h100 = _derived(*common, "hardware=h100_sxm")
    h800 = _derived(*common, "hardware=h800_sxm")
    assert h800.step_breakdown_s["compute"] == pytest.approx(h100.step_breakdown_s["compute"])
    assert h800.step_breakdown_s["tp"] > 2 * h100.step_breakdown_s["tp"] > 0
    assert h800.gpu_hours > h100.gpu_hours


def test_h20_is_compute_bound_for_deepseek_v3():
    r = _derived("experiment=deepseek_v3", "hardware=h20")
    b = r.step_breakdown_s
    assert b["compute"] > 0.9 * b["step"]


def test_search_beats_or_matches_deepseeks_own_layout():
    own = _derived("experiment=deepseek_v3")
    # the same stack (its schedules: 1F1B, zero-bubble, DualPipe), the layout left to the search
    free = _derived(
        "model=deepseek_v3",
        "training.precision=fp8",
        "training.global_batch_tokens=62914560",
        "software=deepseek",
        "training.fp8_recipe=blockwise",
    )
    assert free.tokens_per_s >= own.tokens_per_s
    assert free.alternative_layouts and len(free.layouts_rejected) > 0


def test_breakdown_sums_to_step_time():
    r = _derived("experiment=deepseek_v3", "parallel.schedule=1f1b")
    parts = sum(v for k, v in r.step_breakdown_s.items() if k != "step")
    assert parts == pytest.approx(r.step_breakdown_s["step"], rel=1e-9)
    assert r.step_time_s == pytest.approx(r.step_breakdown_s["step"])
    assert r.step_breakdown_s["ep"] > 0  # 1F1B cannot hide the cross-node all-to-all


@pytest.mark.parametrize("model", ["llama3_70b", "mixtral_8x7b"])
def test_doubling_gpus_never_lowers_best_throughput(model: str):
    rates = [
        _derived(f"model={model}", "hardware=h100_sxm", f"cluster.n_gpus={n}",
                 "training.global_batch_tokens=16777216").tokens_per_s
        for n in (128, 256, 512, 1024)
    ]  # fmt: skip
    assert all(b >= a for a, b in itertools.pairwise(rates))


def _chosen_layout(*overrides: str):
    """(scenario, workload, the chosen layout as a one-element Layout, its stage parameters)."""
    sc, a = scenario(*overrides), arch(*overrides)
    c = choose_layout(sc, a)
    one = {k: np.asarray([c.layout[k]]) for k in ("tp", "pp", "cp", "ep", "dp", "zero_stage",
                                                   "micro_batch")}  # fmt: skip
    moe = sc.model.moe
    lay = Layout(
        **one,
        schedule=np.asarray([SCHEDULE_CODES[c.layout["schedule"]]]),
        v=np.asarray([c.layout["virtual_stages"]]),
        m=np.asarray([c.layout["n_microbatches"]]),
        max_nodes=float(moe.max_nodes_per_token or np.inf) if moe else np.inf,
    )
    tr = sc.training
    wl = Workload(a, tr.seq_len, tr.precision, tr.recompute, sc.cluster.n_gpus)
    return sc, wl, lay, stage_params(a, lay.tp, lay.pp, lay.ep)


@pytest.mark.parametrize(
    "overrides",
    [("model=mixtral_8x7b", "hardware=h20", "cluster.n_gpus=256"),
     ("experiment=deepseek_v3", "training.recompute=full")],
)  # fmt: skip
def test_class_shortcuts_give_every_candidate_its_own_step_time(overrides: tuple[str, ...]):
    # a search times one candidate per class (step_class_columns: ZeRO 1 and 2 share a step
    # time; compute_class_columns: the kernel, TP, CP and EP times ignore the schedule, the
    # virtual stages and ZeRO); over a grid spanning every layout field, the shortcuts must give
    # exactly the numbers of timing each candidate on its own
    sc, a = scenario(*overrides), arch(*overrides)
    axes = dict(tp=[1, 2, 8], pp=[1, 2, 4], cp=[1, 2], ep=[1, 8], zero_stage=[0, 1, 2, 3],
                micro_batch=[1, 2], schedule=list(SCHEDULE_CODES.values()), v=[1, 2])  # fmt: skip
    grid = np.meshgrid(*axes.values(), indexing="ij")
    c = {k: g.ravel() for k, g in zip(axes, grid, strict=True)}
    n = sc.cluster.n_gpus
    lay = Layout(**c, dp=n // (c["tp"] * c["pp"] * c["cp"]), m=np.full(len(c["tp"]), 16.0),
                 max_nodes=4.0)  # fmt: skip
    tr = sc.training
    wl = Workload(a, tr.seq_len, tr.precision, tr.recompute, n, load_imbalance=1.3)
    mc, sp = machine(sc), stage_params(a, lay.tp, lay.pp, lay.ep)
    full = step_time(wl, mc, lay, sp)
    scen = np.zeros(len(c["tp"]), dtype=np.int64)
    classes = equal_rows([scen, *step_class_columns(lay)])
    assert classes is not None
    rows, inverse = classes
    assert len(rows) == len(scen) * 3 // 4  # ZeRO 1 and 2 are one class
    few = take_rows(lay, rows)
    shortcut = step_time(
        take_rows(wl, rows), mc, few, {k: v[rows] for k, v in sp.items()},
        compute_rows=equal_rows([scen[rows], *compute_class_columns(few)]),
    )  # fmt: skip
    assert full.keys() == shortcut.keys()
    for k, v in full.items():
        assert np.array_equal(shortcut[k][inverse], v), k
    assert not np.array_equal(full["dp"][c["zero_stage"] == 0], full["dp"][c["zero_stage"] == 1])


@settings(max_examples=20, deadline=None)
@given(up=st.floats(1.0, 4.0), out=st.floats(1.0, 4.0), flops=st.floats(1.0, 4.0))
def test_more_bandwidth_or_flops_never_slower(up: float, out: float, flops: float):
    sc, wl, lay, sp = _chosen_layout(
        "experiment=deepseek_v3", "efficiency.mode=derived", "parallel.schedule=1f1b"
    )
    base = machine(sc)
    faster = dataclasses.replace(
        base, up_bw=base.up_bw * up, out_bw=base.out_bw * out, peak=base.peak * flops,
        peak16=base.peak16 * flops,
    )  # fmt: skip
    t0 = step_time(wl, base, lay, sp)["step"]
    t1 = step_time(wl, faster, lay, sp)["step"]
    assert float(t1[0]) <= float(t0[0]) * (1 + 1e-12)


def test_moe_with_one_expert_matches_its_dense_twin():
    # A 1-expert, top-1 MoE whose expert is the dense FFN does the dense model's work plus a
    # router GEMM and the token permutation: within 3% in derived mode, identical in FLOPs.
    # (With TP > 1 the expert GEMMs see only this GPU's tokens, as Megatron's expert-TP=1
    # MoE layer does, so the twins differ by the smaller GEMMs too.)
    common = ["hardware=h100_sxm", "cluster.n_gpus=64", "training.global_batch_tokens=4194304",
              "parallel.tp=1", "parallel.pp=1", "parallel.zero_stage=1", "parallel.micro_batch=1",
              "parallel.schedule=1f1b"]  # fmt: skip
    dense = _derived("model=llama3_8b", *common)
    one = ["model=llama3_8b", "model.moe={n_experts: 1, top_k: 1, d_ff_expert: 14336}", *common]
    moe = _derived(*one, "software.moe_sync_idle_us=0")
    assert moe.flops_per_token == pytest.approx(dense.flops_per_token, rel=0.001)
    assert moe.tokens_per_s == pytest.approx(dense.tokens_per_s, rel=0.03)
    assert moe.tokens_per_s <= dense.tokens_per_s
    # and a dropless MoE layer's GPU idle on top (the default stack's 616 us a layer and
    # micro-batch, 32 layers x 16 micro-batches of one sequence a GPU), at most: the host's own
    # launch time may already cover part of it (this small model is near host-bound); the exact
    # amount on a GPU-bound run is tested in test_fidelity
    extra = _derived(*one).step_time_s - moe.step_time_s
    assert 0 < extra <= 32 * 16 * 616e-6 * (1 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(
        ["llama3_8b", "mixtral_8x7b", "deepseek_v2_lite", "qwen2_72b", "gpt3_175b"]
    ),
    hardware=st.sampled_from(["h100_sxm", "h800_sxm", "h20", "a100_80gb", "ascend_910b", "mi300x"]),
    n_gpus=st.sampled_from([8, 64, 96, 512, 2048]),
    seq=st.sampled_from([2048, 4096, 32768]),
    mode=st.sampled_from(["fixed", "derived"]),
)
def test_outputs_are_finite_or_flagged_infeasible(model, hardware, n_gpus, seq, mode):
    r = simsim.simulate(
        scenario(
            f"model={model}",
            f"hardware={hardware}",
            f"cluster.n_gpus={n_gpus}",
            f"training.seq_len={seq}",
            "training.global_batch_tokens=16777216",
            f"efficiency.mode={mode}",
        )
    )
    numbers = (r.gpu_hours, r.wall_clock_days, r.energy_mwh, r.co2_tonnes, r.tokens_per_s, r.mfu)
    if r.feasible:
        assert all(x is not None and np.isfinite(x) and x > 0 for x in numbers)
        assert 0 < r.mfu <= 1
    else:
        assert r.infeasible_reason and all(x is None for x in numbers)
    assert np.isfinite(r.flops_per_token) and r.flops_per_token > 0


def test_summary_shows_breakdown_runners_up_and_rejections():
    r = _derived(
        "model=deepseek_v3", "training.precision=fp8", "training.global_batch_tokens=62914560"
    )
    text = simsim.report.summary_table(r)
    assert "step breakdown" in text and "compute" in text
    assert "runner-up" in text and "s/step" in text
    assert "layouts rejected" in text and "does not fit in usable HBM" in text


@settings(max_examples=20, deadline=None)
@given(
    tp=st.floats(0.0, 1.0), pp=st.floats(0.0, 1.0), dp=st.floats(0.0, 1.0),
    kernel=st.floats(1.0, 1.5),
)  # fmt: skip
def test_more_overlap_or_faster_kernels_never_slower(
    tp: float, pp: float, dp: float, kernel: float
):
    # Llama 3 405B at TP8/PP16 interleaved on Megatron-LM (nothing overlapped): hiding any share
    # of the TP, PP or DP traffic, or faster kernels, can only shorten the step.
    over = ["model=llama3_405b", "hardware=h800_sxm", "software=megatron_lm",
            "efficiency.mode=derived", "cluster.n_gpus=1024",
            "training.global_batch_tokens=4194304", "parallel.tp=8", "parallel.pp=16",
            "parallel.schedule=interleaved"]  # fmt: skip
    sc, wl, lay, sp = _chosen_layout(*over)
    base = machine(sc)
    assert (base.tp_overlap, base.pp_overlap, base.dp_overlap) == (0.0, 0.0, 0.0)
    better = dataclasses.replace(
        base, tp_overlap=tp, pp_overlap=pp, dp_overlap=dp, eta_max=min(base.eta_max * kernel, 1.0),
        eta_max16=min(base.eta_max16 * kernel, 1.0),
        attention_efficiency=min(base.attention_efficiency * kernel, 1.0),
    )  # fmt: skip
    assert (wl.seq_len, wl.precision, wl.n_gpus) == (4096, "bf16", 1024)
    t0 = step_time(wl, base, lay, sp)
    t1 = step_time(wl, better, lay, sp)
    assert float(t1["step"][0]) <= float(t0["step"][0]) * (1 + 1e-12)
    assert float(t0["tp"][0]) > 0 and float(t0["dp"][0]) > 0  # the traffic exists to hide
    if tp == 1.0:
        assert float(t1["tp"][0]) == 0.0


def test_software_stack_limits_the_search():
    # Megatron-LM offers 1F1B and interleaved with ZeRO 0/1: the search never picks DualPipe,
    # zero-bubble or ZeRO-2/3 for it, and fixing a schedule it lacks is a config error.
    r = _derived("model=llama3_70b", "hardware=h100_sxm", "software=megatron_lm",
                 "cluster.n_gpus=512", "training.global_batch_tokens=8388608")  # fmt: skip
    for lay in [r.layout, *r.alternative_layouts]:
        assert lay["schedule"] in ("1f1b", "interleaved") and lay["zero_stage"] in (0, 1)
    assert r.software == "megatron_lm"
    with pytest.raises(simsim.ConfigError, match=r"parallel.schedule='dualpipe' is not offered "
                       r"by software=megatron_lm \(allowed: 1f1b, interleaved\)"):  # fmt: skip
        _derived("software=megatron_lm", "parallel.schedule=dualpipe")


def test_megascale_overlaps_explain_part_of_its_lead_over_megatron():
    # MegaScale NSDI'24 Table 2, 256 GPUs: 1.25x Megatron-LM's step rate. Its overlaps alone
    # (at Megatron-LM's kernel efficiency) must give a real part of that, the rest is kernels.
    base = ["model=gpt3_175b", "hardware=a100_80gb", "cluster.n_gpus=256",
            "training.seq_len=2048", "training.global_batch_tokens=1572864", "parallel.tp=8",
            "parallel.pp=8", "parallel.schedule=interleaved",
            "parallel.virtual_stages=6"]  # fmt: skip
    mlm = _derived(*base, "software=megatron_lm")
    overlaps_only = _derived(*base, "software=megascale", "software.kernel_efficiency=0.70")
    gain = mlm.step_time_s / overlaps_only.step_time_s
    assert 1.03 < gain < 1.25
    assert overlaps_only.step_breakdown_s["tp"] == 0.0 < mlm.step_breakdown_s["tp"]


def test_dualpipe_exposes_only_its_unpaired_warm_up_and_cool_down():
    # DualPipe pairs a forward with another micro-batch's backward and hides the all-to-all
    # behind it; the pp micro-batches of warm-up and cool-down have no partner (ISCA'25 Table 4
    # times them apart). With m=120 micro-batches on pp=16, exposed EP time is 16/120 of 1F1B's.
    dual = _derived("experiment=deepseek_v3")
    one_f = _derived("experiment=deepseek_v3", "parallel.schedule=1f1b")
    m, pp = dual.layout["n_microbatches"], dual.layout["pp"]
    assert (m, pp) == (120, 16)
    assert dual.step_breakdown_s["ep"] == pytest.approx(one_f.step_breakdown_s["ep"] * pp / m)
    assert dual.step_breakdown_s["ep"] > 0


def test_selective_recompute_speed_up_matches_korthikanti():
    # Korthikanti et al. 2022 (arXiv:2205.05198) abstract: MT-NLG 530B on 2240 A100s (TP8,
    # PP35) reaches 54.2% MFU with selective recomputation and sequence parallelism against
    # 42.1% with full recomputation: 1.287x. The batch is not in the abstract (MT-NLG's 1920
    # sequences assumed), so only the ratio is tested, within 5%.
    ov = ["software=megatron_lm", "model=gpt3_175b", "model.name=mtnlg_530b",
          "model.n_layers=105", "model.d_model=20480", "model.n_heads=128",
          "model.n_kv_heads=128", "model.d_ff=81920", "model.vocab_size=51200",
          "hardware=a100_80gb", "cluster.n_gpus=2240", "training.seq_len=2048",
          f"training.global_batch_tokens={1920 * 2048}", "parallel.tp=8",
          "parallel.pp=35"]  # fmt: skip
    selective = _derived(*ov, "training.recompute=selective")
    full = _derived(*ov, "training.recompute=full")
    assert selective.mfu / full.mfu == pytest.approx(54.2 / 42.1, rel=0.05)


def test_slowest_stage_carries_the_head():
    from simsim.performance import _slowest_stage_factor as f

    one = np.asarray([1.0])
    # 96 layers on 8 stages, head = 0.44 layer: 12 + 12 + ... + (12 + 0.44) -> 12.44 / 12.055
    assert float(f(96, 0, one, 0.44 * one, 8 * one)[0]) == pytest.approx(12.44 / (96.44 / 8))
    # one stage holds everything: balanced by definition
    assert float(f(96, 0, one, 0.44 * one, one)[0]) == pytest.approx(1.0)
    # 61 layers, 1 MTP block and heads worth 2 layers on 8 DualPipe pairs: 8 layers on 7 pairs
    # and 5 + 1 + 2 on the end pair = 8, the mean of 64 / 8: balanced. Heads worth 3 layers: the
    # end pair holds 5 + 1 + 3 = 9 (or 9 layers elsewhere): 9 against a mean of 65 / 8
    assert float(f(61, 1, one, 2 * one, 8 * one)[0]) == pytest.approx(1.0)
    assert float(f(61, 1, one, 3 * one, 8 * one)[0]) == pytest.approx(9 / (65 / 8))
    # vectorized over layouts, >= 1, and equal to a brute-force search over every split
    rng = np.random.default_rng(0)
    units = rng.integers(1, 150, 200).astype(float)
    heads = rng.uniform(0, 6, 200)
    vals = f(126, 1, np.ones(200), heads, units)
    for u, e, got in zip(units, heads + 1, vals, strict=True):
        brute = min(max(k, max(126 - (u - 1) * k, 0) + e) for k in range(127)) if u > 1 else 126 + e
        assert got == pytest.approx(brute / ((126 + e) / u)) and got >= 1 - 1e-12


def test_megatron_splits_put_layers_where_its_flags_say():
    from simsim.performance import _slowest_stage_factor as f

    one = np.asarray([1.0])
    # Qwen3-235B's 94 layers on PP32 with the embedding and the loss counted as one layer each
    # (Megatron-MoE-ModelZoo): 96 places, 3 a stage, the last holds 2 layers and the head worth
    # 1.5 layers: 3.5 against a mean of 95.5 / 32. Balanced, the last would hold 1 + 1.5 < 3.
    mean = 95.5 / 32
    assert float(f(94, 0, one, 1.5 * one, 32 * one, "account")[0]) == pytest.approx(3.5 / mean)
    assert float(f(94, 0, one, 1.5 * one, 32 * one)[0]) == pytest.approx(3.0 / mean)
    # a head worth less than a layer: the full stages are the slowest (3 of them)
    assert float(f(94, 0, one, 0.5 * one, 32 * one, "account")[0]) == pytest.approx(3 / (94.5 / 32))
    # Megatron's default: the same layers a stage, the head on top of the last's: 96 on 8 = 12
    assert float(f(96, 0, one, 2.0 * one, 8 * one, "even")[0]) == pytest.approx(14 / (98 / 8))
    # no pipeline: every split is the whole model
    for split in ("balanced", "even", "account"):
        assert float(f(94, 0, one, 1.5 * one, one, split)[0]) == pytest.approx(1.0)


def test_the_pipeline_split_is_an_input_and_is_checked():
    base = ["model=qwen3_235b_a22b", "hardware=h100_sxm", "software=megatron_core",
            "cluster.n_gpus=256", "training.seq_len=4096", "training.global_batch_tokens=8388608",
            "parallel.tp=2", "parallel.ep=8", "parallel.pp=32", "parallel.cp=1",
            "parallel.schedule=interleaved", "parallel.virtual_stages=3", "parallel.micro_batch=1",
            "parallel.zero_stage=1"]  # fmt: skip
    steps = {s: _derived(*base, f"parallel.pipeline_split={s}").step_time_s
             for s in ("balanced", "account")}  # fmt: skip
    assert steps["account"] > steps["balanced"] * 1.03  # the loss stage holds 2 layers + head
    message = r"parallel\.pipeline_split='uneven' must be one of"
    with pytest.raises(simsim.ConfigError, match=message):
        _derived(*base, "parallel.pipeline_split=uneven")


def test_a_deduplicating_dispatcher_sends_a_token_once_per_gpu_inside_a_node():
    # DeepEP's dispatch layout is per destination rank (is_token_in_rank; comm.py ref [4]):
    # EP8 in one node, 128 experts (16 per GPU), top-8: a token reaches 8 (1 - P(none)) GPUs,
    # P(none) = prod_{i<8} (112 - i) / (128 - i), 7/8 of them other GPUs; a copy per expert
    # sends 8 x 7/8.
    args = dict(tokens=4096, top_k=8, d_model=4096, bytes_per_elem=2.0, ep=8, gpus_per_node=8,
                scale_up_bw=360e9, scale_out_bw=40e9, max_nodes=np.inf, n_experts=128)  # fmt: skip
    naive = float(C.expert_all_to_all_time(**args, dedup=0.0))
    dedup = float(C.expert_all_to_all_time(**args, dedup=1.0))
    p_none = np.prod([(112 - i) / (128 - i) for i in range(8)])
    assert naive == pytest.approx(4096 * 4096 * 2.0 * 8 * 7 / 8 / 360e9)
    assert dedup / naive == pytest.approx(8 * (1 - p_none) * 7 / 8 / 7, rel=1e-9)


def test_the_balanced_split_is_never_slower_than_megatrons():
    # for any layout the balanced split's slowest stage holds no more than the even or the
    # account split's (each is one of the placements balanced minimises over, or worse), so the
    # searched step under balanced is the shortest of the three
    base = ["model=qwen3_235b_a22b", "hardware=h100_sxm", "cluster.n_gpus=256",
            "training.global_batch_tokens=8388608"]  # fmt: skip
    steps = {s: _derived(*base, f"parallel.pipeline_split={s}").step_time_s
             for s in ("balanced", "even", "account")}  # fmt: skip
    assert steps["balanced"] <= min(steps["even"], steps["account"])
    assert steps["balanced"] < max(steps["even"], steps["account"])
