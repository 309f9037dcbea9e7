"""Models read from Hugging Face config.json files match the hand-written presets exactly.

The config.json files under tests/data/hf/ were written for these tests from the values the
model publishers released (each file names its source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import simsim
from simsim import ConfigError
from simsim.physics import architecture as A

from .conftest import arch, scenario

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
    p.write_text(json.dumps({"hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10}))
    with pytest.raises(ConfigError, match=r"num_hidden_layers"):
        simsim.simulate(simsim.compose(["model=hf", f"model.path={p}"]))


def test_hf_without_path_names_the_field():
    with pytest.raises(ConfigError, match=r"model\.\w+: missing value"):
        simsim.simulate(simsim.compose(["model=hf"]))
