"""The hostile-input battery (issue 14).

* Every numeric field of the scenario, in a dense and an MoE scenario, set to -1, 0, NaN and
  infinity: each case ends either in one ConfigError that names the field, or in a result whose
  every number is finite (a value the physics accepts, such as a zero latency). No traceback, no
  NaN or Infinity in a result.
* Bad `simsim` command lines (wrong types, unknown keys and presets, layout contradictions, bad
  sweep axes): exit 2, the field named, no traceback, and no output directory left behind.
* A public config.json broken one way at a time (text, null, NaN, fractional, infinite and
  missing fields, an unknown architecture, MoE keys on a dense type): a ConfigError naming
  model.path and the key.
* Property-based (Hypothesis): any numeric field of either scenario set to any hostile value
  (huge, tiny, negative, fractional, NaN, infinite, or of the wrong type: text, a list, a
  boolean, null) through a plain mapping, as a notebook or a script would pass it: a ConfigError
  naming the field, or a result whose every number is finite."""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from operator import attrgetter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simsim
from simsim import ConfigError
from simsim.schema import replace_path, set_path

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


#: Bad command lines of the `simsim` CLI, each with the field or flag its error must name.
CLI_CASES = [
    ("model.n_layers=abc", "model.n_layers"),
    ("model.n_layers=4096.7", "model.n_layers"),
    ("cluster.n_gpus=-1", "cluster.n_gpus"),
    ("cluster.n_gpus=[1,2]", "cluster.n_gpus"),
    ("training.tokens=inf", "training.tokens"),
    ("training.seq_len=", "training.seq_len"),
    ("cluster.pue=nan", "cluster.pue"),
    ("foo.bar=1", "foo"),
    ("hardware=nope", "hardware=nope"),
    ("model=nope", "model=nope"),
    ("software=nope", "software=nope"),
    ("experiment=nope", "experiment=nope"),
    ("training.precision=fp4", "training.precision"),
    ("parallel.schedule=nope", "parallel.schedule"),
    ("parallel.tp=3", "parallel.tp"),
    ("parallel.dp=7", "parallel.dp"),
    ("efficiency.mode=fast", "efficiency.mode"),
    ("software.moe_dispatcher=nccl", "software.moe_dispatcher"),
    ("sweep.axes.hardware=[h100_sxm,nope]", "sweep.axes.hardware"),
    ("sweep.axes.cluster.n_gpus=[64,-1]", "sweep.axes.cluster.n_gpus"),
    ("sweep.axes.training.tokens=[1e12,inf]", "sweep.axes.training.tokens"),
]


@pytest.mark.parametrize(("override", "named"), CLI_CASES, ids=[c for c, _ in CLI_CASES])
def test_a_bad_command_line_exits_2_naming_the_field_and_writes_nothing(
    override: str, named: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # fmt: skip
    import sys

    from simsim import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simsim", override, "output.dir=out"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert named in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()  # no partial, stale or empty output


#: A public config.json broken one way at a time: the key its error must name.
HF_CASES = {
    "hidden_size is text": ({"hidden_size": "abc"}, "hidden_size"),
    "hidden_size is null": ({"hidden_size": None}, "hidden_size"),
    "hidden_size is NaN": ({"hidden_size": math.nan}, "hidden_size"),
    "hidden_size is fractional": ({"hidden_size": 4096.7}, "hidden_size"),
    "vocab_size is infinite": ({"vocab_size": math.inf}, "vocab_size"),
    "num_hidden_layers is missing": ({"num_hidden_layers": ...}, "num_hidden_layers"),
    "num_attention_heads is negative": ({"num_attention_heads": -4}, "num_attention_heads"),
    "an unknown architecture": ({"model_type": "mystery"}, "model_type"),
    "MoE keys on a dense type": ({"num_experts": 8}, "num_experts"),
}


@pytest.mark.parametrize("case", list(HF_CASES))
def test_a_broken_config_json_is_named(case: str, tmp_path: Any):
    import json

    from .conftest import REPO

    changes, named = HF_CASES[case]
    path = REPO / "tests" / "data" / "hf_public" / "llama3_1_8b" / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is ...:
            cfg.pop(key)
        else:
            cfg[key] = value
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps(cfg), encoding="utf-8")  # NaN and Infinity as Python writes them
    with pytest.raises(ConfigError) as exc:
        simsim.simulate(simsim.compose(["model=hf", f"model.path={bad}"]))
    assert named in str(exc.value) and "model.path" in str(exc.value), str(exc.value)


#: Hostile values of any kind for a numeric field.
HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e300, -1e300, 1e-300, 0.5, 4096.7, -0.0]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.booleans(),
    st.none(),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from([(b, p) for b, p, v in CASES if v == -1.0]), value=HOSTILE)
def test_any_hostile_value_is_named_or_harmless(case: tuple[str, str], value: Any):
    base, path = case
    data = _base(base).to_dict()
    set_path(data, path, value, "")
    try:
        r = simsim.simulate(data)
    except ConfigError as e:
        assert path in str(e), str(e)
        return
    bad = [k for k, v in r.to_row().items() if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, f"{path}={value!r}: non-finite {bad}"


#: Bad flags of the other console scripts, each with the flag its one-line error must name.
SCRIPT_CASES = [
    ("simsim.validation_report", ["--metric", "nope"], "--metric"),
    ("simsim.validation_report", ["--mode", "fast"], "--mode"),
    ("simsim.validation_report", ["--run", "no-such-run-xyz"], "--run"),
    ("simsim.calibrate", ["--software", "nope"], "software='nope'"),
    ("simsim.calibrate", ["--bogus"], "--bogus"),
    ("simsim.export_report", ["--variant", "nope"], "--variant nope"),
    ("simsim.export_report", ["--n-reference", "0"], "--n-reference 0"),
    ("simsim.export_report", ["--model", "nope"], "--model nope"),
]


@pytest.mark.parametrize(("module", "argv", "named"), SCRIPT_CASES,
                         ids=[" ".join(a) for _, a, _ in SCRIPT_CASES])  # fmt: skip
def test_a_bad_flag_of_any_console_script_exits_2_naming_it(
    module: str, argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
):
    import importlib

    main = importlib.import_module(module).main
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    # one error line naming the flag (argparse puts its usage block above it)
    lines = [line for line in err.splitlines() if line.startswith("simsim-")]
    assert len(lines) == 1 and named in lines[0], err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted({p for b, p, v in CASES if b == "dense" and v == -1.0})),
       values=st.lists(HOSTILE, min_size=1, max_size=2))  # fmt: skip
def test_any_hostile_sweep_axis_is_named_or_harmless(path: str, values: list[Any]):
    """The same hostile values as sweep axes (a cheap, vectorised axis or a structural one):
    a ConfigError naming ``sweep.axes.<path>``, or a table whose feasible rows are finite."""
    import numpy as np

    try:
        df = simsim.sweep(_base("dense"), {path: values})
    except ConfigError as e:
        assert path in str(e), str(e)
        return
    feasible = df["feasible"].to_numpy(dtype=bool)
    numbers = df[feasible].select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(numbers).all(), f"{path}={values!r}"
