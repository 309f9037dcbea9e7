"""Structured-config schema of a simsim scenario.

The dataclasses below are registered in Hydra's ConfigStore (``base_<group>`` for each group and
``base_config`` for the whole scenario); the YAML presets under ``configs/`` extend them with
``defaults: [base_<group>, _self_]``. OmegaConf then rejects unknown keys and wrongly typed values
at composition time; :mod:`simsim.checks` adds the semantic checks (ranges, divisibility, the
precision the hardware supports) with one error per problem that names the field path.

Units follow DESIGN.md: human units in configs (TFLOP/s, GB, GB/s per GPU per direction, W,
USD, kgCO2/kWh), SI inside the physics layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: Training number formats simsim knows, and the ``hardware.peak_tflops`` key each one uses.
PRECISIONS = ("fp8", "bf16", "fp16", "tf32", "fp32")
FFN_ACTS = ("swiglu", "gelu", "relu2")
ATTENTIONS = ("mha", "gqa", "mla")
RECOMPUTE = ("none", "selective", "full")
SCHEDULES = ("1f1b", "interleaved", "zero_bubble", "dualpipe")
ZERO_STAGES = (0, 1, 2, 3)  # ZeRO (Rajbhandari et al. 2020, arXiv:1910.02054): 0 = none
EFFICIENCY_MODES = ("fixed", "derived")
COST_MODELS = ("auto", "rental", "owned")
REPORTS = ("export_controls", "dense_vs_moe")


@dataclass
class MLAConfig:
    """Multi-head latent attention (DeepSeek-V2/V3); names follow the Hugging Face config."""

    q_lora_rank: int | None = None  # null = no query compression (DeepSeek-V2-Lite)
    kv_lora_rank: int = MISSING
    qk_nope_head_dim: int = MISSING
    qk_rope_head_dim: int = MISSING
    v_head_dim: int = MISSING


@dataclass
class MoEConfig:
    """Mixture-of-Experts FFN; every MoE layer has ``n_experts`` routed and ``n_shared`` shared."""

    n_experts: int = MISSING
    n_shared: int = 0
    top_k: int = MISSING
    d_ff_expert: int = MISSING
    n_dense_layers: int = 0  # leading layers with a dense FFN (DeepSeek "first_k_dense_replace")
    max_nodes_per_token: int | None = None  # node-limited routing (DeepSeek-V3: 4)
    capacity_factor: float | None = None  # null = dropless


@dataclass
class ModelConfig:
    name: str = MISSING
    n_layers: int = MISSING
    d_model: int = MISSING
    n_heads: int = MISSING
    n_kv_heads: int | None = None  # null = n_heads
    head_dim: int | None = None  # null = d_model / n_heads
    d_ff: int | None = None  # dense FFN width; may be null when every layer is MoE
    ffn_act: str = "swiglu"
    vocab_size: int = MISSING
    tie_embeddings: bool = False
    attention: str = "gqa"
    mla: MLAConfig | None = None
    moe: MoEConfig | None = None
    mtp_depth: int = 0
    path: str | None = None  # a Hugging Face config.json to read the fields above from
    source: str = MISSING


@dataclass
class PeakTflops:
    """Dense (never 2:4 sparse) tensor-core peak per precision, TFLOP/s; null = unsupported."""

    fp8: float | None = None
    bf16: float | None = None
    fp16: float | None = None
    tf32: float | None = None
    fp32: float | None = None


@dataclass
class HardwareConfig:
    name: str = MISSING
    peak_tflops: PeakTflops = field(default_factory=PeakTflops)
    hbm_gb: float = MISSING
    hbm_tbps: float = MISSING
    scale_up_gbps: float = MISSING  # GB/s per GPU per direction (NVLink 4 on H100: 450)
    scale_out_gbps: float = MISSING  # GB/s per GPU per direction (400 Gb/s NIC: 50)
    pcie_gbps: float | None = None  # host link, GB/s per direction (export-control I/O sum)
    onchip_nic_gbps: float = 0.0  # NICs on the die, GB/s per direction (counted by the 2022 rule)
    datacenter: bool = True  # designed or marketed for datacenters (3A090 Note 2)
    scale_up_domain: int = 8
    gpus_per_node: int = 8
    tdp_w: float = MISSING
    die_mm2: float | None = None
    # measured max achievable matmul / dense peak per precision (MAMF); null = efficiency default
    mamf_fraction: dict[str, float] = field(default_factory=dict)
    price_usd_per_hour: float | None = None  # rental, USD per GPU-hour
    purchase_usd: float | None = None  # purchase price per GPU
    source: str = MISSING


@dataclass
class TrainingConfig:
    tokens: float = MISSING
    seq_len: int = MISSING
    global_batch_tokens: float = MISSING
    precision: str = "bf16"
    recompute: str = "selective"


@dataclass
class ClusterConfig:
    n_gpus: int = MISSING
    pue: float = MISSING
    grid_kgco2_per_kwh: float = MISSING
    electricity_usd_per_kwh: float = MISSING
    goodput: float = 1.0
    # Power model: average draw per GPU = tdp_w x gpu_power_fraction, plus the node's share.
    gpu_power_fraction: float = MISSING
    node_overhead_w_per_gpu: float = MISSING
    # Money: rental (GPU-hours x price) or owned (amortised capital + electricity).
    cost_model: str = "auto"
    server_cost_overhead: float = MISSING
    interconnect_cost_overhead: float = MISSING
    depreciation_per_year: float = MISSING
    source: str = MISSING


@dataclass
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


@dataclass
class EfficiencyConfig:
    mode: str = "derived"
    mfu: float | None = None  # null = default_mfu[training.precision]
    default_mfu: dict[str, float] = field(default_factory=dict)
    usable_hbm_fraction: float = MISSING
    # derived mode (simsim.performance); each constant's source is in config.yaml
    gemm_eta_max: dict[str, float] = field(default_factory=dict)
    gemm_m_half: float = MISSING
    attention_efficiency: float = MISSING
    collective_efficiency: float = MISSING
    scale_up_latency_us: float = MISSING
    scale_out_latency_us: float = MISSING
    dualpipe_comm_sm_fraction: float = MISSING
    source: str = MISSING


@dataclass
class SoftwareConfig:
    """The training software stack: what it can do and how fast its kernels run (derived mode).

    A stack offers a set of pipeline schedules and ZeRO stages (the layout search keeps to them)
    and hides some communication behind compute; ``kernel_efficiency`` is the fraction of
    best-case kernel speed (MAMF GEMMs, published fused-attention rates) it reaches end to end,
    the one constant per stack that is fitted (``simsim-calibrate``) rather than looked up.
    """

    name: str = MISSING
    kernel_efficiency: float = MISSING
    tp_overlap: float = MISSING  # fraction of TP/SP collectives hidden behind the adjacent GEMMs
    pp_overlap: float = MISSING  # fraction of pipeline send/recv hidden behind compute
    dp_overlap: float = MISSING  # fraction of the DP gradient/parameter collectives that may hide
    schedules: list[str] = field(default_factory=list)
    zero_stages: list[int] = field(default_factory=list)
    source: str = MISSING


@dataclass
class OutputConfig:
    dir: str | None = None  # null = Hydra's run directory
    plot: bool = True
    print_table: bool = True


@dataclass
class ReportConfig:
    """A multi-scenario report run instead of one simulation (e.g. ``export_controls``)."""

    name: str | None = None
    models: list[str] = field(default_factory=list)
    hardware: list[str] = field(default_factory=list)
    reference: str | None = None


@dataclass
class SweepConfig:
    """Numeric axes swept in one vectorized evaluation (simsim.sweep): dotted field -> values."""

    axes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScenarioConfig:
    model: ModelConfig = MISSING
    hardware: HardwareConfig = MISSING
    training: TrainingConfig = field(default_factory=TrainingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    software: SoftwareConfig = MISSING
    output: OutputConfig = field(default_factory=OutputConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def register() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=ScenarioConfig)
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="hardware", name="base_hardware", node=HardwareConfig)
    cs.store(group="software", name="base_software", node=SoftwareConfig)


register()
