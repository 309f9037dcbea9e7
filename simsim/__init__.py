"""simsim: what does it cost to train this language model on that hardware?

>>> import simsim
>>> res = simsim.simulate(simsim.compose(["model=llama3_405b", "hardware=h100_sxm"]))
"""

from . import report
from .api import simulate
from .errors import ConfigError
from .result import Result
from .scenario import compose, resolve
from .sweep import sweep
from .validation import validate

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "Result",
    "__version__",
    "compose",
    "report",
    "resolve",
    "simulate",
    "sweep",
    "validate",
]
