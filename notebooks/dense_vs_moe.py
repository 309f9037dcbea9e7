# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Dense versus MoE at equal quality
#
# What dense model is as good as DeepSeek-V3, under each published approach, and what would it
# cost to train on the same H800s?

# %%
import simsim
from simsim import scaling
from simsim.scaling_report import dense_vs_moe, format_dense_vs_moe

cfg = simsim.compose(["experiment=deepseek_v3"])
for method in scaling.METHODS:
    for framing in ("same_data", "compute_optimal"):
        d = scaling.dense_equivalent(cfg, method=method, framing=framing)
        flag = " (extrapolated)" if d.extrapolated else ""
        print(
            f"{method:<13} {framing:<16} {d.n_params / 1e9:7.1f}B params "
            f"{d.n_tokens / 1e12:6.1f}T tokens {d.train_flops:.2e} FLOPs{flag}"
        )

# %%
df = dense_vs_moe(["experiment=deepseek_v3"], ["h800_sxm"])
print(format_dense_vs_moe(df))
assert (df["moe_saving_gpu_hours_pct"].iloc[1:] > 0).all()

# %% [markdown]
# The compute-optimal dense model for a budget, under the Epoch refit and as Hoffmann et al.
# published it:

# %%
for law in scaling.LAWS:
    a = scaling.compute_optimal(scaling.budget_flops(gpu_hours=2.664e6, hardware="h800_sxm"), law)
    n_b, d_t = a.n_params / 1e9, a.n_tokens / 1e12
    print(f"{law}: {n_b:.0f}B params on {d_t:.1f}T tokens, loss {a.loss:.3f}")
