"""Command line: ``simsim key=value ...`` (a Hydra app; ``simsim -m ...`` for multirun).

Each run prints the summary table and writes ``result.json``, ``result.csv``, ``summary.txt``
and ``flops_breakdown.{png,svg}`` into its output directory (Hydra's run or sweep directory, or
``output.dir``). Bad input ends with exit code 2 and one message per problem, naming the field.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ._paths import config_dir
from .api import simulate
from .errors import ConfigError
from .output import atomic_write, atomic_write_text, write_csv, write_result
from .plots import plot_costs, plot_result
from .report import summary_table
from .scenario import compose_dict, resolve_all
from .schema import AppConfig, Scenario


def run(cfg: DictConfig) -> int:
    """Simulate ``cfg``, print the table, write the files. Returns the process exit code."""
    try:
        scenario, app = resolve_all(cfg)
        out = app.output
        out_dir = Path(out.dir) if out.dir else Path(HydraConfig.get().runtime.output_dir)
        if app.report.name:
            return _report(app, out_dir)
        if app.sweep.axes:
            return _sweep(scenario, app, out_dir)
        result = simulate(scenario)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    paths = write_result(result, scenario, app, out_dir)
    table = summary_table(result)
    atomic_write_text(out_dir / "summary.txt", table + "\n")
    if out.plot:
        plot_result(result, out_dir / "flops_breakdown")
        plot_costs(result, scenario, out_dir / "cost_breakdown")
    if out.print_table:
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
        resolve_all(compose_dict(overrides))
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    return 0


def _print_problems(exc: ConfigError) -> None:
    print("simsim: invalid scenario:", file=sys.stderr)
    for line in exc.problems:
        print(f"  {line}", file=sys.stderr)


def _sweep(scenario: Scenario, app: AppConfig, out_dir: Path) -> int:
    """``sweep.axes.*`` given: evaluate the grid, write ``sweep.csv``."""
    from .sweeps import sweep  # on use: pandas costs ~0.5 s of every run's start-up

    t0 = time.perf_counter()
    df = sweep(scenario, app.sweep.axes)
    dt = time.perf_counter() - t0
    write_csv(df, out_dir / "sweep.csv")
    atomic_write(out_dir / "sweep.parquet", lambda p: df.to_parquet(p, index=False))
    print(df.head(20).to_string(index=False))
    print(f"{len(df):,} points in {dt:.2f} s; written: {out_dir / 'sweep.csv'} and sweep.parquet")
    return 0


def _report(app: AppConfig, out_dir: Path) -> int:
    """Run a report preset (``export_controls``, ``dense_vs_moe``); write its table and plot."""
    # on use: pandas costs ~0.5 s of every run's start-up
    from .export_report import format_headline, headline, write_headline
    from .scaling_report import dense_vs_moe, format_dense_vs_moe, write_dense_vs_moe

    rep = app.report
    if rep.name == "export_controls":
        df = headline(list(rep.models), list(rep.hardware), rep.reference or "h100_sxm")
        print(format_headline(df))
        paths = write_headline(df, out_dir)
    else:
        overrides = [f"model={m}" for m in rep.models[:1]] or ["experiment=deepseek_v3"]
        df = dense_vs_moe(overrides, list(rep.hardware))
        print(format_dense_vs_moe(df))
        paths = write_dense_vs_moe(df, out_dir)
    print(f"written: {', '.join(map(str, paths))}")
    return 0


def main() -> None:
    """Console-script entry point."""
    # sweep axes are new keys of an open dict: add Hydra's "+" for the user
    sys.argv[1:] = [f"+{a}" if a.startswith("sweep.axes.") else a for a in sys.argv[1:]]
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
