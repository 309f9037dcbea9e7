"""Scenario layer: compose a config from presets and overrides; resolve it once into a typed,
validated :class:`~simsim.schema.Scenario`.

Hydra lives here and only here. :func:`compose` asks Hydra for the *preset selection* of a list
of overrides (``model=...``, ``hardware=...``, ``software=...``, ``experiment=...``) once per
distinct selection and caches the result; the value overrides (``cluster.n_gpus=4096``) are
applied to a copy, so composing many variants of one scenario costs a copy, not a Hydra run.
:func:`resolve` turns a composed config, a plain mapping or a :class:`Scenario` into a checked
:class:`Scenario` (reading a Hugging Face config.json when ``model.path`` is set). Everything
below this layer trusts its inputs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from hydra import compose as _hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf._utils import get_yaml_loader
from omegaconf.errors import OmegaConfBaseException

from . import checks
from ._paths import available_presets, config_dir
from .errors import ConfigError
from .hf import load_hf_config
from .physics.architecture import Arch
from .schema import (
    GATED_FFN_ACTS,
    AppConfig,
    ModelConfig,
    Scenario,
    build,
    schema_keys,
    set_path,
)

__all__ = ["arch_from_model", "available_presets", "compose", "resolve", "resolve_all"]


def _unknown_key(key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    allowed = schema_keys(parent)
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
    if full_key:
        return ConfigError(f"{full_key.group(1)}: {text.splitlines()[0]}")
    return ConfigError(text.splitlines()[0] if text else type(exc).__name__)


@cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


def _groups() -> set[str]:
    return {p.name for p in config_dir().iterdir() if p.is_dir()}


def _parse(overrides: Sequence[str]) -> list[Override]:
    if isinstance(overrides, str) or not isinstance(overrides, Sequence):
        raise ConfigError(
            f"overrides: expected a list of 'key=value' strings, got {type(overrides).__name__} "
            f"{overrides!r}; e.g. simsim.compose(['model=llama3_8b'])"
        )
    out = []
    for text in overrides:
        if not isinstance(text, str):
            raise ConfigError(f"overrides: {text!r} is not a 'key=value' string")
        out.append(_parse_one(text))
    return out


@lru_cache(maxsize=4096)
def _parse_one(text: str) -> Override:
    """One override parsed by Hydra's grammar (~1 ms each; cached: callers copy its value
    before changing it)."""
    try:
        return _parser().parse_override(text)
    except HydraException as exc:
        raise ConfigError(f"{text}: {str(exc).splitlines()[0]}") from None


@cache
def _compose_presets(config_name: str, selection: tuple[str, ...]) -> dict[str, Any]:
    """The primary config composed with a preset selection, as a plain dict (cached: presets do
    not change while a process runs; callers copy before changing it). simsim's presets use a
    small part of Hydra's defaults-list language, which :func:`_compose_simple` composes
    directly (equal to Hydra's result, tested on every preset); anything beyond it goes to
    Hydra."""
    simple = _compose_simple(config_name, selection)
    return simple if simple is not None else _compose_hydra(config_name, selection)


@cache
def _yaml(path: Path) -> dict[str, Any] | None:
    """A preset file as a plain dict (OmegaConf's YAML rules: ``14.8e12`` is a float)."""
    if not path.is_file():
        return None
    data = yaml.load(path.read_text("utf-8"), Loader=_yaml_loader())
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else None


@cache
def _yaml_loader() -> Any:
    """OmegaConf's YAML rules (its float pattern, no timestamps, duplicate keys refused) on
    libyaml's parser where PyYAML has it: the same dicts as ``OmegaConf.load`` (tested on every
    preset), ~5x faster."""
    rules = get_yaml_loader()

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            scalar = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
            keys = [k.value for k, _ in node.value if k.tag == scalar]
            dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
            if dup is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {dup}"
                )
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in rules.yaml_implicit_resolvers.items()}
    return Loader


def _merge(dest: Any, src: Any) -> Any:
    if isinstance(dest, dict) and isinstance(src, dict):
        out = dict(dest)
        for k, v in src.items():
            out[k] = _merge(out.get(k), v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(src)


def _compose_simple(config_name: str, selection: tuple[str, ...]) -> dict[str, Any] | None:
    """Compose ``_self_`` first, then one preset per group (package = group name), then a
    ``@package _global_`` experiment whose defaults only override group choices; None for
    anything else (Hydra composes it then)."""
    primary = _yaml(config_dir() / f"{config_name}.yaml")
    if primary is None or primary.get("defaults", [None])[0] != "_self_":
        return None
    choices: dict[str, str | None] = {}
    for entry in primary["defaults"][1:]:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        ((group, name),) = entry.items()
        choices[str(group)] = name
    chosen: dict[str, str | None] = {}
    for o in _parse(selection):
        value = o.value()
        if o.is_add() or o.is_force_add() or o.package is not None or o.key_or_group not in choices:
            return None
        if value is not None and not isinstance(value, str):
            return None
        chosen[o.key_or_group] = value
    experiment = chosen.get("experiment", choices.get("experiment"))
    exp_body: dict[str, Any] = {}
    if experiment is not None:
        path = config_dir() / "experiment" / f"{experiment}.yaml"
        exp = _yaml(path)
        if exp is None:
            raise ConfigError(
                f"experiment={experiment}: no such preset; available: "
                f"{', '.join(available_presets('experiment'))}"
            )
        if not path.read_text(encoding="utf-8").startswith("# @package _global_"):
            return None
        for entry in exp.get("defaults", []):
            if not isinstance(entry, dict) or len(entry) != 1:
                return None
            ((key, name),) = entry.items()
            if not str(key).startswith("override /") or str(key)[10:] not in choices:
                return None
            choices[str(key)[10:]] = name
        exp_body = {k: v for k, v in exp.items() if k != "defaults"}
    choices.update({k: v for k, v in chosen.items() if k != "experiment"})
    data = {k: v for k, v in primary.items() if k not in ("defaults", "hydra")}
    for group, name in choices.items():
        if group == "experiment" or name is None:
            continue
        preset = _yaml(config_dir() / group / f"{name}.yaml")
        if preset is None:
            raise ConfigError(
                f"{group}={name}: no such preset; available: {', '.join(available_presets(group))}"
            )
        if "defaults" in preset:
            return None
        data[group] = _merge(data.get(group), preset)
    return _merge(data, exp_body)


def _compose_hydra(config_name: str, selection: tuple[str, ...]) -> dict[str, Any]:
    """Hydra's composition of the primary config with a preset selection, as a plain dict."""
    # Inside a running Hydra app (the CLI's reports) the global Hydra is taken: set it aside.
    global_hydra = GlobalHydra.instance()
    outer = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(version_base=None, config_dir=str(config_dir())):
            cfg = _hydra_compose(config_name=config_name, overrides=list(selection))
            data = OmegaConf.to_container(cfg, resolve=False)
    except (HydraException, OmegaConfBaseException) as exc:
        raise _config_error(exc) from None
    finally:
        GlobalHydra.instance().clear()
        if outer is not None:
            GlobalHydra.instance().initialize(outer)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def compose_dict(overrides: Sequence[str] = (), config_name: str = "config") -> dict[str, Any]:
    """:func:`compose` as a plain nested dict (no OmegaConf object is built)."""
    parsed = _parse(overrides)
    groups = _groups()
    selection: list[Override] = []
    values: list[Override] = []
    for o in parsed:
        key = o.key_or_group
        if key.startswith(("hydra.", "hydra/")) or key == "hydra":
            continue  # Hydra's own settings: the CLI passes them to Hydra
        if o.is_sweep_override():
            raise ConfigError(
                f"{o.input_line}: a list of runs is a multirun (simsim -m ...) or a sweep "
                "(sweep.axes.<field>=[...]); compose builds one scenario"
            )
        (selection if key in groups and not o.is_delete() else values).append(o)
    data = copy.deepcopy(_compose_presets(config_name, tuple(o.input_line for o in selection)))
    for o in values:
        key = o.key_or_group
        if o.is_delete():
            _delete(data, key)
            continue
        value = copy.deepcopy(o.value())
        if key.startswith("sweep.axes."):  # an open mapping: any field path may be an axis
            data.setdefault("sweep", {}).setdefault("axes", {})[key[len("sweep.axes.") :]] = value
            continue
        set_path(data, key, value, "")
    return data


def _delete(data: dict[str, Any], key: str) -> None:
    node: Any = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or leaf not in node:
        raise ConfigError(f"~{key}: no such key to delete")
    del node[leaf]


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose a scenario from the packaged presets, exactly as the command line would.

    Parameters
    ----------
    overrides : command-line style overrides, e.g. ``["model=llama3_405b", "cluster.n_gpus=16384"]``
    config_name : primary config (default ``config``)

    Returns
    -------
    DictConfig
        the composed config (mutable; :func:`simsim.simulate` validates it).

    Raises
    ------
    ConfigError
        for an unknown preset (the message lists the available ones), an unknown key or a bad
        value (the message names the field).
    """
    data = compose_dict(overrides, config_name)
    resolve_all(data)  # fail here, naming the field, rather than later
    out = OmegaConf.create(data)
    assert isinstance(out, DictConfig)
    return out


def _apply_hf(data: dict[str, Any]) -> dict[str, Any]:
    model = data.get("model")
    if not isinstance(model, Mapping):
        return data
    path = model.get("path")
    if path in (None, "???"):
        return data
    fields = load_hf_config(str(path))
    merged = dict(model)
    for key, value in fields.items():
        if merged.get(key, "???") == "???":
            merged[key] = value  # a field set in the preset or on the command line wins
    return {**data, "model": merged}


def resolve_all(cfg: Any) -> tuple[Scenario, AppConfig]:
    """The typed, checked :class:`Scenario` and :class:`AppConfig` of ``cfg``: a config from
    :func:`compose`, a plain mapping of the same shape, or a :class:`Scenario`."""
    if isinstance(cfg, Scenario):
        checks.validate(cfg)
        return cfg, AppConfig()
    if isinstance(cfg, DictConfig):
        try:
            data: Any = OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as exc:
            raise _config_error(exc) from None
    elif isinstance(cfg, Mapping):
        data = dict(cfg)
    else:
        hint = (
            "; pass overrides through simsim.compose([...]) first"
            if isinstance(cfg, str | list | tuple)
            else ""
        )
        raise ConfigError(
            "scenario: expected a simsim.Scenario, a config from simsim.compose or a mapping, "
            f"got {type(cfg).__name__} {cfg!r}"[:300]
            + hint
        )
    sc, app = build(_apply_hf(data))
    checks.validate(sc)
    checks.validate_app(app)
    return sc, app


def resolve(cfg: Any) -> Scenario:
    """The typed, checked :class:`Scenario` of ``cfg`` (see :func:`resolve_all`)."""
    return resolve_all(cfg)[0]


def arch_from_model(model: ModelConfig) -> Arch:
    """Build the numeric :class:`Arch` of a validated ``model`` section."""
    nh = model.n_heads
    mla, moe = model.mla, model.moe
    return Arch(
        attention=model.attention,
        n_layers=model.n_layers,
        d_model=model.d_model,
        n_heads=nh,
        n_kv_heads=model.n_kv_heads or nh,
        head_dim=model.head_dim or model.d_model // nh,
        d_ff=model.d_ff or 0,
        gated_ffn=model.ffn_act in GATED_FFN_ACTS,
        vocab_size=model.vocab_size,
        tie_embeddings=model.tie_embeddings,
        q_lora_rank=(mla.q_lora_rank or 0) if mla else 0,
        kv_lora_rank=mla.kv_lora_rank if mla else 0,
        qk_nope_head_dim=mla.qk_nope_head_dim if mla else 0,
        qk_rope_head_dim=mla.qk_rope_head_dim if mla else 0,
        v_head_dim=mla.v_head_dim if mla else 0,
        n_experts=moe.n_experts if moe else 0,
        n_shared=moe.n_shared if moe else 0,
        top_k=moe.top_k if moe else 0,
        d_ff_expert=moe.d_ff_expert if moe else 0,
        n_dense_layers=moe.n_dense_layers if moe else 0,
        mtp_depth=model.mtp_depth,
        sliding_window=model.sliding_window or 0,
        sliding_layers=(model.n_layers if model.sliding_window_layers is None
                        else model.sliding_window_layers) if model.sliding_window else 0,
    )  # fmt: skip
