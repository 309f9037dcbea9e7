"""Derived step time: compute, exposed communication by kind, pipeline bubble, optimizer.

One call evaluates every candidate layout: the layout fields are numpy arrays of equal shape,
everything else is scalar. The model, per GPU of the (balanced) pipeline stage and per
micro-batch:

* the pipeline runs at the pace of its slowest stage: layers are whole and the last stage also
  carries the LM head(s) and the MTP blocks (:func:`_slowest_stage_factor`);
* every weight matrix a GEMM of its own shape (M tokens or tokens per local expert, N and K
  after the TP split) on the roofline at the rate of that shape plus a fixed time per kernel
  (:mod:`simsim.physics.compute`); under ``fp8`` only the linear layers run at the FP8 peak
  (DeepSeek-V3 §3.3.1 keeps the LM head, router and attention in BF16) and every GEMM input and
  output gradient is cast at the recipe's bytes (:data:`FP8_CAST_BYTES`); backward = 2x the
  forward, a fused attention kernel's 2.5x; recomputation (selective, MoE blocks, full) adds
  forward work; the GPU waits for the host when its kernels are shorter than their launches
  (:data:`HOST_KERNELS`, ``software.host_us_per_kernel``), and once per dropless MoE layer while
  the host reads the token counts (``software.moe_sync_idle_us``);
* fused attention at the stack's rate (``software.attention_efficiency``, else
  ``efficiency.attention_efficiency``) of the 16-bit peak, or unfused with the scores through
  HBM; element-wise work (norms, residuals, activations, MoE permutation, the loss over the
  vocabulary) from HBM bandwidth; MoE expert work and all-to-alls paced by the busiest expert-
  parallel rank (``load_imbalance``);
* TP/SP collectives (per layer: 2 all-gathers + 2 reduce-scatters forward, as many backward,
  Korthikanti et al. 2022 §4.2.2), CP ring exchange of K/V (Liu et al. 2023, arXiv:2310.01889;
  hidden behind attention), PP point-to-point, EP dispatch/combine all-to-alls (a copy per
  remote node with a deduplicating dispatcher, per remote expert otherwise;
  :mod:`simsim.physics.comm`); DualPipe hides EP and PP traffic behind the paired
  micro-batch's compute at the cost of the SMs it reserves, except in the warm-up and
  cool-down micro-batches that have no partner;
* the pipeline bubble of the schedule (:mod:`simsim.physics.pipeline`); data-parallel gradient
  reduce-scatter (at the stack's gradient width) and parameter all-gather per step, up to
  ``software.dp_overlap`` of them hidden behind one micro-batch's backward and forward; the
  optimizer step from HBM bandwidth;
* the software stack (``software``): kernels at ``kernel_efficiency`` of their best case (the
  one fitted constant per stack), and the shares of TP, PP and EP traffic it hides
  (``tp_overlap``, ``pp_overlap``, ``ep_overlap``), never more than the compute they overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .physics import architecture as A
from .physics import comm as C
from .physics import compute as K
from .physics.pipeline import SCHEDULE_CODES, bubble_time
from .schema import HardwareConfig, PerPrecision, Scenario

Array = NDArray[np.float64]
#: How a weight matrix is split over tensor parallelism: replicated, column- or row-parallel.
REP, COL, ROW = 0, 1, 2
#: Parts of a GEMM class: (share of its weights, N, K, split) per matrix.
Parts = tuple[tuple[Any, Any, Any, int], ...]

#: Bytes per element of the MoE dispatch under fp8: 1 B + one FP32 scale per 128 (DeepSeek-V3
#: §3.3, fine-grained 1x128 tiles); combine stays BF16.
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128.0
#: Bytes moved per activation or gradient element quantised to FP8, by recipe
#: (``training.fp8_recipe``): torchao's roofline cost model (pytorch/ao
#: torchao/testing/training/roofline_utils.py): per-tensor current scaling ("tensorwise") reads
#: the 16-bit tensor for its amax, reads it again to cast and writes the FP8 copy and the
#: transposed copy the backward's other GEMM needs (2 + 2 + 1 + 1); MXFP8 quantises each of the
#: two orientations from a read of its own (2 x (2 + 1)); DeepSeek's block-wise recipe stores
#: 1x128 tiles in the forward (2 + 1) and, in the backward, reads them, transposes and
#: re-quantises into 128x1 tiles (1 + 1; DeepSeek-V3 §3.5.2), each plus its scales; delayed
#: scaling takes the scale from the amax history, so one read feeds both copies (Transformer
#: Engine's cast-transpose: 2 + 1 + 1).
FP8_CAST_BYTES = {
    "delayed": 4.0,
    "tensorwise": 6.0,
    "blockwise": 5.0 + 2 * 4.0 / 128.0,  # an FP32 scale per 128 elements, per copy
    "mxfp8": 6.0 + 2 * 1.0 / 32.0,  # an 8-bit scale per 32 elements, per copy (OCP MX v1.0)
}
#: Kernels the host launches per layer and micro-batch in the forward pass (the backward about
#: twice as many), as counted in Megatron-Core's source (megatron/core/transformer/*.py and
#: moe/*.py @d98e8a64; no published profile gives the count): a dense layer 12 (11-14: norms,
#: QKV, rotary, attention, projections, residuals, FC1, activation, FC2); an MoE layer 20 more
#: with fused router and permutation (router, top-k, auxiliary loss, permute, all-to-alls, sorts,
#: unpermute), and Transformer Engine's grouped GEMM launches one cuBLAS GEMM per local expert
#: for each of FC1 and FC2.
HOST_KERNELS = {"layer": 12.0, "moe": 20.0, "per_local_expert": 2.0}
#: GEMM-class kernels per layer and micro-batch in the forward pass, each paying the fixed
#: time ``efficiency.gemm_fixed_us``: every layer 5 (QKV, attention, output projection, FC1,
#: FC2), an MoE layer 3 more (router, the two grouped expert GEMMs). The backward runs two per
#: GEMM (data and weight gradients), counted through t_bwd = 2 t_fwd.
GEMM_KERNELS_PER_LAYER = {"layer": 5.0, "moe": 3.0}
#: Optimizer bytes moved per parameter of the local shard: read+write master and Adam moments,
#: read the gradient, write the 16-bit weight (FP32 moments; BF16 moments under fp8, DeepSeek).
OPTIMIZER_BYTES = {"fp8": 2 * (4 + 4) + 4 + 2, "default": 2 * (4 + 8) + 4 + 2}


@dataclass(frozen=True)
class Machine:
    """Hardware and efficiency inputs of the step-time model, in SI units. Each field is a
    scalar or an array that broadcasts with the :class:`Layout` (one chip per candidate when a
    batch of scenarios is searched at once)."""

    peak: ArrayLike  # FLOP/s of the training precision
    peak16: ArrayLike  # FLOP/s of 16-bit (attention, head, router)
    hbm: ArrayLike  # bytes/s
    up_bw: ArrayLike  # scale-up bytes/s per GPU per direction, times collective efficiency
    out_bw: ArrayLike  # scale-out bytes/s per GPU per direction, times collective efficiency
    up_domain: ArrayLike
    eta_max: ArrayLike  # MAMF fraction of the training precision
    eta_max16: ArrayLike
    kernel: ArrayLike  # the stack's fraction of the best-case GEMM rate (kernel_efficiency)
    scale: ArrayLike  # GEMM shape-product scale e of the training precision
    scale16: ArrayLike
    mn_half: ArrayLike  # GEMM half-sizes of the training precision (compute.gemm_efficiency)
    k_half: ArrayLike
    mn_half16: ArrayLike  # of the 16-bit GEMMs (LM head, router, unfused attention)
    k_half16: ArrayLike
    gemm_fixed: ArrayLike  # fixed time per GEMM kernel of the training precision [s]
    attention_efficiency: ArrayLike
    up_latency: ArrayLike  # s
    out_latency: ArrayLike  # s
    tp_overlap: ArrayLike
    pp_overlap: ArrayLike
    dp_overlap: ArrayLike
    comm_sm_fraction: ArrayLike
    gather_overlap: ArrayLike = 1.0  # share of the ZeRO parameter all-gather that may hide
    ep_overlap: ArrayLike = 0.0
    fp8_cast_bytes: ArrayLike = 0.0  # bytes moved per element quantised to FP8 (the recipe's)
    fused_attention: ArrayLike = 1.0  # 1 = fused attention kernel, 0 = scores through HBM
    host_kernel: ArrayLike = 0.0  # host time to launch one kernel [s]
    grad_bytes: ArrayLike = 4.0  # bytes per gradient element in the DP reduction
    loss_bytes: ArrayLike = 6.0  # HBM bytes per vocabulary logit through the loss, fwd + bwd
    dedup: ArrayLike = 0.0  # 1: a token crosses once per remote node (moe_dispatcher=deepep)
    grouped_half: ArrayLike = 0.0  # rows per expert at half the plain-GEMM rate (grouped GEMM)
    moe_sync: ArrayLike = 0.0  # GPU idle per MoE layer and micro-batch, fwd + bwd [s]


@dataclass(frozen=True)
class Layout:
    """Candidate parallel layouts, one element each (arrays of one shape)."""

    tp: NDArray[Any]
    pp: NDArray[Any]
    cp: NDArray[Any]
    ep: NDArray[Any]
    dp: NDArray[Any]
    zero_stage: NDArray[Any]
    micro_batch: NDArray[Any]
    schedule: NDArray[Any]  # code of simsim.physics.pipeline.SCHEDULE_CODES
    v: NDArray[Any]  # virtual stages (interleaved)
    m: NDArray[Any]  # micro-batches per step
    max_nodes: ArrayLike = np.inf  # node-limited routing (DeepSeek-V3: 4); inf = none


@dataclass(frozen=True)
class Workload:
    """What is trained: the model shape (its fields broadcast with the layout), the sequence,
    and the discrete choices one search shares (precision, recompute policy)."""

    arch: A.Arch
    seq_len: ArrayLike
    precision: str
    recompute: str
    n_gpus: ArrayLike
    capacity_factor: ArrayLike = 1.0  # padding of token-dropping MoE kernels; 1 when dropless
    dropless: ArrayLike = True  # routing without a capacity (moe.capacity_factor unset)
    load_imbalance: ArrayLike = 1.0  # routed load of the busiest EP rank over the mean
    pipeline_split: str = "balanced"  # one of simsim.schema.PIPELINE_SPLITS


def take(x: Any, index: NDArray[np.intp]) -> Any:
    a = np.asarray(x)
    return a[index] if a.ndim else x


def spread(x: Any, index: NDArray[np.intp]) -> Any:
    """Per-scenario values ``x`` spread over candidates (``x[index]``); one value shared by
    every scenario stays a scalar, so that the arithmetic on it is a broadcast."""
    a = np.asarray(x)
    if a.ndim and a.size and bool((a == a.flat[0]).all()):
        return a.flat[0]
    return a[index] if a.ndim else x


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
        eta_max=mamf(hw, sc, prec),
        eta_max16=mamf(hw, sc, "bf16"),
        kernel=kernel,
        scale=_per_precision(eff.gemm_scale, prec, 1.0),
        scale16=_per_precision(eff.gemm_scale, "bf16", 1.0),
        mn_half=_per_precision(eff.gemm_mn_half, prec),
        k_half=_per_precision(eff.gemm_k_half, prec),
        mn_half16=_per_precision(eff.gemm_mn_half, "bf16"),
        k_half16=_per_precision(eff.gemm_k_half, "bf16"),
        gemm_fixed=_per_precision(eff.gemm_fixed_us, prec) * 1e-6,
        attention_efficiency=(sw.attention_efficiency or eff.attention_efficiency) * kernel,
        up_latency=hw.scale_up_latency_us * 1e-6,
        out_latency=hw.scale_out_latency_us * 1e-6,
        tp_overlap=sw.tp_overlap,
        pp_overlap=sw.pp_overlap,
        dp_overlap=sw.dp_overlap,
        gather_overlap=_or(sw.param_gather_overlap, sw.dp_overlap),
        comm_sm_fraction=hw.dualpipe_comm_sm_fraction,
        ep_overlap=sw.ep_overlap,
        fp8_cast_bytes=FP8_CAST_BYTES[sc.training.fp8_recipe] if prec == "fp8" else 0.0,
        fused_attention=float(sw.fused_attention),
        host_kernel=sw.host_us_per_kernel * 1e-6,
        grad_bytes=sw.grad_reduce_bytes,
        loss_bytes=sw.loss_bytes_per_logit,
        dedup=float(sw.moe_dispatcher == "deepep"),
        grouped_half=sw.grouped_gemm_half_rows,
        moe_sync=sw.moe_sync_idle_us * 1e-6,
    )


def _or(value: float | None, default: float) -> float:
    """``value``, or ``default`` when it is null."""
    return default if value is None else value


def _per_precision(per: PerPrecision, precision: str, default: float = 0.0) -> float:
    """A GEMM shape constant of ``precision`` (null: ``default``, no dependence)."""
    value = per.get(precision)
    return float(value if value is not None else default)


def stack_machines(machines: list[Machine]) -> Machine:
    """One :class:`Machine` whose fields are arrays over ``machines`` (a batch of scenarios)."""
    return Machine(
        **{f.name: np.asarray([getattr(m, f.name) for m in machines]) for f in fields(Machine)}
    )


def mamf(hw: HardwareConfig, sc: Scenario, precision: str) -> float:
    """The best GEMM fraction of peak for ``precision``: the stack's own library's measured
    ceiling (``software.gemm_ceiling``), else the chip's measured max achievable matmul fraction
    (hardware preset ``mamf_fraction``), else the default of ``efficiency.gemm_eta_max`` (the
    Result lists that substitution under ``assumptions``)."""
    own = sc.software.gemm_ceiling.get(precision)
    if own is not None:
        return own
    measured = hw.mamf_fraction.get(precision)
    if measured is not None:
        return measured
    default = sc.efficiency.gemm_eta_max.get(precision)
    return float(default if default is not None else 0.0)


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def _bw(group_span: Array, mc: Machine) -> tuple[Array, Array]:
    """(bandwidth, latency) of a group whose members span ``group_span`` consecutive GPUs: the
    scale-up network when it fits in one scale-up domain, else the scale-out network."""
    inside = group_span <= _f(mc.up_domain)
    return np.where(inside, mc.up_bw, mc.out_bw), np.where(inside, mc.up_latency, mc.out_latency)


@dataclass(frozen=True)
class Shape:
    """The model terms the step-time model needs, from an :class:`~A.Arch` and the sequence
    length (arrays over scenarios; :func:`spread_rows` spreads them over candidate layouts)."""

    h: Array  # d_model
    main_layers: Array  # the model's layers
    n_layers: Array  # main layers + MTP blocks
    mtp: Array
    moe_l: Array  # layers with an MoE FFN
    k: Array  # top-k
    n_exp: Array
    e: Array  # weights of one expert
    mats: Array  # weight matrices per FFN (3 gated, 2 otherwise)
    f_eff: Array  # FC1 output width per token-layer, averaged over layers
    attn_p: Array  # attention projection weights, all layers and MTP projections
    dense_p: Array  # dense FFN weights, all dense layers
    shared_p: Array  # shared-expert weights
    routed_p: Array  # routed-expert weights
    vocab: Array
    core: Array  # attention-core forward FLOPs per token, all layers
    kv_width: Array  # elements per token of the K and V that ring attention circulates
    n_heads: Array
    d_ff: Array  # dense FFN width
    d_ffe: Array  # expert width (routed and shared)
    attn_parts: Parts  # the attention projections as (weight share, N, K, TP split)
    fp8_cast_elems: Array  # elements quantised per token-layer under FP8 (GEMM inputs, dY)

    @classmethod
    def of(cls, arch: A.Arch, seq_len: ArrayLike) -> Shape:
        h = _f(arch.d_model)
        mtp = _f(arch.mtp_depth)
        n_layers = _f(arch.n_layers) + mtp
        _, moe_l = A.layer_counts(arch)
        moe_l = moe_l + np.where(moe_l > 0, mtp, 0.0)
        dense_l = n_layers - moe_l
        k, ns, fe = _f(arch.top_k), _f(arch.n_shared), _f(arch.d_ff_expert)
        n_exp = _f(arch.n_experts)
        mats = _f(A.ffn_matrices(arch.gated_ffn))
        d_ff = _f(arch.d_ff)
        e = _f(A.expert_params(arch))
        f_eff = (dense_l * (mats - 1.0) * d_ff + moe_l * (k + ns) * fe * (mats - 1.0)) / n_layers
        return cls(
            h=h, main_layers=_f(arch.n_layers), n_layers=n_layers, mtp=mtp,
            moe_l=moe_l, k=k, n_exp=n_exp, e=e, mats=mats, f_eff=f_eff,
            # forward FLOPs per token of the whole model (MTP blocks counted as layers of the
            # last layer's type, as in simsim.physics.architecture)
            attn_p=A.attention_linear_params(arch) * n_layers + mtp * 2.0 * h * h,
            dense_p=A.dense_ffn_params(arch) * dense_l,
            shared_p=ns * e * moe_l, routed_p=n_exp * e * moe_l, vocab=_f(arch.vocab_size),
            core=A.attention_core_flops(arch, seq_len) * n_layers,
            kv_width=_kv_width(arch),
            n_heads=_f(arch.n_heads),
            d_ff=d_ff, d_ffe=fe, attn_parts=_attn_parts(arch),
            fp8_cast_elems=_fp8_cast_elems(arch, dense_l, moe_l, n_layers, mats),
        )  # fmt: skip


@dataclass(frozen=True)
class Compute:
    """Per-micro-batch kernel times of one pipeline stage, slowest stage included [s]."""

    fwd: Array
    bwd: Array
    w: Array  # weight-gradient GEMMs (zero-bubble and DualPipe schedule them apart)
    recompute: Array
    core: Array  # attention core, forward (hides the CP ring)

    @property
    def total(self) -> Array:
        return self.fwd + self.bwd + self.recompute


def _part_time(
    flops: Array,
    m: Array,
    weights: Array,
    act_io: Array,
    parts: Parts,
    tp: Array,
    mc: Machine,
    peak: ArrayLike,
    eta_max: ArrayLike,
    shape: tuple[ArrayLike, ArrayLike, ArrayLike],
) -> Array:
    """Time of one GEMM class whose FLOPs and weights split over ``parts`` (weight share,
    N, K, split): column-parallel parts split N over TP, row-parallel parts K, replicated
    ones neither (Shoeybi et al. 2019, arXiv:1909.08053 §3)."""
    total = 0.0 * flops
    for w, n, k, split in parts:
        n_gpu = n / tp if split == COL else n
        k_gpu = k / tp if split == ROW else k
        total = total + K.gemm_time(
            flops * w, m, n_gpu, k_gpu, weights * w, act_io * w, peak, mc.hbm, eta_max,
            *shape, mc.kernel,
        )  # fmt: skip
    return total


def compute_time(wl: Workload, sh: Shape, mc: Machine, lay: Layout) -> Compute:
    """GEMMs on the roofline with a shape efficiency, fused attention, element-wise traffic from
    HBM, per-kernel launch gaps, backward = 2x forward, recomputation; scaled to the slowest
    pipeline stage."""
    tp, pp, cp, ep = (_f(x) for x in (lay.tp, lay.pp, lay.cp, lay.ep))
    mb = _f(lay.micro_batch)
    h, n_layers, mtp, moe_l = sh.h, sh.n_layers, sh.mtp, sh.moe_l
    k, n_exp = sh.k, sh.n_exp
    wbytes = 1.0 if wl.precision == "fp8" else 2.0
    cf = _f(wl.capacity_factor)
    imb = _imbalance(wl, ep)

    tokens = mb * _f(wl.seq_len) / cp  # rows of the micro-batch on this GPU's sequence shard
    tg = tokens / tp  # tokens this GPU owns after sequence parallelism
    stage = 1.0 / pp  # share of the model's layers per stage (balanced stages)
    # activation traffic of a GEMM class: its input and output, ~2 tensors of width ~2h, 16-bit
    act_io = 2.0 * (2.0 * h) * 2.0 * tg * stage

    shape = (mc.scale, mc.mn_half, mc.k_half)  # of the training precision's GEMMs
    shape16 = (mc.scale16, mc.mn_half16, mc.k_half16)  # of the 16-bit ones

    def lin(flops_tok: Array, rows: Array, weights: Array, parts: Parts) -> Array:
        return _part_time(flops_tok * tg * stage, rows, weights * wbytes * stage, act_io, parts,
                          tp, mc, mc.peak, mc.eta_max, shape)  # fmt: skip

    # routed experts: rows per local expert (expert TP = 1); a token-dropping kernel pads each
    # expert's batch to its capacity (capacity_factor x the mean load; GShard §2.2, Switch
    # §2.1) and the busiest rank receives load_imbalance x the mean
    m_expert = np.maximum(imb * cf * ep * tg * k / np.maximum(n_exp, 1.0), 1.0)
    # the stack's grouped GEMM against one plain GEMM of the shape (software.grouped_gemm_half_rows)
    grouped = 1.0 + _f(mc.grouped_half) / m_expert
    t_dense = lin(2.0 * sh.attn_p, tokens, sh.attn_p / tp, sh.attn_parts) + lin(
        2.0 * sh.dense_p, tokens, sh.dense_p / tp, _ffn_parts(sh, sh.d_ff, COL, ROW)
    )
    t_experts = (
        lin(2.0 * sh.shared_p, tokens, sh.shared_p / tp, _ffn_parts(sh, sh.d_ffe, COL, ROW))
        + _part_time(grouped * imb * cf * 2.0 * k * sh.e * moe_l * tg * stage, m_expert,
                     sh.routed_p / ep * wbytes * stage, act_io,
                     _ffn_parts(sh, sh.d_ffe, REP, REP), tp, mc, mc.peak, mc.eta_max,
                     shape)
        # the router GEMM in 16 bits (DeepSeek-V3 §3.3.1)
        + _part_time(2.0 * h * n_exp * moe_l * tg * stage, tokens, 0.0 * tg, 0.0 * tg,
                     ((1.0, n_exp, h, REP),), tp, mc, mc.peak16, mc.eta_max16, shape16)
    )  # fmt: skip
    # the LM head per output (main + MTP), 16-bit (ibid.)
    t_head = _part_time(
        2.0 * h * sh.vocab * (1.0 + mtp) * tg * stage, tokens, 0.0 * tg, 0.0 * tg,
        ((1.0, sh.vocab, h, COL),), tp, mc, mc.peak16, mc.eta_max16, shape16,
    )  # fmt: skip
    t_core = np.where(
        _f(mc.fused_attention) > 0,
        K.attention_time(sh.core * tg * stage, mc.peak16, mc.attention_efficiency),
        _unfused_attention_time(wl, sh, mc, tokens, tg * stage),
    )
    # element-wise traffic per token-layer, forward, 16-bit elements: two norms (read + write h:
    # 4h), two residual adds (2 reads + 1 write: 6h), the FFN activation (SwiGLU reads the 2f
    # FC1 outputs and writes f: 1.5 x f_eff, f_eff = FC1 output width), the MoE token
    # permutation of Megatron-Core's all-to-all dispatcher (permute, sort by local expert, sort
    # back, unpermute with the routing weights: ~ (5k + 2) h, busiest rank x load_imbalance)
    moe_perm = imb * (5.0 * k + 2.0) * h * moe_l / n_layers
    elem_bytes = 2.0 * (10.0 * h + 1.5 * sh.f_eff)
    # quantising every linear GEMM's input (forward) and output gradient (backward) to FP8, at
    # the recipe's bytes per element (FP8_CAST_BYTES), per token-layer
    elem_bytes = elem_bytes + _f(mc.fp8_cast_bytes) * sh.fp8_cast_elems
    t_elem = K.memory_time(elem_bytes * n_layers * tg * stage, mc.hbm)
    # the loss over the vocabulary, per output head, on this GPU's vocabulary shard, at the
    # stack's bytes per logit (software.loss_bytes_per_logit, forward and backward together:
    # a third here, the backward's 2x the forward below adds the rest); on the last stage
    t_loss = K.memory_time(_f(mc.loss_bytes) / 3.0 * sh.vocab * (1.0 + mtp) * tg, mc.hbm)
    t_perm = K.memory_time(2.0 * moe_perm * n_layers * tg * stage, mc.hbm)
    # the fixed time of every GEMM kernel (GEMM_KERNELS_PER_LAYER forward)
    fixed = _f(mc.gemm_fixed) * stage
    t_launch = GEMM_KERNELS_PER_LAYER["layer"] * n_layers * fixed
    t_moe = t_experts + t_perm + GEMM_KERNELS_PER_LAYER["moe"] * moe_l * fixed
    t_lin = t_dense + t_moe  # the forward outside the head, attention core and element-wise

    t_fwd = t_lin + t_head + t_loss * stage + t_core + t_elem + t_launch
    # dgrad + wgrad: 2x the forward GEMMs (Narayanan et al. 2021); a fused attention kernel's
    # backward recomputes the scores: 5 matmuls to the forward's 2, 2.5x its FLOPs
    # (Dao-AILab/flash-attention benchmarks/benchmark_flash_attention.py: bwd = 2.5 x fwd)
    fused = _f(mc.fused_attention) > 0
    t_bwd = 2.0 * t_fwd + np.where(fused, 0.5 * t_core, 0.0)
    t_w = 0.5 * 2.0 * (t_dense + t_experts + t_head)  # weight gradients: half the backward GEMMs
    # recomputation: the attention core (selective), the MoE blocks (Megatron-Core's recompute
    # module "moe"), or every layer's forward (full)
    t_recompute = {
        "none": 0.0 * t_fwd, "selective": t_core, "moe": t_moe,
        "full": t_fwd - t_head - t_loss * stage,
    }[wl.recompute]  # fmt: skip
    # the GPU idles once per MoE layer forward while the host reads the dropless dispatcher's
    # token counts (software.moe_sync_idle_us: the whole layer's, forward and backward, sits in
    # the forward; a recomputed MoE block waits again); another micro-batch fills the gap under
    # DualPipe and the 1F1B all-to-all overlap; token dropping has static shapes
    dual = lay.schedule == SCHEDULE_CODES["dualpipe"]
    waits = (~dual) & (_f(mc.ep_overlap) == 0) & np.asarray(wl.dropless, dtype=bool)
    t_sync = np.where(waits, _f(mc.moe_sync), 0.0) * moe_l * stage
    t_fwd = t_fwd + t_sync
    t_recompute = t_recompute + (t_sync if wl.recompute in ("moe", "full") else 0.0 * t_sync)
    # host-bound: the GPU cannot run faster than the host launches its kernels (HOST_KERNELS per
    # layer forward, twice as many backward, and those of what is recomputed once more)
    host_moe = moe_l * (HOST_KERNELS["moe"] + HOST_KERNELS["per_local_expert"] * n_exp / ep)
    host_fwd = HOST_KERNELS["layer"] * n_layers + host_moe
    host_again: Array = {"none": 0.0 * host_fwd, "selective": 0.0 * host_fwd, "moe": host_moe,
                         "full": host_fwd}[wl.recompute]  # fmt: skip
    host = (3.0 * host_fwd + host_again) * stage * _f(mc.host_kernel)
    gpu = t_fwd + t_bwd + t_recompute
    stretch = np.maximum(1.0, host / np.maximum(gpu, 1e-30))
    t_fwd, t_bwd, t_w, t_recompute, t_head = (
        x * stretch for x in (t_fwd, t_bwd, t_w, t_recompute, t_head)
    )
    # the last stage's surplus per micro-batch: its heads and their loss, forward and backward
    # (the backward's 2x the forward) and never recomputed, against the layers' forward,
    # backward and recomputation
    ends = 3.0 * (t_head + t_loss * stage * stretch)
    f_stage = _slowest_stage_factor(
        sh.main_layers, mtp, (t_fwd + t_bwd + t_recompute - ends) / (n_layers * stage),
        ends / stage, np.where(dual, pp / 2.0, pp), wl.pipeline_split,
    )  # fmt: skip
    return Compute(t_fwd * f_stage, t_bwd * f_stage, t_w * f_stage, t_recompute * f_stage, t_core)


#: HBM bytes per attention score per forward pass when attention is not fused (16-bit): the
#: QK^T GEMM writes the scores (2), the fused scale-mask-softmax reads them and writes the
#: probabilities (2 + 2), dropout reads them and writes its output and a 1-byte mask (2 + 2 + 1),
#: the PV GEMM reads them (2): the tensors of Korthikanti et al. 2022 (arXiv:2205.05198) §4.1.
UNFUSED_SCORE_BYTES = 13.0


def _unfused_attention_time(wl: Workload, sh: Shape, mc: Machine, rows: Array, tok: Array) -> Array:
    """Attention without a fused kernel [s]: the score and value GEMMs over the full s x s
    (masked half included: twice the causal count), batched over heads at the 16-bit GEMM
    ceiling, plus the scores written and read through HBM (what makes a GEMM with K = the head
    width slow is that very output traffic, counted here once); ``tok`` tokens (times the
    stage's share of layers) on this GPU."""
    s = _f(wl.seq_len)
    gemm = K.gemm_time(
        2.0 * sh.core * tok, rows, np.inf, np.inf, 0.0, 0.0, mc.peak16, mc.hbm, mc.eta_max16,
        mc.scale16, mc.mn_half16, mc.k_half16, mc.kernel,
    )  # fmt: skip
    scores = UNFUSED_SCORE_BYTES * sh.n_heads * s * sh.n_layers * tok
    return gemm + K.memory_time(scores, mc.hbm)


def _imbalance(wl: Workload, ep: Array) -> Array:
    """Routed load of the busiest expert-parallel rank over the mean: ``load_imbalance`` across
    several ranks, 1 when one rank holds every expert (ep = 1)."""
    return np.where(ep > 1, _f(wl.load_imbalance), 1.0)


def _ffn_parts(sh: Shape, width: Array, fc1: int, fc2: int) -> Parts:
    """FC1 (h -> (mats-1) x width, its weight share (mats-1)/mats) and FC2 (width -> h)."""
    m1 = sh.mats - 1.0
    return ((m1 / sh.mats, m1 * width, sh.h, fc1), (1.0 / sh.mats, sh.h, width, fc2))


def tp_time_raw(wl: Workload, sh: Shape, mc: Machine, lay: Layout) -> Array:
    """TP/SP collectives per micro-batch before any overlap [s]: 2 all-gathers + 2
    reduce-scatters per layer forward, as many backward (Korthikanti et al. 2022 §4.2.2); full
    recompute repeats the forward's."""
    tp = _f(lay.tp)
    act = _act_bytes(wl, lay, sh)
    bw_tp, lat_tp = _bw(tp, mc)
    n_tp = 8.0 * (1.5 if wl.recompute == "full" else 1.0)
    ring = C.ring_time(act, tp, bw_tp, lat_tp)
    return n_tp * sh.n_layers * (1.0 / _f(lay.pp)) * ring


def cp_time(wl: Workload, sh: Shape, mc: Machine, lay: Layout, t_core: Array) -> Array:
    """Exposed context-parallel ring exchange per micro-batch [s]: K/V once forward, K/V and
    their gradients backward (3 passes; Liu et al. 2023, arXiv:2310.01889), each behind the
    attention work of its pass (backward attention = 2x forward)."""
    tp, cp = _f(lay.tp), _f(lay.cp)
    tokens = _f(lay.micro_batch) * _f(wl.seq_len) / cp
    bw_cp, lat_cp = _bw(tp * cp, mc)
    kv = (cp - 1.0) * tokens * sh.kv_width * 2.0 / tp
    stage = 1.0 / _f(lay.pp)
    raw = 3.0 * sh.n_layers * stage * np.where(cp > 1, kv / bw_cp + (cp - 1.0) * lat_cp, 0.0)
    return np.maximum(raw - 3.0 * t_core, 0.0)


def pp_time_raw(wl: Workload, sh: Shape, mc: Machine, lay: Layout) -> Array:
    """Pipeline send/recv per micro-batch before any overlap [s]: activations forward, their
    gradients backward, once per virtual stage, sent TP-scattered; neighbouring stages are
    n/pp GPUs apart."""
    tp, pp = _f(lay.tp), _f(lay.pp)
    bw_pp, lat_pp = _bw(tp * _f(lay.cp) * _f(lay.dp) + 1.0, mc)
    act = _act_bytes(wl, lay, sh)
    return np.where(pp > 1, 2.0 * _f(lay.v) * (act / tp / bw_pp + lat_pp), 0.0)


def ep_time_raw(wl: Workload, sh: Shape, mc: Machine, lay: Layout) -> Array:
    """Expert all-to-alls per micro-batch before any overlap [s]: dispatch (FP8 under the fp8
    recipe) and combine (16-bit), forward and backward (and the recomputed forward), with
    one copy per remote node under a deduplicating dispatcher (``software.moe_dispatcher=
    deepep``; node-limited routing caps those nodes), else one per remote expert, limited or
    not (:func:`simsim.physics.comm.expert_all_to_all_time`); the scale-up domain (8 GPUs of an
    HGX node, 72 of a GB200 NVL72 rack) is the unit that stays off the scale-out network;
    token-dropping kernels send capacity-sized buffers; the busiest rank receives
    ``load_imbalance`` x the mean."""
    tp, ep = _f(lay.tp), _f(lay.ep)
    tg = _f(lay.micro_batch) * _f(wl.seq_len) / _f(lay.cp) / tp
    dispatch_b = FP8_DISPATCH_BYTES if wl.precision == "fp8" else 2.0
    a2a = [
        C.expert_all_to_all_time(tg, sh.k, sh.h, b, ep, mc.up_domain, mc.up_bw, mc.out_bw,
                                 lay.max_nodes, mc.dedup, mc.out_latency, sh.n_exp)
        for b in (dispatch_b, 2.0)
    ]  # fmt: skip
    load = _f(wl.capacity_factor) * _imbalance(wl, ep)  # the busiest rank's share
    # forward and backward; recomputing the MoE blocks (moe, full) dispatches and combines again
    passes = 3.0 if wl.recompute in ("moe", "full") else 2.0
    return load * passes * sh.moe_l * (1.0 / _f(lay.pp)) * (a2a[0] + a2a[1])


def dp_time(
    wl: Workload, mc: Machine, lay: Layout, state_params: dict[str, Array], t_b: Array, t_f: Array
) -> tuple[Array, Array]:
    """Exposed data-parallel collectives per step [s]: main-gradient reduce-scatter (at
    ``software.grad_reduce_bytes`` per element) and 16-bit parameter all-gather over the DP
    group (non-expert weights) and the expert-DP group
    (experts); plain all-reduce without ZeRO; the stack hides up to ``dp_overlap`` of the
    reduction behind one micro-batch's backward and ``software.param_gather_overlap`` of the
    gather behind one forward. Returns (exposed time, the all-gather time,
    which ZeRO-3 repeats every micro-batch)."""
    tp, pp, cp, ep, dp = (_f(x) for x in (lay.tp, lay.pp, lay.cp, lay.ep, lay.dp))
    zs = lay.zero_stage
    ne, ex = state_params["ne"], state_params["expert"]
    edp = _f(wl.n_gpus) / (pp * ep)
    bw_dp, lat_dp = _bw(tp * cp * dp, mc)
    bw_edp, lat_edp = _bw(ep * edp, mc)
    # main-gradient reduce-scatter at the stack's gradient width, 16-bit parameter gather
    grad_b, param_b = _f(mc.grad_bytes), 2.0
    rs = C.ring_time(ne * grad_b, dp * cp, bw_dp, lat_dp) + C.ring_time(
        ex * grad_b, edp, bw_edp, lat_edp
    )
    ag = C.ring_time(ne * param_b, dp * cp, bw_dp, lat_dp) + C.ring_time(
        ex * param_b, edp, bw_edp, lat_edp
    )
    rs = np.where(zs == 0, 2.0 * rs, rs)  # plain all-reduce
    ag = np.where(zs == 0, 0.0, ag)
    hide, hide_ag = _f(mc.dp_overlap), _f(mc.gather_overlap)
    t_dp = rs - hide * np.minimum(rs, t_b) + ag - hide_ag * np.minimum(ag, t_f)
    return t_dp, ag


def optimizer_time(wl: Workload, mc: Machine, lay: Layout, state_params: dict[str, Array]) -> Array:
    """Optimizer step from HBM bandwidth [s]: the local shard's master weights, moments,
    gradient and 16-bit weight (:data:`OPTIMIZER_BYTES`)."""
    pp, ep = _f(lay.pp), _f(lay.ep)
    ne, ex = state_params["ne"], state_params["expert"]
    edp = _f(wl.n_gpus) / (pp * ep)
    opt_params = np.where(lay.zero_stage >= 1, ne / (_f(lay.dp) * _f(lay.cp)) + ex / edp, ne + ex)
    return K.memory_time(
        opt_params * OPTIMIZER_BYTES.get(wl.precision, OPTIMIZER_BYTES["default"]), mc.hbm
    )


def _act_bytes(wl: Workload, lay: Layout, sh: Shape) -> Array:
    """One activation tensor of the micro-batch on this GPU's sequence shard, 16-bit [bytes]."""
    return _f(lay.micro_batch) * _f(wl.seq_len) / _f(lay.cp) * sh.h * 2.0


def step_time(
    wl: Workload,
    mc: Machine,
    lay: Layout,
    state_params: dict[str, Array],
    shape: Shape | None = None,
    compute_rows: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None,
) -> dict[str, Array]:
    """Step time and its breakdown for every candidate layout [s].

    Parameters
    ----------
    wl : what is trained (model shape, sequence, precision, recompute, GPUs)
    mc : the machine and the software stack's efficiencies
    lay : the candidate layouts (arrays); every field of ``wl`` and ``mc`` broadcasts with them
    state_params : arrays ``ne`` and ``expert``: parameters per GPU (non-expert after TP, routed
        experts after EP) of the most loaded stage, from :func:`simsim.engine.stage_params`
    shape : the model terms of ``wl`` per candidate (default: :meth:`Shape.of` its arch); a
        batch search computes them once per scenario and spreads them over its candidates
    compute_rows : ``(rows, inverse)``: the kernel times and the TP, CP and EP traffic depend on
        a few layout fields only (scenario, tp, pp, cp, ep, micro-batch, DualPipe or not); a
        search passes one candidate of each such class (``rows``) and where each candidate's
        class is (``inverse``), and those terms run on those rows alone (the same numbers,
        fewer of them)

    Returns
    -------
    dict of arrays: ``step`` and the terms that sum to it (``compute``, exposed ``tp``, ``cp``,
    ``ep``, ``pp``, ``dp``, ``bubble``, ``optimizer``).
    """
    sh = Shape.of(wl.arch, wl.seq_len) if shape is None else shape
    pp, ep, m = _f(lay.pp), _f(lay.ep), _f(lay.m)
    # the terms that read no more of a layout than the compute classes do, once per class
    few, every = _per_class(wl, sh, mc, lay, compute_rows)
    c_few = compute_time(*few)
    c = Compute(**{f.name: every(getattr(c_few, f.name)) for f in fields(Compute)})
    t_tp_raw = every(tp_time_raw(*few))
    t_cp = every(cp_time(*few, c_few.core))
    t_ep_raw = every(ep_time_raw(*few))
    t_pp_raw = pp_time_raw(wl, sh, mc, lay)

    raw_compute = c.total
    dual = lay.schedule == SCHEDULE_CODES["dualpipe"]
    hides = dual & (ep > 1)
    # a stack hides its share of each kind of traffic, never more than the compute it overlaps
    t_tp = _exposed(t_tp_raw, mc.tp_overlap, raw_compute)
    t_ep = np.where(
        dual,
        np.maximum(t_ep_raw - raw_compute, 0.0),
        _exposed(t_ep_raw, mc.ep_overlap, raw_compute),
    )
    t_pp = np.where(
        dual,
        np.maximum(t_pp_raw - raw_compute, 0.0),
        _exposed(t_pp_raw, mc.pp_overlap, raw_compute),
    )
    # DualPipe reserves SMs for communication while overlapping (DeepSeek: 20 of 132)
    compute_mb = np.where(hides, raw_compute / (1.0 - _f(mc.comm_sm_fraction)), raw_compute)

    t_mb = compute_mb + t_tp + t_cp + t_ep + t_pp
    scale = t_mb / np.maximum(raw_compute, 1e-30)  # comm spread over F and B
    # the chunks around DualPipe's bubble run unpaired (see below): all SMs, their traffic
    # exposed in F and B (the weight-gradient W has none)
    bubble_scale = np.where(
        dual, (raw_compute + t_tp + t_cp + t_ep_raw + t_pp_raw) / np.maximum(raw_compute, 1e-30),
        scale,
    )  # fmt: skip
    bubble = bubble_time(
        lay.schedule, pp, (c.fwd + c.recompute) * bubble_scale, c.bwd * bubble_scale,
        c.w * np.where(dual, 1.0, scale), lay.v,
    )  # fmt: skip

    t_dp, ag = dp_time(wl, mc, lay, state_params, c.bwd * scale, c.fwd * scale)
    t_dp = t_dp + np.where(lay.zero_stage >= 3, np.maximum(2.0 * m * ag - m * compute_mb, 0.0), 0.0)
    t_opt = optimizer_time(wl, mc, lay, state_params)

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


def compute_class_columns(lay: Layout) -> list[NDArray[Any]]:
    """What :func:`compute_time`, :func:`tp_time_raw`, :func:`cp_time` and :func:`ep_time_raw`
    read of a layout: candidates equal in these (and in their scenario) have equal kernel times
    and TP, CP and EP traffic (``step_time``'s ``compute_rows``)."""
    dual = lay.schedule == SCHEDULE_CODES["dualpipe"]
    return [lay.tp, lay.pp, lay.cp, lay.ep, lay.micro_batch, dual]


def step_class_columns(lay: Layout) -> list[NDArray[Any]]:
    """What :func:`step_time` reads of a layout: the compute columns, the schedule, the virtual
    stages, and of the ZeRO stage only whether it is 0 (all-reduce), 1-2 (reduce-scatter and
    gather, :func:`dp_time`; a sharded optimizer, :func:`optimizer_time`) or 3 and up (the
    gather again every micro-batch): stages 1 and 2 differ in memory alone."""
    zs = np.asarray(lay.zero_stage)
    zero = np.minimum(zs, 1) + (zs >= 3)
    return [*compute_class_columns(lay), lay.schedule, lay.v, zero]


def _per_class(
    wl: Workload, sh: Shape, mc: Machine, lay: Layout,
    compute_rows: tuple[NDArray[np.intp], NDArray[np.intp]] | None,
) -> tuple[tuple[Workload, Shape, Machine, Layout], Any]:  # fmt: skip
    """The inputs at one candidate of each compute class, and the map from a per-class array
    back to every candidate (see :func:`step_time`'s ``compute_rows``)."""
    if compute_rows is None:
        return (wl, sh, mc, lay), lambda x: x
    rows, inverse = compute_rows
    few = (take_rows(wl, rows), take_rows(sh, rows), take_rows(mc, rows), take_rows(lay, rows))
    return few, lambda x: take(x, inverse)


def take_rows(obj: Any, index: NDArray[np.intp]) -> Any:
    """A copy of the dataclass ``obj`` (Workload, Shape, Machine, Layout) whose per-candidate
    array fields keep the elements at ``index`` (:func:`take`)."""
    return _each_field(obj, index, take)


def spread_rows(obj: Any, index: NDArray[np.intp]) -> Any:
    """A copy of ``obj`` (Shape, Machine) whose per-scenario array fields are spread over
    candidates (:func:`spread`: one value shared by every scenario stays a scalar)."""
    return _each_field(obj, index, spread)


def _each_field(obj: Any, index: NDArray[np.intp], pick: Any) -> Any:
    """``obj`` with ``pick(field, index)`` applied to every numeric field (tuples element by
    element; strings and the arch left as they are)."""

    def one(x: Any) -> Any:
        if isinstance(x, tuple):
            return tuple(one(y) for y in x)
        if isinstance(x, str | A.Arch):
            return x
        return pick(x, index)

    return type(obj)(**{f.name: one(getattr(obj, f.name)) for f in fields(obj)})


def _exposed(raw: Array, overlap: ArrayLike, compute: Array) -> Array:
    """Traffic left exposed when ``overlap`` of it may hide behind ``compute`` [s]."""
    return raw - _f(overlap) * np.minimum(raw, compute)


def _slowest_stage_factor(
    n_layers: ArrayLike,
    mtp: ArrayLike,
    t_layer: Array,
    t_heads: Array,
    units: ArrayLike,
    split: str = "balanced",
) -> Array:
    """Load of the slowest pipeline unit over the mean load (>= 1).

    The last stage carries the LM head(s) and the MTP blocks besides its layers; layers are
    whole. ``units`` is ``pp``, or ``pp/2`` under DualPipe, whose ranks each hold a stage and its
    mirror. ``split`` (:data:`simsim.schema.PIPELINE_SPLITS`) says where the layers go:

    - ``balanced``: every other unit ``k`` layers and the last ``n_layers - (units-1) k``, the
      ``k`` that minimises the slowest (Llama 3 Herd §3.3.2 moves layers off the end stages);
    - ``even``: ``ceil(n_layers / units)`` layers each, the head on top of the last unit's
      (Megatron-Core's default split);
    - ``account``: the embedding and the loss take one layer's place each, so the last unit holds
      ``ceil((n_layers + 2) / units) - 1`` layers and the head (Megatron-Core's
      --account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split,
      megatron/core/transformer/transformer_block.py).

    Parameters
    ----------
    n_layers : main-model layers; mtp : MTP blocks (on the last stage)
    t_layer : time of one layer [s]; t_heads : time of all LM heads [s]
    units : pipeline units that share the layers
    split : one of "balanced", "even", "account"
    """
    n_layers, mtp = _f(n_layers), _f(mtp)
    extra = mtp + t_heads / np.maximum(t_layer, 1e-30)  # the last unit's surplus, in layers
    u = np.asarray(units, float)
    mean = (n_layers + extra) / u
    if split == "even":
        return np.where(u > 1, np.ceil(n_layers / u) + extra, n_layers + extra) / mean
    if split == "account":
        slots = np.ceil((n_layers + 2.0) / u)  # layers, embedding and loss, per unit
        return np.where(u > 1, np.maximum(slots, slots - 1.0 + extra), n_layers + extra) / mean

    def load(k: Array) -> Array:  # slowest unit when the others hold k layers each
        return np.maximum(k, np.maximum(n_layers - (u - 1.0) * k, 0.0) + extra)

    # load(k) falls then rises in k: its integer minimum sits next to where the two sides meet,
    # at k = (L + extra) / units, or at k = extra once the last unit holds no layer at all
    cross = np.where(mean * (u - 1.0) <= n_layers, mean, extra)
    best = np.minimum(load(np.floor(cross)), load(np.ceil(cross)))
    return np.where(u > 1, best, n_layers + extra) / mean


def _attn_parts(arch: A.Arch) -> Parts:
    """The attention projections of one layer as (weight share, N, K, TP split).

    GQA/MHA: fused QKV (column-parallel) and the output projection (row-parallel). MLA
    (DeepSeek-V2 §2.1): the query and joint KV down-projections (replicated), their
    up-projections (column-parallel) and the output projection (row-parallel); without Q-LoRA
    the query projection reads h directly.
    """
    h, nh = _f(arch.d_model), _f(arch.n_heads)
    total = A.attention_linear_params(arch)
    if arch.attention == "mla":
        qr, kr = _f(arch.q_lora_rank), _f(arch.kv_lora_rank)
        dn, dr, dv = (_f(x) for x in (arch.qk_nope_head_dim, arch.qk_rope_head_dim,
                                      arch.v_head_dim))  # fmt: skip
        q_in = np.where(qr > 0, qr, h)
        mats: Parts = (
            (h * qr, qr, h, REP),  # query down-projection (zero without Q-LoRA)
            (q_in * nh * (dn + dr), nh * (dn + dr), q_in, COL),
            (h * (kr + dr), kr + dr, h, REP),
            (kr * nh * (dn + dv), nh * (dn + dv), kr, COL),
            (nh * dv * h, h, nh * dv, ROW),
        )
    else:
        dh, nkv = _f(arch.head_dim), _f(arch.n_kv_heads)
        qkv = (nh + 2.0 * nkv) * dh
        mats = ((h * qkv, qkv, h, COL), (nh * dh * h, h, nh * dh, ROW))
    return tuple((w / total, n, k, split) for w, n, k, split in mats)


def _fp8_cast_elems(
    arch: A.Arch, dense_l: Array, moe_l: Array, n_layers: Array, mats: Array
) -> Array:
    """Elements quantised to FP8 per token-layer: every linear GEMM's input (forward, K wide)
    and output gradient (backward, N wide), averaged over the layers."""
    h = _f(arch.d_model)
    attn = sum(n + k for _, n, k, _ in _attn_parts(arch))
    ffn = (mats - 1.0) * _f(arch.d_ff) + _f(arch.d_ff) + 2.0 * h
    per_expert = (mats - 1.0) * _f(arch.d_ff_expert) + _f(arch.d_ff_expert) + 2.0 * h
    experts = (_f(arch.top_k) + _f(arch.n_shared)) * per_expert
    return attn + (dense_l * ffn + moe_l * experts) / n_layers


def _kv_width(arch: A.Arch) -> Array:
    """Elements per token of the K and V tensors that ring attention circulates."""
    nh = _f(arch.n_heads)
    if arch.attention == "mla":
        d_qk = _f(arch.qk_nope_head_dim) + _f(arch.qk_rope_head_dim)
        return nh * (d_qk + _f(arch.v_head_dim))
    return 2.0 * _f(arch.n_kv_heads) * _f(arch.head_dim)
