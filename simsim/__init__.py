"""simsim: what does it cost to train this language model on that hardware?"""
from .errors import ConfigError
from .scenario import compose, resolve

__version__ = "0.1.0"
__all__ = ["ConfigError", "__version__", "compose", "resolve"]
