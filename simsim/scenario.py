"""Scenario layer: compose a config from presets and overrides, resolve and validate it.

``compose`` is the Python twin of the command line; ``resolve`` turns a composed config (or a
plain dict of the same shape) into a validated plain dict, reading a Hugging Face config.json
when ``model.path`` is set. Everything below this layer trusts its inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from hydra import compose as _hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import checks, schema
from ._paths import config_dir
from .errors import ConfigError
from .hf import load_hf_config
from .physics.architecture import Arch


def available_presets(group: str) -> list[str]:
    """Names of the presets of a config group (``model``, ``hardware``, ``software``,
    ``experiment``)."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def _schema_keys(path: str) -> list[str]:
    """Keys the schema allows under a dotted ``path`` (e.g. ``model`` or ``model.moe``)."""
    node: Any = schema.ScenarioConfig
    for part in path.split(".") if path else []:
        hint = typing.get_type_hints(node).get(part) if dataclasses.is_dataclass(node) else None
        candidates = (hint, *typing.get_args(hint))  # unwrap `MoEConfig | None`
        node = next((c for c in candidates if dataclasses.is_dataclass(c)), None)
        if node is None:
            return []
    return [f.name for f in dataclasses.fields(node)]


def _unknown_key(key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    allowed = _schema_keys(parent)
    where = parent or "the scenario"
    return f"{key}: unknown key {leaf!r} in {where}" + (
        f"; allowed: {', '.join(allowed)}" if allowed else ""
    )


def _config_error(exc: BaseException) -> ConfigError:
    """Turn a Hydra/OmegaConf exception into a one-line :class:`ConfigError` naming the field."""
    text = str(exc).strip()
    missing = re.search(r"Could not find '([\w/]+)/([^'/]+)'", text)
    if missing:
        group, name = missing.groups()
        opts = available_presets(group)
        return ConfigError(f"{group}={name}: no such preset; available: {', '.join(opts)}")
    override = re.search(r"Could not override '([\w.]+)'", text)
    if override:
        return ConfigError(_unknown_key(override.group(1)))
    full_key = re.search(r"full_key:\s*(\S+)", text)
    cause = exc.__cause__ or exc.__context__
    if "Error merging override" in text and cause is not None:
        detail = str(cause).strip()
        fk = re.search(r"full_key:\s*(\S+)", detail)
        value = text.split("override", 1)[1].strip()
        return ConfigError(
            f"{value}: {detail.splitlines()[0]}" + (f" ({fk.group(1)})" if fk else "")
        )
    if full_key:
        key = full_key.group(1)
        first = text.splitlines()[0]
        if "not in struct" in first or re.search(r"Key '[^']*' (is )?not in", first):
            return ConfigError(_unknown_key(key))
        if "Missing mandatory value" in first:
            return ConfigError(f"{key}: missing value (required)")
        return ConfigError(f"{key}: {first}")
    return ConfigError(text.splitlines()[0] if text else type(exc).__name__)


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose a scenario from the packaged presets, exactly as the command line would.

    Parameters
    ----------
    overrides : command-line style overrides, e.g. ``["model=llama3_405b", "cluster.n_gpus=16384"]``
    config_name : primary config (default ``config``)

    Raises
    ------
    ConfigError
        for an unknown preset (the message lists the available ones), an unknown key or a value
        of the wrong type (the message names the field).
    """
    schema.register()
    hydra_overrides, late = _split_late_overrides(overrides)
    # Inside a running Hydra app (the CLI's reports) the global Hydra is taken: set it aside.
    global_hydra = GlobalHydra.instance()
    outer = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(version_base=None, config_dir=str(config_dir())):
            cfg = _hydra_compose(config_name=config_name, overrides=hydra_overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise _config_error(exc) from None
    finally:
        if outer is not None:
            GlobalHydra.instance().initialize(outer)
    cfg_dict = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(cfg_dict, dict)
    cfg_dict.pop("hydra", None)
    out = OmegaConf.create(cfg_dict)
    assert isinstance(out, DictConfig)
    for key, value in late:
        OmegaConf.update(out, key, value, merge=False)
    return out


#: Optional sub-configs that a preset may leave null (a dense model's ``moe``, a GQA model's
#: ``mla``): OmegaConf cannot merge a dict into such a null node, so simsim sets these overrides
#: itself after composition; the schema checks them in :func:`resolve`.
_OPTIONAL_NODES = ("model.moe", "model.mla")


def _split_late_overrides(overrides: Sequence[str]) -> tuple[list[str], list[tuple[str, Any]]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_overrides: list[str] = []
    late: list[tuple[str, Any]] = []
    parser = OverridesParser.create()
    for text in overrides:
        key = text.lstrip("+~").split("=", 1)[0]
        if key in _OPTIONAL_NODES and "=" in text and not text.startswith("~"):
            try:
                value = parser.parse_override(text.lstrip("+")).value()
            except HydraException as exc:
                raise ConfigError(f"{text}: {exc}") from None
            late.append((key, value))
        else:
            hydra_overrides.append(text)
    return hydra_overrides, late


def _apply_hf(model: dict[str, Any]) -> dict[str, Any]:
    path = model.get("path")
    if path in (None, "???"):
        return model
    fields = load_hf_config(str(path))
    merged = dict(model)
    for key, value in fields.items():
        if key in ("name", "source") and merged.get(key) not in (None, "???"):
            continue  # an explicit name or source wins
        merged[key] = value
    return merged


def resolve(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``cfg`` against the schema and the semantic checks; return a plain dict.

    ``cfg`` is what :func:`compose` returns, or a plain dict of the same shape (all groups
    present). Fields left missing (``???``) are an error naming the field.
    """
    schema.register()
    try:
        data = (
            OmegaConf.to_container(cfg, resolve=True)
            if isinstance(cfg, DictConfig)
            else copy.deepcopy(dict(cfg))
        )
    except OmegaConfBaseException as exc:
        raise _config_error(exc) from None
    if not isinstance(data, dict):
        raise ConfigError(f"scenario: expected a mapping, got {type(cfg).__name__}")
    data.pop("hydra", None)
    data.pop("defaults", None)
    for section in data.values():  # a preset read straight from its YAML keeps its defaults list
        if isinstance(section, dict):
            section.pop("defaults", None)
    if isinstance(data.get("model"), dict):
        data["model"] = _apply_hf(data["model"])
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema.ScenarioConfig), data)
        plain = OmegaConf.to_container(typed, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise _config_error(exc) from None
    assert isinstance(plain, dict)
    out: dict[str, Any] = {str(k): v for k, v in plain.items()}
    checks.validate(out)
    return out


def arch_from_model(model: Mapping[str, Any]) -> Arch:
    """Build the numeric :class:`Arch` of a validated ``model`` section."""
    nh = model["n_heads"]
    head_dim = model.get("head_dim") or model["d_model"] // nh
    mla = model.get("mla") or {}
    moe = model.get("moe") or {}
    return Arch(
        attention=model["attention"],
        n_layers=model["n_layers"],
        d_model=model["d_model"],
        n_heads=nh,
        n_kv_heads=model.get("n_kv_heads") or nh,
        head_dim=head_dim,
        d_ff=model.get("d_ff") or 0,
        gated_ffn=model["ffn_act"] == "swiglu",
        vocab_size=model["vocab_size"],
        tie_embeddings=bool(model.get("tie_embeddings")),
        q_lora_rank=mla.get("q_lora_rank") or 0,
        kv_lora_rank=mla.get("kv_lora_rank") or 0,
        qk_nope_head_dim=mla.get("qk_nope_head_dim") or 0,
        qk_rope_head_dim=mla.get("qk_rope_head_dim") or 0,
        v_head_dim=mla.get("v_head_dim") or 0,
        n_experts=moe.get("n_experts") or 0,
        n_shared=moe.get("n_shared") or 0,
        top_k=moe.get("top_k") or 0,
        d_ff_expert=moe.get("d_ff_expert") or 0,
        n_dense_layers=moe.get("n_dense_layers") or 0,
        mtp_depth=model.get("mtp_depth") or 0,
    )
