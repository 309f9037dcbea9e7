# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # simsim quickstart
#
# What does it cost to train DeepSeek-V3 as published, and the same model on other chips?
# This notebook is a jupytext "percent" script: open it in Jupyter with jupytext, or run it
# as plain Python (`python notebooks/quickstart.py`); the test suite executes it.

# %%
import pandas as pd

import simsim

cfg = simsim.compose(["experiment=deepseek_v3"])
res = simsim.simulate(cfg)
print(simsim.report.summary_table(res))

# %% [markdown]
# The step time is derived from each chip's FLOP/s, HBM and network bandwidth (the default
# `efficiency.mode=derived`), so the H800's cut NVLink and the H20's small FLOP/s both show.
# With `efficiency.mode=fixed` one MFU applies to every chip and an H800 is an H100.

# %%
rows = []
for hw, prec in [("h800_sxm", "fp8"), ("h100_sxm", "fp8"), ("h20", "fp8"), ("ascend_910b", "bf16")]:
    r = simsim.simulate(
        simsim.compose(["experiment=deepseek_v3", f"hardware={hw}", f"training.precision={prec}"])
    )
    rows.append(
        {
            "hardware": hw,
            "precision": prec,
            "feasible": r.feasible,
            "gpu_hours_M": None if r.gpu_hours is None else r.gpu_hours / 1e6,
            "mfu": r.mfu,
            "days": r.wall_clock_days,
            "energy_mwh": r.energy_mwh,
            "cost_musd": None if r.cost_usd is None else r.cost_usd / 1e6,
            "cost_basis": r.cost_basis,
            "memory_gb": r.memory_gb_per_gpu,
            "why_not": r.infeasible_reason,
        }
    )
table = pd.DataFrame(rows)
print(table.to_string(index=False))

# %%
assert table.loc[table.hardware == "h800_sxm", "feasible"].item()
