"""The :class:`Result` of one simulated scenario."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    """Training cost of one scenario. Field names are simsim's public contract (DESIGN.md).

    Time, energy and money fields are ``None`` when the scenario is infeasible (``feasible`` is
    False and ``infeasible_reason`` says why); simsim never reports a number it cannot stand
    behind. FLOP and parameter counts do not depend on feasibility and are always filled.
    """

    # identity
    model: str
    hardware: str
    precision: str
    n_gpus: int
    train_tokens: float
    seq_len: int
    efficiency_mode: str
    # architecture [parameters; FLOP per token; FLOP]
    total_params: float
    active_params: float
    total_params_with_mtp: float
    flops_per_token: float
    hardware_flops_per_token: float
    train_flops: float
    flops_breakdown_gflop_per_token: dict[str, float]
    # layout and memory
    feasible: bool
    layout: dict[str, Any]
    memory_gb_per_gpu: float | None
    memory_breakdown_gb: dict[str, float]
    # performance
    peak_tflops_per_gpu: float
    mfu: float | None
    mfu_bf16_basis: float | None  # over the BF16 dense peak, as DeepSeek and Llama 3 report
    achieved_tflops_per_gpu: float | None
    tokens_per_s: float | None
    step_time_s: float | None
    # accounting
    gpu_hours: float | None
    wall_clock_days: float | None
    power_per_gpu_w: float
    energy_mwh: float | None
    cost_usd: float | None
    cost_basis: str | None
    cost_breakdown_usd: dict[str, float]
    co2_tonnes: float | None
    # whole run (simsim.physics.reliability): the goodput used (cluster.goodput, else the
    # derived ETTR), the expected interruptions, the checkpoint interval and write time [s], and
    # the GPU-hours lost to checkpointing, lost work and restarts (empty with a given goodput)
    goodput: float | None = None
    ettr: float | None = None
    interruptions_expected: float | None = None
    checkpoint_interval_s: float | None = None
    checkpoint_write_s: float | None = None
    gpu_hours_lost: dict[str, float] = field(default_factory=dict)
    # the parts of the bill when the run has a batch ramp-up or further stages (main first):
    # name, tokens, seq_len, feasible, gpu_hours, wall_clock_days, energy_mwh, cost_usd,
    # co2_tonnes, goodput, step_time_s, layout; the bill fields above are their sums
    stages: list[dict[str, Any]] = field(default_factory=list)
    infeasible_reason: str | None = None
    # the software stack preset: derived mode's schedules, overlaps and kernel efficiency
    software: str = "default"
    layouts_rejected: dict[str, int] = field(default_factory=dict)
    layouts_evaluated: int = 0  # candidates of the search (the stack's schedules and ZeRO stages)
    # derived mode: where a step's time goes [s] (compute, exposed tp/cp/ep/pp/dp, bubble,
    # optimizer; they sum to step_time_s), and the runners-up of the layout search
    step_breakdown_s: dict[str, float] = field(default_factory=dict)
    alternative_layouts: list[dict[str, Any]] = field(default_factory=list)
    # inputs that stand in for a measurement this chip lacks (e.g. a MAMF fraction borrowed
    # from efficiency.gemm_eta_max)
    assumptions: list[str] = field(default_factory=list)
    # 80% prediction intervals from simsim's held-out errors (simsim.intervals), derived mode:
    # {output}_p10 / _p50 / _p90 for tokens_per_s, mfu, achieved_tflops_per_gpu, gpu_hours,
    # wall_clock_days, energy_mwh, cost_usd, co2_tonnes
    intervals: dict[str, float] = field(default_factory=dict)
    # input uncertainty (simsim.uncertainty): the uncertain inputs (path, low, high, source),
    # the P10 / P50 / P90 of the headline outputs over their Latin-hypercube draws
    # ({output}_p10 ...: gpu_hours, wall_clock_days, energy_mwh, cost_usd, co2_tonnes,
    # tokens_per_s), the same combined with the model error, and per output the share of the
    # variance of its logarithm that each input (and the model error) drives
    uncertain_inputs: list[dict[str, Any]] = field(default_factory=list)
    input_intervals: dict[str, float] = field(default_factory=dict)
    combined_intervals: dict[str, float] = field(default_factory=dict)
    variance_share: dict[str, dict[str, float]] = field(default_factory=dict)

    def band(self, name: str) -> tuple[float, float] | None:
        """The 80% interval (P10, P90) of output ``name`` that plots and tables show: combined
        (model error and inputs) if the result has it, else the model error's, else the
        inputs'; None without one."""
        for iv in (self.combined_intervals, self.intervals, self.input_intervals):
            lo, hi = iv.get(f"{name}_p10"), iv.get(f"{name}_p90")
            if lo is not None and hi is not None:
                return lo, hi
        return None

    def band_columns(self, name: str) -> dict[str, float | None]:
        """``{name}_p10`` and ``{name}_p90`` of :meth:`band` as table columns (None without)."""
        lo, hi = self.band(name) or (None, None)
        return {f"{name}_p10": lo, f"{name}_p90": hi}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_row(self) -> dict[str, Any]:
        """Flat scalar columns (nested dicts become ``parent.key``), for CSV and DataFrames."""
        row: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key == "layouts_rejected":  # reasons are sentences: their total is the column
                row["layouts_rejected"] = sum(value.values())
                continue
            if key in (
                "alternative_layouts",
                "assumptions",
                "stages",
                "uncertain_inputs",
                "variance_share",
            ):
                continue  # a table of its own; in result.json
            if key == "intervals":  # gpu_hours_p10, ... as columns of their own
                row.update(value)
                continue
            if key in ("input_intervals", "combined_intervals"):  # gpu_hours_inputs_p10, ...
                kind = key.split("_")[0]
                row.update({_tagged(k, kind): v for k, v in value.items()})
                continue
            if isinstance(value, dict):
                for sub, v in value.items():
                    row[f"{key}.{sub}"] = ",".join(v) if isinstance(v, list) else v
            else:
                row[key] = value
        return row


def _tagged(column: str, kind: str) -> str:
    """``gpu_hours_p10`` -> ``gpu_hours_{kind}_p10``."""
    head, _, pct = column.rpartition("_")
    return f"{head}_{kind}_{pct}"
