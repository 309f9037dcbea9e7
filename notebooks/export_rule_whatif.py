# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Export-rule what-if
#
# Classify the chips under the 2022 and 2023 rules, build the fastest compliant H100 under
# each, and price a rule with a different TPP line.

# %%
import pandas as pd

from simsim import export_control as X
from simsim.export_report import equivalent_gpus, tpp_sweep

print(
    pd.DataFrame(X.classification_table())[
        ["hardware", "tpp", "io_gbps", "rule_2022-10", "rule_2023-10"]
    ]
)

# %%
for rule in X.RULES:
    v = X.compliant_variant("h100_sxm", rule)
    print(rule, v["cut"], "->", v["classification"].reason)

# %%
sweep = tpp_sweep("llama3_70b", thresholds=[1600, 2400, 4800, 9600, 16000])
print(sweep[["tpp_threshold", "compute_fraction", "gpu_hours", "days", "status_2023"]])
eq = equivalent_gpus("llama3_70b", "h20", n_reference=256)
print(f"{eq['n_gpus']} H20 match 256 H100 on Llama 3 70B ({eq['ratio']:.1f}x)")
assert sweep["gpu_hours"].is_monotonic_decreasing
