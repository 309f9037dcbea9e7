"""The loss-versus-budget frontier of dense and MoE models on each chip and under each export
rule, and the counterfactual "DeepSeek-V3's budget on other fleets" (:mod:`simsim.planner`).

    simsim experiment=frontier          results/frontier/: frontier.csv, frontier.png/.svg
    simsim experiment=counterfactual    results/counterfactual/: counterfactual.csv

Every point of a frontier is the design of lowest predicted loss whose simulated cost fits that
budget (the design space, fleets and the wall-clock cap below); one batch of simulations per
chip serves every budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import planner as P
from . import scaling as S
from .output import write_csv
from .physics.architecture import param_counts
from .plots import format_log_axis, save_figure, styled, subplots
from .report import format_frame
from .scenario import arch_from_model, compose, resolve
from .schema import Scenario
from .validation import load_reference

#: Budgets of the frontier: 1,000 points, log-spaced. Dollars from a $100K ablation to $300M
#: (beyond Llama 3 405B's ~$74M at $2.40/h); GPU-hours over the same span at ~$2/h.
BUDGETS_USD = (1e5, 3e8)
BUDGETS_GPU_HOURS = (5e4, 1.5e8)
POINTS = 1000
#: Fleets a frontier run may use, and its wall-clock cap [days]. Assumption: the cap covers the
#: pre-training of both anchors: DeepSeek-V3 2,664K GPU-h on 2,048 H800 = 54 days (its report,
#: Table 1); Llama 3.1 405B 30.84M GPU-h on 16,384 H100 = 78 days (its model card).
FLEETS = (1024, 4096, 16384)
#: Expert counts of the frontier's MoE designs: the joint law's loss falls with E up to its
#: E_max = 290, so the largest fitted count (32) wins at every budget; 8 and 16 show the trend.
EXPERTS = (8, 16, 32)
DAYS = 90.0
#: The export rules of simsim.export_control, and "none" (every chip).
RULE_CHOICES: tuple[str | None, ...] = (None, "2022-10", "2023-10")
#: Published runs marked on the frontier (reference-set ids, simsim/data/published_runs.yaml):
#: their model, chip, tokens and GPU-hours are the reference row's. An MoE enters the law with
#: E = routed experts / active routed experts (DeepSeek-V3: 256 / 8 = 32 top-k-sized groups;
#: granularity and the shared expert ignored).
ANCHORS = ("dsv3-total", "llama31-405b")


def reference_run(run_id: str) -> tuple[Scenario, float, str]:
    """A reference-set row's scenario (main pre-training stage), published GPU-hours, source."""
    row = next(r for r in load_reference() if r["id"] == run_id)
    hours = next(m["value"] for m in row["metrics"] if m["metric"] == "gpu_hours")
    return resolve(compose(list(row["scenario"]))), float(hours), str(row["source"])


def _budgets(unit: str) -> np.ndarray:
    lo, hi = BUDGETS_USD if unit == "usd" else BUDGETS_GPU_HOURS
    return np.geomspace(lo, hi, POINTS)


def frontier(
    hardware: tuple[str, ...] = P.CHIPS,
    law: str = "ludziejewski2025",
    fleets: tuple[int, ...] = FLEETS,
    days: float | None = DAYS,
) -> pd.DataFrame:
    """The frontier table: per chip (and per export rule's best chip), per kind (dense, MoE),
    per unit (usd, gpu_hours), per budget: the best design, its loss and 80% band, what binds."""
    ds = P.designs(law, "both", P.default_vocab(()), experts=EXPERTS)
    costs = P.simulate_costs(ds, hardware, fleets)
    li = P.law_inputs(law, ds, costs.results[: len(ds)])
    kinds = np.array([ds[i].kind for i in costs.design])
    rows: list[pd.DataFrame] = []
    for unit in ("usd", "gpu_hours"):
        budgets = _budgets(unit)
        for kind in ("dense", "moe"):
            for hw in hardware:
                keep = (kinds == kind) & (np.array(costs.hardware) == hw)
                sub = P.subset(costs, keep)
                rows.append(_curve(law, li, sub, budgets, unit, days, hw, kind, chip_curve=True))
            for rule in RULE_CHOICES:
                keep = (kinds == kind) & np.isin(costs.hardware, P.allowed_chips(rule, hardware))
                sub = P.subset(costs, keep)
                label = _rule_curve(rule)
                rows.append(
                    _curve(law, li, sub, budgets, unit, days, label, kind, chip_curve=False)
                )
    return pd.concat(rows, ignore_index=True)


def _curve(
    law: str,
    li: P.LawInputs,
    sub: P.Costs,
    budgets: np.ndarray,
    unit: str,
    days: float | None,
    label: str,
    kind: str,
    *,
    chip_curve: bool,
) -> pd.DataFrame:
    """One curve of the frontier table: the best of the candidates ``sub`` at each budget."""
    pick = P.best_under_budget(law, li, sub, budgets, unit, days)
    idx = pick["index"]
    ok = idx >= 0
    j = np.where(ok, idx, 0)
    design = sub.design[j]
    tokens = pick["tokens"]
    lo, hi = li.tokens_range
    in_box = li.n_in_range[design] & (tokens >= lo) & (tokens <= hi)
    spent_h = sub.gpu_hours[j] * tokens
    total = np.array([r.total_params for r in sub.results])
    active = np.array([r.active_params for r in sub.results])

    def label_of(names: list[str]) -> list[str | None]:
        return [names[k] if o else None for k, o in zip(j, ok, strict=True)]

    return pd.DataFrame(
        {
            "curve": label,
            "kind": kind,
            "unit": unit,
            "budget": budgets,
            "hardware": label_of(sub.hardware),
            "n_gpus": np.where(ok, sub.n_gpus[j], 0),
            "n_params": np.where(ok, total[j], np.nan),
            "n_active": np.where(ok, active[j], np.nan),
            "n_experts": np.where(ok, li.experts[design], np.nan),
            "tokens": tokens,
            "loss": pick["loss"],
            "loss_p10": pick["loss_p10"],
            "loss_p90": pick["loss_p90"],
            "gpu_hours": np.where(ok, spent_h, np.nan),
            "cost_usd": np.where(ok, sub.usd[j] * tokens, np.nan),
            "cost_basis": label_of(sub.basis),
            "days": np.where(ok, sub.days[j] * tokens, np.nan),
            "binding": [
                _binding(w, m, o)
                for w, m, o in zip(pick["wall_clock"], pick["memory"], ok, strict=True)
            ],
            "extrapolated": ~in_box & ok,
            "chip_curve": chip_curve,
        }
    )


def _binding(wall: bool, memory: bool, ok: bool) -> str:
    if not ok:
        return "infeasible"
    return "+".join(["wall-clock" if wall else "budget", *(["memory"] if memory else [])])


def anchors(df: pd.DataFrame, law: str = "ludziejewski2025") -> pd.DataFrame:
    """Where DeepSeek-V3 and Llama 3.1 405B sit: their published GPU-hours and their loss under
    ``law``, against their chip's frontier at the same GPU-hours."""
    if law != "ludziejewski2025":
        raise ValueError("anchors are placed under ludziejewski2025 only")
    rows = []
    for run_id in ANCHORS:
        sc, hours, source = reference_run(run_id)
        moe, chip, tokens = sc.model.moe, sc.hardware.name, sc.training.tokens
        experts = moe.n_experts // moe.top_k if moe else 1
        n_act = float(param_counts(arch_from_model(sc.model))["active"])
        loss = float(S.ludziejewski_loss(n_act, tokens, experts))
        curve = df[(df["curve"] == chip) & (df["unit"] == "gpu_hours")]
        at = {  # the chip's frontier at the run's GPU-hours (NaN without a curve of that chip)
            kind: float(np.interp(np.log(hours), np.log(c["budget"]), c["loss"]))
            if len(c := curve[curve["kind"] == kind])
            else float("nan")
            for kind in ("dense", "moe")
        }
        out = {
            "run": run_id,
            "hardware": chip,
            "gpu_hours": hours,
            "n_active": n_act,
            "n_experts": experts,
            "tokens": tokens,
            "loss": loss,
            "source": source,
            "frontier_dense_loss": at["dense"],
            "frontier_moe_loss": at["moe"],
            "above_best_frontier": loss - float(np.fmin(at["dense"], at["moe"])),
        }
        rows.append(out)
    return pd.DataFrame(rows)


def rule_multipliers(df: pd.DataFrame) -> pd.DataFrame:
    """What each export rule costs: for every budget (dollars on each chip's basis, and
    GPU-hours) and kind, the loss the best allowed chip reaches and the budget the best chip
    without a rule needs for it (``multiplier`` = budget / that budget; 1 = the rule costs
    nothing). NaN where the wall-clock cap, not the budget, binds the rule's run: there the
    frontier is flat and a budget ratio means nothing."""
    rows = []
    for (unit, kind), both in df[~df["chip_curve"]].groupby(["unit", "kind"], sort=False):
        free = both[both["curve"] == _rule_curve(None)]
        # where the free frontier still improves, strictly: loss -> budget is then a function
        keep = np.r_[True, np.diff(free["loss"].to_numpy()) < 0]
        f_loss, f_budget = free["loss"].to_numpy()[keep], free["budget"].to_numpy()[keep]
        for rule in RULE_CHOICES[1:]:
            c = both[both["curve"] == _rule_curve(rule)]
            need = np.exp(np.interp(-c["loss"], -f_loss, np.log(f_budget)))
            mult = np.where(c["binding"].str.startswith("budget"), c["budget"] / need, np.nan)
            rows.append(pd.DataFrame({"unit": unit, "rule": rule, "kind": kind,
                                      "budget": c["budget"], "loss": c["loss"],
                                      "budget_without_rule": need,
                                      "multiplier": mult}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _rule_curve(rule: str | None) -> str:
    return f"best allowed under {rule or 'no rule'}"


@styled
def plot_frontier(df: pd.DataFrame, marks: pd.DataFrame, stem: Path) -> list[Path]:
    """Four panels: loss vs dollars per chip (MoE solid, dense dashed); loss vs GPU-hours per
    chip with the published runs marked; the best chip each export rule allows, with 80% bands
    (the cost model's held-out error and the law's fit error); what each rule costs in budget."""
    fig, axes = subplots(2, 2, figsize=(12, 9), layout="constrained")
    (a_usd, a_hours), (a_rule, a_mult) = axes
    colors = {hw: f"C{i}" for i, hw in enumerate(dict.fromkeys(df.loc[df["chip_curve"], "curve"]))}
    for ax, unit in ((a_usd, "usd"), (a_hours, "gpu_hours")):
        chip = df[df["chip_curve"] & (df["unit"] == unit)]
        for (hw, kind), c in chip.groupby(["curve", "kind"], sort=False):
            basis = c["cost_basis"].dropna()
            label = f"{hw} {kind}" + (f" ({basis.iloc[0]})" if unit == "usd" and len(basis) else "")
            ls = "-" if kind == "moe" else "--"
            ax.plot(c["budget"], c["loss"], color=colors[hw], ls=ls, lw=1.2, label=label)
        xlabel = "budget [USD, each chip's basis]" if unit == "usd" else "budget [GPU-hours]"
        ax.set(xscale="log", xlabel=xlabel, ylabel="predicted loss [nats/token]")
    for _, m in marks.iterrows():
        color = colors.get(m["hardware"], "k")
        a_hours.scatter([m["gpu_hours"]], [m["loss"]], color=color, marker="*", s=110, zorder=5)
        a_hours.annotate(f"{m['run']} (as trained)", (m["gpu_hours"], m["loss"]), xytext=(5, 5),
                         textcoords="offset points", fontsize=7)  # fmt: skip
    rule_colors = {_rule_curve(r): f"C{i}" for i, r in enumerate(RULE_CHOICES)}
    rule = df[~df["chip_curve"] & (df["unit"] == "usd")]
    for (curve, kind), c in rule.groupby(["curve", "kind"], sort=False):
        color, ls = rule_colors[curve], "-" if kind == "moe" else "--"
        a_rule.plot(c["budget"], c["loss"], color=color, ls=ls, lw=1.2, label=f"{curve}, {kind}")
        a_rule.fill_between(c["budget"], c["loss_p10"], c["loss_p90"], color=color, alpha=0.12,
                            lw=0)  # fmt: skip
    a_rule.set(xscale="log", xlabel="budget [USD, each chip's basis]",
               ylabel="predicted loss [nats/token] (80% band)")  # fmt: skip
    mult = rule_multipliers(df)
    for (unit, r, kind), c in mult.groupby(["unit", "rule", "kind"], sort=False):
        ls = "-" if kind == "moe" else "--"
        what = "USD" if unit == "usd" else "GPU-hours"
        a_mult.plot(c["loss"], c["multiplier"], color=rule_colors[_rule_curve(r)], ls=ls,
                    lw=1.2 if unit == "usd" else 2.2, alpha=1.0 if unit == "usd" else 0.45,
                    label=f"rule {r}, {kind}, {what}")  # fmt: skip
    a_mult.axhline(1.0, color="0.5", lw=0.8)
    a_mult.invert_xaxis()
    a_mult.set(xlabel="predicted loss reached under the rule [nats/token]",
               ylabel="budget / budget without the rule, same loss")  # fmt: skip
    for ax in (a_usd, a_hours, a_rule):
        format_log_axis(ax.xaxis)
    for ax in (a_usd, a_hours, a_rule, a_mult):
        ax.legend(fontsize=6, ncols=2 if ax in (a_usd, a_hours) else 1)
    extrap = 100 * df["extrapolated"].mean()
    fig.suptitle(
        "What a budget buys: lowest predicted loss (Ludziejewski et al. 2025) whose simulated "
        f"cost fits; fleets of 1K-16K GPUs, <= {DAYS:g} days\n{extrap:.0f}% of the points lie "
        "outside the law's fitted range (N_act <= 2.7B, D <= 80B tokens): read them as "
        "extrapolations",
        fontsize=9,
    )
    return save_figure(fig, stem)


#: The CSV tables keep every this-many-th budget (100 of the 1,000; the figure draws all):
#: :func:`frontier` returns the whole table.
CSV_EVERY = 10


def _thinned(df: pd.DataFrame) -> pd.DataFrame:
    """Every :data:`CSV_EVERY`-th budget of each unit's grid."""
    parts = [c[np.isin(c["budget"], np.unique(c["budget"])[::CSV_EVERY])]
             for _, c in df.groupby("unit", sort=False)]  # fmt: skip
    return pd.concat(parts)


def write_frontier(df: pd.DataFrame, marks: pd.DataFrame, out: Path) -> list[Path]:
    return [
        write_csv(_thinned(rule_multipliers(df)), out / "rule_multipliers.csv"),
        write_csv(_thinned(df), out / "frontier.csv"),
        write_csv(marks, out / "frontier_anchors.csv"),
        *plot_frontier(df, marks, out / "frontier"),
    ]


#: Table formats of a design and its loss band.
DESIGN_FORMATS = {
    "n_params": "{:.3g}",
    "n_active": "{:.3g}",
    "tokens": "{:.3g}",
    "loss": "{:.3f}",
    "loss_p10": "{:.3f}",
    "loss_p90": "{:.3f}",
}


def format_frontier(df: pd.DataFrame) -> str:
    """A few budgets of the USD frontier, per chip and rule: the best design and its loss."""
    show = df[df["unit"] == "usd"]
    marks = np.geomspace(BUDGETS_USD[0], BUDGETS_USD[1], POINTS)[[0, 333, 666, 999]]
    near = show[np.isin(show["budget"], marks)]
    formats = {"budget": "${:,.0f}", **DESIGN_FORMATS, "days": "{:.0f}"}
    return format_frame(
        near, formats, ["curve", "kind", *formats, "n_gpus", "binding", "extrapolated"]
    )


def format_rule_multipliers(df: pd.DataFrame) -> str:
    """The export rules' cost at four budgets: the budget without the rule for the same loss."""
    mult = rule_multipliers(df)
    mult = mult[mult["unit"] == "usd"]
    marks = np.geomspace(BUDGETS_USD[0], BUDGETS_USD[1], POINTS)[[0, 333, 666, 999]]
    near = mult[np.isin(mult["budget"], marks)]
    formats = {"budget": "${:,.0f}", "loss": "{:.3f}", "budget_without_rule": "${:,.0f}",
               "multiplier": "{:.2f}x"}  # fmt: skip
    return format_frame(near, formats, ["rule", "kind", *formats])


# --- counterfactual ------------------------------------------------------------------------------

#: The fleets DeepSeek-V3's bill is replayed on, as issue 15 poses the question: DeepSeek's own
#: 2,048 H800 (its report §3.1), 2,048 H100, 10,000 H20, 2,048 Ascend 910C.
COUNTERFACTUAL_FLEETS = (
    ("h800_sxm", 2048),
    ("h100_sxm", 2048),
    ("h20", 10000),
    ("ascend_910c", 2048),
)


def counterfactual_budget() -> float:
    """DeepSeek-V3's whole bill in dollars: its published GPU-hours (reference row
    ``dsv3-total``) at the H800 preset's rental price (the report's $2 per GPU-hour)."""
    sc, hours, _ = reference_run("dsv3-total")
    assert sc.hardware.price_usd_per_hour is not None  # the h800_sxm preset has one
    return hours * sc.hardware.price_usd_per_hour


def counterfactual(law: str = "ludziejewski2025") -> pd.DataFrame:
    """The best dense and MoE model DeepSeek-V3's budget buys on each fleet; its predicted loss
    against the same budget on DeepSeek's own 2,048 H800s, and the budget those H800s would
    need for the same loss (``h800_equivalent_usd``: what the fleet's dollars are worth)."""
    budget = counterfactual_budget()
    rows = []
    for hw, n in COUNTERFACTUAL_FLEETS:
        for kind in ("dense", "moe"):
            p = P.plan(budget_usd=budget, hardware=hw, n_gpus=n, kind=kind, law=law)
            rows.append(_plan_row(p))
    df = pd.DataFrame(rows)
    base_hw, base_n = COUNTERFACTUAL_FLEETS[0]
    base = df[df["hardware"] == base_hw].set_index("kind")["loss"]
    df["loss_vs_h800"] = df["loss"] - df["kind"].map(base)
    # the budget DeepSeek's own fleet needs for each loss: its frontier, simulated once
    ds = P.designs(law, "both", P.default_vocab(()))
    costs = P.simulate_costs(ds, [base_hw], [base_n])
    li = P.law_inputs(law, ds, costs.results)
    budgets = budget * np.geomspace(0.02, 50.0, 400)
    for kind in ("dense", "moe"):
        sub = P.subset(costs, np.array([d.kind == kind for d in ds]))
        curve = P.best_under_budget(law, li, sub, budgets, "usd")["loss"]
        mine = df["kind"] == kind
        # the loss falls with the budget: interpolate log(budget) against the reversed curve
        need = np.interp(-df.loc[mine, "loss"], -curve, np.log(budgets))
        df.loc[mine, "h800_equivalent_usd"] = np.exp(need)
    return df


def _plan_row(p: P.Plan) -> dict[str, Any]:
    return {
        "hardware": p.hardware,
        "n_gpus": p.n_gpus,
        "kind": p.kind,
        "n_params": p.n_params,
        "n_active": p.n_active,
        "n_experts": p.n_experts,
        "tokens": p.tokens,
        "loss": p.loss,
        "loss_p10": p.loss_p10,
        "loss_p90": p.loss_p90,
        "gpu_hours": p.gpu_hours,
        "cost_usd": p.cost_usd,
        "cost_basis": p.cost_basis,
        "days": p.wall_clock_days,
        "mfu": p.mfu,
        "binding": "+".join(p.binding),
        "extrapolated": p.extrapolated,
    }


def format_counterfactual(df: pd.DataFrame) -> str:
    formats = {
        **DESIGN_FORMATS,
        "loss_vs_h800": "{:+.3f}",
        "h800_equivalent_usd": "${:,.0f}",
        "gpu_hours": "{:,.0f}",
        "days": "{:.0f}",
        "mfu": "{:.2f}",
    }
    return format_frame(
        df, formats, ["hardware", "n_gpus", "kind", *formats, "cost_basis", "binding"]
    )
