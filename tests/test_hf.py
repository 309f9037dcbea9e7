"""Models read from Hugging Face config.json files match the hand-written presets exactly.

The config.json files under tests/data/hf/ were written for these tests from the values the
model publishers released (each file names its source)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import simsim
from simsim import ConfigError
from simsim.hf import model_fields_from_hf
from simsim.physics import architecture as A
from simsim.scenario import arch_from_model

from .conftest import arch, matches_published, scenario

HF = Path(__file__).parent / "data" / "hf"
ARCH_FIELDS = (
    "n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "ffn_act",
    "vocab_size", "tie_embeddings", "attention", "mla", "moe", "mtp_depth",
)  # fmt: skip


@pytest.mark.parametrize(
    "name", ["llama3_8b", "mixtral_8x7b", "qwen2_72b", "deepseek_v3", "deepseek_v2_lite"]
)
def test_hf_config_matches_preset(name: str):
    path = HF / name / "config.json"
    from_hf = scenario("model=hf", f"model.path={path}").model
    preset = scenario(f"model={name}").model
    a_hf, a_preset = arch("model=hf", f"model.path={path}"), arch(f"model={name}")
    for key in ("total", "active", "total_with_mtp"):
        assert float(A.param_counts(a_hf)[key]) == float(A.param_counts(a_preset)[key]), key
    f_hf = A.train_flops_per_token(a_hf, 4096)["total"]
    assert float(f_hf) == float(A.train_flops_per_token(a_preset, 4096)["total"])
    assert from_hf.name == name  # the folder name
    assert str(path.resolve()) in from_hf.source
    # the node-limited routing of V3 comes from topk_group; V2's groups are devices, not nodes
    if name == "deepseek_v3":
        assert from_hf.moe is not None and from_hf.moe.max_nodes_per_token == 4
    for key in ("n_layers", "d_model", "vocab_size", "attention"):
        assert getattr(from_hf, key) == getattr(preset, key)


def test_hf_end_to_end_simulation():
    r = simsim.simulate(
        simsim.compose(
            ["model=hf", f"model.path={HF / 'llama3_8b' / 'config.json'}", "hardware=h100_sxm"]
        )
    )
    ref = simsim.simulate(simsim.compose(["model=llama3_8b", "hardware=h100_sxm"]))
    assert r.gpu_hours == ref.gpu_hours
    assert r.model == "llama3_8b"


def test_hf_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"model.path=.*no such file"):
        simsim.simulate(simsim.compose(["model=hf", f"model.path={tmp_path / 'nope.json'}"]))


def test_hf_missing_key(tmp_path: Path):
    p = tmp_path / "config.json"
    p.write_text(
        json.dumps(
            {"model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10}
        )
    )
    with pytest.raises(ConfigError, match=r"num_hidden_layers"):
        simsim.simulate(simsim.compose(["model=hf", f"model.path={p}"]))


def test_hf_without_path_names_the_field():
    with pytest.raises(ConfigError, match=r"model\.\w+: missing value"):
        simsim.simulate(simsim.compose(["model=hf"]))


_LLAMA = {
    "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    "vocab_size": 128256,
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_size": "abc"}, "hidden_size must be a whole number, got 'abc'"),
        ({"hidden_size": None}, "hidden_size is missing"),
        ({"hidden_size": float("nan")}, "hidden_size must be a whole number, got nan"),
        ({"hidden_size": 4096.7}, "hidden_size must be a whole number, got 4096.7"),
        ({"hidden_size": True}, "hidden_size must be a whole number, got True"),
        ({"num_hidden_layers": -2}, "num_hidden_layers must be >= 0"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings must be true or false"),
        ({"model_type": "mamba"}, "model_type='mamba' is not supported; simsim reads"),
        ({"model_type": None}, "model_type=None is not supported"),
        ({"num_experts": 64}, "has Mixture-of-Experts keys simsim would ignore (num_experts)"),
        ({"hidden_act": "tanh"}, "hidden_act='tanh' is not supported"),
    ],
)
def test_bad_config_json_is_a_named_error(tmp_path: Path, change: dict, message: str):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({**_LLAMA, **change}))
    with pytest.raises(ConfigError) as exc:
        simsim.compose(["model=hf", f"model.path={p}"])
    assert message in str(exc.value)


def _params(tmp_path: Path, cfg: dict) -> dict[str, float]:
    d = tmp_path / cfg["model_type"]
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))
    a = arch("model=hf", f"model.path={d / 'config.json'}")
    return {k: float(v) for k, v in A.param_counts(a).items()}


def test_qwen_moe_counts_experts_shared_expert_and_dense_layers(tmp_path: Path):
    # Qwen2-MoE format (Qwen1.5-MoE-A2.7B's shape): 60 experts of 1408, top-4, one shared
    # expert of 5632 = 4 expert widths; every layer sparse. Counted by hand below.
    cfg = {
        "model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 24,
        "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 5632,
        "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
        "num_experts": 60, "num_experts_per_tok": 4, "vocab_size": 151936,
        "decoder_sparse_step": 1, "mlp_only_layers": [], "tie_word_embeddings": False,
    }  # fmt: skip
    h, L, v = 2048, 24, 151936
    expert = 3 * h * 1408
    attn = 4 * h * h + 2 * h  # q, k, v, o (16 heads of 128) + two norms
    router = h * 60
    total = L * (attn + 60 * expert + 4 * expert + router) + h + 2 * v * h
    active = L * (attn + 4 * expert + 4 * expert + router) + h + 2 * v * h
    got = _params(tmp_path, cfg)
    assert got["total"] == pytest.approx(total, rel=1e-12)
    assert got["active"] == pytest.approx(active, rel=1e-12)
    # Qwen1.5-MoE-A2.7B model card: 14.3B total, 2.7B activated (incl. embeddings ~0.6B)
    assert got["total"] == pytest.approx(14.3e9, rel=0.01)
    # layers listed in mlp_only_layers are dense FFNs of intermediate_size
    dense2 = _params(tmp_path, {**cfg, "mlp_only_layers": [0, 1]})
    assert dense2["total"] == pytest.approx(
        total - 2 * (64 * expert + router) + 2 * 3 * h * 5632, rel=1e-12
    )


#: Llama 4's text model as its multimodal config.json nests it (transformers
#: configuration_llama4.py defaults, which are Scout's; Maverick's values as NVIDIA/TensorRT-LLM's
#: test copy of its config: 128 experts, MoE every second layer).
_LLAMA4 = {
    "model_type": "llama4",
    "text_config": {
        "model_type": "llama4_text", "hidden_size": 5120, "num_hidden_layers": 48,
        "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
        "intermediate_size": 8192, "intermediate_size_mlp": 16384, "num_local_experts": 16,
        "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "vocab_size": 202048,
        "tie_word_embeddings": False, "hidden_act": "silu", "attention_chunk_size": 8192,
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("experts", "step", "total", "tol"),
    # Meta's model card (meta-llama/llama-models models/llama4/MODEL_CARD.md): Scout 17B active /
    # 109B total, Maverick 17B active / 400B total; those totals count the vision encoder too
    # (Scout's text model is 107.8B here, 1.1% under), hence 2% on Scout's total
    [(16, 1, 109e9, 0.02), (128, 2, 400e9, 0.01)],
)
def test_llama4_shared_expert_and_interleaved_moe_layers(
    tmp_path: Path, experts: int, step: int, total: float, tol: float
):
    text = {**_LLAMA4["text_config"], "num_local_experts": experts,
            "interleave_moe_layer_step": step}  # fmt: skip
    got = _params(tmp_path, {**_LLAMA4, "text_config": text})
    h, L, v = 5120, 48, 202048
    moe_layers = len(range(step - 1, L, step))
    expert, dense, attn = 3 * h * 8192, 3 * h * 16384, h * (2 * 5120 + 2 * 1024) + 2 * h
    by_hand = (moe_layers * ((experts + 1) * expert + h * experts)
               + (L - moe_layers) * dense + L * attn + h + 2 * v * h)  # fmt: skip
    assert got["total"] == pytest.approx(by_hand, rel=1e-12)
    assert got["total"] == pytest.approx(total, rel=tol)
    assert got["active"] == pytest.approx(17e9, rel=0.015)  # one routed + the shared expert


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interleave_moe_layer_step": 0}, "interleave_moe_layer_step must be >= 1, got 0"),
        ({"moe_layers": "all"}, "moe_layers must be a list of layer indices below 48"),
        ({"moe_layers": [1, 48]}, "moe_layers must be a list of layer indices below 48"),
        ({"num_local_experts": None}, "num_local_experts is missing"),
    ],
)
def test_llama4_bad_keys_are_named(tmp_path: Path, change: dict, message: str):
    cfg = {**_LLAMA4, "text_config": {**_LLAMA4["text_config"], **change}}
    with pytest.raises(ConfigError, match=re.escape(message)):
        _params(tmp_path, cfg)


def test_glm4_moe_reads_as_deepseek_moe_with_gqa(tmp_path: Path):
    # GLM-4.5-Air's config.json (zai-org/GLM-4.5-Air, as printed by a model-info dump): 96
    # query heads of 128 (a 12,288-wide query on d 4,096), 8 KV heads, one dense layer, 128
    # routed experts of 1,408 plus one shared, top-8, one MTP layer. Z.ai: "106B total / 12B
    # active", the active figure without the two embeddings.
    cfg = {
        "model_type": "glm4_moe", "attention_bias": True, "first_k_dense_replace": 1,
        "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 10944,
        "moe_intermediate_size": 1408, "n_routed_experts": 128, "n_shared_experts": 1,
        "num_attention_heads": 96, "num_experts_per_tok": 8, "num_hidden_layers": 46,
        "num_key_value_heads": 8, "num_nextn_predict_layers": 1, "partial_rotary_factor": 0.5,
        "tie_word_embeddings": False, "topk_group": 1, "vocab_size": 151552,
    }  # fmt: skip
    got = _params(tmp_path, cfg)
    h, L, v = 4096, 46, 151552
    attn = h * (96 * 128 + 2 * 8 * 128) + 96 * 128 * h + 2 * h
    expert = 3 * h * 1408
    by_hand = L * attn + 3 * h * 10944 + (L - 1) * (129 * expert + h * 128) + h + 2 * v * h
    assert got["total"] == pytest.approx(by_hand, rel=1e-12)
    assert got["total"] == pytest.approx(106e9, rel=0.01)  # 106.85B here
    assert matches_published(got["active"] - 2 * v * h, 12e9, 1e9)  # 12.18B here


def test_kimi_k2_reads_as_deepseek_v3(tmp_path: Path):
    # Kimi K2's config.json (moonshotai/Kimi-K2-Instruct; the K2.5 file nests the same under
    # text_config): DeepSeek-V3's MLA with 64 heads, 384 routed experts of 2,048 plus one
    # shared, top-8, one dense layer. Moonshot: "1 trillion total parameters, 32 billion
    # activated".
    text = {
        "model_type": "kimi_k2", "num_hidden_layers": 61, "hidden_size": 7168,
        "num_attention_heads": 64, "num_key_value_heads": 64, "q_lora_rank": 1536,
        "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
        "v_head_dim": 128, "n_routed_experts": 384, "num_experts_per_tok": 8,
        "n_shared_experts": 1, "moe_intermediate_size": 2048, "intermediate_size": 18432,
        "first_k_dense_replace": 1, "vocab_size": 163840, "tie_word_embeddings": False,
        "n_group": 1, "topk_group": 1,
    }  # fmt: skip
    got = _params(tmp_path, text)
    assert matches_published(got["total"], 1e12, 0.1e12)  # 1.026T counted here
    assert matches_published(got["active"], 32e9, 1e9)  # 32.86B
    nested = _params(tmp_path, {"model_type": "kimi_k25", "text_config": text})
    assert nested == got


def test_olmo3_reads_its_sliding_layers(tmp_path: Path):
    # Olmo 3 7B's shape (allenai/OLMo-core's OLMo3 scripts, as the reference row olmo3-7b):
    # three sliding-window layers of 4,096 to each full one
    types = (["sliding_attention"] * 3 + ["full_attention"]) * 8
    cfg = {
        "model_type": "olmo3", "hidden_size": 4096, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008,
        "vocab_size": 100352, "sliding_window": 4096, "layer_types": types,
    }  # fmt: skip
    d = tmp_path / "olmo3"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    model = scenario("model=hf", f"model.path={d / 'config.json'}").model
    assert (model.sliding_window, model.sliding_window_layers) == (4096, 24)
    assert model.moe is None and model.d_ff == 11008


def test_gemma_is_gated_and_tied_by_default(tmp_path: Path):
    cfg = {
        "model_type": "gemma2", "hidden_size": 3584, "num_hidden_layers": 42,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
        "intermediate_size": 14336, "vocab_size": 256000,
        "hidden_activation": "gelu_pytorch_tanh",
    }  # fmt: skip
    got = _params(tmp_path, cfg)
    # gemma-2-9b: 9.24B parameters (Gemma 2 report, Table 1: 8,324M non-embedding + 918M embedding)
    assert got["total"] == pytest.approx(9.24e9, rel=0.01)
    assert got["embedding"] == 256000 * 3584  # tied: one matrix


HF_PUBLIC = Path(__file__).parent / "data" / "hf_public"

#: Published parameter counts of the public config.json files under tests/data/hf_public/ (each
#: folder's SOURCE.txt names the repository the file was copied from and the model card):
#: (total, active or None, the published figures' rounding unit, whether the publisher's
#: "active" count leaves out the input embedding, a lookup with no FLOPs).
#: Tolerance: 1%, or the published figure's rounding where that is larger: half a unit of its
#: last digit either way ("7B" for Llama 2 7B covers 6.5-7.5B), or one unit upward for figures
#: that are truncated rather than rounded (Qwen3-30B-A3B's "3.3B activated" is 3.35B counted
#: exactly; DeepSeek-V2-Lite's "2.4B" is 2.45B).
PUBLISHED = {
    "llama2_7b": (7e9, None, 1e9, False),
    "llama3_1_8b": (8e9, None, 1e9, False),
    "llama3_1_70b": (70e9, None, 1e9, False),
    "llama3_1_405b": (405e9, None, 1e9, False),
    "mixtral_8x7b": (46.7e9, 12.9e9, 0.1e9, False),  # Mistral AI blog
    "qwen2_5_7b": (7.61e9, None, 0.01e9, False),
    "qwen2_5_7b_instruct": (7.61e9, None, 0.01e9, False),
    "qwen3_8b": (8.2e9, None, 0.1e9, False),
    "qwen3_30b_a3b": (30.5e9, 3.3e9, 0.1e9, False),
    "qwen3_235b_a22b": (235e9, 22e9, 1e9, False),
    "deepseek_v2_lite": (15.7e9, 2.4e9, 0.1e9, True),  # DeepSeek-V2 paper, model card
    "gpt_oss_20b": (20.91e9, 3.61e9, 0.01e9, True),  # OpenAI gpt-oss model card table
    "gpt_oss_120b": (116.83e9, 5.13e9, 0.01e9, True),
    "deepseek_v3": (671e9, 37e9, 1e9, False),  # model card; MTP module not counted
    "mixtral_8x22b": (141e9, 39e9, 1e9, False),  # Mistral AI announcement
    "qwen3_32b": (32.8e9, None, 0.1e9, False),  # model card
    "mistral_7b": (7.3e9, None, 0.1e9, False),  # Mistral AI announcement: "a 7.3B parameter model"
    "phi3_mini": (3.8e9, None, 0.1e9, False),  # model card: "3.8B parameters"
    "dbrx_base": (132e9, 36e9, 1e9, False),  # Databricks model card: "132B total ... 36B active"
    "granite_3_0_1b_a400m": (1.3e9, 0.4e9, 0.1e9, True),  # model card table
    "granite_3_0_3b_a800m": (3.3e9, 0.8e9, 0.1e9, True),
    "olmoe_1b_7b_0924": (6.9e9, 1.3e9, 0.1e9, False),  # OLMoE paper, arXiv:2409.02060
    "qwen1_5_moe_a2_7b_chat": (14.3e9, 2.7e9, 0.1e9, False),  # model card
    "gemma2_9b_it": (9.2417e9, None, 0.0001e9, False),  # Gemma 2 report Table 1
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_public_config_json_matches_the_model_card(name: str):
    total, active, unit, no_input_embedding = PUBLISHED[name]
    path = HF_PUBLIC / name / "config.json"
    assert (HF_PUBLIC / name / "SOURCE.txt").is_file()
    sc = scenario("model=hf", f"model.path={path}")
    pc = {k: float(v) for k, v in A.param_counts(arch_from_model(sc.model)).items()}
    assert matches_published(pc["total"], total, unit), (pc["total"], total)
    if active is None:
        assert sc.model.moe is None and pc["active"] == pc["total"]
    else:
        assert sc.model.moe is not None
        got = pc["active"] - (sc.model.vocab_size * sc.model.d_model if no_input_embedding else 0)
        assert matches_published(got, active, unit), (got, active)


def test_qwen3_moe_non_embedding_count():
    # Qwen3-30B-A3B model card: 29.9B non-embedding parameters (of 30.5B)
    sc = scenario("model=hf", f"model.path={HF_PUBLIC / 'qwen3_30b_a3b' / 'config.json'}")
    pc = A.param_counts(arch_from_model(sc.model))
    assert float(pc["total"] - pc["embedding"]) == pytest.approx(29.9e9, rel=0.005)
    assert sc.model.moe is not None and sc.model.moe.n_experts == 128
    assert sc.model.moe.d_ff_expert == 768 and sc.model.moe.top_k == 8


def test_dbrx_unknown_activation_is_an_error_not_a_silent_swiglu():
    raw = json.loads((HF_PUBLIC / "dbrx_base" / "config.json").read_text())
    raw["ffn_config"]["ffn_act_fn"] = {"name": "mish"}
    with pytest.raises(ConfigError, match=r"ffn_config\.ffn_act_fn\.name='mish'"):
        model_fields_from_hf(raw)


@pytest.mark.parametrize(
    ("name", "window", "layers"),
    [
        ("gpt_oss_120b", 128, 18),  # layer_types: sliding and full attention alternate
        ("gemma2_9b_it", 4096, 21),  # Gemma 2: every other layer from the first
        ("mistral_7b", 4096, None),  # every layer
        ("qwen2_5_7b", None, None),  # use_sliding_window false
        ("llama3_1_8b", None, None),
    ],
)
def test_sliding_windows_are_read(name: str, window: int | None, layers: int | None):
    model = scenario("model=hf", f"model.path={HF_PUBLIC / name / 'config.json'}").model
    assert (model.sliding_window, model.sliding_window_layers) == (window, layers)


def test_gpt_oss_preset_has_its_sliding_layers():
    # the preset says what the config.json says, so their FLOPs agree
    path = HF_PUBLIC / "gpt_oss_120b" / "config.json"
    a_hf, a_preset = arch("model=hf", f"model.path={path}"), arch("model=gpt_oss_120b")
    assert float(A.attention_core_flops(a_hf, 8192)) == float(
        A.attention_core_flops(a_preset, 8192)
    )
    plain = arch("model=gpt_oss_120b", "model.sliding_window=null")
    assert float(A.attention_core_flops(a_preset, 8192)) < 0.6 * float(
        A.attention_core_flops(plain, 8192)
    )
