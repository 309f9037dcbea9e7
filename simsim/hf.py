"""Read a model architecture from a Hugging Face ``config.json``.

Supported formats: Llama / Mistral / Qwen2 (``LlamaForCausalLM``-style keys), Mixtral
(``num_local_experts``), DeepSeekMoE (``model_type: deepseek``) and DeepSeek-V2/V3 (MLA and
DeepSeekMoE keys). Key names are the ones in those models' ``configuration_*.py`` files in
Hugging Face transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError

_GATED_ACTS = {"silu", "swish", "swiglu"}


def _act(cfg: dict[str, Any]) -> str:
    act = str(cfg.get("hidden_act", cfg.get("activation_function", "silu"))).lower()
    if act in _GATED_ACTS:
        return "swiglu"
    if act.startswith("gelu"):
        return "gelu"
    if act in {"relu2", "squared_relu"}:
        return "relu2"
    raise ConfigError(
        f"model.path: hidden_act={act!r} in the config.json is not supported; "
        "simsim knows silu/swish (-> swiglu), gelu*, relu2"
    )


def model_fields_from_hf(cfg: dict[str, Any], path: str = "config.json") -> dict[str, Any]:
    """Map a parsed Hugging Face ``config.json`` to simsim's ``model`` fields."""
    try:
        n_heads = int(cfg["num_attention_heads"])
        fields: dict[str, Any] = {
            "n_layers": int(cfg["num_hidden_layers"]),
            "d_model": int(cfg["hidden_size"]),
            "n_heads": n_heads,
            "vocab_size": int(cfg["vocab_size"]),
        }
    except KeyError as exc:
        raise ConfigError(
            f"model.path={path}: the config.json has no {exc.args[0]!r}; expected a Llama, "
            "Mistral, Mixtral, Qwen2 or DeepSeek config"
        ) from None
    n_kv = int(cfg.get("num_key_value_heads") or n_heads)
    fields["n_kv_heads"] = n_kv
    fields["head_dim"] = cfg.get("head_dim")
    fields["tie_embeddings"] = bool(cfg.get("tie_word_embeddings", False))
    fields["ffn_act"] = _act(cfg)
    fields["mtp_depth"] = int(cfg.get("num_nextn_predict_layers") or 0)
    model_type = str(cfg.get("model_type", ""))

    if cfg.get("kv_lora_rank"):
        fields["attention"] = "mla"
        fields["head_dim"] = None
        fields["mla"] = {
            "q_lora_rank": cfg.get("q_lora_rank"),
            "kv_lora_rank": int(cfg["kv_lora_rank"]),
            "qk_nope_head_dim": int(cfg["qk_nope_head_dim"]),
            "qk_rope_head_dim": int(cfg["qk_rope_head_dim"]),
            "v_head_dim": int(cfg["v_head_dim"]),
        }
    else:
        fields["attention"] = "gqa" if n_kv < n_heads else "mha"
        fields["mla"] = None

    if cfg.get("num_local_experts"):  # Mixtral: every layer is MoE, intermediate_size = expert
        fields["d_ff"] = None
        fields["moe"] = {
            "n_experts": int(cfg["num_local_experts"]),
            "n_shared": 0,
            "top_k": int(cfg["num_experts_per_tok"]),
            "d_ff_expert": int(cfg["intermediate_size"]),
            "n_dense_layers": 0,
        }
    elif cfg.get("n_routed_experts"):  # DeepSeekMoE / V2 / V3
        fields["d_ff"] = int(cfg["intermediate_size"])
        # V3's routing groups are nodes (node-limited routing, §2.1.2); V2's are devices.
        nodes = cfg.get("topk_group") if model_type == "deepseek_v3" else None
        fields["moe"] = {
            "n_experts": int(cfg["n_routed_experts"]),
            "n_shared": int(cfg.get("n_shared_experts") or 0),
            "top_k": int(cfg["num_experts_per_tok"]),
            "d_ff_expert": int(cfg["moe_intermediate_size"]),
            "n_dense_layers": int(cfg.get("first_k_dense_replace") or 0),
            "max_nodes_per_token": int(nodes) if nodes else None,
        }
    else:
        fields["d_ff"] = int(cfg["intermediate_size"])
        fields["moe"] = None
    return fields


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Parse the file at ``path`` and return simsim ``model`` fields (see
    :func:`model_fields_from_hf`), with ``name`` and ``source`` naming the file."""
    p = Path(path).expanduser()
    try:
        raw = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"model.path={path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"model.path={path}: not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"model.path={path}: expected a JSON object")
    fields = model_fields_from_hf(raw, str(path))
    fields["name"] = p.resolve().parent.name or str(raw.get("model_type", "hf"))
    fields["source"] = f"Hugging Face config.json at {p.resolve()}"
    return fields
