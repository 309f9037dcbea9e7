"""Command line: ``simsim key=value ...`` (a Hydra app; ``simsim -m ...`` for multirun).

Each run prints the summary table and writes ``result.json``, ``result.csv``, ``summary.txt``
and ``flops_breakdown.{png,svg}`` into its output directory (Hydra's run or sweep directory, or
``output.dir``). Bad input ends with exit code 2 and one message per problem, naming the field.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import schema
from ._paths import config_dir
from .api import simulate
from .errors import ConfigError
from .output import atomic_write_text, write_result
from .plots import plot_result
from .report import summary_table
from .scenario import compose, resolve


def run(cfg: DictConfig) -> int:
    """Simulate ``cfg``, print the table, write the files. Returns the process exit code."""
    try:
        scenario = resolve(cfg)
        result = simulate(scenario)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    out = scenario["output"]
    out_dir = Path(out["dir"]) if out["dir"] else Path(HydraConfig.get().runtime.output_dir)
    paths = write_result(result, scenario, out_dir)
    table = summary_table(result)
    atomic_write_text(out_dir / "summary.txt", table + "\n")
    if out["plot"]:
        plot_result(result, out_dir / "flops_breakdown")
    if out["print_table"]:
        print(table)
        print(f"written: {paths['json'].parent}")
    return 0 if result.feasible else 3


def _precheck(argv: list[str]) -> int:
    """Compose a single run's overrides before Hydra does, so that an unknown preset, key or
    bad type gets simsim's one-line message (exit 2) instead of Hydra's. Runs with flags
    (``-m``, ``--cfg`` ...) are left to Hydra."""
    if any(a.startswith("-") for a in argv):
        return 0
    overrides = [a for a in argv if not a.lstrip("+~").startswith(("hydra.", "hydra/"))]
    try:
        compose(overrides)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    return 0


def _print_problems(exc: ConfigError) -> None:
    print("simsim: invalid scenario:", file=sys.stderr)
    for line in exc.problems:
        print(f"  {line}", file=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    schema.register()
    if code := _precheck(sys.argv[1:]):
        sys.exit(code)

    @hydra.main(version_base=None, config_path=str(config_dir()), config_name="config")
    def _app(cfg: DictConfig) -> None:
        code = run(cfg)
        if code == 2:
            sys.exit(code)

    _app()


if __name__ == "__main__":
    main()
