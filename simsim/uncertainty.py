"""Input uncertainty: what the spread of uncertain inputs does to the headline outputs.

Some inputs are known only within a range: the Ascend 910B's BF16 peak is quoted from 256 to 376
TFLOP/s, rental prices move by 2x, fleets fail at 1.2e-5 to 3.4e-5 interruptions per GPU-hour.
A scenario lists them (``uncertainty.inputs``, and a hardware preset's own ``uncertainty``), each
with a range and its source; this module draws ``uncertainty.samples`` Latin-hypercube points
(McKay, Beckman & Conover 1979, Technometrics 21:239), uniform in each range and seeded by
``uncertainty.seed`` (the same scenario gives byte-identical intervals), and propagates them:

* *bill inputs* (PUE, grid factor, power, prices, cost overheads) through the accounting
  functions, exactly, for every sample;
* *reliability inputs* (``reliability.*``) through the effective-training-time model
  (:mod:`simsim.physics.reliability`), exactly, for every sample;
* every other input (peaks, bandwidths, efficiencies, token counts ...) through two extra
  simulations of the main stage at the ends of its range with the chosen layout kept, and a
  piecewise log-linear curve through (low, nominal, high) in between. Inputs of this kind are
  combined as independent factors of the GPU-hours and of the throughput (separable: exact at
  the ends of each range one at a time, an approximation where two of them move together).

The P10 / P50 / P90 of each headline output are reported for the inputs alone and combined with
simsim's model error (:mod:`simsim.intervals`: the held-out residuals of the output's group,
sampled through their empirical quantiles at plotting positions i/(n+1), one more
Latin-hypercube column). The variance share
of an input is the variance of the output's logarithm when that input alone varies, over the
sum of those variances and the model error's (a first-order, one-at-a-time decomposition: for
a product of independent factors it equals the first-order Sobol index).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from functools import cache
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import accounting as acc
from .intervals import PERCENTILES, group_of, residuals
from .schema import Scenario, UncertainInput, field_hint, replace_path

Array = NDArray[np.float64]

#: Headline outputs that get input-uncertainty intervals.
OUTPUTS = ("gpu_hours", "wall_clock_days", "energy_mwh", "cost_usd", "co2_tonnes", "tokens_per_s")
#: Inputs that enter only the bill (energy, money, CO2), propagated exactly.
BILL_INPUTS = frozenset(
    {
        "cluster.pue",
        "cluster.grid_kgco2_per_kwh",
        "cluster.electricity_usd_per_kwh",
        "cluster.gpu_power_fraction",
        "cluster.node_overhead_w_per_gpu",
        "cluster.server_cost_overhead",
        "cluster.interconnect_cost_overhead",
        "cluster.depreciation_per_year",
        "hardware.price_usd_per_hour",
        "hardware.purchase_usd",
        "hardware.tdp_w",
    }
)
#: Inputs of the effective-training-time model, propagated exactly, and the argument of
#: :func:`simsim.api.reliability_arrays` each one feeds.
RELIABILITY_INPUTS = {
    "reliability.interruptions_per_gpu_hour": "per_gpu_hour",
    "reliability.planned_interruptions_per_day": "planned_per_day",
    "reliability.restart_minutes": "restart_minutes",
    "reliability.checkpoint_write_gbps_per_gpu": "write_gbps",
    "reliability.checkpoint_interval_minutes": "interval_minutes",
    "reliability.evaluation_share": "evaluation_share",
}
#: The name of the model-error source in variance shares.
MODEL_ERROR = "model error"


def inputs_of(sc: Scenario) -> tuple[UncertainInput, ...]:
    """The scenario's uncertain inputs with full paths: ``uncertainty.inputs`` and the hardware
    preset's own (``hardware.<path>``); a path given twice keeps the scenario-level range."""
    own = {u.path: u for u in sc.uncertainty.inputs}
    for u in sc.hardware.uncertainty:
        full = dataclasses.replace(u, path=f"hardware.{u.path}")
        own.setdefault(full.path, full)
    return tuple(own.values())


@cache
def numeric_field(path: str) -> bool:
    """Whether ``path`` names a numeric leaf of the scenario (an int or float field, optional
    or not, or one precision of a per-precision table)."""
    return bool(_kinds(path)) and _kinds(path) <= {int, float}


@cache
def _kinds(path: str) -> frozenset[Any]:
    """The types a field at ``path`` may hold, without None (empty for no such field)."""
    hint = field_hint(path)
    return frozenset(a for a in (typing.get_args(hint) or (hint,)) if a not in (None, type(None)))


def with_value(sc: Scenario, path: str, value: float) -> Scenario:
    """``sc`` with the numeric field ``path`` set to ``value`` (rounded for an int field)."""
    new: Any = round(value) if int in _kinds(path) else float(value)
    out: Scenario = replace_path(sc, path, new)
    return out


def value_at(sc: Scenario, path: str) -> float | None:
    """The value of the numeric field ``path`` (None if it, or a section above it, is null)."""
    try:
        value = attrgetter(path)(sc)
    except AttributeError:  # a field under a null section (model.moe of a dense model)
        return None
    return None if value is None else float(value)


@cache
def latin_hypercube(n: int, k: int, seed: int) -> Array:
    """``n`` x ``k`` stratified uniform draws in [0, 1): each column has one point in each of
    ``n`` equal strata, in an independent random order (McKay et al. 1979). Read-only (cached:
    every scenario with the same draws shares them)."""
    rng = np.random.default_rng(seed)
    u = np.empty((n, k))
    for j in range(k):
        u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    u.flags.writeable = False
    return u


def _curve(x: Array, xs: tuple[float, ...], logs: tuple[float, ...]) -> Array:
    """exp of the piecewise-linear interpolation of ``logs`` at ``xs`` (sorted, deduplicated),
    evaluated at ``x``."""
    pts = sorted(dict(zip(xs, logs, strict=True)).items())
    return np.exp(np.interp(x, [p[0] for p in pts], [p[1] for p in pts]))


@dataclasses.dataclass(frozen=True)
class Response:
    """How the main stage responds to a performance input at the ends of its range:
    ``(x, log GPU-hour ratio, log throughput ratio)`` at low, nominal and high."""

    xs: tuple[float, ...]
    log_hours: tuple[float, ...]
    log_rate: tuple[float, ...]


def propagate(
    sc: Scenario,
    result: Any,
    responses: dict[str, Response],
    reliability_fn: Any,
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Input-uncertainty intervals, combined intervals and variance shares of ``result``.

    ``responses``: each performance input's :class:`Response`; ``reliability_fn(values)``: the
    ETTR for a mapping ``{reliability path: array}`` (the other inputs nominal). Returns
    ``(input_intervals, combined_intervals, variance_share)``."""
    ins = inputs_of(sc)
    n = sc.uncertainty.samples
    moe = sc.model.moe is not None
    groups = residuals(sc.efficiency.mode)
    extra = [o for o in OUTPUTS if groups.get(group_of(o, moe))]
    u = latin_hypercube(n, len(ins) + 1, sc.uncertainty.seed)
    draws = {inp.path: inp.low + u[:, j] * (inp.high - inp.low) for j, inp in enumerate(ins)}
    nominal = {inp.path: value_at(sc, inp.path) for inp in ins}

    # one batch: row 0 moves every input, row 1 + j moves input j alone (the others nominal)
    paths = list(draws)
    m = len(paths) + 1
    vals = {}
    for j, p in enumerate(paths):
        fixed = np.nan if nominal[p] is None else nominal[p]
        rows = np.full((m, n), fixed)
        rows[0] = rows[1 + j] = draws[p]
        vals[p] = rows
    # the ETTR moves only on row 0 and on the rows of a reliability input
    moving = [0] + [1 + j for j, p in enumerate(paths) if p in RELIABILITY_INPUTS]
    batch = _outputs(sc, result, vals, set(paths), responses, reliability_fn, (m, n), moving)
    ok = [o for o, v in batch.items() if np.all(np.isfinite(v[0]))]
    # the model-error factor of each output's residual group (the bills share one group)
    by_group = {g: _model_error(sc.efficiency.mode, g, n, len(ins) + 1, sc.uncertainty.seed)
                for g in {group_of(o, moe) for o in extra}}  # fmt: skip
    model = {o: by_group[group_of(o, moe)][0] for o in extra}
    model_var = {g: f[1] for g, f in by_group.items()}
    both = [o for o in ok if o in model]
    # every percentile in one call: the inputs alone (the first len(ok) rows), and combined
    # with the model error
    drawn = [batch[o][0] for o in ok] + [batch[o][0] * model[o] for o in both]
    q = percentiles(np.stack(drawn)) if drawn else np.empty((0, 0))
    q_in, q_all = q[:, : len(ok)], q[:, len(ok) :]
    input_iv = {f"{o}_p{p}": float(q_in[i][k]) for k, o in enumerate(ok)
                for i, p in enumerate(PERCENTILES)}  # fmt: skip
    combined_iv = {f"{o}_p{p}": float(q_all[i][k]) for k, o in enumerate(both)
                   for i, p in enumerate(PERCENTILES)}  # fmt: skip
    shares: dict[str, dict[str, float]] = {}
    if ok:  # every output's one-at-a-time rows at once: (outputs, inputs, samples)
        one = np.stack([batch[o][1:] for o in ok])
        # an input the output ignores has exactly 0 (only the rows that move take a logarithm)
        moves = np.ptp(one, axis=2) > 0
        logs = np.log(one[moves])
        v_all = np.zeros(moves.shape)
        v_all[moves] = np.where(np.ptp(logs, axis=1) > 0, np.var(logs, axis=1), 0.0)
    for k, o in enumerate(ok):
        var = {p: float(x) for p, x in zip(paths, v_all[k], strict=True)}
        if o in model:
            var[MODEL_ERROR] = model_var[group_of(o, moe)]
        total = sum(var.values())
        if total > 0:
            shares[o] = {p: x / total for p, x in sorted(var.items(), key=lambda kv: -kv[1])}
    return input_iv, combined_iv, shares


def percentiles(x: Array) -> Array:
    """``np.percentile(x, PERCENTILES, axis=1)`` of a 2-d array without NaN, to the bit: the
    same order statistics and numpy's linear interpolation (``_lerp``: from the lower neighbour
    below half-way, from the upper one above), found by one sort of each row, several times
    faster than numpy's multi-point partition for a thousand draws."""
    n = x.shape[1]
    v = (n - 1) * np.true_divide(np.asarray(PERCENTILES, dtype=float), 100)
    lo = np.floor(v).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    s = np.sort(x, axis=1)
    a, b = s[:, lo].T, s[:, hi].T
    t = (v - lo)[:, None]
    d = b - a
    out: Array = np.where(t >= 0.5, b - d * (1 - t), a + d * t)
    return out


@cache
def _model_error(mode: str, group: str, n: int, k: int, seed: int) -> tuple[Array, float]:
    """The model-error factor of residual group ``group`` at the last of the ``k`` Latin-
    hypercube columns (``n`` draws, ``seed``), and the variance of its logarithm (cached: every
    scenario with the same draws and group shares them; read-only)."""
    f = np.exp(_conformal_quantile(residuals(mode)[group], latin_hypercube(n, k, seed)[:, k - 1]))
    f.flags.writeable = False
    return f, float(np.var(np.log(f)))


def _conformal_quantile(residuals: Any, u: Array) -> Array:
    """Quantile function of ``n`` residuals with the i-th smallest at ``i / (n + 1)`` and the
    extremes held beyond (as the split-conformal bounds of :func:`simsim.intervals.factors`:
    with few residuals, their whole range)."""
    r = np.sort(np.asarray(residuals, dtype=float))
    return np.interp(u, np.arange(1, len(r) + 1) / (len(r) + 1), r)


def _outputs(
    sc: Scenario,
    result: Any,
    vals: dict[str, Array],
    vary: set[str],
    responses: dict[str, Response],
    reliability_fn: Any,
    n: tuple[int, ...],
    moving: list[int] | None = None,
) -> dict[str, Array]:
    """The headline outputs for input draws ``vals`` ({path: array of shape ``n``}) in which
    the inputs ``vary`` may move (the others are at their nominal values). A performance input
    at its nominal value has factor 1 exactly, as has the ETTR at the nominal reliability: it is
    evaluated only on the rows ``moving`` of a 2-d batch (all rows when None)."""
    hours_f = np.ones(n)
    rate_f = np.ones(n)
    for path, resp in responses.items():
        if path in vary:
            hours_f *= _curve(vals[path], resp.xs, resp.log_hours)
            rate_f *= _curve(vals[path], resp.xs, resp.log_rate)
    # GPU-hours of the simulated parts (the given stages' published hours stay as they are)
    given = sum(
        s["gpu_hours"] for s in result.stages if s.get("layout") == "given" and s["gpu_hours"]
    )
    simulated = result.gpu_hours - given
    rel = {p: vals[p] for p in vals if p in RELIABILITY_INPUTS}
    goodput_f = np.ones(n)
    if vary & RELIABILITY_INPUTS.keys() and sc.cluster.goodput is None:
        at = slice(None) if moving is None else moving
        ettr = reliability_fn({p: v[at] for p, v in rel.items()})
        with np.errstate(divide="ignore", invalid="ignore"):
            goodput_f[at] = np.where(ettr > 0, result.goodput / ettr, np.nan)
    hours = simulated * hours_f * goodput_f + given

    def get(path: str) -> Array | float:
        if path in vals:
            return vals[path]
        v = value_at(sc, path)  # a nominal input: a scalar broadcasts against the draws
        return np.nan if v is None else v

    cl = sc.cluster
    b = acc.bill(cl.cost_model, hours, cl.n_gpus, get)
    days, energy, parts = b["days"], b["energy"], dict(b["parts"])
    parts.pop("use_rental")
    cost = sum(parts.values()) if result.cost_usd is not None else np.full(n, np.nan)
    return {
        "gpu_hours": hours,
        "wall_clock_days": days,
        "energy_mwh": energy,
        "cost_usd": np.asarray(cost, dtype=float),
        "co2_tonnes": b["co2"],
        "tokens_per_s": result.tokens_per_s * rate_f,
    }


def is_performance(path: str) -> bool:
    """An input that acts through the step time or the token count (simulated at its ends)."""
    return path not in BILL_INPUTS and path not in RELIABILITY_INPUTS


def log_ratio(new: float | None, old: float | None) -> float:
    if new is None or old is None or new <= 0 or old <= 0:
        return math.nan
    return math.log(new / old)
