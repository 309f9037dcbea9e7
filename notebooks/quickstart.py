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

# %% [markdown]
# ## The software stack matters as much as the chip
#
# The same Llama 3 405B step on 1024 H800s (TP8, PP16, interleaved) under three software stacks
# (`configs/software/`): Megatron-LM as MegaScale measured it (nothing overlapped), MegaScale
# (TP, PP and DP traffic overlapped, faster kernels) and the default stack. Each row says where
# the step goes.

# %%
common = ["model=llama3_405b", "hardware=h800_sxm", "cluster.n_gpus=1024",
          "training.global_batch_tokens=4194304", "parallel.tp=8", "parallel.pp=16",
          "parallel.schedule=interleaved"]  # fmt: skip
stacks = []
for software in ("megatron_lm", "megascale", "default"):
    r = simsim.simulate(simsim.compose([*common, f"software={software}"]))
    parts = {f"{k}_s": v for k, v in r.step_breakdown_s.items() if k != "step"}
    stacks.append({"software": software, "mfu": r.mfu, "step_s": r.step_time_s, **parts})
stacks_table = pd.DataFrame(stacks).set_index("software")
print(stacks_table.round(3).to_string())

# %%
# overlapping the TP traffic removes it from the step; MegaScale is the fastest of the three
assert stacks_table.loc["megascale", "tp_s"] == 0 < stacks_table.loc["megatron_lm", "tp_s"]
assert stacks_table["step_s"].idxmin() == "megascale"

# %% [markdown]
# ## How sure is the number?
#
# Every headline carries an 80% interval from two sources: simsim's own held-out errors on
# published runs (`res.intervals`) and the inputs known only within a range, each with its
# source (`res.uncertain_inputs`: Ascend's quoted peaks, rental prices, fleet failure rates,
# PUE), propagated by seeded Latin-hypercube draws (`res.input_intervals`). `combined_intervals`
# joins them; `variance_share` says which input (or the model error) drives the spread.

# %%
# DeepSeek-V3 on 2048 Ascend 910B (BF16, layout searched: the published one does not fit)
asc = simsim.simulate(simsim.compose(["model=deepseek_v3", "hardware=ascend_910b"]))
bands = pd.DataFrame(
    {
        src: {p: iv.get(f"gpu_hours_p{p}", float("nan")) / 1e6 for p in (10, 50, 90)}
        for src, iv in (
            ("model error", asc.intervals),
            ("inputs", asc.input_intervals),
            ("combined", asc.combined_intervals),
        )
    }
).T.add_prefix("P")
print(f"Ascend 910B: {asc.gpu_hours / 1e6:.2f}M GPU-hours at the preset's 376 TFLOP/s (millions):")
print(bands.round(2).to_string())
print(pd.Series(asc.variance_share["gpu_hours"]).round(3).to_string())

# %%
# the quoted BF16 peak (256-376 TFLOP/s) is a driver of the spread, and the preset's 376 is the
# optimistic end: the inputs' P50 needs more GPU-hours than the point
assert asc.variance_share["gpu_hours"]["hardware.peak_tflops.bf16"] > 0.1
assert asc.input_intervals["gpu_hours_p50"] > asc.gpu_hours
