"""Semantic validation of a resolved scenario (a plain dict of the schema's shape).

Types and unknown keys are already checked by OmegaConf against :mod:`simsim.schema`; this module
checks ranges and the relations between fields. Every problem becomes one line that names the
field path, the bad value and what is allowed; all lines are raised together as a
:class:`~simsim.errors.ConfigError`. Code below the scenario layer trusts its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError
from .schema import (
    ATTENTIONS,
    COST_MODELS,
    EFFICIENCY_MODES,
    FFN_ACTS,
    PRECISIONS,
    RECOMPUTE,
    REPORTS,
    SCHEDULES,
    ZERO_STAGES,
)

_ZERO_LIST = ", ".join(map(str, ZERO_STAGES))


class _Checker:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.problems: list[str] = []

    def get(self, path: str) -> Any:
        node: Any = self.cfg
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def fail(self, path: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{path}={value!r} {allowed}")

    def check(self, path: str, ok: Callable[[Any], bool], allowed: str, optional: bool = False):
        value = self.get(path)
        if value is None and optional:
            return
        if value is None or not ok(value):
            self.fail(path, value, allowed)

    def positive(self, path: str, optional: bool = False) -> None:
        self.check(path, lambda v: v > 0, "must be > 0", optional)

    def non_negative(self, path: str, optional: bool = False) -> None:
        self.check(path, lambda v: v >= 0, "must be >= 0", optional)

    def one_of(self, path: str, allowed: tuple[str, ...], optional: bool = False) -> None:
        self.check(path, lambda v: v in allowed, f"must be one of {', '.join(allowed)}", optional)


def _check_model(c: _Checker) -> None:
    for f in ("n_layers", "d_model", "n_heads", "vocab_size"):
        c.positive(f"model.{f}")
    for f in ("n_kv_heads", "head_dim", "d_ff"):
        c.positive(f"model.{f}", optional=True)
    c.non_negative("model.mtp_depth")
    c.one_of("model.ffn_act", FFN_ACTS)
    c.one_of("model.attention", ATTENTIONS)
    m = c.cfg["model"]
    h, nh, nkv = m.get("d_model"), m.get("n_heads"), m.get("n_kv_heads")
    if m.get("head_dim") is None and m.get("attention") != "mla" and h and nh and h > 0 and nh > 0:
        if h % nh:
            c.fail(
                "model.n_heads", nh, f"must divide model.d_model={h} when model.head_dim is null"
            )
    if nkv and nh and nkv > 0 and nh > 0 and nh % nkv:
        c.fail("model.n_kv_heads", nkv, f"must divide model.n_heads={nh}")
    if m.get("attention") == "mha" and nkv not in (None, nh):
        c.fail("model.n_kv_heads", nkv, f"must equal model.n_heads={nh} (or be null) for mha")
    if m.get("attention") == "mla":
        if not m.get("mla"):
            c.fail("model.mla", None, "must be set when model.attention='mla'")
        else:
            for f in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                c.positive(f"model.mla.{f}")
            c.positive("model.mla.q_lora_rank", optional=True)
    elif m.get("mla"):
        c.fail(
            "model.mla",
            "{...}",
            f"is only used with model.attention='mla', not {m.get('attention')!r}",
        )
    moe = m.get("moe")
    n_layers = m.get("n_layers") or 0
    if moe:
        for f in ("n_experts", "top_k", "d_ff_expert"):
            c.positive(f"model.moe.{f}")
        c.non_negative("model.moe.n_shared")
        c.positive("model.moe.max_nodes_per_token", optional=True)
        c.check("model.moe.capacity_factor", lambda v: v >= 1.0, "must be >= 1 (or null)", True)
        k, e = moe.get("top_k"), moe.get("n_experts")
        if k and e and k > e:
            c.fail("model.moe.top_k", k, f"must be <= model.moe.n_experts={e}")
        nd = moe.get("n_dense_layers")
        if nd is None or nd < 0 or (n_layers > 0 and nd > n_layers):
            c.fail("model.moe.n_dense_layers", nd, f"must be in [0, model.n_layers={n_layers}]")
        dense_layers = nd or 0
    else:
        dense_layers = n_layers
    if dense_layers and m.get("d_ff") is None:
        c.fail("model.d_ff", None, f"must be set: the model has {dense_layers} dense-FFN layers")


def _check_hardware(c: _Checker) -> None:
    for f in ("hbm_gb", "hbm_tbps", "scale_up_gbps", "scale_out_gbps", "tdp_w"):
        c.positive(f"hardware.{f}")
    for f in ("scale_up_domain", "gpus_per_node"):
        c.check(f"hardware.{f}", lambda v: v >= 1, "must be >= 1")
    for f in ("die_mm2", "price_usd_per_hour", "purchase_usd"):
        c.positive(f"hardware.{f}", optional=True)
    for p in PRECISIONS:
        c.positive(f"hardware.peak_tflops.{p}", optional=True)
    hw = c.cfg["hardware"]
    prec = c.get("training.precision")
    peaks = hw.get("peak_tflops") or {}
    if prec in PRECISIONS and peaks.get(prec) is None:
        have = [p for p in PRECISIONS if peaks.get(p) is not None]
        c.fail(
            "training.precision",
            prec,
            f"is not supported by hardware {hw.get('name')!r}, which has: {', '.join(have)}",
        )


def _check_training_cluster(c: _Checker) -> None:
    for f in ("tokens", "seq_len", "global_batch_tokens"):
        c.positive(f"training.{f}")
    seq, gbt = c.get("training.seq_len"), c.get("training.global_batch_tokens")
    if seq and gbt and seq > 0 and gbt > 0 and gbt < seq:
        c.fail("training.global_batch_tokens", gbt, f"must be >= training.seq_len={seq}")
    c.one_of("training.precision", PRECISIONS)
    c.one_of("training.recompute", RECOMPUTE)
    c.check("cluster.n_gpus", lambda v: v >= 1, "must be >= 1")
    c.check("cluster.pue", lambda v: v >= 1.0, "must be >= 1 (PUE is facility / IT energy)")
    c.non_negative("cluster.grid_kgco2_per_kwh")
    c.non_negative("cluster.electricity_usd_per_kwh")
    c.check("cluster.goodput", lambda v: 0 < v <= 1, "must be in (0, 1]")
    c.check("cluster.gpu_power_fraction", lambda v: 0 < v <= 2, "must be in (0, 2]")
    c.non_negative("cluster.node_overhead_w_per_gpu")
    c.one_of("cluster.cost_model", COST_MODELS)
    c.check("cluster.server_cost_overhead", lambda v: v >= 1, "must be >= 1")
    c.check("cluster.interconnect_cost_overhead", lambda v: v >= 1, "must be >= 1")
    c.check("cluster.depreciation_per_year", lambda v: 0 < v <= 1, "must be in (0, 1]")
    hw = c.cfg["hardware"]
    model = c.get("cluster.cost_model")
    if model == "rental" and hw.get("price_usd_per_hour") is None:
        c.fail(
            "cluster.cost_model",
            model,
            f"needs hardware.price_usd_per_hour, unknown for {hw.get('name')!r}; use owned or auto",
        )
    if model == "owned" and hw.get("purchase_usd") is None:
        c.fail(
            "cluster.cost_model",
            model,
            f"needs hardware.purchase_usd, unknown for {hw.get('name')!r}; use rental or auto",
        )


def _check_parallel(c: _Checker) -> None:
    for f in ("tp", "pp", "dp", "ep", "cp", "micro_batch", "virtual_stages"):
        c.check(
            f"parallel.{f}", lambda v: v >= 1, "must be >= 1 (or null to let simsim choose)", True
        )
    c.check(
        "parallel.zero_stage",
        lambda v: v in ZERO_STAGES,
        f"must be one of {_ZERO_LIST} (or null)",
        True,
    )
    c.one_of("parallel.schedule", SCHEDULES, optional=True)
    p = c.cfg["parallel"]
    m = c.cfg["model"]
    tp, pp, ep = (p.get(k) for k in ("tp", "pp", "ep"))
    nh = m.get("n_heads")
    if tp and nh and tp >= 1 and nh % tp:
        c.fail("parallel.tp", tp, f"must divide model.n_heads={nh}")
    if pp and m.get("n_layers") and pp > m["n_layers"]:
        c.fail("parallel.pp", pp, f"must be <= model.n_layers={m['n_layers']}")
    if ep and ep > 1:
        moe = m.get("moe")
        if not moe:
            c.fail("parallel.ep", ep, "must be 1 (or null) for a dense model")
        elif moe.get("n_experts") and moe["n_experts"] % ep:
            c.fail("parallel.ep", ep, f"must divide model.moe.n_experts={moe['n_experts']}")
    if (
        p.get("virtual_stages")
        and p.get("virtual_stages") > 1
        and p.get("schedule") not in (None, "interleaved")
    ):
        c.fail(
            "parallel.virtual_stages", p["virtual_stages"], "needs parallel.schedule=interleaved"
        )


def _check_software(c: _Checker) -> None:
    """The software stack's fractions, and a fixed schedule or ZeRO stage the stack offers."""
    c.check("software.kernel_efficiency", lambda v: 0 < v <= 1, "must be in (0, 1]")
    for f in ("tp_overlap", "pp_overlap", "dp_overlap"):
        c.check(f"software.{f}", lambda v: 0 <= v <= 1, "must be in [0, 1]")
    sw = c.cfg.get("software") or {}
    schedules, stages = list(sw.get("schedules") or []), list(sw.get("zero_stages") or [])
    for i, s in enumerate(schedules):
        if s not in SCHEDULES:
            c.fail(f"software.schedules[{i}]", s, f"must be one of {', '.join(SCHEDULES)}")
    for i, z in enumerate(stages):
        if z not in ZERO_STAGES:
            c.fail(f"software.zero_stages[{i}]", z, f"must be one of {_ZERO_LIST}")
    if not schedules:
        c.fail("software.schedules", schedules, f"must list at least one of {', '.join(SCHEDULES)}")
    if not stages:
        c.fail("software.zero_stages", stages, f"must list at least one of {_ZERO_LIST}")
    p, name = c.cfg["parallel"], sw.get("name")
    if schedules and p.get("schedule") is not None and p["schedule"] not in schedules:
        c.fail(
            "parallel.schedule",
            p["schedule"],
            f"is not offered by software={name} (allowed: {', '.join(schedules)}); "
            "choose another software preset or schedule",
        )
    if stages and p.get("zero_stage") is not None and p["zero_stage"] not in stages:
        c.fail(
            "parallel.zero_stage",
            p["zero_stage"],
            f"is not offered by software={name} (allowed: {', '.join(map(str, stages))})",
        )


def _check_report(c: _Checker) -> None:
    from .scenario import available_presets

    c.one_of("report.name", REPORTS, optional=True)
    for group in ("models", "hardware"):
        allowed = available_presets("model" if group == "models" else "hardware")
        for i, name in enumerate(c.get(f"report.{group}") or []):
            if name not in allowed:
                c.fail(
                    f"report.{group}[{i}]",
                    name,
                    f"is not a preset; available: {', '.join(allowed)}",
                )


def _check_efficiency(c: _Checker) -> None:
    c.one_of("efficiency.mode", EFFICIENCY_MODES)
    c.check("efficiency.mfu", lambda v: 0 < v <= 1, "must be in (0, 1]", optional=True)
    if c.get("efficiency.mfu") is not None and c.get("efficiency.mode") == "derived":
        c.fail(
            "efficiency.mfu",
            c.get("efficiency.mfu"),
            "is used only with efficiency.mode=fixed (derived mode computes the MFU); "
            "add efficiency.mode=fixed",
        )
    c.check("efficiency.usable_hbm_fraction", lambda v: 0 < v <= 1, "must be in (0, 1]")
    prec = c.get("training.precision")
    if c.get("efficiency.mfu") is None and prec in PRECISIONS:
        dm = c.get("efficiency.default_mfu") or {}
        if prec not in dm:
            c.fail(
                "efficiency.default_mfu",
                sorted(dm),
                f"has no entry for training.precision={prec!r}; set efficiency.mfu",
            )
        elif not 0 < dm[prec] <= 1:
            c.fail(f"efficiency.default_mfu.{prec}", dm[prec], "must be in (0, 1]")


def validate(cfg: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem in ``cfg`` (a resolved plain dict)."""
    c = _Checker(cfg)
    _check_model(c)
    _check_hardware(c)
    _check_training_cluster(c)
    _check_parallel(c)
    _check_efficiency(c)
    _check_software(c)
    _check_report(c)
    if c.problems:
        raise ConfigError(c.problems)
