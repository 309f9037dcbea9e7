"""simsim: what does it cost to train this language model on that hardware?

>>> import simsim
>>> res = simsim.simulate(simsim.compose(["model=llama3_405b", "hardware=h100_sxm"]))

``simsim.sweep``, ``simsim.validate`` and ``simsim.report`` return pandas tables; they (and
pandas) are imported on first use, so ``import simsim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .api import simulate
from .errors import ConfigError
from .result import Result
from .scenario import compose, resolve
from .schema import Scenario

if TYPE_CHECKING:
    from . import report
    from .planner import plan
    from .sweeps import sweep
    from .validation import validate

__all__ = [
    "ConfigError",
    "Result",
    "Scenario",
    "__version__",
    "compose",
    "plan",
    "report",
    "resolve",
    "simulate",
    "sweep",
    "validate",
]

#: Public names loaded on first access (PEP 562): they pull in pandas.
_LAZY = {
    "sweep": ("sweeps", "sweep"),
    "plan": ("planner", "plan"),
    "validate": ("validation", "validate"),
    "report": ("report", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
