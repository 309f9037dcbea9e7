"""Parameter and FLOP accounting against published values.

Tolerances are those of the foundation issue; each test names the paper and table it checks.
Published parameter counts are rounded (to 1B, or 0.1B), which bounds how close a test can be.
"""

from __future__ import annotations

import numpy as np
import pytest

from simsim.physics import architecture as A

from .conftest import arch


def rel(x: float, ref: float) -> float:
    return abs(float(x) / ref - 1.0)


def gflop(model: str, seq: int = 4096, **kw) -> float:
    return float(A.train_flops_per_token(arch(f"model={model}"), seq, **kw)["total"]) / 1e9


# --- DeepSeek-V3 ------------------------------------------------------------------------------


def test_deepseek_v3_total_params_without_mtp():
    # DeepSeek-V3 tech report (arXiv:2412.19437) abstract: 671B total parameters.
    assert rel(A.param_counts(arch("model=deepseek_v3"))["total"], 671e9) < 0.015


def test_deepseek_v3_total_params_with_mtp():
    # Hugging Face deepseek-ai/DeepSeek-V3 model card: 685B including the 14B MTP module. The
    # checkpoint stores the MTP module's shared embedding and head again (2 x 0.93B); simsim
    # counts unique weights (682.6B), 0.35% below.
    assert rel(A.param_counts(arch("model=deepseek_v3"))["total_with_mtp"], 685e9) < 0.015


def test_deepseek_v3_active_params():
    # DeepSeek-V3 tech report abstract: 37B activated per token (simsim: 37.55B, embeddings in).
    assert rel(A.param_counts(arch("model=deepseek_v3"))["active"], 37e9) < 0.015


def test_deepseek_v3_flops_per_token_4k_causal_no_mtp():
    # ISCA'25 "Insights into DeepSeek-V3" (arXiv:2505.09343) Table 2: 250 GFLOP/token at 4K.
    assert rel(gflop("deepseek_v3", include_mtp=False), 250.0) < 0.02


def test_deepseek_v3_components_match_megatron_convention():
    # simsim/data/references.md note N4 (Megatron-LM num_floating_point_operations, derived):
    # MLP/MoE 145.1, attention linear 68.5, core 30.7, logits 5.6 GFLOP/token.
    f = A.train_flops_per_token(arch("model=deepseek_v3"), 4096, include_mtp=False)
    moe = f["dense_ffn"] + f["moe_routed"] + f["moe_shared"]
    assert rel(moe, 145.1e9) < 0.001
    assert rel(f["attn_linear"], 68.5e9) < 0.001
    assert rel(f["attn_core"], 30.7e9) < 0.002
    assert rel(f["lm_head"], 5.56e9) < 0.002


def test_deepseek_v3_mtp_adds_about_four_percent():
    # references.md note N4 [derived from Megatron-LM]: 260.0 GFLOP/token with MTP D=1 (+4.1%);
    # simsim also counts the router (+0.6 GF).
    assert rel(gflop("deepseek_v3"), 260.6) < 0.005


# --- DeepSeek-V2 ------------------------------------------------------------------------------


def test_deepseek_v2_params():
    # DeepSeek-V2 tech report (arXiv:2405.04434) abstract: 236B total, 21B activated. 21B is
    # rounded to the billion (±2.4%); simsim counts 21.38B with embeddings.
    p = A.param_counts(arch("model=deepseek_v2"))
    assert rel(p["total"], 236e9) < 0.01
    assert rel(p["active"], 21e9) < 0.025


def test_deepseek_v2_flops_per_token():
    # ISCA'25 Table 2: 155 GFLOP/token for DeepSeek-V2 at 4K.
    assert rel(gflop("deepseek_v2"), 155.0) < 0.02


# --- dense models -----------------------------------------------------------------------------


def test_llama3_405b_params_and_flops():
    # Llama 3 Herd (arXiv:2407.21783): 405B parameters; ISCA'25 Table 2: 2448 GFLOP/token at 4K.
    assert rel(A.param_counts(arch("model=llama3_405b"))["total"], 405e9) < 0.01
    assert rel(gflop("llama3_405b"), 2448.0) < 0.02


def test_mixtral_8x7b_params():
    # Mixtral of Experts (arXiv:2401.04088) §2: 47B total (Mistral's card: 46.7B), 13B active
    # (12.9B in the announcement).
    p = A.param_counts(arch("model=mixtral_8x7b"))
    assert rel(p["total"], 46.7e9) < 0.01
    assert rel(p["active"], 12.9e9) < 0.01


@pytest.mark.parametrize(
    ("model", "total_b"),
    [
        # DeepSeekMoE (arXiv:2401.06066) §5.1.2: 16.4B; DeepSeek-V2 App. B: V2-Lite 15.7B;
        # DeepSeek LLM 67B; Llama 2 70B (69B exact per HF); Qwen2-72B (72.7B); Mixtral 8x22B 141B.
        ("deepseek_moe_16b", 16.4),
        ("deepseek_v2_lite", 15.7),
        ("deepseek_67b", 67.4),
        ("llama3_70b", 70.6),
        ("llama3_8b", 8.03),
        ("qwen2_72b", 72.7),
        ("mixtral_8x22b", 141.0),
    ],
)
def test_other_presets_total_params(model: str, total_b: float):
    assert rel(A.param_counts(arch(f"model={model}"))["total"], total_b * 1e9) < 0.01


def test_narayanan_closed_form_for_gpt3():
    # Narayanan et al. 2021 (arXiv:2104.04473) eq. (3) without recompute, per token, for a GPT
    # with MHA, a 4h GELU MLP and non-causal attention: 72 l h^2 (1 + s/6h + V/12lh).
    a = arch("model=gpt3_175b")
    n_l, h, v, s = 96, 12288, 50257, 2048
    closed = 72 * n_l * h**2 * (1 + s / (6 * h) + v / (12 * n_l * h))
    ours = A.train_flops_per_token(a, s, causal=False)["total"]
    assert float(ours) == pytest.approx(closed, rel=1e-12)


def test_causal_halves_attention_core():
    a = arch("model=llama3_8b")
    causal = A.attention_core_flops(a, 8192, causal=True)
    full = A.attention_core_flops(a, 8192, causal=False)
    assert float(full) == pytest.approx(2 * float(causal))


def test_recompute_adds_hardware_flops_in_order():
    a = arch("model=llama3_70b")
    none, sel, full = (
        float(A.recompute_flops_per_token(a, 4096, p)) for p in ("none", "selective", "full")
    )
    fwd = A.forward_flops_per_token(a, 4096)
    assert none == 0.0
    assert sel == pytest.approx(float(fwd["attn_core"]))
    assert full == pytest.approx(float(sum(fwd.values()) - fwd["lm_head"]))


def test_vectorized_over_seq_len_and_width():
    base = arch("model=llama3_8b")
    seqs = np.array([1024, 4096, 8192, 32768])
    widths = np.array([2048, 4096])[:, None]
    wide = A.Arch(**{**base.__dict__, "d_model": widths, "head_dim": widths // 32})
    grid = A.train_flops_per_token(wide, seqs)["total"]
    assert grid.shape == (2, 4)
    for i, w in enumerate(widths[:, 0]):
        for j, s in enumerate(seqs):
            one = A.Arch(**{**base.__dict__, "d_model": int(w), "head_dim": int(w) // 32})
            assert grid[i, j] == pytest.approx(float(A.train_flops_per_token(one, int(s))["total"]))


def test_moe_with_one_expert_top1_equals_dense_twin():
    # A 1-expert, top-1 MoE whose expert is the dense FFN is the dense model plus a router.
    dense = arch("model=llama3_8b")
    moe = A.Arch(**{**dense.__dict__, "n_experts": 1, "top_k": 1, "d_ff_expert": dense.d_ff})
    pd, pm = A.param_counts(dense), A.param_counts(moe)
    assert float(pm["total"] - pd["total"]) == pytest.approx(32 * 4096)  # router h x 1 per layer
    assert float(pm["active"]) == pytest.approx(float(pm["total"]))
    fd = A.train_flops_per_token(dense, 4096)
    fm = A.train_flops_per_token(moe, 4096)
    assert float(fm["total"] - fm["router"]) == pytest.approx(float(fd["total"]), rel=1e-12)


def test_sliding_window_attention_counts_the_keys_each_query_sees():
    # a causal layer with window w attends min(p, w) keys at position p (less the diagonal, as
    # the full causal count s/2 is): the mean over p = 1..s, brute force; w >= s is full attention
    s = 4096
    full = arch("model=llama3_8b")
    for w in (128, 1000, 4095):
        windowed = arch("model=llama3_8b", f"model.sliding_window={w}")
        brute = np.mean(np.minimum(np.arange(1, s + 1), w)) - 0.5
        ratio = float(A.attention_core_flops(windowed, s) / A.attention_core_flops(full, s))
        assert ratio == pytest.approx(brute / (s / 2), rel=1e-12)
    at_s = arch("model=llama3_8b", "model.sliding_window=4096")
    assert float(A.attention_core_flops(at_s, s)) == float(A.attention_core_flops(full, s))
    # in half of the layers only: the average of the two counts
    half = arch("model=llama3_8b", "model.sliding_window=128", "model.sliding_window_layers=16")
    every = arch("model=llama3_8b", "model.sliding_window=128")
    expect = (A.attention_core_flops(every, s) + A.attention_core_flops(full, s)) / 2
    assert float(A.attention_core_flops(half, s)) == pytest.approx(float(expect), rel=1e-12)
    # the projections and every other count are unchanged
    for key in ("attn_linear", "moe_routed", "lm_head"):
        assert float(A.forward_flops_per_token(half, s)[key]) == float(
            A.forward_flops_per_token(full, s)[key]
        )
