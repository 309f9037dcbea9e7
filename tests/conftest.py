from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import simsim
from simsim.scenario import arch_from_model, compose_dict

REPO = Path(__file__).resolve().parents[1]


def scenario(*overrides: str) -> simsim.Scenario:
    """A resolved, validated scenario, built without an OmegaConf round trip (Hydra runs once per
    distinct preset selection in a test session)."""
    return simsim.resolve(compose_dict(list(overrides)))


def arch(*overrides: str):
    return arch_from_model(scenario(*overrides).model)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m simsim`` as a user would, from ``cwd``."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "simsim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tmp_cwd(tmp_path: Path) -> Path:
    return tmp_path


def matches_published(got: float, published: float, unit: float) -> bool:
    """A count against a published figure: within 1%, or the figure's own rounding where that
    is larger (half a unit of its last digit either way, or one unit upward for a truncated
    figure: "3.3B activated" for 3.35B)."""
    rounded = abs(got / published - 1.0) <= max(0.01, 0.5 * unit / published)
    truncated = published <= got < published + unit
    return rounded or truncated
