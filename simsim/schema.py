"""The typed scenario: frozen dataclasses, and the one function that builds them from a mapping.

Hydra and OmegaConf stay at the edge (:mod:`simsim.scenario` composes presets and overrides into
a plain mapping); :func:`build` turns that mapping once into a frozen :class:`Scenario` (the
physical scenario) and an :class:`AppConfig` (output, report and sweep settings). Everything
below the scenario layer (checks, engine, performance, physics, accounting) takes these objects.

:func:`build` checks *types*: every key must be a field (unknown keys are an error listing the
allowed ones), every field without a default must be present, integers must be integral, floats
finite (NaN and infinity are rejected here, so they never reach an output), booleans and strings
what they say. :mod:`simsim.checks` then checks *ranges* and the relations between fields. All
problems are reported together, one line each, naming the field path.

Units follow DESIGN.md: human units in configs (TFLOP/s, GiB, GB/s per GPU per direction, W,
USD, kgCO2/kWh), SI inside the physics layer.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import UnionType
from typing import Any

import numpy as np

from .errors import ConfigError

#: Training number formats simsim knows, and the ``hardware.peak_tflops`` key each one uses.
PRECISIONS = ("fp8", "bf16", "fp16", "tf32", "fp32")
#: FFN activations; the gated ones (SwiGLU, GeGLU: Shazeer 2020, arXiv:2002.05202) have three
#: weight matrices, the others two.
FFN_ACTS = ("swiglu", "geglu", "gelu", "relu2")
GATED_FFN_ACTS = ("swiglu", "geglu")
ATTENTIONS = ("mha", "gqa", "mla")
#: Activation recomputation: none; selective (the attention core, Korthikanti et al. 2022);
#: moe (Megatron-Core's recompute modules "layernorm moe": the MoE blocks are recomputed, their
#: expert activations not kept); full (every layer from its input).
RECOMPUTE = ("none", "selective", "moe", "full")
#: FP8 scaling recipes (``training.fp8_recipe``): per-tensor scaling from an amax history
#: (Transformer Engine "delayed") or from the current tensor ("tensorwise", torchao/TE current
#: scaling), DeepSeek-V3's block-wise 1x128 / 128x128 tiles ("blockwise", §3.3), Blackwell's
#: microscaling MXFP8 (32-element blocks, OCP MX spec v1.0).
FP8_RECIPES = ("delayed", "tensorwise", "blockwise", "mxfp8")
#: MoE token dispatchers (``software.moe_dispatcher``; see :class:`SoftwareConfig`).
DISPATCHERS = ("alltoall", "deepep")
#: How the layers split over pipeline stages (``parallel.pipeline_split``; the last stage also
#: holds the LM head and its loss): "balanced" moves whole layers off the last stage until its
#: load matches the others' (Llama 3 Herd §3.3.2; Megatron-Core's uneven first/last stage or an
#: explicit --pipeline-model-parallel-layout); "even" gives every stage the same layer count
#: (Megatron-Core's default, the head on top); "account" counts the embedding and the loss as
#: one layer each (Megatron-Core's --account-for-embedding-in-pipeline-split and
#: --account-for-loss-in-pipeline-split: megatron/core/transformer/transformer_block.py).
PIPELINE_SPLITS = ("balanced", "even", "account")
ZERO_STAGES = (0, 1, 2, 3)  # ZeRO (Rajbhandari et al. 2020, arXiv:1910.02054): 0 = none
EFFICIENCY_MODES = ("fixed", "derived")
COST_MODELS = ("auto", "rental", "owned")
REPORTS = ("export_controls", "dense_vs_moe", "frontier", "counterfactual")


# --- model -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class MLAConfig:
    """Multi-head latent attention (DeepSeek-V2/V3); names follow the Hugging Face config."""

    q_lora_rank: int | None = None  # null = no query compression (DeepSeek-V2-Lite)
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True, kw_only=True, slots=True)
class MoEConfig:
    """Mixture-of-Experts FFN; every MoE layer has ``n_experts`` routed and ``n_shared`` shared."""

    n_experts: int
    n_shared: int = 0
    top_k: int
    d_ff_expert: int
    n_dense_layers: int = 0  # leading layers with a dense FFN (DeepSeek "first_k_dense_replace")
    max_nodes_per_token: int | None = None  # node-limited routing (DeepSeek-V3: 4)
    #: expert capacity = capacity_factor x tokens x top_k / n_experts per expert (GShard,
    #: Lepikhin et al. 2020 §2.2; Switch, Fedus et al. 2021 §2.1): token-dropping kernels pad
    #: every expert's batch to its capacity. null = dropless (no padding).
    capacity_factor: float | None = None
    #: routed tokens of the most loaded expert-parallel rank over the mean (>= 1): the slowest
    #: rank sets the pace of the expert GEMMs and the all-to-all. 1 = forced balance (benchmark
    #: routing); null = ``efficiency.moe_load_imbalance`` (dropless routing learned with an
    #: auxiliary balance loss, as trained in practice).
    load_imbalance: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelConfig:
    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int | None = None  # null = n_heads
    head_dim: int | None = None  # null = d_model / n_heads
    d_ff: int | None = None  # dense FFN width; may be null when every layer is MoE
    ffn_act: str = "swiglu"
    vocab_size: int
    tie_embeddings: bool = False
    attention: str = "gqa"
    mla: MLAConfig | None = None
    moe: MoEConfig | None = None
    mtp_depth: int = 0
    #: local attention: each token attends to the last ``sliding_window`` tokens only, in
    #: ``sliding_window_layers`` of the layers (null = all of them); null window = none
    sliding_window: int | None = None
    sliding_window_layers: int | None = None
    path: str | None = None  # a Hugging Face config.json to read the fields above from
    source: str


# --- hardware --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class PerPrecision:
    """One number per training precision; null = unsupported or not known."""

    fp8: float | None = None
    bf16: float | None = None
    fp16: float | None = None
    tf32: float | None = None
    fp32: float | None = None

    def get(self, precision: str) -> float | None:
        value: float | None = getattr(self, precision)
        return value


@dataclass(frozen=True, kw_only=True, slots=True)
class UncertainInput:
    """An input known only within a range, with the source of the range (simsim.uncertainty):
    ``path`` is a dotted numeric field of the scenario (in a hardware preset, of the hardware
    section: ``peak_tflops.bf16``); values are drawn uniformly in ``[low, high]``."""

    path: str
    low: float
    high: float
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HardwareConfig:
    name: str
    #: dense (never 2:4 sparse) tensor-core peak per precision [TFLOP/s]; null = unsupported
    peak_tflops: PerPrecision = field(default_factory=PerPrecision)
    #: HBM capacity [GiB]. Capacities are binary: a vendor's "80GB" H100 has 80 GiB
    #: (nvidia-smi: 81,559 MiB).
    hbm_gib: float
    hbm_tbps: float
    scale_up_gbps: float  # GB/s per GPU per direction (NVLink 4 on H100: 450)
    scale_out_gbps: float  # GB/s per GPU per direction (400 Gb/s NIC: 50)
    pcie_gbps: float | None = None  # host link, GB/s per direction (export-control I/O sum)
    onchip_nic_gbps: float = 0.0  # NICs on the die, GB/s per direction (counted by the 2022 rule)
    datacenter: bool = True  # designed or marketed for datacenters (3A090 Note 2)
    scale_up_domain: int = 8
    gpus_per_node: int = 8
    tdp_w: float
    die_mm2: float | None = None
    #: measured max achievable matmul / dense peak per precision (MAMF); a null entry falls back
    #: to ``efficiency.gemm_eta_max`` and the Result says so (``assumptions``)
    mamf_fraction: PerPrecision = field(default_factory=PerPrecision)
    #: achieved / link bandwidth of large collectives on this chip's networks
    collective_efficiency: float
    scale_up_latency_us: float  # one hop of the scale-up network [us]
    scale_out_latency_us: float  # one hop of the scale-out network [us]
    #: share of the SMs that DualPipe's communication kernels take while overlapping
    dualpipe_comm_sm_fraction: float
    price_usd_per_hour: float | None = None  # rental, USD per GPU-hour
    purchase_usd: float | None = None  # purchase price per GPU
    #: figures of this chip that sources disagree on (peaks, bandwidths, prices), as ranges
    uncertainty: tuple[UncertainInput, ...] = ()
    source: str


# --- training, cluster, layout, efficiency, software -----------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class StageConfig:
    """A further stage of the run (context extension, annealing, post-training) that the bill
    adds: ``tokens`` trained at ``seq_len`` and ``global_batch_tokens`` (null = the main stage's)
    with a layout searched for the stage, or a published cost in ``gpu_hours`` instead."""

    name: str
    tokens: float | None = None
    seq_len: int | None = None
    global_batch_tokens: float | None = None
    gpu_hours: float | None = None
    source: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchRampConfig:
    """The global batch grows linearly from ``start_batch_tokens`` to
    ``training.global_batch_tokens`` over the first ``ramp_tokens`` of the main stage."""

    start_batch_tokens: float
    ramp_tokens: float
    source: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingConfig:
    tokens: float
    seq_len: int
    global_batch_tokens: float
    precision: str = "bf16"
    recompute: str = "selective"
    fp8_recipe: str = "tensorwise"  # one of FP8_RECIPES; read only when precision is fp8
    batch_ramp: BatchRampConfig | None = None
    stages: tuple[StageConfig, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterConfig:
    n_gpus: int
    pue: float
    grid_kgco2_per_kwh: float
    electricity_usd_per_kwh: float
    #: fraction of wall-clock that trains; null = derived from ``reliability`` (the effective
    #: training time ratio of simsim.physics.reliability)
    goodput: float | None = None
    # Power model: average draw per GPU = tdp_w x gpu_power_fraction, plus the node's share.
    gpu_power_fraction: float
    node_overhead_w_per_gpu: float
    # Money: rental (GPU-hours x price) or owned (amortised capital + electricity).
    cost_model: str = "auto"
    server_cost_overhead: float
    interconnect_cost_overhead: float
    depreciation_per_year: float
    source: str


CHECKPOINT_MODES = ("sync", "async")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReliabilityConfig:
    """Interruptions, checkpoints and restarts of a whole run (simsim.physics.reliability)."""

    interruptions_per_gpu_hour: float  # unexpected job interruptions per GPU per hour
    planned_interruptions_per_day: float  # maintenance and upgrades, per job
    restart_minutes: float  # from an interruption to training again (detect, reschedule, load)
    checkpoint_write_gbps_per_gpu: float  # storage write bandwidth per GPU [GB/s]
    checkpoint: str = "sync"  # sync: the write blocks training; async: only the copy to host
    checkpoint_interval_minutes: float | None = None  # null = the Young/Daly optimum
    #: share of the job's remaining time spent on in-training evaluation (not training)
    evaluation_share: float = 0.0
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ParallelConfig:
    """Parallel layout; a null field is chosen by simsim (see :mod:`simsim.engine`)."""

    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    ep: int | None = None
    cp: int | None = None
    zero_stage: int | None = None
    micro_batch: int | None = None
    schedule: str | None = None
    virtual_stages: int | None = None  # interleaved schedule only
    pipeline_split: str = "balanced"  # one of PIPELINE_SPLITS


@dataclass(frozen=True, kw_only=True, slots=True)
class EfficiencyConfig:
    mode: str = "derived"
    mfu: float | None = None  # null = default_mfu[training.precision]
    default_mfu: PerPrecision = field(default_factory=PerPrecision)
    usable_hbm_fraction: float
    # derived mode (simsim.performance); each constant's source is in config.yaml
    gemm_eta_max: PerPrecision = field(default_factory=PerPrecision)
    gemm_scale: PerPrecision = field(default_factory=PerPrecision)
    gemm_mn_half: PerPrecision = field(default_factory=PerPrecision)
    gemm_k_half: PerPrecision = field(default_factory=PerPrecision)
    gemm_fixed_us: PerPrecision = field(default_factory=PerPrecision)
    attention_efficiency: float
    moe_load_imbalance: float
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SoftwareConfig:
    """The training software stack: what it can do and how fast its kernels run (derived mode).

    A stack offers a set of pipeline schedules and ZeRO stages (the layout search keeps to them)
    and hides some communication behind compute; ``kernel_efficiency`` is the fraction of
    best-case kernel speed (MAMF GEMMs, published fused-attention rates) it reaches end to end,
    the one constant per stack that is fitted (``simsim-calibrate``) rather than looked up.
    """

    name: str
    kernel_efficiency: float
    tp_overlap: float  # fraction of TP/SP collectives hidden behind the adjacent GEMMs
    pp_overlap: float  # fraction of pipeline send/recv hidden behind compute
    dp_overlap: float  # fraction of the DP gradient/parameter collectives that may hide
    #: fraction of the ZeRO parameter all-gather hidden behind the next step's forward; null =
    #: ``dp_overlap``. 0 for a stack that gathers the updated shards inside the optimizer step,
    #: before the next forward starts (DeepSpeed ZeRO stages 1-2)
    param_gather_overlap: float | None = None
    #: fraction of the expert all-to-all hidden behind another micro-batch's compute outside
    #: DualPipe (Megatron-Core's overlapped 1F1B for MoE); DualPipe's own overlap is modelled
    ep_overlap: float = 0.0
    #: fused-attention rate of the stack's attention kernel as a fraction of the 16-bit peak;
    #: null = ``efficiency.attention_efficiency`` (a Hopper-tuned kernel: FA3 / cuDNN)
    attention_efficiency: float | None = None
    #: bytes per gradient element in the data-parallel reduction: 4 (FP32 main gradients) or 2
    #: (reduced in the 16-bit parameter type)
    grad_reduce_bytes: float = 4.0
    #: the stack's own GEMM library's measured ceiling, as a fraction of peak, per precision;
    #: null = the chip's ``hardware.mamf_fraction`` (cuBLAS)
    gemm_ceiling: PerPrecision = field(default_factory=PerPrecision)
    #: host (CPU) time to launch one kernel [us]: with small kernels the GPU waits for the host
    #: (0 = never host-bound, e.g. a whole step captured in a CUDA graph)
    host_us_per_kernel: float = 0.0
    #: false: attention as two batched GEMMs around a softmax kernel that writes the s x s
    #: scores to HBM (Megatron-LM before FlashAttention); true: one fused kernel
    fused_attention: bool = True
    #: HBM bytes moved per vocabulary logit and token by the LM loss, forward and backward: 6
    #: for a fused cross-entropy kernel (logits written in 16 bits, read once, the gradient
    #: written; Megatron-Core's cross_entropy_loss_fusion); 54 for Megatron-LM's
    #: vocab_parallel_cross_entropy on logits cast to FP32 (the cast 2 + 4, max 4, subtract 8,
    #: exp 8, sum 4, divide 8 in the forward; the gradient's scale 8 and cast back 4 + 2; the
    #: 16-bit logits written 2; megatron/core/tensor_parallel/cross_entropy.py)
    loss_bytes_per_logit: float = 6.0
    #: how tokens reach their experts across nodes: ``alltoall`` sends one copy per remote
    #: expert (Megatron-Core's all-to-all dispatcher); ``deepep`` sends one copy per remote node
    #: and fans it out over the scale-up links (DeepEP's internode kernels, DeepSeek-V3 tech
    #: report §3.2.2; Megatron-Core's flex dispatcher with the DeepEP backend)
    moe_dispatcher: str = "alltoall"
    #: rows per expert at which the stack's grouped expert GEMM runs at half the rate of one
    #: plain GEMM of the same shape (a factor M / (M + this) on top of the shape efficiency):
    #: 0 for a single-kernel grouped GEMM (DeepGEMM, torch._grouped_mm); Transformer Engine's
    #: default GroupedLinear launches one cuBLAS GEMM per expert over 4 streams (references.md
    #: note N13)
    grouped_gemm_half_rows: float = 0.0
    #: GPU idle per MoE layer and micro-batch, forward and backward together [us]: a dropless
    #: dispatcher needs the per-expert token counts on the host to size what follows, so the
    #: host waits for the GPU once per MoE layer and the GPU then waits for the host (Yan et al.
    #: 2026, arXiv:2603.07685 §4.3.1); hidden when another micro-batch computes meanwhile
    #: (DualPipe, the 1F1B all-to-all overlap), none with token dropping (static shapes);
    #: references.md note N18
    moe_sync_idle_us: float = 0.0
    schedules: tuple[str, ...]
    zero_stages: tuple[int, ...]
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class UncertaintyConfig:
    """Input uncertainty (simsim.uncertainty): ``samples`` Latin-hypercube draws (0 = off) of
    the uncertain ``inputs`` (and the hardware preset's own), seeded by ``seed``."""

    samples: int = 1000
    seed: int = 0
    inputs: tuple[UncertainInput, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """One physical training scenario, validated (:func:`simsim.resolve`)."""

    model: ModelConfig
    hardware: HardwareConfig
    training: TrainingConfig
    cluster: ClusterConfig
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    efficiency: EfficiencyConfig
    software: SoftwareConfig
    reliability: ReliabilityConfig
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists): what result.json records."""
        return to_plain(self)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with dotted fields changed, their types checked again (the ranges are checked
        by :func:`simsim.simulate`): ``sc.replace(**{"cluster.n_gpus": 4096})``. A field of an
        existing section is set in place, the rest of the tree shared; a whole group, a field
        under a null section or an unknown one rebuilds the scenario (the checks and messages of
        a new one)."""
        out = self
        for path, value in changes.items():
            *parents, _ = path.split(".")
            node: Any = out
            for part in parents:
                node = getattr(node, part, None)
            if not parents or not dataclasses.is_dataclass(node):
                data = self.to_dict()
                for p, v in changes.items():
                    set_path(data, p, v, "")
                return build_scenario(data)
            out = replace_path(out, path, convert(path, value))
        return out


# --- application settings (not part of the physical scenario) ---------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class OutputConfig:
    dir: str | None = None  # null = Hydra's run directory
    plot: bool = True
    print_table: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportConfig:
    """A multi-scenario report run instead of one simulation (e.g. ``export_controls``)."""

    name: str | None = None
    models: tuple[str, ...] = ()
    hardware: tuple[str, ...] = ()
    reference: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepConfig:
    """Axes swept in one evaluation (simsim.sweep): dotted field -> values."""

    axes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class AppConfig:
    output: OutputConfig = field(default_factory=OutputConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


SCENARIO_GROUPS = tuple(f.name for f in dataclasses.fields(Scenario))
APP_GROUPS = tuple(f.name for f in dataclasses.fields(AppConfig))


# --- building typed objects from mappings ----------------------------------------------------
@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _required(cls: type) -> frozenset[str]:
    missing = dataclasses.MISSING
    return frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is missing and f.default_factory is missing
    )


def _section(parts: list[str]) -> Any:
    """The dataclass of the section at the dotted ``parts`` (``["model", "moe"]``; ``[]`` = the
    root), or None if no section is there."""
    node: Any = _Root
    for part in parts:
        hint = _hints(node).get(part) if isinstance(node, type) else None
        node = next(
            (c for c in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(c)), None
        )
        if node is None:
            return None
    return node


def schema_keys(path: str) -> list[str]:
    """Keys the schema allows under a dotted ``path`` (``""``, ``model``, ``model.moe`` ...)."""
    node = _section(path.split(".") if path else [])
    return [] if node is None else [f.name for f in dataclasses.fields(node)]


def field_hint(path: str) -> Any:
    """The type hint of the field at the dotted ``path`` (``cluster.pue`` -> float), or None if
    the schema has no such field."""
    *parents, leaf = path.split(".")
    node = _section(parents)
    return None if node is None else _hints(node).get(leaf)


def replace_path(obj: Any, path: str, value: Any) -> Any:
    """``obj`` (a frozen dataclass tree) with the dotted field ``path`` set to ``value``, the
    rest shared, not copied; None where a parent section on the way is null."""
    head, _, rest = path.partition(".")
    if not rest:
        return replace_fields(obj, {head: value})
    child = getattr(obj, head)
    new = None if child is None else replace_path(child, rest, value)
    return None if new is None else replace_fields(obj, {head: new})


def replace_fields(obj: Any, changes: dict[str, Any]) -> Any:
    """``dataclasses.replace(obj, **changes)`` for frozen dataclasses with no ``__post_init__``:
    the schema's slotted sections and :class:`~simsim.result.Result` (the values are typed
    already: this is a sweep's inner loop, where ``dataclasses.replace`` was a third of a
    fixed-mode point's cost). An unknown name raises
    TypeError as ``dataclasses.replace`` does."""
    cls: Any = type(obj)
    names = _field_names(cls)
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(obj, name))
    return new


@cache
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class _Builder:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def value(self, tp: Any, value: Any, path: str) -> Any:
        args = typing.get_args(tp)
        if isinstance(value, str) and value == "???":  # OmegaConf's MISSING, left in a preset
            self.fail(path, "missing value (required)")
            return None
        if isinstance(tp, UnionType) or typing.get_origin(tp) is typing.Union:
            if value is None:
                if type(None) in args:
                    return None
            inner = [a for a in args if a is not type(None)]
            return self.value(inner[0], value, path)
        if value is None:
            self.fail(path, "missing value (required; null is not allowed)")
            return None
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp, value, path)
        if tp is bool:
            if isinstance(value, bool | np.bool_):
                return bool(value)
            self.fail(path, f"must be true or false, got {_describe(value)}")
        elif tp is int:
            if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
                return int(value)
            if isinstance(value, float | np.floating) and math.isfinite(value):
                if float(value).is_integer():
                    return int(value)
            self.fail(path, f"must be an integer, got {_describe(value)}")
        elif tp is float:
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool | np.bool_
            ):
                if math.isfinite(value):
                    return float(value)
                self.fail(path, f"must be a finite number, got {value!r}")
                return None
            self.fail(path, f"must be a number, got {_describe(value)}")
        elif tp is str:
            if isinstance(value, str):
                return value
            self.fail(path, f"must be a string, got {_describe(value)}")
        elif typing.get_origin(tp) is tuple:
            if isinstance(value, list | tuple | np.ndarray):
                return tuple(self.value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
            self.fail(path, f"must be a list, got {_describe(value)}")
        elif typing.get_origin(tp) is dict:
            if isinstance(value, Mapping):
                return dict(value)
            self.fail(path, f"must be a mapping, got {_describe(value)}")
        else:  # pragma: no cover - a schema type without a rule above
            raise TypeError(f"{path}: no rule for type {tp}")
        return None

    def dataclass(self, cls: Any, data: Any, path: str) -> Any:
        if dataclasses.is_dataclass(data) and not isinstance(data, type):
            if isinstance(data, cls):
                return data
            data = to_plain(data)
        if not isinstance(data, Mapping):
            self.fail(path or "scenario", f"must be a mapping, got {_describe(data)}")
            return None
        hints = _hints(cls)
        where = path or "the scenario"
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in hints:
                allowed = ", ".join(f.name for f in dataclasses.fields(cls))
                self.fail(sub, f"unknown key {key!r} in {where}; allowed: {allowed}")
                continue
            kwargs[key] = self.value(hints[key], value, sub)
        for key in sorted(_required(cls) - set(data)):
            self.fail(f"{path}.{key}" if path else key, "missing value (required)")
        if self.problems:
            return None
        return cls(**kwargs)


def _root_fields() -> list[tuple[str, Any, Any]]:
    out = []
    for cls in (Scenario, AppConfig):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            default = (
                field(default_factory=f.default_factory)
                if f.default_factory is not dataclasses.MISSING
                else field()
            )
            out.append((f.name, hints[f.name], default))
    return out


#: Every top-level group of a composed config: the Scenario's and the AppConfig's (for key
#: listings and :func:`build`).
_Root: Any = dataclasses.make_dataclass("_Root", _root_fields(), frozen=True, kw_only=True)


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop Hydra's own keys (``hydra``, a preset's ``defaults`` list) from a composed mapping."""
    out = {k: v for k, v in data.items() if k not in ("hydra", "defaults")}
    for key, section in out.items():
        if isinstance(section, Mapping) and "defaults" in section:
            out[key] = {k: v for k, v in section.items() if k != "defaults"}
    return out


def build(data: Mapping[str, Any]) -> tuple[Scenario, AppConfig]:
    """Typed :class:`Scenario` and :class:`AppConfig` of a composed mapping (types only;
    :func:`simsim.checks.validate` checks ranges). Raises :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"scenario: expected a mapping of config groups, got {_describe(data)}")
    b = _Builder()
    root = b.dataclass(_Root, _clean(data), "")
    if b.problems:
        raise ConfigError(b.problems)
    sc = Scenario(**{g: getattr(root, g) for g in SCENARIO_GROUPS})
    app = AppConfig(**{g: getattr(root, g) for g in APP_GROUPS})
    return sc, app


def convert(path: str, value: Any) -> Any:
    """``value`` as the type of the scenario field at the dotted ``path`` (``cluster.n_gpus``),
    or a :class:`ConfigError` naming the field. A section (``hardware``) is built whole."""
    *parents, leaf = path.split(".")
    if _section(parents) is None:
        raise ConfigError(f"{path}: unknown field")
    hint = field_hint(path)
    if hint is None:
        raise ConfigError(f"{path}: unknown field {leaf!r}")
    b = _Builder()
    out = b.value(hint, value, path)
    if b.problems:
        raise ConfigError(b.problems)
    return out


def build_scenario(data: Mapping[str, Any]) -> Scenario:
    """:func:`build` of a mapping that may or may not carry application groups."""
    return build(data)[0]


def to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def set_path(data: dict[str, Any], path: str, value: Any, where: str) -> None:
    """Set the dotted ``path`` of a plain nested dict; an unknown key is a :class:`ConfigError`
    that lists the allowed keys (``where`` prefixes the message, e.g. ``sweep.axes.``)."""
    node = data
    *parents, leaf = path.split(".")
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None and schema_keys(".".join(parents[: i + 1])):
            child = node[part] = {}  # a group left to its defaults, or an optional one (moe)
        if not isinstance(child, dict):
            raise ConfigError(_unknown(where, ".".join(parents[: i + 1])))
        node = child
    if leaf not in node and leaf not in schema_keys(".".join(parents)):
        raise ConfigError(_unknown(where, path))
    node[leaf] = value


def _unknown(where: str, path: str) -> str:
    parent, _, leaf = path.rpartition(".")
    allowed = schema_keys(parent)
    return f"{where}{path}: unknown key {leaf!r} in {parent or 'the scenario'}" + (
        f"; allowed: {', '.join(allowed)}" if allowed else ""
    )
