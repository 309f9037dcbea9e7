"""Writing results: ``result.json`` (resolved config + version + every field), ``result.csv``
(one row) and the plot, each written atomically (temporary file in the same folder, then
``os.replace``), so a crash never leaves a half-written file behind.

A run's files are first written into a staging folder inside the output directory and then
published together (:func:`staged_output`): under a lock, the files an earlier run left that this
run does not write are removed and the new ones moved in, so the directory holds one run's
complete set; two runs into one directory publish one after the other, never mixed; a run that
fails or is interrupted publishes nothing and removes its staging folder."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._version import __version__
from .result import Result
from .schema import AppConfig, Scenario, to_plain


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def write_csv(df: Any, path: Path) -> Path:
    """A pandas table as CSV, atomically: no index, 10 significant digits (money to the cent up
    to $100M), ``\n`` line ends (the same table gives the same bytes on every platform).
    Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, df.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    return path


def result_document(
    result: Result, scenario: Scenario, app: AppConfig | None = None
) -> dict[str, Any]:
    """What result.json holds: simsim's version, the resolved config (the physical scenario and
    the application settings) and every Result field."""
    config = {**scenario.to_dict(), **to_plain(app or AppConfig())}
    return {"simsim_version": __version__, "config": config, "result": result.to_dict()}


def write_result(
    result: Result, scenario: Scenario, app: AppConfig | None, out_dir: Path
) -> dict[str, Path]:
    """Write ``result.json`` and ``result.csv`` into ``out_dir``; return their paths."""
    doc = result_document(result, scenario, app)
    json_path, csv_path = out_dir / "result.json", out_dir / "result.csv"
    atomic_write_text(json_path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    row = result.to_row()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    atomic_write_text(csv_path, buf.getvalue())
    return {"json": json_path, "csv": csv_path}


#: Every file a run, a sweep or a report of the CLI writes into its output directory: a file of
#: these names that the new run does not write is an earlier run's and is removed on publishing.
OUTPUT_FILES = frozenset(
    {
        "result.json", "result.csv", "summary.txt", "sweep.csv", "sweep.parquet",
        *(f"{stem}.{ext}" for stem in ("flops_breakdown", "cost_breakdown", "export_controls",
                                       "moe_multiplier", "frontier") for ext in ("png", "svg")),
        "export_controls.csv", "variance_share.csv", "dense_vs_moe.csv", "frontier.csv",
        "frontier_anchors.csv", "rule_multipliers.csv", "counterfactual.csv",
    }
)  # fmt: skip


@contextlib.contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """A staging folder for one run's files, published into ``out_dir`` on success.

    Raises OSError when ``out_dir`` cannot be created or written (the caller names the field).
    A run that writes nothing (it failed, or its input was refused) leaves no trace: the output
    directory is removed again if this run created it and it is still empty.
    """
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".simsim-staging-", dir=out_dir))
    try:
        yield staging
        _publish(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _publish(staging: Path, out_dir: Path) -> None:
    lock_path = out_dir / ".simsim.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            new = {p.name for p in staging.iterdir()}
            for name in OUTPUT_FILES - new:
                (out_dir / name).unlink(missing_ok=True)
            for name in sorted(new):
                os.replace(staging / name, out_dir / name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
