# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # DeepSeek-V3: what would it have cost on H100, H20, Ascend?
#
# DeepSeek-V3 took 2.664M H800 GPU-hours of pre-training (tech report Table 1). Here simsim's
# derived (bandwidth-aware) mode re-runs it on other chips, with the best layout it finds for
# each, and shows where the step time goes.

# %%
import pandas as pd

import simsim
from simsim.export_report import scenario_for

rows = []
for hw in ["h800_sxm", "h100_sxm", "h20", "b200", "ascend_910b", "ascend_910c"]:
    r = simsim.simulate(scenario_for("deepseek_v3", hw))
    b = r.step_breakdown_s
    rows.append(
        {
            "hardware": hw,
            "precision": r.precision,
            "gpu_hours_M": r.gpu_hours / 1e6,
            "days_on_2048": r.wall_clock_days,
            "mwh": r.energy_mwh,
            "musd": None if r.cost_usd is None else r.cost_usd / 1e6,
            "compute_share": b["compute"] / b["step"],
            "layout": "tp{tp} pp{pp} ep{ep} {schedule}".format(**r.layout),
        }
    )
table = pd.DataFrame(rows)
print(table.to_string(index=False))

# %% [markdown]
# With DeepSeek's own layout (no tensor parallelism, DualPipe hiding the expert all-to-all),
# the H800's cut NVLink costs nothing: that is the design choice the export rule forced.

# %%
own = ["experiment=deepseek_v3", "efficiency.mode=derived"]
h800 = simsim.simulate(simsim.compose([*own, "hardware=h800_sxm"]))
h100 = simsim.simulate(simsim.compose([*own, "hardware=h100_sxm"]))
print(f"H800 {h800.gpu_hours / 1e6:.3f}M GPU-h vs H100 {h100.gpu_hours / 1e6:.3f}M GPU-h")
assert abs(h800.gpu_hours / h100.gpu_hours - 1) < 0.01
assert table.set_index("hardware").loc["h20", "gpu_hours_M"] > 3 * h100.gpu_hours / 1e6
