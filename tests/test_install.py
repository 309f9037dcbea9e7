"""An installed simsim (not the source tree) finds its presets from any directory."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

#: One pytest-xdist worker runs this file (its tests share one wheel).
pytestmark = pytest.mark.xdist_group("wheel")
#: What a source distribution leaves out: caches, the venv, build output and results.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "results"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # built from a copy of the sources: other test processes write byte-code caches into the
    # tree meanwhile, which a build walking the tree itself can trip over
    src = tmp_path_factory.mktemp("src") / "simsim"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (whl,) = out.glob("simsim-*.whl")
    return whl


def test_wheel_ships_configs(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("config.yaml", "model/deepseek_v3.yaml", "hardware/h800_sxm.yaml",
              "experiment/deepseek_v3.yaml", "software/megascale.yaml"):  # fmt: skip
        assert f"simsim/configs/{f}" in names
    assert "simsim/data/references.md" in names  # what the presets' source keys resolve to


def test_repository_is_self_contained():
    # no link or source key points outside the repository: nothing cites ../shared or its
    # source list, and sources are named in words (simsim/data/references.md lists them)
    files = [*REPO.glob("configs/**/*.yaml"), *REPO.glob("simsim/**/*.py"),
             *REPO.glob("simsim/data/*"), REPO / "README.md", *REPO.glob("docs/*.md"),
             *REPO.glob("notebooks/*.py"), *REPO.glob("tests/*.py")]  # fmt: skip
    key = re.compile(r"\[S\d+[a-z]?(?:[,\]]| )")
    for path in files:
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8")
        assert "shared/" not in text and "formulas.md" not in text, path
        assert not key.search(text), f"{path.relative_to(REPO)} cites a bare [Sx] source key"


def test_installed_package_runs_from_elsewhere(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # -S: no site module, so the editable install's path hook (.pth) is not loaded; the
    # dependencies come from site-packages added by hand, simsim from the installed wheel.
    purelib = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path[:0] = [{str(target)!r}, {purelib!r}];"
        "import simsim, simsim._paths as p;"
        "print(p.config_dir());"
        "print(simsim.simulate(simsim.compose(['model=llama3_8b'])).total_params)"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    config_dir, params = proc.stdout.split()
    assert config_dir.startswith(str(target))
    assert float(params) == pytest.approx(8.03e9, rel=0.01)
