"""Where the packaged presets live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def config_dir() -> Path:
    """Absolute path of the ``configs`` directory holding ``config.yaml`` and the preset groups.

    A wheel ships it inside the package (``simsim/configs``, see pyproject.toml); a source or
    editable checkout has it at the top of the repository.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"simsim's configs/ directory was not found next to {here}; reinstall simsim"
    )


def available_presets(group: str) -> list[str]:
    """Names of the presets of a config group (``model``, ``hardware``, ``software``,
    ``experiment``)."""
    return list(_presets(group))


@cache
def _presets(group: str) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (config_dir() / group).glob("*.yaml")))
