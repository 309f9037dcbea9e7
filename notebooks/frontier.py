# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # What a budget buys: the loss-versus-cost frontier
#
# `simsim.plan` turns a budget into the model of lowest predicted loss whose *simulated* cost
# fits it. This notebook walks through one plan, the laws behind it, how a frontier is built
# from one batch of simulations, and what the export rules cost.

# %%
import numpy as np

import simsim
from simsim import frontier as F
from simsim import planner as P
from simsim import scaling as S

# %% [markdown]
# ## 1. One plan: DeepSeek-V3's dollars on DeepSeek's fleet
#
# $5.576M is DeepSeek-V3's whole bill at $2 per H800-hour (its report, Table 1). The planner
# simulates every shape of its design space on 2,048 H800s, prices a token of each, and picks
# the shape whose loss is lowest when the whole budget is spent on tokens.

# %%
plan = simsim.plan(budget_usd=5.576e6, hardware="h800_sxm", n_gpus=2048)
print(f"{plan.kind}: {plan.n_params / 1e12:.2f}T total, {plan.n_active / 1e9:.0f}B active, "
      f"{plan.n_experts} experts, {plan.tokens / 1e12:.2f}T tokens")  # fmt: skip
print(f"loss {plan.loss:.3f} (80%: {plan.loss_p10:.3f}-{plan.loss_p90:.3f}), "
      f"{plan.gpu_hours / 1e6:.2f}M GPU-h, ${plan.cost_usd / 1e6:.2f}M, "
      f"{plan.wall_clock_days:.0f} days, MFU {plan.mfu:.2f}")  # fmt: skip
print("layout:", {k: plan.layout[k] for k in ("tp", "pp", "ep", "dp", "schedule")})
print("binding:", plan.binding, "| extrapolated:", plan.extrapolated)
for alt in plan.alternatives:
    print(f"  best {alt['kind']:<5} on {alt['hardware']}: loss {alt['loss']:.3f}")
assert plan.cost_usd <= 5.576e6 * (1 + 1e-9)

# %% [markdown]
# ## 2. The law, and how far it is stretched
#
# Ludziejewski et al. 2025 fit dense (E = 1) and top-1 MoE models with one formula, so dense and
# MoE losses compare. Their Table 1 gives compute-optimal sizes at 1e20-1e22 FLOPs; simsim's
# implementation reproduces them. The plan above is ~1e24 FLOPs and 50x beyond the largest
# model they trained: `plan.extrapolated` says so.

# %%
for flops in (1e20, 1e21, 1e22):
    row = []
    for e in (1, 8, 32):
        a = S.compute_optimal(flops, S.ludziejewski_law(e))
        row.append(f"E={e}: {a.n_params / 1e9:5.2f}B on {a.n_tokens / 1e9:6.1f}B tokens")
    print(f"{flops:.0e}  " + "  |  ".join(row))
print("fitted box:", S.LUDZIEJEWSKI_FITTED)

# %% [markdown]
# ## 3. A frontier is one batch of simulations
#
# Every cost is linear in tokens (the goodput does not depend on the run's length), so the
# designs are simulated once per chip and fleet; every budget is then an array operation.
# A small frontier (two chips, one fleet) to keep the notebook quick; `simsim experiment=frontier`
# draws the full one (six chips, three fleets, 1,000 budgets).

# %%
df = F.frontier(hardware=("h800_sxm", "h20"), fleets=(2048,))
usd = df[(df["unit"] == "usd") & df["chip_curve"]]
for (chip, kind), c in usd.groupby(["curve", "kind"]):
    at = c.iloc[[0, 500, 999]]
    print(f"{chip:<9} {kind:<5} " + "  ".join(
        f"${b / 1e6:7.2f}M -> {loss:.3f}" for b, loss in zip(at["budget"], at["loss"], strict=True)
    ))  # fmt: skip
    assert np.all(np.diff(c["loss"].to_numpy()) <= 1e-12)  # more money never buys a worse model

# %% [markdown]
# ## 4. What the 2023 rule costs
#
# With only these two chips, the October 2023 rule leaves the H20: the multiplier is the budget
# the H800 fleet needs for the loss the H20 fleet reaches (NaN where the 90-day cap binds).

# %%
mult = F.rule_multipliers(df)
gpu_h = mult[(mult["unit"] == "gpu_hours") & (mult["rule"] == "2023-10")]
print(gpu_h.groupby("kind")["multiplier"].describe()[["min", "50%", "max"]])
assert (gpu_h["multiplier"].dropna() >= 1 - 1e-9).all()

# %% [markdown]
# ## 5. The planner against Chinchilla
#
# When cost is proportional to FLOPs, the planner's dense optimum is the law's compute-optimal
# model: a check that the search and the law agree.

# %%
n = np.geomspace(1e9, 1e12, 350)
k = len(n)
ones = np.ones(k)
li = P.LawInputs(n, ones, ones, np.ones(k, bool), np.ones(k, bool), (1.0, 1e15), None)
costs = P.Costs(["x"] * k, np.ones(k, np.int64), np.arange(k), np.ones(k, bool), 6e-18 * n,
                6e-18 * n, ones * 1e-12, 6 * n, ones, ones, ["rental"] * k, [])  # fmt: skip
pick = P.best_under_budget("besiroglu2024", li, costs, np.array([5.76e5]), "gpu_hours")
opt = S.compute_optimal(5.76e23, "besiroglu2024")
print(f"planner {n[pick['index'][0]] / 1e9:.1f}B vs compute_optimal {opt.n_params / 1e9:.1f}B")
