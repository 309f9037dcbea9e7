"""What a budget buys: the model of lowest predicted loss whose *simulated* cost fits a budget.

    >>> plan = simsim.plan(budget_usd=5.6e6, hardware="h800_sxm", n_gpus=2048)
    >>> plan.loss, plan.cost_usd, plan.gpu_hours, plan.layout

The design space is a family of model shapes (dense: Llama-style shapes from 1e8 to 3e12
parameters; MoE: the same shapes with their FFN made experts, as the chosen scaling law
describes them). Each shape is simulated once per chip and fleet size (derived step time,
memory-feasible layout search, derived goodput, the chip's price), which gives its cost per
training token; a budget then buys ``tokens = budget / cost per token`` (less when a wall-clock
cap binds), and the law predicts the loss of each (shape, tokens). The plan is the shape of
lowest loss; a whole frontier of budgets is one array evaluation over the same simulations.

Scaling laws (:mod:`simsim.scaling`):

- ``ludziejewski2025`` (default): Ludziejewski et al. 2025, one joint fit for dense (E = 1) and
  top-1 MoE with E experts of the dense FFN's size; N_act includes the embeddings.
- ``krajewski2024``: Krajewski et al. 2024, fine-grained MoE (expansion 64, granularity G) and
  its own dense fit on the same data; N is non-embedding (total for the MoE).
- ``besiroglu2024`` / ``hoffmann2022``: Chinchilla, dense only.

Losses of different laws are on different data and tokenizers: compare designs under one law.
Every law is fitted far below frontier scale; a design outside a law's fitted box is flagged
``extrapolated``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import scaling as S
from .api import simulate_many
from .checks import validate
from .errors import ConfigError
from .export_control import RULES, classify
from .physics import architecture as A
from .result import Result
from .scenario import arch_from_model, available_presets, compose_dict, resolve
from .schema import convert
from .shapes import dense_shape

Array = NDArray[np.float64]

LAWS = ("ludziejewski2025", "krajewski2024", "besiroglu2024", "hoffmann2022")
KINDS = ("dense", "moe", "both")
#: The chips of the frontier report and the export-rule question: H100-class, the restricted
#: NVIDIA variants and Huawei's domestic parts.
CHIPS = ("h100_sxm", "h800_sxm", "a800_80gb", "h20", "ascend_910b", "ascend_910c")
#: Chips a buyer in China can get whatever the US rule: Huawei's own, made and sold in China
#: (ECCN 3A090 governs exports of US-origin items; see simsim/data/references.md).
DOMESTIC = ("ascend_910b", "ascend_910c")
#: Fleet sizes searched when ``n_gpus`` is not given (a power-of-two grid).
FLEETS = (256, 512, 1024, 2048, 4096, 8192, 16384)
#: Dense shapes, non-embedding parameters (log-spaced; ~1.33x apart).
DENSE_SIZES = tuple(float(x) for x in np.geomspace(1e8, 3e12, 37))
#: MoE shapes: the dense shape whose FFN becomes the experts (active, non-embedding).
MOE_SIZES = tuple(float(x) for x in np.geomspace(1e8, 1e12, 25))
#: Expert counts of the Ludziejewski family (its fitted E, top-1) and granularities of the
#: Krajewski family (expansion 64: 64 G experts of d_ff / G, G of them active).
EXPERTS = (2, 4, 8, 16, 32)
GRANULARITIES = (1, 2, 4, 8, 16)
#: Reference run length the per-token costs are simulated at (every cost is linear in tokens:
#: the goodput of :mod:`simsim.physics.reliability` does not depend on the run's length).
REF_TOKENS = 1e12
Z80 = NormalDist().inv_cdf(0.9)  # a +-z band of a normal error holds 80%


@dataclass(frozen=True)
class Design:
    """One model shape of the design space and what its scaling law needs."""

    kind: str  # dense | moe
    model: dict[str, Any]  # a model section (simsim.schema.ModelConfig fields)
    n_experts: int = 1  # the law's E (Ludziejewski: top-1 experts; 1 = dense)
    granularity: int = 1  # the law's G (Krajewski)


@dataclass(frozen=True)
class Plan:
    """The design of lowest predicted loss that fits the budget, and what it costs.

    ``loss`` is the law's prediction [nats/token on the law's data]; ``loss_p10`` /
    ``loss_p90`` its 80% band from the cost model's held-out error (the budget buys more or
    fewer tokens) and the law's own fit error, combined; ``binding`` names the constraints that
    bind (``budget``, ``wall-clock``, ``memory``: a larger model would do better but fits on no
    layout); ``alternatives`` holds the best design of each (chip, kind)."""

    law: str
    kind: str
    hardware: str
    n_gpus: int
    model: dict[str, Any]
    n_params: float
    n_active: float
    n_experts: int
    top_k: int
    tokens: float
    loss: float
    loss_p10: float
    loss_p90: float
    gpu_hours: float
    cost_usd: float | None
    cost_basis: str
    wall_clock_days: float
    layout: dict[str, Any]
    mfu: float
    tokens_per_s: float
    binding: tuple[str, ...]
    extrapolated: bool
    notes: tuple[str, ...] = ()
    alternatives: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- the design space ------------------------------------------------------------------------


def designs(law: str, kind: str, vocab_size: int, experts: Sequence[int] = EXPERTS) -> list[Design]:
    """The shapes a law can judge: dense always (but not under an MoE-only question), MoE in
    the law's own family."""
    _check_choice("law", law, LAWS)
    _check_choice("kind", kind, KINDS)
    out: list[Design] = []
    if kind in ("dense", "both"):
        out += [Design("dense", dense_shape(n, vocab_size, f"dense_{n:.3g}")) for n in DENSE_SIZES]
    if kind in ("moe", "both") and law in S.MOE_LAWS:
        for n in MOE_SIZES:
            base = dense_shape(n, vocab_size, "")
            if law == "ludziejewski2025":
                for e in experts:
                    moe = {"n_experts": e, "top_k": 1, "d_ff_expert": base["d_ff"]}
                    out.append(
                        Design("moe", _moe_shape(base, moe, f"moe_{n:.3g}_e{e}"), n_experts=e)
                    )
            else:
                for g in GRANULARITIES:
                    moe = {
                        "n_experts": S.KRAJEWSKI["expansion"] * g,
                        "top_k": g,
                        "d_ff_expert": max(base["d_ff"] // g, 1),
                    }
                    out.append(
                        Design("moe", _moe_shape(base, moe, f"moe_{n:.3g}_g{g}"), granularity=g)
                    )
    if not out:
        raise ConfigError(f"kind={kind!r}: law={law!r} has no MoE form; use kind='dense'")
    return out


def _moe_shape(base: dict[str, Any], moe: dict[str, Any], name: str) -> dict[str, Any]:
    """``base`` with every FFN an MoE layer (no shared expert, no dense layers, dropless)."""
    spec = {
        "n_shared": 0,
        "n_dense_layers": 0,
        "max_nodes_per_token": None,
        "capacity_factor": None,
        "load_imbalance": None,
        **moe,
    }
    source = (
        f"simsim.planner: {base['source'].split(': ', 1)[-1]} with {moe['n_experts']} "
        f"experts of width {moe['d_ff_expert']}, top-{moe['top_k']}"
    )
    return {**base, "name": name, "d_ff": None, "moe": spec, "source": source}


# --- law inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LawInputs:
    """Per design: the arrays a law's loss needs, and whether the design is in its fitted box
    (tokens are checked per budget)."""

    #: the law's N: Ludziejewski's active incl. embeddings; the others' non-embedding count
    #: (Krajewski's MoE: its total, all experts)
    n: Array
    experts: Array
    granularity: Array
    dense: NDArray[np.bool_]
    n_in_range: NDArray[np.bool_]
    tokens_range: tuple[float, float]
    rmse: float | None  # the law's reported fit error [loss]


def law_inputs(law: str, ds: Sequence[Design], results: Sequence[Result]) -> LawInputs:
    """The law's N for each design, from the simulated model's own parameter counts."""
    dense = np.array([d.kind == "dense" for d in ds])
    total = np.array([r.total_params for r in results])
    active = np.array([r.active_params for r in results])
    emb = np.array([embedding_params(d.model) for d in ds])
    experts = np.array([d.n_experts for d in ds], float)
    gran = np.array([d.granularity for d in ds], float)
    if law == "ludziejewski2025":
        fit = S.LUDZIEJEWSKI_FITTED
        n, rmse = active, S.LUDZIEJEWSKI["rmse"]
        in_box = (experts <= fit["experts"][1]) & (n >= fit["n_act"][0]) & (n <= fit["n_act"][1])
        return LawInputs(n, experts, gran, dense, in_box, fit["tokens"], rmse)
    if law == "krajewski2024":  # N: the total non-embedding parameters (all experts)
        fit = S.KRAJEWSKI_FITTED
        n_act = active - emb
        in_box = (
            (gran <= fit["granularity"][1])
            & (n_act >= fit["n_act"][0])
            & (n_act <= fit["n_act"][1])
        )
        return LawInputs(
            total - emb, experts, gran, dense, in_box, fit["tokens"], S.KRAJEWSKI["rmse"]
        )
    n = total - emb
    fit = S.CHINCHILLA_FITTED
    in_box = (n >= fit["n_params"][0]) & (n <= fit["n_params"][1])
    return LawInputs(n, experts, gran, dense, in_box, fit["tokens"], None)


def embedding_params(model: Mapping[str, Any]) -> float:
    """Embedding (and untied LM head) parameters of a model section
    (:func:`simsim.physics.architecture.embedding_params`)."""
    return float(A.embedding_params(arch_from_model(convert("model", model))))


def predicted_loss(law: str, li: LawInputs, tokens: Array) -> Array:
    """Loss of every design (last axis) at ``tokens`` (broadcast against it)."""
    if law == "ludziejewski2025":
        return S.ludziejewski_loss(li.n, tokens, li.experts)
    if law == "krajewski2024":
        return np.where(
            li.dense,
            S.krajewski_dense_loss(li.n, tokens),
            S.krajewski_loss(li.n, tokens, li.granularity),
        )
    return S.loss(li.n, tokens, law)


# --- simulated cost per token ---------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """Per candidate (design x chip x fleet): the simulated cost of one training token."""

    hardware: list[str]
    n_gpus: NDArray[np.int64]
    design: NDArray[np.int64]  # index into the design list
    feasible: NDArray[np.bool_]
    gpu_hours: Array  # per token
    usd: Array  # per token (NaN: the chip has no price)
    days: Array  # per token
    flops: Array  # training FLOPs per token
    # model-error multipliers on the GPU-hours, from the throughput's held-out steady-state
    # error (simsim.intervals; the whole-run groups are too small for an interval)
    hours_p10: Array
    hours_p90: Array
    basis: list[str]
    results: list[Result]


def simulate_costs(
    ds: Sequence[Design],
    hardware: Sequence[str],
    fleets: Sequence[int],
    overrides: Sequence[str] = (),
) -> Costs:
    """Simulate every design on every chip and fleet size, at :data:`REF_TOKENS`, derived mode,
    with the layout searched: one batched :func:`simsim.api.simulate_many`."""
    scs, keys = [], []
    models: list[Any] = []
    for hw in hardware:
        data = compose_dict([f"hardware={hw}", "efficiency.mode=derived", *overrides])
        data["uncertainty"] = {**data.get("uncertainty", {}), "samples": 0}
        data["training"].update(tokens=REF_TOKENS, batch_ramp=None, stages=[])
        data["parallel"] = {}
        for n_gpus in fleets:
            data["cluster"]["n_gpus"] = int(n_gpus)
            base = resolve(data)
            if not models:  # each shape built and checked once (the checks of a model section)
                for d in ds:
                    sc = dataclasses.replace(base, model=convert("model", d.model))
                    validate(sc, changed=["model"])
                    models.append(sc.model)
            for i, model in enumerate(models):
                scs.append(dataclasses.replace(base, model=model))
                keys.append((hw, int(n_gpus), i))
    rs = simulate_many(scs, top_n=1)
    ok = np.array([r.feasible for r in rs])

    def per_token(name: str) -> Array:
        return np.array(
            [
                getattr(r, name) / REF_TOKENS
                if r.feasible and getattr(r, name) is not None
                else np.nan
                for r in rs
            ]
        )

    def factor(p: int) -> Array:
        """GPU-hours per token scale as 1 / throughput: the P``p`` multiplier of the hours is
        the inverse of the throughput's P``100 - p`` (its held-out steady-state error)."""
        return np.array(
            [
                r.tokens_per_s / r.intervals.get(f"tokens_per_s_p{100 - p}", r.tokens_per_s)
                if r.feasible and r.tokens_per_s
                else np.nan
                for r in rs
            ]
        )

    return Costs(
        hardware=[k[0] for k in keys],
        n_gpus=np.array([k[1] for k in keys]),
        design=np.array([k[2] for k in keys]),
        feasible=ok,
        gpu_hours=per_token("gpu_hours"),
        usd=per_token("cost_usd"),
        days=per_token("wall_clock_days"),
        flops=np.array([r.train_flops / REF_TOKENS for r in rs]),
        hours_p10=factor(10),
        hours_p90=factor(90),
        basis=[str(r.cost_basis) for r in rs],
        results=rs,
    )


# --- choosing ----------------------------------------------------------------------------------


def best_under_budget(
    law: str,
    li: LawInputs,
    costs: Costs,
    budgets: Array,
    unit: str,
    days: float | None = None,
) -> dict[str, Array]:
    """For each budget (``unit`` = ``usd`` or ``gpu_hours``), the candidate of lowest loss.

    Returns arrays over budgets: ``index`` (candidate; -1 when none is feasible), ``tokens``,
    ``loss``, ``loss_p10``, ``loss_p90`` and the binding flags ``wall_clock`` and ``memory``.
    A candidate that fits in no layout gets the cost per FLOP of the nearest smaller feasible
    shape of its family (same chip and fleet) for the ``memory`` flag only: memory binds when
    that unconstrained choice would beat the chosen one."""
    per_token = costs.usd if unit == "usd" else costs.gpu_hours
    b = np.asarray(budgets, float)[:, None]
    tokens = b / per_token[None, :]
    cap = np.inf if days is None else days / costs.days
    capped = tokens > cap
    tokens = np.minimum(tokens, cap)
    li_c = _gather(li, costs.design)
    usable = costs.feasible & np.isfinite(per_token)
    loss = np.where(usable[None, :], predicted_loss(law, li_c, tokens), np.inf)
    idx = np.argmin(loss, axis=1)
    rows = np.arange(len(b))
    none = ~np.isfinite(loss[rows, idx])
    best_tokens = tokens[rows, idx]
    best_loss = loss[rows, idx]
    # memory: the unconstrained shapes, costed at their neighbour's cost per FLOP
    # a design family: dense (1 expert), or the MoE's expert count and granularity
    family = np.unique(np.column_stack([li_c.experts, li_c.granularity]), axis=0,
                       return_inverse=True)[1].ravel()  # fmt: skip
    est = _estimated_per_token(costs, per_token, family)
    t_est = b / est[None, :]
    if days is not None:
        t_est = np.minimum(t_est, days / _estimated_per_token(costs, costs.days, family)[None, :])
    loss_est = np.where(np.isfinite(est)[None, :], predicted_loss(law, li_c, t_est), np.inf)
    memory = (loss_est.min(axis=1) < best_loss - 1e-9) & ~none
    # the band: the cost model's error moves the tokens the budget buys; the law has its own
    lo_t, hi_t = best_tokens / costs.hours_p10[idx], best_tokens / costs.hours_p90[idx]
    li_b = _gather(li_c, idx)
    l_lo = predicted_loss(law, li_b, lo_t) - best_loss
    l_hi = predicted_loss(law, li_b, hi_t) - best_loss
    law_hw = 0.0 if li.rmse is None else Z80 * li.rmse
    return {
        "index": np.where(none, -1, idx),
        "tokens": np.where(none, np.nan, best_tokens),
        "loss": np.where(none, np.nan, best_loss),
        "loss_p10": np.where(none, np.nan, best_loss - np.hypot(np.minimum(l_lo, 0.0), law_hw)),
        "loss_p90": np.where(none, np.nan, best_loss + np.hypot(np.maximum(l_hi, 0.0), law_hw)),
        "wall_clock": capped[rows, idx] & ~none,
        "memory": memory,
    }


def _gather(li: LawInputs, idx: NDArray[np.int64]) -> LawInputs:
    return dataclasses.replace(
        li,
        n=li.n[idx],
        experts=li.experts[idx],
        granularity=li.granularity[idx],
        dense=li.dense[idx],
        n_in_range=li.n_in_range[idx],
    )


def _estimated_per_token(costs: Costs, per_token: Array, family: NDArray[np.intp]) -> Array:
    """Cost per token of every candidate; an infeasible one at the cost per FLOP of the largest
    feasible candidate of the same chip, fleet and design family (dense, or the MoE's experts
    and granularity) below it in FLOPs (NaN if none)."""
    est = np.where(costs.feasible, per_token, np.nan)
    keys = list(zip(costs.hardware, costs.n_gpus.tolist(), family.tolist(), strict=True))
    for key in set(keys):
        members = np.array([k == key for k in keys])
        ok = members & costs.feasible & np.isfinite(per_token)
        if not ok.any():
            continue
        order = np.argsort(costs.flops[ok])
        f_ok, c_ok = costs.flops[ok][order], (per_token[ok] / costs.flops[ok])[order]
        bad = members & ~ok
        pos = np.searchsorted(f_ok, costs.flops[bad], side="right") - 1
        est[bad] = np.where(pos >= 0, c_ok[np.maximum(pos, 0)] * costs.flops[bad], np.nan)
    return est


# --- the public planner ------------------------------------------------------------------------


def _check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(map(str, allowed))}")


def allowed_chips(rule: str | None, chips: Sequence[str] = CHIPS) -> list[str]:
    """The chips of ``chips`` a buyer in China can get under ``rule`` (``None``: no rule):
    those :func:`simsim.export_control.classify` does not control, and the domestic ones."""
    if rule is None:
        return list(chips)
    _check_choice("rule", rule, RULES)
    return [c for c in chips if c in DOMESTIC or classify(c, rule).controlled is False]


def plan(
    budget_usd: float | None = None,
    gpu_hours: float | None = None,
    hardware: str | Sequence[str] | None = None,
    n_gpus: int | Sequence[int] | None = None,
    days: float | None = None,
    rule: str | None = None,
    kind: str = "both",
    law: str = "ludziejewski2025",
    overrides: Sequence[str] = (),
) -> Plan:
    """The design of lowest predicted loss whose simulated cost fits the budget.

    Parameters
    ----------
    budget_usd, gpu_hours : the budget, in dollars (at each chip's rental price, else its
        owned cost: :mod:`simsim.accounting`) or in GPU-hours; exactly one.
    hardware : a chip preset, or several (the best is chosen); default: the chips ``rule``
        allows (:data:`CHIPS`), or ``h100_sxm`` without a rule.
    n_gpus : the fleet, or several sizes to choose from; default :data:`FLEETS`.
    days : wall-clock cap; the run trains fewer tokens than the budget buys when it binds.
    rule : an export rule (``2022-10``, ``2023-10``); a chip it controls is an error.
    kind : ``dense``, ``moe`` or ``both``; ``law`` a scaling law of :data:`LAWS`.
    overrides : further config overrides for every simulated scenario (e.g. a software stack).
    """
    if (budget_usd is None) == (gpu_hours is None):
        raise ConfigError("give exactly one of budget_usd and gpu_hours")
    given = budget_usd if budget_usd is not None else gpu_hours
    unit = "usd" if budget_usd is not None else "gpu_hours"
    if not (_is_number(given) and np.isfinite(given) and float(given) > 0):  # type: ignore[arg-type]
        raise ConfigError(
            f"{'budget_usd' if unit == 'usd' else 'gpu_hours'}={given!r}: "
            "must be a finite number > 0"
        )
    budget = float(given)  # type: ignore[arg-type]
    if days is not None and not (_is_number(days) and np.isfinite(days) and days > 0):
        raise ConfigError(f"days={days!r}: must be a finite number > 0")
    chips = _chips(hardware, rule)
    fleets = _fleets(n_gpus)
    ds = designs(law, kind, default_vocab(overrides))
    costs = simulate_costs(ds, chips, fleets, overrides)
    if unit == "usd":
        priced = {h for h, u in zip(costs.hardware, costs.usd, strict=True) if np.isfinite(u)}
        if not priced:
            raise ConfigError(
                f"hardware={', '.join(chips)}: no price_usd_per_hour or purchase_usd; "
                "give gpu_hours"
            )
    li = law_inputs(law, ds, [costs.results[i] for i in range(len(ds))])
    pick = best_under_budget(law, li, costs, np.array([budget]), unit, days)
    i = int(pick["index"][0])
    if i < 0:
        raise ConfigError(
            f"no design fits: every shape is infeasible on {', '.join(chips)} at "
            f"n_gpus={', '.join(map(str, fleets))}"
        )
    alternatives = _alternatives(law, li, costs, ds, budget, unit, days)
    return _plan_of(law, li, costs, ds, pick, i, alternatives)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.number) and not isinstance(x, bool)


def _chips(hardware: str | Sequence[str] | None, rule: str | None) -> list[str]:
    allowed = available_presets("hardware")
    if hardware is None:
        return allowed_chips(rule) if rule is not None else ["h100_sxm"]
    chips = [hardware] if isinstance(hardware, str) else list(hardware)
    for c in chips:
        _check_choice("hardware", c, allowed)
    if rule is not None:
        barred = [c for c in chips if c not in allowed_chips(rule, chips)]
        if barred:
            raise ConfigError(
                f"hardware={', '.join(barred)}: controlled under rule {rule} "
                f"({classify(barred[0], rule).reason})"
            )
    return chips


def _fleets(n_gpus: int | Sequence[int] | None) -> list[int]:
    values = (
        FLEETS if n_gpus is None else [n_gpus] if isinstance(n_gpus, int | np.integer) else n_gpus
    )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ConfigError(f"n_gpus={v!r}: must be a whole number >= 1")
        out.append(int(v))
    return out


def default_vocab(overrides: Sequence[str]) -> int:
    return int(compose_dict(list(overrides))["model"]["vocab_size"])


def _alternatives(
    law: str,
    li: LawInputs,
    costs: Costs,
    ds: Sequence[Design],
    budget: float,
    unit: str,
    days: float | None,
) -> tuple[dict[str, Any], ...]:
    """The best design of each (chip, kind), best first."""
    out = []
    for hw in dict.fromkeys(costs.hardware):
        for kind in ("dense", "moe"):
            keep = np.array(
                [
                    h == hw and ds[d].kind == kind
                    for h, d in zip(costs.hardware, costs.design, strict=True)
                ]
            )
            if not keep.any():
                continue
            sub = subset(costs, keep)
            pick = best_under_budget(law, li, sub, np.array([budget]), unit, days)
            j = int(pick["index"][0])
            if j < 0:
                continue
            p = _plan_of(law, li, sub, ds, pick, j, ())
            out.append(
                {
                    k: getattr(p, k)
                    for k in (
                        "hardware",
                        "kind",
                        "n_gpus",
                        "n_params",
                        "n_active",
                        "n_experts",
                        "tokens",
                        "loss",
                        "loss_p10",
                        "loss_p90",
                        "gpu_hours",
                        "cost_usd",
                        "wall_clock_days",
                        "binding",
                    )
                }
            )
    return tuple(sorted(out, key=lambda r: r["loss"]))


def subset(costs: Costs, keep: NDArray[np.bool_]) -> Costs:
    idx = np.nonzero(keep)[0]
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Costs):
        v = getattr(costs, f.name)
        out[f.name] = v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]
    return Costs(**out)


def _plan_of(
    law: str,
    li: LawInputs,
    costs: Costs,
    ds: Sequence[Design],
    pick: dict[str, Array],
    i: int,
    alternatives: tuple[dict[str, Any], ...],
) -> Plan:
    r = costs.results[i]
    d = ds[int(costs.design[i])]
    tokens = float(pick["tokens"][0])
    scale = tokens / REF_TOKENS
    binding = ["wall-clock" if pick["wall_clock"][0] else "budget"]
    if pick["memory"][0]:
        binding.append("memory")
    j = int(costs.design[i])
    lo, hi = li.tokens_range
    extrapolated = not (bool(li.n_in_range[j]) and lo <= tokens <= hi)
    notes = []
    if extrapolated:
        notes.append(
            f"{law}: outside the fitted range (N {li.n[j]:.3g}, D {tokens:.3g}; fitted "
            f"D {lo:.3g}-{hi:.3g}): the loss is an extrapolation"
        )
    moe = d.model.get("moe") or {}
    return Plan(
        law=law,
        kind=d.kind,
        hardware=costs.hardware[i],
        n_gpus=int(costs.n_gpus[i]),
        model=d.model,
        n_params=float(r.total_params),
        n_active=float(r.active_params),
        n_experts=int(moe.get("n_experts", 1)),
        top_k=int(moe.get("top_k", 1)),
        tokens=tokens,
        loss=float(pick["loss"][0]),
        loss_p10=float(pick["loss_p10"][0]),
        loss_p90=float(pick["loss_p90"][0]),
        gpu_hours=float(r.gpu_hours or np.nan) * scale,
        cost_usd=None if r.cost_usd is None else float(r.cost_usd) * scale,
        cost_basis=costs.basis[i],
        wall_clock_days=float(r.wall_clock_days or np.nan) * scale,
        layout=dict(r.layout),
        mfu=float(r.mfu or np.nan),
        tokens_per_s=float(r.tokens_per_s or np.nan),
        binding=tuple(binding),
        extrapolated=extrapolated,
        notes=tuple(notes),
        alternatives=alternatives,
    )
