"""Read a model architecture from a Hugging Face ``config.json``.

Every supported ``model_type`` is listed in :data:`READERS`, with the key names of its
``configuration_*.py`` in Hugging Face transformers. A file of another type, a field that is
missing or not a whole number, or a Mixture-of-Experts key that the type's reader would ignore
is an error naming the key: the reader never falls back to a silent dense read.

Families and what is read:

* dense decoders (``llama``, ``mistral``, ``qwen2``, ``qwen3``, ``phi3``, ``granite``, ``olmo2``,
  ``olmo3``,
  ``gemma``, ``gemma2``, ``gemma3_text``; ``gemma3`` reads its ``text_config``): the usual
  ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``num_key_value_heads``,
  ``head_dim``, ``intermediate_size``, ``vocab_size``, ``tie_word_embeddings``;
* MoE with every layer sparse and ``intermediate_size`` the expert width: ``mixtral``,
  ``granitemoe``, ``olmoe``, ``gpt_oss``, ``phimoe``;
* Llama 4 (``llama4`` reads its ``text_config``; ``llama4_text``): routed experts and one shared
  expert on every ``interleave_moe_layer_step``-th layer, dense layers of
  ``intermediate_size_mlp`` between them;
* Qwen MoE (``qwen2_moe``, ``qwen3_moe``): ``num_experts``, ``moe_intermediate_size``, the
  shared expert (``shared_expert_intermediate_size``, counted as that many expert widths),
  dense layers from ``mlp_only_layers`` and ``decoder_sparse_step``;
* DeepSeekMoE (``deepseek``, ``deepseek_v2``, ``deepseek_v3``; Kimi K2's ``kimi_k2``, "the
  DeepSeekV3CausalLM architecture" in Moonshot's deployment guide, and ``kimi_k25`` through its
  ``text_config``; GLM-4.5's ``glm4_moe``, the same keys with grouped-query attention): MLA,
  routed and shared experts,
  ``first_k_dense_replace``, MTP depth, V3's node-limited routing;
* DBRX (``dbrx``): its own nested ``attn_config`` / ``ffn_config`` names.

Sliding-window (local) attention is read from ``sliding_window`` and ``layer_types`` (or the
type's own layer rule: Gemma 2, Gemma 3, Qwen's ``use_sliding_window``). Defaults follow each
type's configuration class where the file omits a key (Gemma ties its embeddings by default,
Llama does not).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError

_GATED_ACTS = {"silu": "swiglu", "swish": "swiglu", "swiglu": "swiglu"}
#: Gemma's FFN is gated with GELU (GeGLU) whatever hidden_act names (transformers GemmaMLP).
_GEMMA_TYPES = ("gemma", "gemma2", "gemma3_text")
#: Types whose configuration class ties input and output embeddings unless the file says not.
_TIED_BY_DEFAULT = frozenset(_GEMMA_TYPES)
#: Keys that make a model a Mixture of Experts in one format or another; a reader that does not
#: consume the ones present refuses the file rather than read it as dense.
_MOE_KEYS = (
    "num_local_experts", "num_experts", "n_routed_experts", "moe_intermediate_size",
    "moe_num_experts", "num_experts_per_tok", "n_shared_experts",
    "shared_expert_intermediate_size",
)  # fmt: skip


class _Reader:
    """Typed access to one config.json's keys; each error names the file and the key."""

    def __init__(self, cfg: dict[str, Any], path: str):
        self.cfg, self.path = cfg, path
        self.used: set[str] = set()

    def fail(self, key: str, why: str) -> ConfigError:
        sep = "" if why.startswith("=") else " "
        return ConfigError(f"model.path={self.path}: {key}{sep}{why}")

    def integer(
        self, key: str, default: int | None = None, *, node: dict[str, Any] | None = None
    ) -> int:
        value = (self.cfg if node is None else node).get(key)
        self.used.add(key)
        if value is None:
            if default is None:
                raise self.fail(key, "is missing (a whole number is needed)")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a whole number, got {value!r}")
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise self.fail(key, f"must be a whole number, got {value!r}")
        if value < 0:
            raise self.fail(key, f"must be >= 0, got {value!r}")
        return int(value)

    def opt_int(self, key: str) -> int | None:
        return None if self.cfg.get(key) is None else self.integer(key)

    def flag(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key, default)
        self.used.add(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value


def _act(r: _Reader, model_type: str, key: str = "hidden_act", name: Any = None) -> str:
    """simsim's FFN of the activation ``name`` (default: the file's ``hidden_act``); ``key``
    names it in an error."""
    if model_type in _GEMMA_TYPES:
        return "geglu"
    if name is None:
        name = r.cfg.get("hidden_act", r.cfg.get("hidden_activation", "silu"))
    act = str(name).lower()
    if act in _GATED_ACTS:
        return _GATED_ACTS[act]
    if act.startswith("gelu"):
        return "gelu"
    if act in {"relu2", "squared_relu"}:
        return "relu2"
    raise r.fail(key, f"={act!r} is not supported; simsim knows silu/swish (SwiGLU), "
                 "gelu*, relu2")  # fmt: skip


def _attention(r: _Reader, n_heads: int) -> dict[str, Any]:
    n_kv = r.integer("num_key_value_heads", n_heads)
    if r.cfg.get("kv_lora_rank"):
        return {
            "n_kv_heads": n_kv,
            "head_dim": None,
            "attention": "mla",
            "mla": {
                "q_lora_rank": r.opt_int("q_lora_rank") or None,
                "kv_lora_rank": r.integer("kv_lora_rank"),
                "qk_nope_head_dim": r.integer("qk_nope_head_dim"),
                "qk_rope_head_dim": r.integer("qk_rope_head_dim"),
                "v_head_dim": r.integer("v_head_dim"),
            },
        }
    return {
        "n_kv_heads": n_kv,
        "head_dim": r.opt_int("head_dim"),
        "attention": "gqa" if n_kv < n_heads else "mha",
        "mla": None,
    }


def _sliding(r: _Reader, model_type: str, n_layers: int) -> dict[str, Any]:
    """The sliding-window (local) attention: the window, and how many layers use it, from
    ``layer_types`` where the file lists them, else the type's own rule in transformers:
    Gemma 2 every other layer from the first, Gemma 3 all but every ``sliding_window_pattern``-th,
    Qwen 2/3 the layers from ``max_window_layers`` on when ``use_sliding_window``, the others
    (Mistral, Phi-3) every layer. A null or absent window is none."""
    none = {"sliding_window": None, "sliding_window_layers": None}
    if not r.cfg.get("sliding_window") or r.cfg.get("use_sliding_window") is False:
        return none
    window = r.integer("sliding_window")
    types = r.cfg.get("layer_types")
    if isinstance(types, list) and types:
        layers: int | None = sum(t == "sliding_attention" for t in types)
    elif model_type == "gemma2":
        layers = (n_layers + 1) // 2
    elif model_type == "gemma3_text":
        layers = n_layers - n_layers // r.integer("sliding_window_pattern", 6)
    elif model_type in ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe"):
        if not r.flag("use_sliding_window", False):
            return none
        layers = max(n_layers - r.integer("max_window_layers", n_layers), 0)
    else:
        layers = None
    return {"sliding_window": window, "sliding_window_layers": layers}


def _common(r: _Reader, model_type: str) -> dict[str, Any]:
    n_heads = r.integer("num_attention_heads")
    n_layers = r.integer("num_hidden_layers")
    return {
        **_sliding(r, model_type, n_layers),
        "n_layers": n_layers,
        "d_model": r.integer("hidden_size"),
        "n_heads": n_heads,
        "vocab_size": r.integer("vocab_size"),
        "tie_embeddings": r.flag("tie_word_embeddings", model_type in _TIED_BY_DEFAULT),
        "ffn_act": _act(r, model_type),
        "mtp_depth": 0,
        **_attention(r, n_heads),
    }


def _dense(r: _Reader, model_type: str) -> dict[str, Any]:
    return {**_common(r, model_type), "d_ff": r.integer("intermediate_size"), "moe": None}


def _all_sparse(r: _Reader, model_type: str) -> dict[str, Any]:
    """Every layer is MoE and ``intermediate_size`` is the expert width (Mixtral and kin)."""
    n_exp_key = "num_experts" if model_type == "olmoe" else "num_local_experts"
    top_k = r.integer("num_experts_per_tok", r.integer("experts_per_token", 0) or None)
    if "experts_per_token" in r.cfg and r.integer("experts_per_token") != top_k:
        raise r.fail("experts_per_token", f"={r.cfg['experts_per_token']} disagrees with "
                     f"num_experts_per_tok={top_k}")  # fmt: skip
    return {
        **_common(r, model_type),
        "d_ff": None,
        "moe": {
            "n_experts": r.integer(n_exp_key),
            "n_shared": 0,
            "top_k": top_k,
            "d_ff_expert": r.integer("intermediate_size"),
            "n_dense_layers": 0,
        },
    }


def _qwen_moe(r: _Reader, model_type: str) -> dict[str, Any]:
    fields = _common(r, model_type)
    width = r.integer("moe_intermediate_size")
    shared = r.integer("shared_expert_intermediate_size", 0)
    if shared % width:
        raise r.fail(
            "shared_expert_intermediate_size",
            f"={shared} is not a multiple of moe_intermediate_size={width}: simsim counts the "
            "shared expert in expert widths",
        )
    n_layers = fields["n_layers"]
    step = r.integer("decoder_sparse_step", 1)
    mlp_only = r.cfg.get("mlp_only_layers") or []
    r.used.add("mlp_only_layers")
    if not isinstance(mlp_only, list) or not all(isinstance(i, int) for i in mlp_only):
        raise r.fail("mlp_only_layers", f"must be a list of layer indices, got {mlp_only!r}")
    # transformers Qwen2MoeDecoderLayer: sparse iff not in mlp_only_layers and (i+1) % step == 0
    sparse = [i not in mlp_only and step > 0 and (i + 1) % step == 0 for i in range(n_layers)]
    n_dense = n_layers - sum(sparse)
    return {
        **fields,
        "d_ff": r.integer("intermediate_size") if n_dense else r.opt_int("intermediate_size"),
        "moe": {
            "n_experts": r.integer("num_experts"),
            "n_shared": shared // width,
            "top_k": r.integer("num_experts_per_tok"),
            "d_ff_expert": width,
            "n_dense_layers": n_dense,
        },
    }


def _deepseek(r: _Reader, model_type: str) -> dict[str, Any]:
    fields = _common(r, model_type)
    # V3's routing groups are nodes (node-limited routing, tech report §2.1.2); V2's are devices
    nodes = r.opt_int("topk_group") if model_type == "deepseek_v3" else None
    fields["mtp_depth"] = r.integer("num_nextn_predict_layers", 0)
    return {
        **fields,
        "d_ff": r.integer("intermediate_size"),
        "moe": {
            "n_experts": r.integer("n_routed_experts"),
            "n_shared": r.integer("n_shared_experts", 0),
            "top_k": r.integer("num_experts_per_tok"),
            "d_ff_expert": r.integer("moe_intermediate_size"),
            "n_dense_layers": r.integer("first_k_dense_replace", 0),
            "max_nodes_per_token": nodes or None,
        },
    }


def _llama4(r: _Reader, model_type: str) -> dict[str, Any]:
    """Llama 4's text model (transformers ``Llama4TextConfig``): MoE layers every
    ``interleave_moe_layer_step``-th (or those listed in ``moe_layers``), each with
    ``num_local_experts`` routed experts and one shared expert of ``intermediate_size``; the other
    layers a dense FFN of ``intermediate_size_mlp``. The chunked local attention of its RoPE
    layers (``attention_chunk_size``) is counted as full causal attention: the same cost when the
    sequence is at most one chunk."""
    fields = _common(r, model_type)
    n_layers = fields["n_layers"]
    listed = r.cfg.get("moe_layers")
    r.used.add("moe_layers")
    if listed is None:
        step = r.integer("interleave_moe_layer_step", 1)
        if step < 1:
            raise r.fail("interleave_moe_layer_step", f"must be >= 1, got {step}")
        listed = list(range(step - 1, n_layers, step))
    if not isinstance(listed, list) or not all(
        isinstance(i, int) and 0 <= i < n_layers for i in listed
    ):
        raise r.fail("moe_layers", f"must be a list of layer indices below {n_layers}")
    n_dense = n_layers - len(set(listed))
    return {
        **fields,
        "d_ff": r.integer("intermediate_size_mlp")
        if n_dense
        else r.opt_int("intermediate_size_mlp"),
        "moe": {
            "n_experts": r.integer("num_local_experts"),
            "n_shared": 1,  # transformers Llama4TextMoe: one shared_expert Llama4TextMLP
            "top_k": r.integer("num_experts_per_tok"),
            "d_ff_expert": r.integer("intermediate_size"),
            "n_dense_layers": n_dense,
        },
    }


def _dbrx(r: _Reader, model_type: str) -> dict[str, Any]:
    attn = r.cfg.get("attn_config") or {}
    ffn = r.cfg.get("ffn_config") or {}
    r.used.update({"attn_config", "ffn_config"})
    n_heads = r.integer("n_heads")
    n_kv = r.integer("kv_n_heads", n_heads, node=attn)
    act_name = (ffn.get("ffn_act_fn") or {}).get("name", "silu")
    return {
        "n_layers": r.integer("n_layers"),
        "d_model": r.integer("d_model"),
        "n_heads": n_heads,
        "vocab_size": r.integer("vocab_size"),
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "ffn_act": _act(r, model_type, "ffn_config.ffn_act_fn.name", act_name),
        "mtp_depth": 0,
        "n_kv_heads": n_kv,
        "head_dim": None,
        "attention": "gqa" if n_kv < n_heads else "mha",
        "mla": None,
        "d_ff": None,
        "moe": {
            "n_experts": r.integer("moe_num_experts", node=ffn),
            "n_shared": 0,
            "top_k": r.integer("moe_top_k", node=ffn),
            "d_ff_expert": r.integer("ffn_hidden_size", node=ffn),
            "n_dense_layers": 0,
        },
    }


_DENSE_TYPES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "granite", "olmo2", "olmo3",
                *_GEMMA_TYPES)  # fmt: skip
#: Supported ``model_type`` values and the reader of each.
READERS: dict[str, Callable[[_Reader, str], dict[str, Any]]] = {
    **dict.fromkeys(_DENSE_TYPES, _dense),
    **dict.fromkeys(("mixtral", "granitemoe", "olmoe", "gpt_oss", "phimoe"), _all_sparse),
    **dict.fromkeys(("qwen2_moe", "qwen3_moe"), _qwen_moe),
    **dict.fromkeys(("deepseek", "deepseek_v2", "deepseek_v3", "glm4_moe", "kimi_k2"), _deepseek),
    "dbrx": _dbrx,
    "llama4_text": _llama4,
}


def model_fields_from_hf(cfg: dict[str, Any], path: str = "config.json") -> dict[str, Any]:
    """Map a parsed Hugging Face ``config.json`` to simsim's ``model`` fields."""
    model_type = cfg.get("model_type")
    # a multimodal file: its language model's text_config
    text = {"gemma3": "gemma3_text", "llama4": "llama4_text", "kimi_k25": "kimi_k2"}.get(
        str(model_type)
    )
    if text and isinstance(cfg.get("text_config"), dict):
        cfg, model_type = {**cfg["text_config"]}, text
        cfg.setdefault("model_type", model_type)
    if model_type not in READERS:
        raise ConfigError(
            f"model.path={path}: model_type={model_type!r} is not supported; simsim reads "
            f"{', '.join(sorted(READERS))}"
        )
    r = _Reader(cfg, path)
    fields = READERS[model_type](r, model_type)
    ignored = [k for k in _MOE_KEYS if cfg.get(k) and k not in r.used]
    if ignored:
        raise ConfigError(
            f"model.path={path}: model_type={model_type!r} has Mixture-of-Experts keys simsim "
            f"would ignore ({', '.join(ignored)}); refusing to read it as another architecture"
        )
    return fields


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Parse the file at ``path`` and return simsim ``model`` fields (see
    :func:`model_fields_from_hf`), with ``name`` and ``source`` naming the file."""
    p = Path(path).expanduser()
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"model.path={path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"model.path={path}: is a directory; give its config.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"model.path={path}: cannot read it ({exc})") from None
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
