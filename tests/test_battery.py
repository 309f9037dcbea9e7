"""The hostile-input battery: every numeric field of the scenario, in a dense and an MoE
scenario, set to -1, 0, NaN and infinity. Each case ends either in one ConfigError that names
the field, or in a result whose every number is finite (a value the physics accepts, such as a
zero latency). Nothing else: no traceback, no NaN or Infinity in a result (issue 14)."""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from operator import attrgetter
from typing import Any

import pytest

import simsim
from simsim import ConfigError
from simsim.schema import replace_path

from .conftest import scenario

BASES = {
    "dense": ("model=llama3_8b", "cluster.n_gpus=64", "uncertainty.samples=0"),
    "moe": ("experiment=deepseek_v3", "uncertainty.samples=0"),
}
VALUES = (-1.0, 0.0, math.nan, math.inf)


@cache
def _base(name: str) -> simsim.Scenario:
    return scenario(*BASES[name])


def _numeric_leaves(obj: Any, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(obj):
        value, path = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out += _numeric_leaves(value, path + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(path)
    return out


CASES = [
    (base, path, value)
    for base in BASES
    for path in _numeric_leaves(_base(base))
    if not path.startswith("uncertainty.")  # its own checks are tested in test_uncertainty
    for value in VALUES
]


def test_the_battery_is_large():
    assert len(CASES) >= 250
    assert {p for _, p, _ in CASES} >= {
        "cluster.pue",
        "training.tokens",
        "model.d_model",
        "hardware.hbm_gib",
        "efficiency.gemm_mn_half.bf16",
    }


@pytest.mark.parametrize(("base", "path", "value"), CASES, ids=lambda x: str(x))
def test_a_bad_number_is_named_or_harmless(base: str, path: str, value: float):
    sc = _base(base)
    old = attrgetter(path)(sc)
    new: Any = int(value) if isinstance(old, int) and math.isfinite(value) else value
    try:
        r = simsim.simulate(replace_path(sc, path, new))
    except ConfigError as e:
        message = str(e)
        assert path in message, message
        return
    bad = [k for k, v in r.to_row().items() if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, f"{path}={value}: non-finite {bad}"
