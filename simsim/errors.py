"""The one exception users see for bad input."""

from __future__ import annotations


class ConfigError(ValueError):
    """A scenario field has a bad value. The message names the field path, the value and what is
    allowed; several problems are reported together, one per line."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
