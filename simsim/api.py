"""``simsim.simulate``: one scenario in, one :class:`~simsim.result.Result` out."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from omegaconf import DictConfig

from . import accounting as acc
from . import uncertainty as U
from .engine import LAYOUT_FIELDS, LayoutChoice, choose_layouts
from .intervals import BILL_OUTPUTS, RATE_OUTPUTS, intervals
from .physics import architecture as A
from .physics import reliability as R
from .physics.memory import STATE_BYTES
from .result import Result
from .scenario import arch_from_model, resolve
from .schema import (
    ModelConfig,
    ParallelConfig,
    ReliabilityConfig,
    Scenario,
    UncertainInput,
    replace_fields,
)


def _mfu(sc: Scenario) -> float:
    eff = sc.efficiency
    if eff.mfu is not None:
        return eff.mfu
    mfu = eff.default_mfu.get(sc.training.precision)
    assert mfu is not None  # checks.validate: a default MFU exists for the precision
    return mfu


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def run_reliability(scs: Sequence[Scenario]) -> list[dict[str, float]]:
    """Interruption rate, checkpoint write and interval, and the shares of wall-clock lost to
    each cause, for each scenario's cluster (:mod:`simsim.physics.reliability`), in one
    vectorised evaluation. A checkpoint holds the 16-bit weights and the optimizer state
    (master weights and moments) of every parameter, MTP modules included, written in parallel
    by all GPUs; an asynchronous one blocks training only for the copy to host memory."""
    if not scs:
        return []
    inputs = [_reliability_inputs(sc) for sc in scs]
    cols = {k: np.asarray([v[k] for v in inputs], dtype=float) for k in _RELIABILITY_KEYS}
    parts = reliability_arrays(**cols)
    names = list(parts)
    columns = [np.broadcast_to(parts[k], (len(scs),)).tolist() for k in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


_RELIABILITY_KEYS = ("n_gpus", "state_bytes", "per_gpu_hour", "planned_per_day", "write_gbps",
                     "host_gbps", "is_async", "interval_minutes", "restart_minutes",
                     "evaluation_share")  # fmt: skip


def _reliability_inputs(sc: Scenario) -> dict[str, float]:
    """The numbers of ``sc`` that :func:`reliability_arrays` reads."""
    tr = sc.training
    return {
        "n_gpus": sc.cluster.n_gpus,
        **_reliability_constants(sc.model, tr.seq_len, tr.recompute, tr.precision, sc.reliability,
                                 sc.hardware.pcie_gbps),
    }  # fmt: skip


@lru_cache(maxsize=4096)
def _reliability_constants(
    model: ModelConfig, seq_len: int, recompute: str, precision: str, rel: ReliabilityConfig,
    pcie_gbps: float | None,
) -> dict[str, float]:  # fmt: skip
    """:func:`_reliability_inputs` but the GPU count (cached: a sweep's points share them)."""
    params = _model_numbers(model, seq_len, recompute)[0]
    return {
        "state_bytes": params["total_with_mtp"] * sum(STATE_BYTES[precision][::2]),
        "per_gpu_hour": rel.interruptions_per_gpu_hour,
        "planned_per_day": rel.planned_interruptions_per_day,
        "write_gbps": rel.checkpoint_write_gbps_per_gpu,
        "host_gbps": pcie_gbps or np.nan,
        "is_async": float(rel.checkpoint == "async"),
        "interval_minutes": np.nan if rel.checkpoint_interval_minutes is None
        else rel.checkpoint_interval_minutes,
        "restart_minutes": rel.restart_minutes,
        "evaluation_share": rel.evaluation_share,
    }  # fmt: skip


def reliability_arrays(
    *, n_gpus: ArrayLike, state_bytes: ArrayLike, per_gpu_hour: ArrayLike,
    planned_per_day: ArrayLike, write_gbps: ArrayLike, host_gbps: ArrayLike,
    is_async: ArrayLike, interval_minutes: ArrayLike, restart_minutes: ArrayLike,
    evaluation_share: ArrayLike = 0.0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """:func:`run_reliability` on arrays (NaN ``interval_minutes`` = the Young/Daly optimum,
    NaN ``host_gbps`` = no host link known): ``ettr``, the shares lost to ``checkpointing``,
    ``lost_work``, ``restarts`` and ``evaluation`` (``evaluation_share`` of the time the
    interruptions leave), ``interruptions_per_hour``, ``interval_s`` and ``write_s``."""
    n, state = np.asarray(n_gpus, dtype=float), np.asarray(state_bytes, dtype=float)
    per_h = R.job_interruptions_per_hour(n, per_gpu_hour, planned_per_day)
    with np.errstate(divide="ignore"):
        mtbf = np.where(per_h > 0, 3600.0 / np.maximum(per_h, 1e-300), np.inf)
    write = R.checkpoint_write_s(state, n, write_gbps)
    host = np.asarray(host_gbps, dtype=float)
    is_async = np.asarray(is_async, dtype=float) > 0
    blocking = np.where(is_async & np.isfinite(host), state / n / (host * 1e9), write)
    given = np.asarray(interval_minutes, dtype=float) * 60.0
    optimal = np.where(np.isfinite(mtbf), R.optimal_checkpoint_interval_s(blocking, mtbf), np.inf)
    # the next checkpoint waits for the previous write
    interval = np.maximum(np.where(np.isfinite(given), given, optimal), write)
    parts = R.wasted_fractions(
        blocking, interval, mtbf, np.asarray(restart_minutes, dtype=float) * 60.0
    )
    never = ~np.isfinite(mtbf)  # no interruptions: nothing lost
    out = {k: np.where(never, 1.0 if k == "ettr" else 0.0, v) for k, v in parts.items()}
    evaluation = np.asarray(evaluation_share, dtype=float)
    out["evaluation"] = out["ettr"] * evaluation
    out["ettr"] = out["ettr"] * (1.0 - evaluation)
    shape = out["ettr"].shape
    out.update(
        interruptions_per_hour=np.broadcast_to(per_h, shape),
        interval_s=np.broadcast_to(interval, shape),
        write_s=np.broadcast_to(write, shape),
    )
    return out


def assumptions(sc: Scenario) -> list[str]:
    """Inputs that stand in for a missing measurement of this chip (said in the Result)."""
    out = []
    if sc.efficiency.mode == "derived":
        for prec in dict.fromkeys((sc.training.precision, "bf16")):
            if sc.hardware.mamf_fraction.get(prec) is None:
                out.append(
                    f"hardware.mamf_fraction.{prec}: not measured for {sc.hardware.name}; "
                    f"efficiency.gemm_eta_max.{prec}={sc.efficiency.gemm_eta_max.get(prec)} used"
                )
    return out


def simulate(cfg: Scenario | DictConfig | Mapping[str, Any]) -> Result:
    """Simulate one training scenario.

    Parameters
    ----------
    cfg : a :class:`simsim.Scenario`, a config from :func:`simsim.compose`, or a plain dict of
        the same shape (validated against the same schema; unknown keys are an error)

    Returns
    -------
    Result
        frozen dataclass; see DESIGN.md for the meaning of each field.

    Raises
    ------
    simsim.ConfigError
        when a field is invalid; the message names the field path and what is allowed.
    """
    return simulate_many([resolve(cfg)])[0]


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs (restored after, as it was). A batch of
    thousands of scenarios allocates hundreds of thousands of small acyclic objects (frozen
    sections, results), and CPython's collector would walk the whole heap again and again for
    them: a third to a half of a fixed-mode sweep's time. Reference counting frees them as
    usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def simulate_many(
    scenarios: Sequence[Scenario], top_n: int = 5, *, intervals: bool = True
) -> list[Result]:
    """Simulate validated scenarios (from :func:`simsim.resolve`) with one vectorised layout
    search per group of scenarios that share their discrete choices
    (:func:`simsim.engine.choose_layouts`); ``top_n - 1`` runners-up are kept per scenario.
    ``intervals=False`` leaves the interval fields empty (a sweep computes its own columns)."""
    with paused_gc():
        return _simulate_many(scenarios, top_n, intervals)


def _simulate_many(scenarios: Sequence[Scenario], top_n: int, intervals: bool) -> list[Result]:
    plans = [_plan(sc) for sc in scenarios]
    runs = [main for main, _ in plans]
    runs += [part for _, parts in plans for _, part in parts if isinstance(part, Scenario)]
    archs = [_arch(sc.model) for sc in runs]
    choices = choose_layouts(runs, archs, top_n)
    rels = run_reliability(runs)
    steady = [_steady(sc, c, r) for sc, c, r in zip(runs, choices, rels, strict=True)]
    billed = iter(_bills([(sc, st.hours) for sc, st in zip(runs, steady, strict=True)
                          if st.hours is not None]))  # fmt: skip
    results = iter(
        [_result(sc, c, r, st, None if st.hours is None else next(billed))
         for sc, c, r, st in zip(runs, choices, rels, steady, strict=True)]
    )  # fmt: skip
    mains = [next(results) for _ in plans]
    out = []
    for sc, main, (_, parts) in zip(scenarios, mains, plans, strict=True):
        done = [(name, next(results) if isinstance(p, Scenario) else p) for name, p in parts]
        whole = _whole_run(sc, main, done)
        out.append(_with_intervals(sc, whole) if intervals else whole)
    return out


def _with_intervals(sc: Scenario, r: Result) -> Result:
    """The result with the 80% intervals of its headline outputs from simsim's held-out errors
    (:mod:`simsim.intervals`, those of its efficiency mode: the derived model's or a constant
    MFU's) and from its uncertain inputs (:mod:`simsim.uncertainty`)."""
    if not r.feasible:
        return r
    point = {name: getattr(r, name) for name in (*RATE_OUTPUTS, *BILL_OUTPUTS)}
    r = replace_fields(r, {"intervals": intervals(point, sc.model.moe is not None,
                                                  sc.efficiency.mode)})  # fmt: skip
    ins = U.inputs_of(sc)
    if not ins or sc.uncertainty.samples == 0:
        return r
    perf = [u for u in ins if U.is_performance(u.path)]
    responses = _responses(sc, r, perf)
    lost = [f"uncertainty: {u.path} not propagated (no feasible run at either end of "
            f"[{u.low:g}, {u.high:g}] with the chosen layout)"
            for u in perf if u.path not in responses]  # fmt: skip
    if lost:
        r = replace_fields(r, {"assumptions": [*r.assumptions, *lost]})
    nominal = _reliability_inputs(sc)

    def ettr(values: Mapping[str, np.ndarray]) -> np.ndarray:
        cols: dict[str, Any] = dict(nominal)
        for path, v in values.items():
            cols[U.RELIABILITY_INPUTS[path]] = v
        return reliability_arrays(**cols)["ettr"]

    inputs_iv, combined_iv, shares = U.propagate(sc, r, responses, ettr)
    # each input as a plain mapping (dataclasses.asdict's deep copy: its fields are scalars)
    listed = [{f: getattr(u, f) for f in _INPUT_FIELDS} for u in ins]
    return replace_fields(
        r,
        {
            "uncertain_inputs": listed,
            "input_intervals": inputs_iv,
            "combined_intervals": combined_iv,
            "variance_share": shares,
        },
    )


_INPUT_FIELDS = tuple(f.name for f in dataclasses.fields(UncertainInput))


def _responses(sc: Scenario, r: Result, inputs: Sequence[UncertainInput]) -> dict[str, U.Response]:
    """How the main stage's GPU-hours and throughput move at the ends of each performance
    input's range: the main stage simulated at low and high with the chosen layout kept, steady
    state (goodput 1), in one batch."""
    if not inputs:
        return {}
    main = _plan(sc)[0]
    keep = ParallelConfig(**{k: r.layout[k] for k in LAYOUT_FIELDS})
    base = replace(main, parallel=keep, uncertainty=replace(sc.uncertainty, samples=0),
                   cluster=replace(main.cluster, goodput=1.0))  # fmt: skip
    variants = [base] + [U.with_value(base, u.path, x) for u in inputs for x in (u.low, u.high)]
    out = simulate_many(variants, top_n=1, intervals=False)
    nom, ends = out[0], iter(out[1:])
    responses = {}
    for u in inputs:
        lo, hi = next(ends), next(ends)
        x0 = U.value_at(sc, u.path)
        pts = [(x, res) for x, res in ((u.low, lo), (u.high, hi)) if res.feasible]
        if x0 is None or not nom.feasible or not pts:
            continue
        responses[u.path] = U.Response(
            xs=(x0, *(x for x, _ in pts)),
            log_hours=(0.0, *(U.log_ratio(res.gpu_hours, nom.gpu_hours) for _, res in pts)),
            log_rate=(0.0, *(U.log_ratio(res.tokens_per_s, nom.tokens_per_s) for _, res in pts)),
        )
    return responses


#: The batch ramp-up is integrated over this many equal slices of its tokens, each run at its
#: mean batch (midpoint rule; the throughput changes smoothly with the batch). Measured on
#: DeepSeek-V3's ramp: 4 slices give 101.9K GPU-hours against 102.6K with 64, 0.7% of the ramp
#: and 0.02% of the bill, for a sixteenth of the layout searches.
RAMP_SLICES = 4


def _plan(sc: Scenario) -> tuple[Scenario, list[tuple[str, Scenario | float]]]:
    """The main stage (after the batch ramp-up) and the other parts of the run: the ramp-up
    slices and the further stages, each a scenario to simulate or a given GPU-hour cost."""
    tr = sc.training
    if tr.batch_ramp is None and not tr.stages:  # one stage: the scenario itself
        return sc, []
    bare: dict[str, Any] = {"batch_ramp": None, "stages": ()}
    parts: list[tuple[str, Scenario | float]] = []
    main_tokens = tr.tokens
    if tr.batch_ramp is not None:
        ramp = tr.batch_ramp
        main_tokens -= ramp.ramp_tokens
        for i in range(RAMP_SLICES):
            batch = (
                ramp.start_batch_tokens
                + (tr.global_batch_tokens - ramp.start_batch_tokens) * (i + 0.5) / RAMP_SLICES
            )
            batch = max(round(batch / tr.seq_len), 1) * tr.seq_len
            training = replace(tr, tokens=ramp.ramp_tokens / RAMP_SLICES,
                               global_batch_tokens=float(batch), **bare)  # fmt: skip
            parts.append((f"batch ramp-up {i + 1}/{RAMP_SLICES}", replace(sc, training=training)))
    for stage in tr.stages:
        if stage.gpu_hours is not None:
            parts.append((stage.name, stage.gpu_hours))
            continue
        training = replace(
            tr,
            tokens=float(stage.tokens or 0.0),
            seq_len=stage.seq_len or tr.seq_len,
            global_batch_tokens=stage.global_batch_tokens or tr.global_batch_tokens,
            **bare,
        )
        # a stage searches its own layout (a longer context needs another one)
        parts.append((stage.name, replace(sc, training=training, parallel=ParallelConfig())))
    return replace(sc, training=replace(tr, tokens=main_tokens, **bare)), parts


_BILL = ("gpu_hours", "wall_clock_days", "energy_mwh", "cost_usd", "co2_tonnes")


def _stage_row(name: str, tokens: float, r: Result) -> dict[str, Any]:
    lay = r.layout
    return {
        "name": name,
        "tokens": tokens,
        "seq_len": r.seq_len,
        "feasible": r.feasible,
        **{k: getattr(r, k) for k in _BILL},
        "goodput": r.goodput,
        "step_time_s": r.step_time_s,
        "layout": ", ".join(f"{k}={lay[k]}" for k in ("tp", "pp", "dp", "ep", "cp")) if lay else "",
    }


def _whole_run(sc: Scenario, main: Result, done: list[tuple[str, Result | float]]) -> Result:
    """The main stage's Result with the bill of the whole run: GPU-hours, days, energy, money
    and CO2 summed over the main stage, the ramp-up slices and the further stages (each listed
    in ``stages``); the steady-state fields (MFU, tokens/s, step time, layout) stay the main
    stage's. An infeasible part makes the run infeasible, with its reason."""
    tr = sc.training
    full: dict[str, Any] = {
        "train_tokens": tr.tokens,
        "train_flops": main.flops_per_token * tr.tokens,
    }
    if not done:
        if main.train_tokens == tr.tokens:
            return main  # nothing to add (no ramp-up, no stages)
        return replace(main, **full)
    main_tokens = main.train_tokens
    rows = [_stage_row("main", main_tokens, main)]
    for name, part in done:
        if isinstance(part, Result):
            tokens = part.train_tokens
            rows.append(_stage_row(name, tokens, part))
        else:
            rows.append(_given_stage(sc, name, part))
    blocked = next((r for r in rows if not r["feasible"]), None)
    if blocked is not None:
        reason = main.infeasible_reason if blocked["name"] == "main" else (
            f"stage {blocked['name']!r} has no feasible layout"
            + next((f": {p.infeasible_reason}" for n, p in done
                    if n == blocked["name"] and isinstance(p, Result)), "")
        )  # fmt: skip
        nothing: dict[str, Any] = dict.fromkeys(_BILL)
        return replace(main, **full, **nothing, feasible=False,
                       infeasible_reason=reason, stages=rows)  # fmt: skip
    totals: dict[str, Any] = {k: float(sum(r[k] or 0.0 for r in rows)) for k in _BILL}
    if main.cost_usd is None:
        totals["cost_usd"] = None
    else:  # every cost component is proportional to the GPU-hours on one cluster
        scale = totals["cost_usd"] / main.cost_usd if main.cost_usd else 1.0
        totals["cost_breakdown_usd"] = {k: v * scale for k, v in main.cost_breakdown_usd.items()}
    simulated = [main, *(p for _, p in done if isinstance(p, Result))]
    lost = {k: sum(r.gpu_hours_lost.get(k, 0.0) for r in simulated) for k in main.gpu_hours_lost}
    interruptions = sum(r.interruptions_expected or 0.0 for r in simulated)
    return replace(main, **full, **totals, stages=rows, gpu_hours_lost=lost,
                   interruptions_expected=interruptions)  # fmt: skip


def _power_w(sc: Scenario) -> float:
    cl = sc.cluster
    return float(
        acc.power_per_gpu_w(sc.hardware.tdp_w, cl.gpu_power_fraction, cl.node_overhead_w_per_gpu)
    )


def _bill(sc: Scenario, hours: float) -> dict[str, Any]:
    """Days, energy, money (with its basis and breakdown) and CO2 of ``hours`` GPU-hours on the
    scenario's cluster."""
    return _bills([(sc, hours)])[0]


#: The basis of a cost that neither a rental price nor a purchase price gives.
_NO_PRICE = "unknown (no price_usd_per_hour or purchase_usd for this hardware)"


def _bills(runs: Sequence[tuple[Scenario, float]]) -> list[dict[str, Any]]:
    """:func:`_bill` of many (scenario, GPU-hours) pairs: the accounting evaluated once over
    all of them per cost model (``cluster.cost_model``), element by element as for one."""
    out: list[dict[str, Any]] = [{} for _ in runs]
    by_model: dict[str, list[int]] = {}
    for i, (sc, _) in enumerate(runs):
        by_model.setdefault(sc.cluster.cost_model, []).append(i)
    for cost_model, idx in by_model.items():
        scs = [runs[i][0] for i in idx]

        def col(get: Any, scs: list[Scenario] = scs) -> np.ndarray:
            return np.array([get(sc) for sc in scs], dtype=float)

        hours = np.array([runs[i][1] for i in idx], dtype=float)

        def field(path: str, col: Any = col) -> np.ndarray:  # NaN where null (no price)
            return col(lambda s: _or_nan(U.value_at(s, path)))

        b = acc.bill(cost_model, hours, col(lambda s: s.cluster.n_gpus), field)
        days, energy, parts, co2 = b["days"], b["energy"], b["parts"], b["co2"]
        for j, (i, sc) in enumerate(zip(idx, scs, strict=True)):
            breakdown: dict[str, float]
            if parts["use_rental"][j]:
                basis, breakdown = "rental", {"rental": float(parts["rental"][j])}
            elif sc.hardware.purchase_usd is None:
                basis, breakdown = _NO_PRICE, {}
            else:
                basis = "owned"
                breakdown = {k: float(parts[k][j]) for k in ("capital_amortised", "electricity")}
            out[i] = {
                "gpu_hours": float(hours[j]),
                "wall_clock_days": float(days[j]),
                "energy_mwh": float(energy[j]),
                "cost_usd": float(sum(breakdown.values())) if breakdown else None,
                "cost_basis": basis,
                "cost_breakdown_usd": breakdown,
                "co2_tonnes": float(co2[j]),
            }
    return out


def _given_stage(sc: Scenario, name: str, hours: float) -> dict[str, Any]:
    """A stage given by its published GPU-hours (e.g. post-training), billed on the scenario's
    cluster."""
    bill = _bill(sc, hours)
    return {
        "name": name, "tokens": 0.0, "seq_len": None, "feasible": True,
        **{k: bill[k] for k in _BILL}, "goodput": None, "step_time_s": None, "layout": "given",
    }  # fmt: skip


@lru_cache(maxsize=4096)
def _arch(model: ModelConfig) -> A.Arch:
    return arch_from_model(model)


@lru_cache(maxsize=4096)
def _model_numbers(
    model: ModelConfig, seq_len: int, recompute: str
) -> tuple[dict[str, float], dict[str, float], float]:
    """Parameter counts, model FLOPs per token by component (and ``total``) and the FLOPs
    recomputation adds, of a model at a sequence length (cached: a sweep asks for the same
    model many times)."""
    arch = _arch(model)
    params = {k: float(v) for k, v in A.param_counts(arch).items()}
    fpt = {k: float(v) for k, v in A.train_flops_per_token(arch, seq_len).items()}
    return params, fpt, float(A.recompute_flops_per_token(arch, seq_len, recompute))


class _Steady(NamedTuple):
    """A run's steady state and what it bills: ``hours`` is None where it is infeasible."""

    feasible: bool
    reason: str | None
    goodput: float
    hours: float | None
    perf: dict[str, Any]  # mfu, mfu_bf16_basis, achieved_tflops_per_gpu, tokens_per_s, step_time_s


def _steady(sc: Scenario, choice: LayoutChoice, rel: dict[str, float]) -> _Steady:
    """Throughput, MFU and GPU-hours of a run on its chosen layout (derived: from the step
    time; fixed: from the MFU), the goodput given or derived from ``rel``."""
    hw, tr, cl = sc.hardware, sc.training, sc.cluster
    fpt = _model_numbers(sc.model, tr.seq_len, tr.recompute)[1]["total"]
    reason = choice.reason
    goodput = rel["ettr"] if cl.goodput is None else cl.goodput
    feasible = choice.feasible
    if feasible and goodput <= 0:
        feasible = False  # the job cannot progress: interruptions cost more than they leave
        reason = (
            f"interruptions outpace training: {rel['interruptions_per_hour']:.3g} per hour on "
            f"{cl.n_gpus} GPUs leave no time to train (reliability.*; or give cluster.goodput)"
        )
    if not feasible:
        return _Steady(False, reason, goodput, None, {})
    peak = float(hw.peak_tflops.get(tr.precision) or 0.0) * 1e12
    bf16 = (hw.peak_tflops.bf16 or hw.peak_tflops.fp16 or 0.0) * 1e12
    n = cl.n_gpus
    step_tokens = choice.layout["global_batch_seqs"] * tr.seq_len
    if sc.efficiency.mode == "derived":
        tokens_per_s = step_tokens / choice.step_breakdown_s["step"]
        achieved = tokens_per_s * fpt / n
        mfu = achieved / peak
    else:
        mfu = _mfu(sc)
        achieved = mfu * peak
        tokens_per_s = n * achieved / fpt
    hours = float(acc.gpu_hours(fpt * tr.tokens, achieved, goodput))
    perf = {
        "mfu": mfu,
        "mfu_bf16_basis": achieved / bf16 if bf16 else None,
        "achieved_tflops_per_gpu": achieved / 1e12,
        "tokens_per_s": tokens_per_s,
        "step_time_s": step_tokens / tokens_per_s,
    }
    return _Steady(True, reason, goodput, hours, perf)


def _result(
    sc: Scenario,
    choice: LayoutChoice,
    rel: dict[str, float],
    st: _Steady,
    bill: dict[str, Any] | None,
) -> Result:
    """The :class:`Result` of a run from its steady state ``st`` and the ``bill`` of its
    GPU-hours (:func:`_bills`; None where it is infeasible)."""
    model, hw, tr, cl = sc.model, sc.hardware, sc.training, sc.cluster
    params, fpt, recompute = _model_numbers(model, tr.seq_len, tr.recompute)
    hw_fpt = fpt["total"] + recompute
    flops_per_token = fpt["total"]
    train_flops = flops_per_token * tr.tokens
    power = _power_w(sc)

    perf: dict[str, Any] = dict.fromkeys(
        (
            "mfu",
            "mfu_bf16_basis",
            "achieved_tflops_per_gpu",
            "tokens_per_s",
            "step_time_s",
            "gpu_hours",
            "wall_clock_days",
            "energy_mwh",
            "cost_usd",
            "cost_basis",
            "co2_tonnes",
            "goodput",
            "ettr",
            "interruptions_expected",
            "checkpoint_interval_s",
            "checkpoint_write_s",
        ),
    )
    perf["gpu_hours_lost"] = {}
    perf["cost_breakdown_usd"] = {}
    feasible, reason, goodput = st.feasible, st.reason, st.goodput
    if st.hours is not None and bill is not None:  # both None where it is infeasible
        hours = st.hours
        wall_h = bill["wall_clock_days"] * acc.HOURS_PER_DAY
        reliability = {
            "goodput": goodput,
            "ettr": rel["ettr"],
            "interruptions_expected": rel["interruptions_per_hour"] * wall_h,
            "checkpoint_interval_s": rel["interval_s"],
            "checkpoint_write_s": rel["write_s"],
            # GPU-hours of the run spent on each cause (shares of wall-clock x GPU-hours)
            "gpu_hours_lost": {
                k: rel[k] * hours
                for k in ("checkpointing", "lost_work", "restarts", "evaluation")
            } if cl.goodput is None else {},
        }  # fmt: skip
        perf.update(**st.perf, **bill, **reliability)
    components = {k: v / 1e9 for k, v in fpt.items() if k != "total"}
    return Result(
        model=model.name,
        hardware=hw.name,
        precision=tr.precision,
        n_gpus=cl.n_gpus,
        train_tokens=tr.tokens,
        seq_len=tr.seq_len,
        efficiency_mode=sc.efficiency.mode,
        software=sc.software.name,
        total_params=params["total"],
        active_params=params["active"],
        total_params_with_mtp=params["total_with_mtp"],
        flops_per_token=flops_per_token,
        hardware_flops_per_token=hw_fpt,
        train_flops=train_flops,
        flops_breakdown_gflop_per_token=components,
        feasible=feasible,
        layout=choice.layout,
        memory_gb_per_gpu=choice.memory_gb.get("total"),
        memory_breakdown_gb=choice.memory_gb,
        peak_tflops_per_gpu=float(hw.peak_tflops.get(tr.precision) or 0.0),
        power_per_gpu_w=power,
        infeasible_reason=reason,
        step_breakdown_s=choice.step_breakdown_s,
        alternative_layouts=choice.alternatives,
        layouts_rejected=choice.rejected,
        layouts_evaluated=choice.n_candidates,
        assumptions=assumptions(sc),
        **perf,
    )
