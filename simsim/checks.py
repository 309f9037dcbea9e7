"""Range and relation checks of a typed scenario (:class:`simsim.schema.Scenario`).

Types, unknown keys and missing fields are checked when the scenario is built
(:func:`simsim.schema.build`); this module checks ranges and the relations between fields.
Every problem becomes one line that names the field path, the bad value and what is allowed;
all lines are raised together as a :class:`~simsim.errors.ConfigError`. Code below the scenario
layer trusts its inputs.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from operator import attrgetter
from typing import Any

from . import uncertainty as U
from ._paths import available_presets
from .errors import ConfigError
from .physics.pipeline import SCHEDULES
from .schema import (
    ATTENTIONS,
    CHECKPOINT_MODES,
    COST_MODELS,
    DISPATCHERS,
    EFFICIENCY_MODES,
    FFN_ACTS,
    FP8_RECIPES,
    PIPELINE_SPLITS,
    PRECISIONS,
    RECOMPUTE,
    REPORTS,
    SCENARIO_GROUPS,
    ZERO_STAGES,
    AppConfig,
    Scenario,
)

_ZERO_LIST = ", ".join(map(str, ZERO_STAGES))


@cache
def _getter(path: str) -> Callable[[Any], Any]:
    return attrgetter(path)


class _Checker:
    def __init__(self, root: Any):
        self.root = root
        self.problems: list[str] = []

    def get(self, path: str) -> Any:
        try:
            return _getter(path)(self.root)
        except AttributeError:  # a field under a null section (model.moe of a dense model)
            return None

    def fail(self, path: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{path}={value!r} {allowed}")

    def check(
        self, path: str, ok: Callable[[Any], bool], allowed: str, optional: bool = False
    ) -> None:
        value = self.get(path)
        if value is None and optional:
            return
        if value is None or not ok(value):
            self.fail(path, value, allowed)

    def positive(self, path: str, optional: bool = False) -> None:
        self.check(path, lambda v: v > 0, "must be > 0", optional)

    def non_negative(self, path: str, optional: bool = False) -> None:
        self.check(path, lambda v: v >= 0, "must be >= 0", optional)

    def fraction(self, path: str, optional: bool = False, closed_low: bool = False) -> None:
        if closed_low:
            self.check(path, lambda v: 0 <= v <= 1, "must be in [0, 1]", optional)
        else:
            self.check(path, lambda v: 0 < v <= 1, "must be in (0, 1]", optional)

    def one_of(self, path: str, allowed: Iterable[str], optional: bool = False) -> None:
        allowed = tuple(allowed)
        self.check(path, lambda v: v in allowed, f"must be one of {', '.join(allowed)}", optional)


def _check_model(c: _Checker) -> None:
    for f in ("n_layers", "d_model", "n_heads", "vocab_size"):
        c.positive(f"model.{f}")
    for f in ("n_kv_heads", "head_dim", "d_ff"):
        c.positive(f"model.{f}", optional=True)
    c.non_negative("model.mtp_depth")
    c.positive("model.sliding_window", optional=True)
    c.check("model.sliding_window_layers", lambda v: 0 <= v <= c.root.model.n_layers,
            f"must be in [0, model.n_layers={c.root.model.n_layers}] (or null: every layer)",
            True)  # fmt: skip
    c.one_of("model.ffn_act", FFN_ACTS)
    c.one_of("model.attention", ATTENTIONS)
    m = c.root.model
    h, nh, nkv = m.d_model, m.n_heads, m.n_kv_heads
    if m.head_dim is None and m.attention != "mla" and h > 0 and nh > 0 and h % nh:
        c.fail("model.n_heads", nh, f"must divide model.d_model={h} when model.head_dim is null")
    if nkv and nh > 0 and nkv > 0 and nh % nkv:
        c.fail("model.n_kv_heads", nkv, f"must divide model.n_heads={nh}")
    if m.attention == "mha" and nkv not in (None, nh):
        c.fail("model.n_kv_heads", nkv, f"must equal model.n_heads={nh} (or be null) for mha")
    if m.attention == "mla":
        if m.mla is None:
            c.fail("model.mla", None, "must be set when model.attention='mla'")
        else:
            for f in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                c.positive(f"model.mla.{f}")
            c.positive("model.mla.q_lora_rank", optional=True)
    elif m.mla is not None:
        c.fail(
            "model.mla", "{...}", f"is only used with model.attention='mla', not {m.attention!r}"
        )
    moe = m.moe
    if moe is not None:
        for f in ("n_experts", "top_k", "d_ff_expert"):
            c.positive(f"model.moe.{f}")
        c.non_negative("model.moe.n_shared")
        c.positive("model.moe.max_nodes_per_token", optional=True)
        c.check("model.moe.capacity_factor", lambda v: v >= 1.0, "must be >= 1 (or null)", True)
        c.check("model.moe.load_imbalance", lambda v: v >= 1.0, "must be >= 1 (or null)", True)
        if moe.top_k > moe.n_experts > 0:
            c.fail("model.moe.top_k", moe.top_k, f"must be <= model.moe.n_experts={moe.n_experts}")
        nd = moe.n_dense_layers
        if nd < 0 or (m.n_layers > 0 and nd > m.n_layers):
            c.fail("model.moe.n_dense_layers", nd, f"must be in [0, model.n_layers={m.n_layers}]")
        dense_layers = max(nd, 0)
    else:
        dense_layers = m.n_layers
    if dense_layers > 0 and m.d_ff is None:
        c.fail("model.d_ff", None, f"must be set: the model has {dense_layers} dense-FFN layers")


def _check_hardware(c: _Checker) -> None:
    for f in ("hbm_gib", "hbm_tbps", "scale_up_gbps", "scale_out_gbps", "tdp_w"):
        c.positive(f"hardware.{f}")
    for f in ("scale_up_domain", "gpus_per_node"):
        c.check(f"hardware.{f}", lambda v: v >= 1, "must be >= 1")
    for f in ("die_mm2", "price_usd_per_hour", "purchase_usd", "pcie_gbps"):
        c.positive(f"hardware.{f}", optional=True)
    c.non_negative("hardware.onchip_nic_gbps")
    for p in PRECISIONS:
        c.positive(f"hardware.peak_tflops.{p}", optional=True)
        c.fraction(f"hardware.mamf_fraction.{p}", optional=True)
    c.fraction("hardware.collective_efficiency")
    c.non_negative("hardware.scale_up_latency_us")
    c.non_negative("hardware.scale_out_latency_us")
    c.check("hardware.dualpipe_comm_sm_fraction", lambda v: 0 <= v < 1, "must be in [0, 1)")
    hw = c.root.hardware
    prec = c.root.training.precision
    if prec in PRECISIONS and hw.peak_tflops.get(prec) is None:
        have = [p for p in PRECISIONS if hw.peak_tflops.get(p) is not None]
        c.fail(
            "training.precision",
            prec,
            f"is not supported by hardware {hw.name!r} (hardware.peak_tflops.{prec} is null), "
            f"which has: {', '.join(have)}",
        )


def _check_training_cluster(c: _Checker) -> None:
    for f in ("tokens", "seq_len", "global_batch_tokens"):
        c.positive(f"training.{f}")
    tr = c.root.training
    if tr.seq_len > 0 and tr.global_batch_tokens > 0 and tr.global_batch_tokens < tr.seq_len:
        c.fail(
            "training.global_batch_tokens",
            tr.global_batch_tokens,
            f"must be >= training.seq_len={tr.seq_len}",
        )
    c.one_of("training.precision", PRECISIONS)
    c.one_of("training.recompute", RECOMPUTE)
    c.one_of("training.fp8_recipe", FP8_RECIPES)
    _check_stages(c)
    c.check("cluster.n_gpus", lambda v: v >= 1, "must be >= 1")
    c.check("cluster.pue", lambda v: v >= 1.0, "must be >= 1 (PUE is facility / IT energy)")
    c.non_negative("cluster.grid_kgco2_per_kwh")
    c.non_negative("cluster.electricity_usd_per_kwh")
    c.fraction("cluster.goodput", optional=True)
    for f in ("interruptions_per_gpu_hour", "planned_interruptions_per_day", "restart_minutes"):
        c.non_negative(f"reliability.{f}")
    c.positive("reliability.checkpoint_write_gbps_per_gpu")
    c.positive("reliability.checkpoint_interval_minutes", optional=True)
    c.check("reliability.evaluation_share", lambda v: 0 <= v < 1,
            "must be in [0, 1) (a job that only evaluates never trains)")  # fmt: skip
    c.one_of("reliability.checkpoint", CHECKPOINT_MODES)
    c.check("cluster.gpu_power_fraction", lambda v: 0 < v <= 2, "must be in (0, 2]")
    c.non_negative("cluster.node_overhead_w_per_gpu")
    c.one_of("cluster.cost_model", COST_MODELS)
    c.check("cluster.server_cost_overhead", lambda v: v >= 1, "must be >= 1")
    c.check("cluster.interconnect_cost_overhead", lambda v: v >= 1, "must be >= 1")
    c.fraction("cluster.depreciation_per_year")
    hw = c.root.hardware
    model = c.root.cluster.cost_model
    if model == "rental" and hw.price_usd_per_hour is None:
        c.fail(
            "cluster.cost_model",
            model,
            f"needs hardware.price_usd_per_hour, unknown for {hw.name!r}; use owned or auto",
        )
    if model == "owned" and hw.purchase_usd is None:
        c.fail(
            "cluster.cost_model",
            model,
            f"needs hardware.purchase_usd, unknown for {hw.name!r}; use rental or auto",
        )


def _check_stages(c: _Checker) -> None:
    tr = c.root.training
    ramp = tr.batch_ramp
    if ramp is not None:
        gbt = tr.global_batch_tokens
        if not 0 < ramp.start_batch_tokens < gbt:
            c.fail("training.batch_ramp.start_batch_tokens", ramp.start_batch_tokens,
                   f"must be in (0, training.global_batch_tokens={gbt:g})")  # fmt: skip
        elif ramp.start_batch_tokens < tr.seq_len:
            c.fail("training.batch_ramp.start_batch_tokens", ramp.start_batch_tokens,
                   f"must be >= training.seq_len={tr.seq_len}")  # fmt: skip
        if not 0 < ramp.ramp_tokens <= tr.tokens:
            c.fail("training.batch_ramp.ramp_tokens", ramp.ramp_tokens,
                   f"must be in (0, training.tokens={tr.tokens:g}]")  # fmt: skip
    names = [s.name for s in tr.stages]
    for i, s in enumerate(tr.stages):
        where = f"training.stages[{i}]"
        if names.count(s.name) > 1 or s.name == "main":
            c.fail(f"{where}.name", s.name, "must be unique and not 'main'")
        if (s.tokens is None) == (s.gpu_hours is None):
            c.fail(where, s.name, "needs exactly one of tokens (simulated) or gpu_hours (given)")
        if s.tokens is not None and not s.tokens > 0:
            c.fail(f"{where}.tokens", s.tokens, "must be > 0")
        if s.gpu_hours is not None and not s.gpu_hours >= 0:
            c.fail(f"{where}.gpu_hours", s.gpu_hours, "must be >= 0")
        seq = s.seq_len if s.seq_len is not None else tr.seq_len
        gbt = s.global_batch_tokens if s.global_batch_tokens is not None else tr.global_batch_tokens
        if seq <= 0:
            c.fail(f"{where}.seq_len", seq, "must be > 0")
        elif gbt < seq:
            c.fail(f"{where}.global_batch_tokens", gbt, f"must be >= the stage's seq_len={seq}")


def _check_parallel(c: _Checker) -> None:
    before = len(c.problems)
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
    c.one_of("parallel.pipeline_split", PIPELINE_SPLITS)
    p, m = c.root.parallel, c.root.model
    if len(c.problems) > before:
        return  # the relations below assume positive degrees
    n = c.root.cluster.n_gpus
    if p.tp and m.n_heads % p.tp:
        c.fail("parallel.tp", p.tp, f"must divide model.n_heads={m.n_heads}")
    if p.pp and p.pp > m.n_layers:
        c.fail("parallel.pp", p.pp, f"must be <= model.n_layers={m.n_layers}")
    if p.cp and c.root.training.seq_len % p.cp:
        c.fail("parallel.cp", p.cp, f"must divide training.seq_len={c.root.training.seq_len}")
    given = {k: getattr(p, k) for k in ("tp", "pp", "cp", "dp") if getattr(p, k)}
    product = 1
    for v in given.values():
        product *= v
    names = "*".join(f"parallel.{k}" for k in given)
    if len(given) == 4 and product != n:
        c.fail(names, product, f"must equal cluster.n_gpus={n}")
    elif given and n % product:
        c.fail(names, product, f"must divide cluster.n_gpus={n}")
    if p.ep and p.ep > 1:
        if m.moe is None:
            c.fail("parallel.ep", p.ep, "must be 1 (or null) for a dense model")
        elif m.moe.n_experts % p.ep:
            c.fail("parallel.ep", p.ep, f"must divide model.moe.n_experts={m.moe.n_experts}")
    if p.virtual_stages and p.virtual_stages > 1 and p.schedule not in (None, "interleaved"):
        c.fail("parallel.virtual_stages", p.virtual_stages, "needs parallel.schedule=interleaved")


def _check_software(c: _Checker) -> None:
    """The software stack's fractions, and a fixed schedule or ZeRO stage the stack offers."""
    c.fraction("software.kernel_efficiency")
    for f in ("tp_overlap", "pp_overlap", "dp_overlap", "ep_overlap"):
        c.fraction(f"software.{f}", closed_low=True)
    c.fraction("software.param_gather_overlap", closed_low=True, optional=True)
    c.fraction("software.attention_efficiency", optional=True)
    c.non_negative("software.host_us_per_kernel")
    c.positive("software.loss_bytes_per_logit")
    c.non_negative("software.grouped_gemm_half_rows")
    c.non_negative("software.moe_sync_idle_us")
    c.check("software.grad_reduce_bytes", lambda v: v in (2.0, 4.0), "must be 2 or 4")
    c.check("software.moe_dispatcher", lambda v: v in DISPATCHERS,
            f"must be one of {', '.join(DISPATCHERS)}")  # fmt: skip
    for p in PRECISIONS:
        c.fraction(f"software.gemm_ceiling.{p}", optional=True)
    sw = c.root.software
    for i, s in enumerate(sw.schedules):
        if s not in SCHEDULES:
            c.fail(f"software.schedules[{i}]", s, f"must be one of {', '.join(SCHEDULES)}")
    for i, z in enumerate(sw.zero_stages):
        if z not in ZERO_STAGES:
            c.fail(f"software.zero_stages[{i}]", z, f"must be one of {_ZERO_LIST}")
    if not sw.schedules:
        c.fail("software.schedules", [], f"must list at least one of {', '.join(SCHEDULES)}")
    if not sw.zero_stages:
        c.fail("software.zero_stages", [], f"must list at least one of {_ZERO_LIST}")
    p = c.root.parallel
    if sw.schedules and p.schedule is not None and p.schedule not in sw.schedules:
        c.fail(
            "parallel.schedule",
            p.schedule,
            f"is not offered by software={sw.name} (allowed: {', '.join(sw.schedules)}); "
            "choose another software preset or schedule",
        )
    if sw.zero_stages and p.zero_stage is not None and p.zero_stage not in sw.zero_stages:
        c.fail(
            "parallel.zero_stage",
            p.zero_stage,
            f"is not offered by software={sw.name} "
            f"(allowed: {', '.join(map(str, sw.zero_stages))})",
        )


def _check_efficiency(c: _Checker) -> None:
    c.one_of("efficiency.mode", EFFICIENCY_MODES)
    c.fraction("efficiency.mfu", optional=True)
    eff = c.root.efficiency
    if eff.mfu is not None and eff.mode == "derived":
        c.fail(
            "efficiency.mfu",
            eff.mfu,
            "is used only with efficiency.mode=fixed (derived mode computes the MFU); "
            "add efficiency.mode=fixed",
        )
    c.fraction("efficiency.usable_hbm_fraction")
    c.check("efficiency.moe_load_imbalance", lambda v: v >= 1.0, "must be >= 1")
    c.fraction("efficiency.attention_efficiency")
    for p in PRECISIONS:
        c.fraction(f"efficiency.default_mfu.{p}", optional=True)
        c.fraction(f"efficiency.gemm_eta_max.{p}", optional=True)
        c.fraction(f"efficiency.gemm_scale.{p}", optional=True)
        c.non_negative(f"efficiency.gemm_mn_half.{p}", optional=True)
        c.non_negative(f"efficiency.gemm_fixed_us.{p}", optional=True)
        c.non_negative(f"efficiency.gemm_k_half.{p}", optional=True)
    prec = c.root.training.precision
    if prec in PRECISIONS:
        if eff.mfu is None and eff.default_mfu.get(prec) is None:
            c.fail(
                f"efficiency.default_mfu.{prec}",
                None,
                f"is needed for training.precision={prec!r}: set it, or efficiency.mfu",
            )
        if eff.gemm_eta_max.get(prec) is None and c.root.hardware.mamf_fraction.get(prec) is None:
            c.fail(
                f"efficiency.gemm_eta_max.{prec}",
                None,
                f"is needed for training.precision={prec!r}: hardware "
                f"{c.root.hardware.name!r} has no mamf_fraction.{prec}",
            )


#: Most draws an uncertainty analysis takes (its cost grows with them).
MAX_SAMPLES = 100_000


def _check_uncertainty(c: _Checker) -> None:
    c.check("uncertainty.samples", lambda v: 0 <= v <= MAX_SAMPLES,
            f"must be in [0, {MAX_SAMPLES}] (0 = off)")  # fmt: skip
    c.non_negative("uncertainty.seed")
    sc = c.root
    own = [(f"uncertainty.inputs[{i}]", u.path, u) for i, u in enumerate(sc.uncertainty.inputs)]
    own += [(f"hardware.uncertainty[{i}]", f"hardware.{u.path}", u)
            for i, u in enumerate(sc.hardware.uncertainty)]  # fmt: skip
    for where, path, u in own:
        if not U.numeric_field(path) or path.startswith(("uncertainty.", "parallel.")):
            c.fail(f"{where}.path", u.path, "must name a numeric field of the scenario (e.g. "
                   "cluster.pue, hardware.peak_tflops.bf16; a hardware preset's are relative "
                   "to hardware); parallel.* and uncertainty.* are not inputs")  # fmt: skip
            continue
        if U.value_at(sc, path) is None:
            c.fail(f"{where}.path", u.path, "is null in this scenario: give it a value first")
            continue
        if not u.low <= u.high:
            c.fail(f"{where}.low", u.low, f"must be <= high ({u.high})")
            continue
        for end in ("low", "high"):  # each end must be a valid value of the field
            for problem in _endpoint_problems(sc, path, getattr(u, end)):
                c.problems.append(f"{where}.{end}: {problem}")


def _uncertainty_reads(sc: Scenario) -> frozenset[str]:
    """Every group :func:`_check_uncertainty` reads in ``sc``: its own, the hardware preset's
    inputs, the group of each input's path, and the groups the range checks of a path outside
    :data:`VALUE_ONLY_GROUPS` read (see :func:`_endpoint_problems`)."""
    paths = [u.path for u in sc.uncertainty.inputs]
    paths += [f"hardware.{u.path}" for u in sc.hardware.uncertainty]
    out = {"uncertainty", "hardware"}
    for path in paths:
        group = path.split(".")[0]
        if group in SCENARIO_GROUPS:
            out.add(group)
            if group not in VALUE_ONLY_GROUPS:
                out.update(_checks_reading(group)[1])
    return frozenset(out)


_ENDPOINTS: dict[Any, tuple[str, ...]] = {}
#: Groups whose checks judge each numeric field by its own value alone (ranges: > 0, a fraction,
#: >= 1), so an endpoint's problems depend on the path and the value only.
VALUE_ONLY_GROUPS = frozenset({"cluster", "reliability", "hardware"})


def _endpoint_problems(sc: Scenario, path: str, value: float) -> tuple[str, ...]:
    """The range problems of ``sc`` with ``path`` set to ``value`` (the checks that read its
    group; memoised on the groups they read, or on the path and value alone for a field of
    :data:`VALUE_ONLY_GROUPS`, since every simulate and sweep point validates again)."""
    group = path.split(".")[0]
    checks, groups = _checks_reading(group)
    key = (path, value) if group in VALUE_ONLY_GROUPS else (
        path, value, *(getattr(sc, g) for g in groups))  # fmt: skip
    if key not in _ENDPOINTS:
        if len(_ENDPOINTS) > 4096:
            _ENDPOINTS.clear()
        probe = _Checker(U.with_value(sc, path, value))
        for check, _ in checks:
            check(probe)
        # the field's own problems (the scenario's others are reported once, on their own)
        _ENDPOINTS[key] = tuple(m for m in probe.problems if m.startswith(f"{path}="))
    return _ENDPOINTS[key]


@cache
def _checks_reading(group: str) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """The range checks that read ``group`` (the uncertainty check aside) and every group
    they read."""
    checks = tuple((f, r) for f, r in _CHECKS if group in r and f is not _check_uncertainty)
    return checks, tuple(sorted(set().union(*(r for _, r in checks))))


#: Each check and the groups it reads (a change to one group needs only the checks reading it).
_CHECKS: tuple[tuple[Callable[[_Checker], None], frozenset[str]], ...] = (
    (_check_model, frozenset({"model"})),
    (_check_hardware, frozenset({"hardware", "training"})),
    (_check_training_cluster, frozenset({"training", "cluster", "hardware", "reliability"})),
    (_check_efficiency, frozenset({"efficiency", "training", "hardware"})),
    (_check_software, frozenset({"software", "parallel"})),
    (_check_parallel, frozenset({"parallel", "model", "training", "cluster"})),
    (_check_uncertainty, frozenset({"uncertainty", "hardware"})),
)


#: Integers from 2**53 on are not exact as floats, and overflow NumPy's int64 soon after.
MAX_INT = 2**53
#: No input of the scenario is physical beyond this (the largest, a token count, is ~1e13; the
#: products of a few inputs beyond it overflow a float's 1.8e308).
MAX_FLOAT = 1e18
#: ... nor a non-zero one below this (the smallest, an interruption rate, is ~1e-5 per hour);
#: a denormal divisor overflows the step time.
MIN_FLOAT = 1e-12


@lru_cache(maxsize=4096)
def _number_problems(section: Any, prefix: str) -> tuple[str, ...]:
    """Numeric fields of a frozen section (and the sections and lists under it) that are not
    finite numbers, or not whole where the schema wants an int: ``inf`` passes every ``> 0``
    check and NaN fails none, so both are refused here, before any other check reads them."""
    out: list[str] = []
    for f in dataclasses.fields(section):
        out += _field_number_problems(section, f.name, f"{prefix}.{f.name}")
    return tuple(out)


def _field_number_problems(section: Any, name: str, path: str) -> list[str]:
    """:func:`_number_problems` of one field ``name`` of ``section``, at ``path``."""
    out: list[str] = []
    cls: Any = type(section)
    value = getattr(section, name)
    items = value if isinstance(value, tuple) else (value,)
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, tuple) else path
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            out += _number_problems(typing.cast(Any, item), where)
        elif (problem := number_problem(where, item)) is not None:
            out.append(problem)
        elif (isinstance(item, float) and not item.is_integer()
              and _wants_int(cls, name)):  # fmt: skip
            out.append(f"{where}={item!r} must be a whole number")
    return out


def number_problem(where: str, item: Any) -> str | None:
    """Why a number at ``where`` is not one a scenario takes (not finite, or beyond
    :data:`MIN_FLOAT` .. :data:`MAX_FLOAT` or :data:`MAX_INT` in magnitude); None if it is, or
    if ``item`` is not a number (the schema's types are checked elsewhere)."""
    if isinstance(item, float) and not math.isfinite(item):
        return f"{where}={item!r} must be a finite number"
    if isinstance(item, float) and not (item == 0 or MIN_FLOAT <= abs(item) <= MAX_FLOAT):
        return f"{where}={item!r} must be 0 or between {MIN_FLOAT:g} and {MAX_FLOAT:g} in magnitude"
    if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= MAX_INT:
        return f"{where}={item!r} must be smaller than 2**53 in magnitude"
    return None


def _changed_number_problems(sc: Scenario, path: str) -> list[str]:
    """:func:`_number_problems` of the group or the dotted field at ``path`` of ``sc``."""
    *parents, name = path.split(".")
    section: Any = sc
    for p in parents:
        section = getattr(section, p, None)
        if section is None:  # under a null section: nothing numeric there
            return []
    return _field_number_problems(section, name, path)  # a group recurses into its fields


@cache
def _wants_int(cls: type, name: str) -> bool:
    """Whether the schema types field ``name`` of ``cls`` as an int (optional or not)."""
    hint = typing.get_type_hints(cls)[name]
    return int in (typing.get_args(hint) or (hint,)) and float not in typing.get_args(hint)


def validate(sc: Scenario, changed: Iterable[str] | None = None, numbers: bool = True) -> None:
    """Raise :class:`ConfigError` listing every problem in the typed scenario ``sc``.

    ``changed``: the dotted fields that differ from a scenario already validated (a sweep
    point); only the checks that read their groups run. A field that is not a finite number
    is reported alone (the range checks would let ``inf`` through or trip on it).
    ``numbers=False`` skips that number check of the changed fields: a sweep point whose
    values each passed it already (a field's number problems depend on its value alone)."""
    if changed is None:
        try:
            problems = _whole_problems(sc)
        except TypeError:  # an unhashable value somewhere (a list where a tuple belongs)
            problems = _whole_problems.__wrapped__(sc)
        if problems:
            raise ConfigError(list(problems))
        return
    _raise_problems(sc, changed, numbers)


@lru_cache(maxsize=1024)
def _whole_problems(sc: Scenario) -> tuple[str, ...]:
    """Every problem of a whole scenario (cached by value: a frozen scenario simulated again,
    or equal to one already checked, is not checked twice)."""
    try:
        _raise_problems(sc, None)
    except ConfigError as exc:
        return tuple(exc.problems)
    return ()


def _raise_problems(sc: Scenario, changed: Iterable[str] | None, numbers: bool = True) -> None:
    changed = None if changed is None else list(changed)
    groups = None if changed is None else {p.split(".")[0] for p in changed}
    # the whole scenario, or what changed (the rest was checked in the scenario it came from)
    paths = SCENARIO_GROUPS if changed is None else changed
    if numbers:
        bad = [p for path in paths for p in _changed_number_problems(sc, path)]
        if bad:
            raise ConfigError(bad)
    c = _Checker(sc)
    for check, reads in _CHECKS:
        if groups is None or reads & groups:
            if check is _check_uncertainty:  # it also reads the fields its inputs name
                reads = _uncertainty_reads(sc)
            c.problems.extend(_memo_check(check, reads, sc))
    if c.problems:
        raise ConfigError(c.problems)


_CHECKED: dict[Any, tuple[str, ...]] = {}
#: The same memo keyed by the identity of the sections (a sweep's points share the very section
#: objects of their axes' values; hashing a frozen hardware or model section by value is what
#: costs): id-tuple -> (problems, the sections, kept alive so that their ids stay theirs).
_CHECKED_BY_ID: dict[tuple[int, ...], tuple[tuple[str, ...], tuple[Any, ...]]] = {}
MEMO_SIZE = 16384


def _memo_check(check: Callable[[_Checker], None], reads: frozenset[str], sc: Scenario) -> Any:
    """The problems ``check`` finds in ``sc``, memoised on the sections it reads (a check is a
    function of those alone, tested): a sweep's points share most of their sections."""
    sections = tuple(getattr(sc, g) for g in sorted(reads))
    ids = (id(check), *map(id, sections))
    hit = _CHECKED_BY_ID.get(ids)
    if hit is not None:
        return hit[0]
    key = (check, *sections)
    try:
        found = _CHECKED.get(key)
        hashable = True
    except TypeError:  # an unhashable section: checked afresh, not memoised
        found, hashable = None, False
    if found is None:
        probe = _Checker(sc)
        check(probe)
        found = tuple(probe.problems)
        if hashable:
            if len(_CHECKED) > MEMO_SIZE:
                _CHECKED.clear()
            _CHECKED[key] = found
    if hashable:
        if len(_CHECKED_BY_ID) > MEMO_SIZE:
            _CHECKED_BY_ID.clear()
        _CHECKED_BY_ID[ids] = (found, sections)
    return found


def validate_app(app: AppConfig) -> None:
    """Raise :class:`ConfigError` for a bad report name or a report preset that does not exist."""
    c = _Checker(app)
    c.one_of("report.name", REPORTS, optional=True)
    for group, preset_group in (("models", "model"), ("hardware", "hardware")):
        allowed = available_presets(preset_group)
        for i, name in enumerate(getattr(app.report, group)):
            if name not in allowed:
                c.fail(
                    f"report.{group}[{i}]",
                    name,
                    f"is not a preset; available: {', '.join(allowed)}",
                )
    if c.problems:
        raise ConfigError(c.problems)
