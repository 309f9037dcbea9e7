"""Derived step time: compute, exposed communication by kind, pipeline bubble, optimizer.

One call evaluates every candidate layout: the layout fields are numpy arrays of equal shape,
everything else is scalar. The model, per GPU of the (balanced) pipeline stage and per
micro-batch:

* the pipeline runs at the pace of its slowest stage: layers are whole and the last stage also
  carries the LM head(s) and the MTP blocks (:func:`_slowest_stage_factor`);
* GEMMs on the roofline with a shape efficiency (:mod:`simsim.physics.compute`); under ``fp8``
  only the linear layers run at the FP8 peak (DeepSeek-V3 §3.3.1 keeps the LM head, router and
  attention in BF16); backward = 2x forward; recomputation adds forward work;
* attention kernels at ``efficiency.attention_efficiency`` of the 16-bit peak; element-wise work
  (norms, residuals, activations, MoE permutation) from HBM bandwidth;
* TP/SP collectives (per layer: 2 all-gathers + 2 reduce-scatters forward, as many backward,
  Korthikanti et al. 2022 §4.2.2), CP ring exchange of K/V (Liu et al. 2023, arXiv:2310.01889;
  hidden behind attention), PP point-to-point, EP dispatch/combine all-to-alls with
  node-limited deduplication (:mod:`simsim.physics.comm`); DualPipe hides EP and PP traffic
  behind the paired micro-batch's compute at the cost of the SMs it reserves, except in the
  warm-up and cool-down micro-batches that have no partner;
* the pipeline bubble of the schedule (:mod:`simsim.physics.pipeline`); data-parallel gradient
  reduce-scatter and parameter all-gather per step, up to ``software.dp_overlap`` of them hidden
  behind one micro-batch's backward and forward; the optimizer step from HBM bandwidth;
* the software stack (``software``): GEMM and attention kernels at ``kernel_efficiency`` of
  their best case, and the shares of TP and PP traffic it hides (``tp_overlap``,
  ``pp_overlap``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .physics import architecture as A
from .physics import comm as C
from .physics import compute as K
from .physics.pipeline import SCHEDULE_CODES, bubble_time
from .schema import HardwareConfig, Scenario

Array = NDArray[np.float64]

#: Bytes per element of the MoE dispatch under fp8: 1 B + one FP32 scale per 128 (DeepSeek-V3
#: §3.3, fine-grained 1x128 tiles); combine stays BF16.
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128.0
#: Optimizer bytes moved per parameter of the local shard: read+write master and Adam moments,
#: read the gradient, write the 16-bit weight (FP32 moments; BF16 moments under fp8, DeepSeek).
OPTIMIZER_BYTES = {"fp8": 2 * (4 + 4) + 4 + 2, "default": 2 * (4 + 8) + 4 + 2}


@dataclass(frozen=True)
class Machine:
    """Scalar hardware and efficiency inputs of the step-time model, in SI units."""

    peak: float  # FLOP/s of the training precision
    peak16: float  # FLOP/s of 16-bit (attention, head, router)
    hbm: float  # bytes/s
    up_bw: float  # scale-up bytes/s per GPU per direction, times collective efficiency
    out_bw: float  # scale-out bytes/s per GPU per direction, times collective efficiency
    up_domain: int
    gpus_per_node: int
    eta_max: float  # MAMF fraction of the training precision
    eta_max16: float
    m_half: float
    attention_efficiency: float
    up_latency: float  # s
    out_latency: float  # s
    tp_overlap: float
    pp_overlap: float
    dp_overlap: float
    comm_sm_fraction: float


def machine(sc: Scenario) -> Machine:
    hw, eff, prec = sc.hardware, sc.efficiency, sc.training.precision
    sw = sc.software
    kernel = sw.kernel_efficiency
    peaks = hw.peak_tflops
    peak = peaks.get(prec)
    assert peak is not None  # checks.validate: the chip supports the training precision
    p16 = peaks.bf16 or peaks.fp16 or peak
    ce = hw.collective_efficiency
    return Machine(
        peak=peak * 1e12,
        peak16=p16 * 1e12,
        hbm=hw.hbm_tbps * 1e12,
        up_bw=hw.scale_up_gbps * 1e9 * ce,
        out_bw=hw.scale_out_gbps * 1e9 * ce,
        up_domain=hw.scale_up_domain,
        gpus_per_node=hw.gpus_per_node,
        eta_max=mamf(hw, sc, prec) * kernel,
        eta_max16=mamf(hw, sc, "bf16") * kernel,
        m_half=eff.gemm_m_half,
        attention_efficiency=eff.attention_efficiency * kernel,
        up_latency=hw.scale_up_latency_us * 1e-6,
        out_latency=hw.scale_out_latency_us * 1e-6,
        tp_overlap=sw.tp_overlap,
        pp_overlap=sw.pp_overlap,
        dp_overlap=sw.dp_overlap,
        comm_sm_fraction=hw.dualpipe_comm_sm_fraction,
    )


def mamf(hw: HardwareConfig, sc: Scenario, precision: str) -> float:
    """The chip's measured max achievable matmul fraction for ``precision`` (hardware preset
    ``mamf_fraction``), else the default of ``efficiency.gemm_eta_max`` (the Result lists
    that substitution under ``assumptions``)."""
    measured = hw.mamf_fraction.get(precision)
    if measured is not None:
        return measured
    default = sc.efficiency.gemm_eta_max.get(precision)
    return float(default if default is not None else 0.0)


def _bw(group_span: Array, mc: Machine) -> tuple[Array, Array]:
    """(bandwidth, latency) of a group whose members span ``group_span`` consecutive GPUs: the
    scale-up network when it fits in one scale-up domain, else the scale-out network."""
    inside = group_span <= mc.up_domain
    return np.where(inside, mc.up_bw, mc.out_bw), np.where(inside, mc.up_latency, mc.out_latency)


def step_time(
    arch: A.Arch,
    seq_len: int,
    precision: str,
    recompute: str,
    mc: Machine,
    n_gpus: int,
    layout: dict[str, Array],
    state_params: dict[str, Array],
) -> dict[str, Array]:
    """Step time and its breakdown for every candidate layout [s].

    Parameters
    ----------
    arch : model shape (scalars)
    layout : arrays ``tp, pp, cp, ep, dp, zero_stage, micro_batch, schedule (code), v, m``
    state_params : arrays ``ne`` and ``expert``: parameters per GPU (non-expert after TP, routed
        experts after EP) of the most loaded stage, from :func:`simsim.engine.stage_params`
    """
    tp, pp, cp, ep, dp = (layout[k].astype(float) for k in ("tp", "pp", "cp", "ep", "dp"))
    zs, mb, code, v, m = (layout[k] for k in ("zero_stage", "micro_batch", "schedule", "v", "m"))
    mb, m, v = mb.astype(float), m.astype(float), v.astype(float)
    h = float(np.asarray(arch.d_model))
    n_layers = float(np.asarray(arch.n_layers)) + float(np.asarray(arch.mtp_depth))
    dense_l, moe_l = (float(x) for x in A.layer_counts(arch))
    moe_l += float(np.asarray(arch.mtp_depth)) if moe_l > 0 else 0.0
    dense_l = n_layers - moe_l
    k, n_exp = float(np.asarray(arch.top_k)), float(np.asarray(arch.n_experts))
    ns, fe = float(np.asarray(arch.n_shared)), float(np.asarray(arch.d_ff_expert))
    mats = A.ffn_matrices(arch.gated_ffn)
    wbytes = 1.0 if precision == "fp8" else 2.0

    tokens = mb * seq_len / cp  # rows of the micro-batch on this GPU's sequence shard
    tg = tokens / tp  # tokens this GPU owns after sequence parallelism
    stage = 1.0 / pp  # share of the model's layers per stage (balanced stages)

    # GEMM classes: forward FLOPs per token of the whole model (MTP blocks counted as layers of
    # the last layer's type, as in simsim.physics.architecture), rows m, weight elements per GPU
    mtp = float(np.asarray(arch.mtp_depth))
    e = float(A.expert_params(arch))
    attn_p = float(A.attention_linear_params(arch)) * n_layers + mtp * 2.0 * h * h
    dense_p = float(A.dense_ffn_params(arch)) * dense_l
    shared_p, routed_p = ns * e * moe_l, n_exp * e * moe_l
    m_expert = np.maximum(ep * tg * k / max(n_exp, 1.0), 1.0)
    lin = [
        (2.0 * attn_p, tokens, attn_p / tp),
        (2.0 * dense_p, tokens, dense_p / tp),
        (2.0 * shared_p, tokens, shared_p / tp),
        (2.0 * k * e * moe_l, m_expert, routed_p / ep),
    ]
    # activation traffic of a GEMM class: its input and output, ~2 tensors of width ~2h, 16-bit
    act_io_bytes = 2.0 * (2.0 * h) * 2.0 * tg * stage
    t_lin = sum(
        K.gemm_time(f * tg * stage, rows, w * wbytes * stage, act_io_bytes,
                    mc.peak, mc.hbm, mc.eta_max, mc.m_half)
        for f, rows, w in lin
    )  # fmt: skip
    # 16-bit GEMMs (DeepSeek-V3 §3.3.1): LM head per output (main + MTP), router
    head16 = 2.0 * h * float(np.asarray(arch.vocab_size)) * (1.0 + mtp) + 2.0 * h * n_exp * moe_l
    t_head = K.gemm_time(
        head16 * tg * stage, tokens, 0.0, 0.0, mc.peak16, mc.hbm, mc.eta_max16, mc.m_half
    )
    core = float(A.attention_core_flops(arch, seq_len)) * n_layers
    t_core = K.attention_time(core * tg * stage, mc.peak16, mc.attention_efficiency)
    d_ff = float(np.asarray(arch.d_ff))
    # element-wise traffic per token-layer, forward, 16-bit elements: two norms (read + write h:
    # 4h), two residual adds (2 reads + 1 write: 6h), the FFN activation (SwiGLU reads the 2f
    # FC1 outputs and writes f: 1.5 x f_eff, f_eff = FC1 output width), the MoE permutation
    # (dispatch reads h and writes k h copies, combine the reverse: 2h + 2kh)
    f_eff = (dense_l * (mats - 1.0) * d_ff + moe_l * (k + ns) * fe * (mats - 1.0)) / n_layers
    moe_perm = (2.0 * h + 2.0 * k * h) * moe_l / n_layers
    elem_bytes = 2.0 * (10.0 * h + 1.5 * f_eff + moe_perm)
    if precision == "fp8":
        # quantising each linear input (read 2 B, write 1 B and a transposed 1 B copy for the
        # weight gradient; DeepSeek-V3 §3.3.2 fine-grained 1x128 tiles), ~per input element
        down_proj_in = f_eff / max(mats - 1.0, 1.0)
        elem_bytes += 4.0 * (2.0 * h + _attn_inner_width(arch) + down_proj_in)
    t_elem = K.memory_time(elem_bytes * n_layers * tg * stage, mc.hbm)

    t_fwd = t_lin + t_head + t_core + t_elem
    t_bwd = 2.0 * t_fwd  # dgrad + wgrad: 2x the forward GEMMs (Narayanan et al. 2021)
    t_w = 0.5 * 2.0 * (t_lin + t_head)  # weight-gradient GEMMs: half of the backward GEMMs
    t_recompute = {"none": 0.0 * t_fwd, "selective": t_core, "full": t_fwd - t_head}[recompute]
    dual = code == SCHEDULE_CODES["dualpipe"]
    f_stage = _slowest_stage_factor(
        float(np.asarray(arch.n_layers)), mtp, (t_fwd - t_head) / (n_layers * stage),
        t_head / stage, np.where(dual, pp / 2.0, pp),
    )  # fmt: skip
    t_fwd, t_bwd, t_w, t_recompute = (x * f_stage for x in (t_fwd, t_bwd, t_w, t_recompute))

    # --- communication per micro-batch -----------------------------------------------------
    act = tokens * h * 2.0  # one activation tensor of the micro-batch, 16-bit [bytes]
    bw_tp, lat_tp = _bw(tp, mc)
    # 4 RS/AG per layer forward, 4 backward; full recompute repeats the forward's 4
    n_tp = 8.0 * (1.5 if recompute == "full" else 1.0)
    t_tp = n_tp * n_layers * stage * C.ring_time(act, tp, bw_tp, lat_tp) * (1.0 - mc.tp_overlap)
    nkv_dims = _kv_width(arch)
    bw_cp, lat_cp = _bw(tp * cp, mc)
    kv = (cp - 1.0) * tokens * nkv_dims * 2.0 / tp
    # the ring passes K/V once forward and K/V plus their gradients backward (3 passes), each
    # behind the attention work of its pass (backward attention = 2x forward)
    t_cp_raw = 3.0 * n_layers * stage * np.where(cp > 1, kv / bw_cp + (cp - 1.0) * lat_cp, 0.0)
    t_cp = np.maximum(t_cp_raw - 3.0 * t_core, 0.0)
    bw_pp, lat_pp = _bw(tp * cp * dp + 1.0, mc)  # neighbouring stages are n/pp GPUs apart
    # activations forward, their gradients backward, once per virtual stage (sent TP-scattered)
    t_pp_raw = np.where(pp > 1, 2.0 * v * (act / tp / bw_pp + lat_pp), 0.0)
    dispatch_b = FP8_DISPATCH_BYTES if precision == "fp8" else 2.0
    max_nodes = layout.get("max_nodes", np.asarray(np.inf))
    dedup = np.isfinite(max_nodes).astype(float)
    a2a = [
        C.expert_all_to_all_time(tg, k, h, b, ep, mc.gpus_per_node, mc.up_bw, mc.out_bw,
                                 np.where(np.isfinite(max_nodes), max_nodes, 1e9), dedup,
                                 mc.out_latency, n_exp)
        for b in (dispatch_b, 2.0)
    ]  # fmt: skip
    t_ep_raw = 2.0 * moe_l * stage * (a2a[0] + a2a[1]) if moe_l else 0.0 * t_fwd
    raw_compute = t_fwd + t_bwd + t_recompute
    compute_mb = raw_compute
    hides = dual & (ep > 1)
    t_ep = np.where(dual, np.maximum(t_ep_raw - compute_mb, 0.0), t_ep_raw)
    t_pp = np.where(dual, np.maximum(t_pp_raw - compute_mb, 0.0), t_pp_raw * (1.0 - mc.pp_overlap))
    # DualPipe reserves SMs for communication while overlapping (DeepSeek: 20 of 132)
    compute_mb = np.where(hides, compute_mb / (1.0 - mc.comm_sm_fraction), compute_mb)

    t_mb = compute_mb + t_tp + t_cp + t_ep + t_pp
    scale = t_mb / np.maximum(raw_compute, 1e-30)  # comm spread over F and B
    # the chunks around DualPipe's bubble run unpaired (see below): all SMs, their traffic
    # exposed in F and B (the weight-gradient W has none)
    bubble_scale = np.where(
        dual, (raw_compute + t_tp + t_cp + t_ep_raw + t_pp_raw) / np.maximum(raw_compute, 1e-30),
        scale,
    )  # fmt: skip
    bubble = bubble_time(
        code, pp, (t_fwd + t_recompute) * bubble_scale, t_bwd * bubble_scale,
        t_w * np.where(dual, 1.0, scale), v,
    )  # fmt: skip

    # --- per step: data parallel, optimizer ------------------------------------------------
    ne, ex = state_params["ne"], state_params["expert"]
    edp = n_gpus / (pp * ep)
    bw_dp, lat_dp = _bw(tp * cp * dp, mc)
    bw_edp, lat_edp = _bw(ep * edp, mc)
    grad_b, param_b = 4.0, 2.0  # FP32 main-gradient reduce-scatter, 16-bit parameter gather
    rs = C.ring_time(ne * grad_b, dp * cp, bw_dp, lat_dp) + C.ring_time(
        ex * grad_b, edp, bw_edp, lat_edp
    )
    ag = C.ring_time(ne * param_b, dp * cp, bw_dp, lat_dp) + C.ring_time(
        ex * param_b, edp, bw_edp, lat_edp
    )
    rs = np.where(zs == 0, 2.0 * rs, rs)  # plain all-reduce
    ag = np.where(zs == 0, 0.0, ag)
    # the stack hides up to dp_overlap of each collective behind one micro-batch's B (or F)
    hide = mc.dp_overlap
    t_dp = rs - hide * np.minimum(rs, t_bwd * scale) + ag - hide * np.minimum(ag, t_fwd * scale)
    t_dp = t_dp + np.where(zs >= 3, np.maximum(2.0 * m * ag - m * compute_mb, 0.0), 0.0)
    opt_params = np.where(zs >= 1, ne / (dp * cp) + ex / edp, ne + ex)
    t_opt = K.memory_time(
        opt_params * OPTIMIZER_BYTES.get(precision, OPTIMIZER_BYTES["default"]), mc.hbm
    )

    # DualPipe hides a micro-batch's all-to-all and PP traffic behind the backward chunk of
    # another one it is paired with (DeepSeek-V3 §3.2.1, Fig. 4-5); the ~pp micro-batches of the
    # warm-up (forwards) and cool-down (backwards) have no partner, run on every SM and expose
    # their traffic (ISCA'25 Table 4 times these phases apart: 1F, 1B and 1W beside 1F1B).
    unpaired = np.where(dual, np.minimum(pp, m), 0.0)
    paired = m - unpaired
    compute = paired * compute_mb + unpaired * raw_compute
    ep_total = paired * t_ep + unpaired * t_ep_raw
    pp_total = paired * t_pp + unpaired * t_pp_raw
    step = compute + m * (t_tp + t_cp) + ep_total + pp_total + bubble + t_dp + t_opt
    return {
        "step": step,
        "compute": compute,
        "tp": m * t_tp,
        "cp": m * t_cp,
        "ep": ep_total,
        "pp": pp_total,
        "bubble": bubble,
        "dp": t_dp,
        "optimizer": np.broadcast_to(t_opt, step.shape),
    }


def _slowest_stage_factor(
    n_layers: float, mtp: float, t_layer: Array, t_heads: Array, units: Array
) -> Array:
    """Load of the slowest pipeline unit over the mean load (>= 1).

    The last stage carries the LM head(s) and the MTP blocks besides its layers; layers are whole,
    so the best split gives every other unit ``k`` layers and the last ``n_layers - (units-1) k``
    (Llama 3 Herd §3.3.2 moves layers off the end stages for this). ``units`` is ``pp``, or
    ``pp/2`` under DualPipe, whose ranks each hold a stage and its mirror.

    Parameters
    ----------
    n_layers : main-model layers; mtp : MTP blocks (on the last stage)
    t_layer : time of one layer [s]; t_heads : time of all LM heads [s]
    units : pipeline units that share the layers
    """
    extra = mtp + t_heads / np.maximum(t_layer, 1e-30)  # the last unit's surplus, in layers
    u = np.asarray(units, float)

    def load(k: Array) -> Array:  # slowest unit when the others hold k layers each
        return np.maximum(k, np.maximum(n_layers - (u - 1.0) * k, 0.0) + extra)

    # load(k) falls then rises in k: its integer minimum sits next to where the two sides meet,
    # at k = (L + extra) / units, or at k = extra once the last unit holds no layer at all
    mean = (n_layers + extra) / u
    cross = np.where(mean * (u - 1.0) <= n_layers, mean, extra)
    best = np.minimum(load(np.floor(cross)), load(np.ceil(cross)))
    return np.where(u > 1, best, n_layers + extra) / mean


def _attn_inner_width(arch: A.Arch) -> float:
    """Elements per token entering the attention's inner projections (MLA latents and the
    output projection's input; for MHA/GQA the output projection's input)."""
    nh = float(np.asarray(arch.n_heads))
    if arch.attention == "mla":
        return (
            float(np.asarray(arch.q_lora_rank))
            + float(np.asarray(arch.kv_lora_rank))
            + nh * float(np.asarray(arch.v_head_dim))
        )
    return nh * float(np.asarray(arch.head_dim))


def _kv_width(arch: A.Arch) -> float:
    """Elements per token of the K and V tensors that ring attention circulates."""
    nh = float(np.asarray(arch.n_heads))
    if arch.attention == "mla":
        d_qk = float(np.asarray(arch.qk_nope_head_dim)) + float(np.asarray(arch.qk_rope_head_dim))
        return nh * (d_qk + float(np.asarray(arch.v_head_dim)))
    return 2.0 * float(np.asarray(arch.n_kv_heads)) * float(np.asarray(arch.head_dim))
