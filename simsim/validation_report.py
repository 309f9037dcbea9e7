"""``simsim-validate``: the validation table, its summary, a parity plot and the README section.

simsim-validate                         # everything, leave one family out, into results/validation/
simsim-validate --in-sample             # with the shipped (fitted) constants
simsim-validate --metric gpu_hours --hardware H800
simsim-validate --run 'megatron21-*' --out /tmp/v
simsim-validate --update-readme README.md   # rewrite the "How accurate" section from the run
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import NullLocator

from .intervals import coverage, residual_groups
from .output import atomic_write_text, staged_output, write_csv
from .plots import format_log_axis, save_figure, styled, subplots
from .validation import METRICS, STEADY_METRICS, UNITS, layout_ranking, summarize, validate

README_START = "<!-- validation:start (written by simsim-validate --update-readme) -->"
README_END = "<!-- validation:end -->"
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def _fmt(x: float | None, metric: str) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if metric == "mfu":
        return f"{100 * x:.1f}%"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or np.isnan(x):
        return "n/a"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def format_table(df: pd.DataFrame) -> str:
    """The validation rows as aligned text, worst first, with the signed error."""
    header = (
        f"{'run':<28} {'hardware':<10} {'metric':<15} {'published':>12} {'simsim':>12} "
        f"{'error':>8}  status      source"
    )
    lines = [header, "-" * len(header)]
    for r in df.to_dict("records"):
        m = str(r["metric"])
        lines.append(
            f"{r['run']:<28} {r['family']:<10} {m:<15} {_fmt(r['published'], m):>12} "
            f"{_fmt(r['predicted'], m):>12} {_pct(r['error_pct'], True):>8}  "
            f"{r['status']:<11} {r['source']}"
        )
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame) -> str:
    lines = [
        f"{'metric':<15} {'group':<16} {'n':>3} {'median |err|':>13} {'worst |err|':>12}  worst run"
    ]
    for r in summary.to_dict("records"):
        extra = f" (+{r['n_no_prediction']} without prediction)" if r["n_no_prediction"] else ""
        lines.append(
            f"{r['metric']:<15} {r['group']:<16} {r['n']:>3} "
            f"{_pct(r['median_abs_error_pct']):>13} {_pct(r['worst_abs_error_pct']):>12}  "
            f"{r['worst_run'] or ''}{extra}"
        )
    return "\n".join(lines)


def summary_markdown(summary: pd.DataFrame) -> str:
    """The headline summary as a Markdown table for the README: steady-state throughput (MFU,
    TFLOP/s, tokens/s, step time pooled) overall and per class, then each whole-run and
    accounting metric."""
    steady = summary[summary["metric"] == "steady_state"]
    rows = [r for r in steady.to_dict("records") if r["group"] == "all"]
    rows += [r for r in steady.to_dict("records") if r["group"].startswith("class=")]
    rows += [
        r for r in summary.to_dict("records")
        if r["metric"] not in ("steady_state", *STEADY_METRICS) and r["group"] == "all"
    ]  # fmt: skip
    out = [
        "| what | runs | median abs. error | worst abs. error (run) | mean signed error |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["median_abs_error_pct"] is None or np.isnan(r["median_abs_error_pct"]):
            continue
        label = "steady state (MFU, TFLOP/s, tokens/s, step time)" if r["metric"] == (
            "steady_state") else r["metric"]  # fmt: skip
        if r["group"].startswith("class="):
            label = f"steady state, {r['group'].partition('=')[2]}"
        missing = f" (+{r['n_no_prediction']} infeasible)" if r["n_no_prediction"] else ""
        out.append(
            f"| {label} | {r['n']}{missing} | {r['median_abs_error_pct']:.1f}% | "
            f"{r['worst_abs_error_pct']:.1f}% ({r['worst_run']}) | "
            f"{r['mean_signed_error_pct']:+.1f}% |"
        )
    return "\n".join(out)


@styled
def parity_plot(df: pd.DataFrame, stem: Path) -> list[Path]:
    """Predicted vs published, log axes, one panel per metric, one marker per hardware family,
    filled = dense, hollow = MoE; the diagonal and +-10% and +-25% bands."""
    ok = df.dropna(subset=["predicted"])
    metrics = [m for m in METRICS if m in set(ok["metric"])]
    families = sorted(set(ok["family"]))
    marker = {f: MARKERS[i % len(MARKERS)] for i, f in enumerate(families)}
    colors = {f: f"C{i % 10}" for i, f in enumerate(families)}
    ncol = min(3, max(1, len(metrics)))
    nrow = int(np.ceil(len(metrics) / ncol)) or 1
    fig, axes = subplots(
        nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), layout="constrained", squeeze=False
    )
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        sub = ok[ok["metric"] == metric]
        for (fam, arch, headline), g in sub.groupby(["family", "arch", "headline"], sort=True):
            color = colors[fam]
            ax.scatter(
                g["published"], g["predicted"], marker=marker[fam], s=36 if headline else 18,
                facecolors=color if arch == "dense" else "none", edgecolors=color,
                alpha=1.0 if headline else 0.45,
                label=f"{fam}, {arch}" + ("" if headline else " (derived/unverified)"),
            )  # fmt: skip
        lo = float(min(sub["published"].min(), sub["predicted"].min())) / 1.5
        hi = float(max(sub["published"].max(), sub["predicted"].max())) * 1.5
        xs = np.geomspace(lo, hi, 50)
        ax.plot(xs, xs, color="0.2", lw=0.8)
        # the accuracy bars the issues set: 10% (steady state) inside 25% (worst case)
        ax.fill_between(xs, xs / 1.25, xs * 1.25, color="0.92", zorder=0, label="±25%")
        ax.fill_between(xs, xs / 1.10, xs * 1.10, color="0.8", zorder=0, label="±10%")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
        for axis in (ax.xaxis, ax.yaxis):  # the 1-2-5 major ticks and their grid carry the scale
            format_log_axis(axis)
            axis.set_minor_locator(NullLocator())
        ax.set_xlabel(f"published {metric} [{UNITS[metric]}]")
        ax.set_ylabel(f"simsim [{UNITS[metric]}]")
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    # one legend for the figure: the families and bands repeat from panel to panel
    legend: dict[str, Any] = {}
    for ax in axes.ravel()[: len(metrics)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=4, fontsize=7)
    fig.suptitle("simsim vs published training runs (filled: dense, hollow: MoE)", fontsize=10)
    return save_figure(fig, stem)


def ranking_markdown(ranking: pd.DataFrame) -> str:
    """The layout-ranking table (Spearman rho per model with >= 3 published layouts)."""
    if ranking.empty:
        return "No model in the reference set has 3 or more published layouts on one cluster."
    out = ["| layouts of | metric | layouts | Spearman rho |", "|---|---|---|---|"]
    for r in ranking.to_dict("records"):
        out.append(f"| {r['group']} | {r['metric']} | {r['n_layouts']} | {r['spearman']:+.2f} |")
    return "\n".join(out)


def write_outputs(df: pd.DataFrame, summary: pd.DataFrame, out: Path) -> list[Path]:
    paths = [out / "validation.csv", out / "summary.csv", out / "summary.md"]
    for frame, path in ((df, paths[0]), (summary, paths[1])):
        write_csv(frame, path)
    ranking = layout_ranking(df)
    md = summary_markdown(summary) + "\n\nLayout ranking:\n\n" + ranking_markdown(ranking)
    if df["check"].eq("performance").any() and "steady" in df:
        md += "\n\nPrediction intervals:\n\n" + coverage_markdown(df)
    atomic_write_text(paths[2], md + "\n")
    if not ranking.empty:
        paths.append(out / "ranking.csv")
        write_csv(ranking, paths[-1])
    if len(df.dropna(subset=["predicted"])):
        paths += parity_plot(df, out / "parity")
    return paths


def coverage_markdown(df: pd.DataFrame) -> str:
    """Coverage and median width of the 80% prediction intervals on held-out rows."""
    rows = coverage(df)
    out = [
        "| 80% interval, held out by study | rows | coverage | median width (P90/P10 - 1) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['group']} | {r['rows']} | {100 * r['coverage']:.0f}% | "
            f"{100 * r['median_width']:.0f}% |"
        )
    return "\n".join(out)


def readme_section(df: pd.DataFrame, summary: pd.DataFrame) -> str:
    """The README's validation section: the error summary and the interval coverage."""
    return f"{summary_markdown(summary)}\n\n{coverage_markdown(df)}"


def residuals_json(df: pd.DataFrame, fixed: pd.DataFrame) -> str:
    """The held-out residuals simsim's prediction intervals use (simsim/data/residuals.json):
    the derived model's (``groups``) and the constant-MFU prior's (``fixed_groups``)."""
    data = {
        "note": "log(published / predicted) of the headline rows of simsim-validate, leave one "
        "family out; throughput sense for steady-state rows, GPU-hours for whole runs; "
        "fixed_groups from --mode fixed. Written by `simsim-validate --update-residuals`; read "
        "by simsim.intervals.",
        "groups": residual_groups(df),
        "fixed_groups": residual_groups(fixed),
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


_SECTION = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)


def readme_problem(readme: Path) -> str | None:
    """Why ``readme`` cannot take a validation section (None: it can)."""
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read it ({getattr(exc, 'strerror', None) or exc})"
    if not _SECTION.search(text):
        return f"no '{README_START}' ... '{README_END}' markers"
    return None


def update_readme(readme: Path, section: str) -> bool:
    """Replace the text between the validation markers; return whether the file changed."""
    problem = readme_problem(readme)
    if problem:
        raise SystemExit(f"{readme}: {problem}")
    text = readme.read_text(encoding="utf-8")
    new = _SECTION.sub(lambda _: f"{README_START}\n{section}\n{README_END}", text)
    if new != text:
        atomic_write_text(readme, new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="simsim-validate", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--metric", action="append", choices=METRICS, help="keep this metric (repeatable)"
    )
    ap.add_argument("--run", help="regular expression (or glob with *) on run id and name")
    ap.add_argument("--hardware", help="hardware family (H800, A100, 'TPU v3' ...) or preset name")
    ap.add_argument(
        "--mode",
        choices=("fixed", "derived"),
        default="derived",
        help="efficiency mode of the predictions (derived: calibration runs shown apart)",
    )
    ap.add_argument(
        "--in-sample",
        action="store_true",
        help="derived mode with the shipped constants, fitted on these very rows (default: "
        "leave one family out, each study predicted with constants fitted on the others)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default results/validation, or results/validation_fixed; with a "
        "filter, nothing is written unless --out is given)",
    )
    ap.add_argument(
        "--update-readme", type=Path, metavar="README", help="rewrite its validation section"
    )
    ap.add_argument(
        "--update-residuals",
        type=Path,
        metavar="JSON",
        help="rewrite the held-out residuals the prediction intervals use "
        "(simsim/data/residuals.json)",
    )
    args = ap.parse_args(argv)
    filtered = bool(args.metric or args.run or args.hardware)
    updates = args.update_readme or args.update_residuals
    if updates and (filtered or args.mode != "derived" or args.in_sample):
        print(
            "simsim-validate: --update-readme and --update-residuals need the whole reference "
            "set, leave one family out; drop --metric, --run, --hardware, --mode and --in-sample",
            file=sys.stderr,
        )
        return 2
    # the files to update are checked before anything is computed or written
    problem = None
    if args.update_readme and (why := readme_problem(args.update_readme)):
        problem = f"--update-readme {args.update_readme}: {why}"
    target = args.update_residuals
    if target and (target.is_dir() or not target.parent.is_dir()):
        problem = f"--update-residuals {target}: " + (
            "is a folder" if target.is_dir() else f"no folder {target.parent}"
        )
    if problem:
        print(f"simsim-validate: {problem}", file=sys.stderr)
        return 2
    try:
        df = validate(
            metric=args.metric, run=args.run, hardware=args.hardware, mode=args.mode,
            lofo=False if args.in_sample else None,
        )  # fmt: skip
    except ValueError as exc:
        print(f"simsim-validate: {exc}", file=sys.stderr)
        return 2
    if df.empty:
        given = " ".join(f"--{k} {v!r}" for k, v in
                         (("metric", args.metric), ("run", args.run), ("hardware", args.hardware))
                         if v)  # fmt: skip
        print(f"simsim-validate: no published figure matches {given}", file=sys.stderr)
        return 2
    summary = summarize(df)
    suffix = "_fixed" if args.mode == "fixed" else ("_in_sample" if args.in_sample else "")
    out = args.out or Path("results/validation" + suffix)
    head = df[df["headline"]]
    calib = df[df["role"] == "calibration"]
    rest = df[~df["headline"] & (df["role"] != "calibration")]
    derived = args.mode == "derived"
    lofo = " Leave one family out." if derived and not args.in_sample else ""
    print(
        f"Mode {args.mode}.{lofo} Headline (primary and secondary published figures), "
        "worst first:\n"
    )
    print(format_table(head))
    if len(calib):
        print("\nCalibration runs (the fitted constant was chosen on these; not in the summary):\n")
        print(format_table(calib))
    if len(rest):
        print("\nDerived or unverified published figures (not in the summary):\n")
        print(format_table(rest))
    print("\nSummary (headline rows):\n")
    print(format_summary(summary))
    if filtered and args.out is None:
        # a filtered table never replaces the curated one (results/validation/)
        print("\nnot written (a filtered table; give --out DIR to keep it)")
        return 0
    try:  # one complete set of files or none (simsim.output.staged_output)
        with staged_output(out) as staging:
            paths = [out / p.name for p in write_outputs(df, summary, staging)]
    except OSError as exc:
        print(f"simsim-validate: --out {out}: cannot write there ({exc.strerror or exc})",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    if args.update_readme:
        changed = update_readme(args.update_readme, readme_section(df, summary))
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}")
    if args.update_residuals:
        fixed = validate(mode="fixed")
        atomic_write_text(args.update_residuals, residuals_json(df, fixed))
        print(f"{args.update_residuals}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
