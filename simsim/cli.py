"""Command line: ``simsim key=value ...`` (a Hydra app; ``simsim -m ...`` for multirun).

Each run prints the summary table and writes ``result.json``, ``result.csv``, ``summary.txt``
and ``flops_breakdown.{png,svg}`` into its output directory (Hydra's run or sweep directory, or
``output.dir``). Bad input ends with exit code 2 and one message per problem, naming the field.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ._paths import available_presets, config_dir
from .api import simulate
from .errors import ConfigError
from .output import atomic_write, atomic_write_text, staged_output, write_csv, write_result
from .plots import plot_costs, plot_result
from .report import summary_table
from .scenario import compose_dict, resolve_all
from .schema import AppConfig, Scenario, schema_keys


def run(cfg: DictConfig | dict[str, Any], run_dir: Path | None = None) -> int:
    """Simulate ``cfg``, print the table, write the files. Returns the process exit code: 0, 2
    for bad input (one line per problem on stderr, nothing written), 3 for an infeasible
    scenario.

    The output goes to ``output.dir``, else ``run_dir``, else Hydra's run directory; it is
    published whole or not at all (:func:`simsim.output.staged_output`).
    """
    try:
        scenario, app = resolve_all(cfg)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    out = app.output
    if out.dir:
        out_dir, where = Path(out.dir), "output.dir"
    elif run_dir is not None:
        out_dir, where = run_dir, "hydra.run.dir"
    else:
        out_dir, where = Path(HydraConfig.get().runtime.output_dir), "hydra.run.dir"
    try:
        with staged_output(out_dir) as stage:
            if app.report.name:
                return _report(app, stage, out_dir)
            if app.sweep.axes:
                return _sweep(scenario, app, stage, out_dir)
            result = simulate(scenario)
            write_result(result, scenario, app, stage)
            table = summary_table(result)
            atomic_write_text(stage / "summary.txt", table + "\n")
            if out.plot:
                plot_result(result, stage / "flops_breakdown")
                plot_costs(result, scenario, stage / "cost_breakdown")
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"simsim: {where}={out_dir}: cannot write there ({reason})", file=sys.stderr)
        return 2
    if out.print_table:
        print(table)
        print(f"written: {out_dir}")
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


def _sweep(scenario: Scenario, app: AppConfig, stage: Path, out_dir: Path) -> int:
    """``sweep.axes.*`` given: evaluate the grid, write ``sweep.csv``."""
    from .sweeps import sweep  # on use: pandas costs ~0.5 s of every run's start-up

    t0 = time.perf_counter()
    df = sweep(scenario, app.sweep.axes)
    dt = time.perf_counter() - t0
    write_csv(df, stage / "sweep.csv")
    atomic_write(stage / "sweep.parquet", lambda p: df.to_parquet(p, index=False))
    print(df.head(20).to_string(index=False, float_format=_readable))
    print(f"{len(df):,} points in {dt:.2f} s; written: {out_dir / 'sweep.csv'} and sweep.parquet")
    return 0


def _readable(v: float) -> str:
    """Table numbers without scientific notation: 4 significant digits below 10,000, whole
    numbers with thousands separators above (FLOP counts keep an exponent)."""
    if v != v:  # NaN
        return "n/a"
    if abs(v) >= 1e15:
        return f"{v:.3e}"
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def _report(app: AppConfig, stage: Path, out_dir: Path) -> int:
    """Run a report preset (``export_controls``, ``dense_vs_moe``); write its table and plot."""
    # on use: pandas costs ~0.5 s of every run's start-up
    from .export_report import format_headline, format_variance_share, headline, write_headline
    from .frontier import (
        anchors,
        counterfactual,
        format_counterfactual,
        format_frontier,
        format_rule_multipliers,
        frontier,
        write_frontier,
    )
    from .planner import CHIPS
    from .scaling_report import dense_vs_moe, format_dense_vs_moe, write_dense_vs_moe

    rep = app.report
    if rep.name == "export_controls":
        df = headline(list(rep.models), list(rep.hardware), rep.reference or "h100_sxm")
        print(format_headline(df))
        print(format_variance_share(df))
        paths = write_headline(df, stage)
    elif rep.name == "frontier":
        df = frontier(tuple(rep.hardware) or CHIPS)
        marks = anchors(df)
        print(format_frontier(df))
        print(format_rule_multipliers(df))
        print(marks.to_string(index=False, float_format=_readable))
        paths = write_frontier(df, marks, stage)
    elif rep.name == "counterfactual":
        df = counterfactual()
        print(format_counterfactual(df))
        paths = [write_csv(df, stage / "counterfactual.csv")]
    else:
        overrides = [f"model={m}" for m in rep.models[:1]] or ["experiment=deepseek_v3"]
        df = dense_vs_moe(overrides, list(rep.hardware))
        print(format_dense_vs_moe(df))
        paths = write_dense_vs_moe(df, stage)
    print(f"written: {', '.join(str(out_dir / p.name) for p in paths)}")
    return 0


#: Hydra's default run directory (configs/config.yaml ``hydra.run.dir``), for runs simsim starts
#: without Hydra's app machinery.
RUN_DIR = "results/runs/{model}__{hardware}/{time:%Y-%m-%d_%H-%M-%S}"


def _direct(argv: list[str]) -> int | None:
    """A single run without Hydra flags: compose once (presets through Hydra, cached) and run,
    without Hydra's app machinery (which composes the config twice more). ``hydra.run.dir=...``
    is honoured; any other Hydra setting or flag returns None (Hydra runs the app)."""
    run_dir: Path | None = None
    overrides = []
    for a in argv:
        if a.startswith("hydra.run.dir="):
            run_dir = Path(a.split("=", 1)[1])
        elif a.startswith(("-", "hydra.", "hydra/", "+hydra")):
            return None
        else:
            overrides.append(a)
    try:
        data = compose_dict(overrides)
        if run_dir is None:
            model = data.get("model") or {}
            hardware = data.get("hardware") or {}
            name = model.get("name") if model.get("name") not in (None, "???") else "hf"
            run_dir = Path(
                RUN_DIR.format(model=name, hardware=hardware.get("name"), time=datetime.now())
            )
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    return run(data, run_dir)


HELP = """\
usage: simsim [key=value ...]            one scenario: table on stdout, files in the run dir
       simsim -m key=a,b key=c,d ...      Hydra multirun: every combination, merged.csv at the end
       simsim sweep.axes.<field>=[...]    one vectorised sweep: sweep.csv and sweep.parquet
       simsim --hydra-help                Hydra's own flags (--cfg job, --info, launchers ...)

What it answers: FLOPs, GPU-hours, wall-clock, energy, money and CO2 of training a model on a
cluster, from the model shape, the chip, the parallel layout and the software stack.

Presets (choose with group=name):
{presets}

Keys by group (set with group.key=value; e.g. cluster.n_gpus=4096 training.precision=fp8):
{keys}

Exit codes: 0 done, 2 bad input (one line per problem, naming the field), 3 infeasible scenario
(no layout fits; the reason is in the table and result.json).
Examples:
  simsim experiment=deepseek_v3
  simsim model=llama3_405b hardware=h100_sxm cluster.n_gpus=16384 parallel.tp=8
  simsim sweep.axes.hardware=[h100_sxm,h800_sxm,h20] sweep.axes.cluster.n_gpus=[1024,2048]
"""


def _help() -> str:
    presets = "\n".join(
        f"  {g:<11} {', '.join(available_presets(g))}"
        for g in ("experiment", "model", "hardware", "software")
    )
    keys = "\n".join(
        f"  {g:<11} {', '.join(schema_keys(g))}"
        for g in ("training", "cluster", "parallel", "efficiency", "output")
    )
    return HELP.format(presets=presets, keys=keys)


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: staging folders are removed, nothing is published."""
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM end the run without a traceback and
    without partial output."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _main()
    except KeyboardInterrupt:
        print("simsim: interrupted; nothing was written", file=sys.stderr)
        sys.exit(130)


def _main() -> None:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(_help())
        sys.exit(0)
    sys.argv[1:] = ["--help" if a == "--hydra-help" else a for a in sys.argv[1:]]
    # sweep axes are new keys of an open dict: add Hydra's "+" for the user
    sys.argv[1:] = [f"+{a}" if a.startswith("sweep.axes.") else a for a in sys.argv[1:]]
    direct = _direct(sys.argv[1:])
    if direct is not None:
        sys.exit(direct)
    if code := _precheck(sys.argv[1:]):
        sys.exit(code)

    @hydra.main(version_base=None, config_path=str(config_dir()), config_name="config")
    def _app(cfg: DictConfig) -> None:
        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            # a bad job is recorded (error.json; merged.csv lists it as failed) and the
            # multirun goes on with the others
            try:
                resolve_all(cfg)
            except ConfigError as exc:
                _print_problems(exc)
                out = Path(hc.runtime.output_dir)
                atomic_write_text(
                    out / "error.json", json.dumps({"error": exc.problems}, indent=2) + "\n"
                )
                return
        code = run(cfg)
        if code == 2:
            sys.exit(code)

    _app()


if __name__ == "__main__":
    main()
