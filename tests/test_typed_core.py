"""The typed scenario core: one frozen Scenario built once, checked once, batched below it."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import simsim
from simsim import ConfigError
from simsim.engine import choose_layout, choose_layouts
from simsim.scenario import arch_from_model, compose_dict

from .conftest import scenario


def test_compose_returns_a_config_and_resolve_a_frozen_scenario():
    cfg = simsim.compose(["model=llama3_8b", "cluster.n_gpus=64"])
    assert cfg.cluster.n_gpus == 64  # a DictConfig users may edit before simulating
    sc = simsim.resolve(cfg)
    assert isinstance(sc, simsim.Scenario) and sc.cluster.n_gpus == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.cluster.n_gpus = 8  # type: ignore[misc]
    # the same scenario from a plain mapping, from a Scenario and from its dict
    assert simsim.resolve(sc.to_dict()) == sc
    assert simsim.simulate(sc) == simsim.simulate(cfg) == simsim.simulate(sc.to_dict())


def test_replace_changes_dotted_fields_and_validates_types():
    sc = scenario("model=llama3_8b")
    bigger = sc.replace(**{"cluster.n_gpus": 4096, "model.n_layers": 40})
    assert (bigger.cluster.n_gpus, bigger.model.n_layers) == (4096, 40)
    assert sc.cluster.n_gpus != 4096  # the original is untouched
    with pytest.raises(ConfigError, match=r"cluster.n_gpus: must be an integer, got 'many'"):
        sc.replace(**{"cluster.n_gpus": "many"})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.tokens=inf", "training.tokens: must be a finite number, got inf"),
        ("training.tokens=nan", "training.tokens: must be a finite number, got nan"),
        ("cluster.n_gpus=4096.7", "cluster.n_gpus: must be an integer, got 4096.7"),
        ("cluster.n_gpus=true", "cluster.n_gpus: must be an integer, got True"),
        ("model.tie_embeddings=3", "model.tie_embeddings: must be true or false, got 3"),
        (
            "efficiency.attention_efficiency=0",
            "efficiency.attention_efficiency=0.0 must be in (0, 1]",
        ),
        ("efficiency.gemm_fixed_us.bf16=-5", "efficiency.gemm_fixed_us.bf16=-5.0 must be >= 0"),
        ("hardware.mamf_fraction.fp8=5.0", "hardware.mamf_fraction.fp8=5.0 must be in (0, 1]"),
        ("hardware.mamf_fraction.fp9=0.5", "hardware.mamf_fraction.fp9: unknown key 'fp9'"),
        (
            "hardware.collective_efficiency=0",
            "hardware.collective_efficiency=0.0 must be in (0, 1]",
        ),
        ("hardware.dualpipe_comm_sm_fraction=1", "dualpipe_comm_sm_fraction=1.0 must be in [0, 1)"),
        ("hardware.hbm_gb=80", "hardware.hbm_gb: unknown key 'hbm_gb' in hardware; allowed:"),
        ("parallel.dp=7", "parallel.dp=7 must divide cluster.n_gpus=2048"),
        ("cluster.n_gpus=1,2", "is a multirun"),
    ],
)
def test_bad_values_are_named_errors(override: str, message: str):
    with pytest.raises(ConfigError) as exc:
        simsim.compose([override])
    assert message in str(exc.value)


@pytest.mark.parametrize("bad", ["model=llama3_8b", None, 42])
def test_wrong_argument_types_say_what_to_pass(bad):
    with pytest.raises(ConfigError, match="expected"):
        simsim.simulate(bad)
    if bad is not None:
        with pytest.raises(ConfigError, match="overrides: expected a list"):
            simsim.compose(bad)


def test_compose_is_cached_but_returns_independent_configs():
    a = simsim.compose(["model=llama3_8b"])
    a.cluster.n_gpus = 8
    b = simsim.compose(["model=llama3_8b"])
    assert b.cluster.n_gpus == 2048  # editing one composed config never leaks into the next


def test_chip_without_measured_mamf_says_so():
    r = simsim.simulate(scenario("model=llama3_8b", "hardware=ascend_910b", "cluster.n_gpus=64"))
    assert any(
        "hardware.mamf_fraction.bf16: not measured for ascend_910b" in a for a in r.assumptions
    )
    assert simsim.simulate(scenario("model=llama3_8b", "cluster.n_gpus=64")).assumptions == []


def test_batched_search_equals_one_search_per_scenario(monkeypatch: pytest.MonkeyPatch):
    # one vectorised pass per group of scenarios (different chips, GPU counts, models) must
    # choose exactly what a search per scenario chooses: layout, memory, breakdown, runners-up
    scs = [
        scenario(f"model={m}", f"hardware={hw}", f"cluster.n_gpus={n}",
                 "training.global_batch_tokens=8388608")
        for m, hw, n in itertools.product(
            ["llama3_8b", "mixtral_8x7b", "deepseek_v2_lite"], ["h100_sxm", "h20", "mi300x"],
            [64, 96, 1024],
        )
    ]  # fmt: skip
    archs = [arch_from_model(s.model) for s in scs]
    batched = choose_layouts(scs, archs)
    singles = [choose_layout(s, a) for s, a in zip(scs, archs, strict=True)]
    assert batched == singles
    assert sum(c.feasible for c in batched) >= len(scs) - 3
    # a group larger than one cache-sized batch (engine.SEARCH_BATCH) is searched in several
    from simsim import engine

    monkeypatch.setattr(engine, "SEARCH_BATCH", 3000)
    assert choose_layouts(scs, archs) == singles


def test_sweep_over_chips_by_preset_name_matches_single_runs():
    base = scenario("model=llama3_8b", "cluster.n_gpus=64", "training.global_batch_tokens=4194304")
    df = simsim.sweep(base, {"hardware": ["h100_sxm", "h800_sxm", "h20"],
                             "cluster.n_gpus": np.array([64, 128])})  # fmt: skip
    assert list(df["hardware"]) == ["h100_sxm"] * 2 + ["h800_sxm"] * 2 + ["h20"] * 2
    for row in df.itertuples():
        one = simsim.simulate(
            dataclasses.replace(
                base,
                hardware=scenario(f"hardware={row.hardware}").hardware,
                cluster=dataclasses.replace(base.cluster, n_gpus=int(row._2)),
            )
        )
        assert row.gpu_hours == pytest.approx(one.gpu_hours, rel=1e-12)
    assert set(df["cost_basis"]) == {"rental", "owned"}  # H20 has no rental price: said per row


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"hardware.name": ["h100_sxm", "h800_sxm"]}, "a name labels numbers it does not change"),
        ({"hardware": ["h100_sxm", "h900"]}, "'h900' is not a hardware preset"),
        ({"cluster.goodput": [0.9, 1.5]}, "cluster.goodput=1.5 must be in (0, 1]"),
        ({"cluster.pue": [0.5]}, "cluster.pue=0.5 must be >= 1"),
        ({"training.tokens": [1e12, math.nan]}, "training.tokens=nan must be a finite number"),
        # a value inside the axis's range that no scenario takes (the scenario's number rule)
        (
            {"cluster.electricity_usd_per_kwh": [0.0, 1e-300, 0.1]},
            "sweep.axes.cluster.electricity_usd_per_kwh=1e-300 must be 0 or between 1e-12",
        ),
        ({"cluster.pue": [1.2, "high"]}, "cluster.pue: 'high' is not a number"),
        ({"cluster.n_gpu": [8]}, "unknown field 'n_gpu' in cluster"),
        ({"cluster.n_gpus": []}, "empty list of values"),
    ],
)
def test_bad_sweep_axes_are_named_errors(axes, message):
    with pytest.raises(ConfigError) as exc:
        simsim.sweep(scenario("model=llama3_8b"), axes)
    assert message in str(exc.value)


def test_capacity_factor_pads_expert_work():
    # token-dropping kernels pad every expert's batch to capacity: more time, same model FLOPs
    common = ("model=mixtral_8x7b", "hardware=h100_sxm", "cluster.n_gpus=64",
              "training.global_batch_tokens=4194304", "parallel.tp=1", "parallel.pp=1",
              "parallel.ep=8", "parallel.zero_stage=1", "parallel.micro_batch=1")  # fmt: skip
    balanced = simsim.simulate(scenario(*common, "model.moe.load_imbalance=1"))
    padded = simsim.simulate(scenario(*common, "model.moe.capacity_factor=1.5"))
    assert padded.flops_per_token == balanced.flops_per_token
    assert padded.step_breakdown_s["compute"] > balanced.step_breakdown_s["compute"]
    assert padded.step_breakdown_s["ep"] > balanced.step_breakdown_s["ep"]
    # dropping caps the busiest rank at capacity: the imbalance of dropless routing is not
    # charged on top of the padding (at equal factors the two cost the same to within the
    # all-to-all's handling of the two, measured -0.6%, once the dropless run's GPU idle per
    # MoE layer, software.moe_sync_idle_us, which static shapes do not pay, is left out)
    skewed = simsim.simulate(
        scenario(*common, "model.moe.load_imbalance=1.5", "software.moe_sync_idle_us=0")
    )
    padded_skewed = simsim.simulate(
        scenario(*common, "model.moe.capacity_factor=1.5", "model.moe.load_imbalance=1.5")
    )
    assert padded_skewed.step_time_s == padded.step_time_s
    assert padded.step_time_s == pytest.approx(skewed.step_time_s, rel=0.01)


def test_importing_simsim_leaves_the_matplotlib_backend_alone():
    code = (
        "import matplotlib; matplotlib.use('svg'); import simsim, simsim.plots, simsim.cli; "
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def test_compose_dict_needs_no_hydra_after_the_first_selection():
    compose_dict(["model=llama3_70b"])
    from simsim import scenario as S

    hits = S._compose_presets.cache_info().hits
    compose_dict(["model=llama3_70b", "cluster.n_gpus=16", "training.seq_len=8192"])
    assert S._compose_presets.cache_info().hits == hits + 1


def test_best_layout_does_not_depend_on_how_many_runners_up_are_kept():
    # the best layout comes from a linear-time grouped argmin; the runners-up from a full sort
    scs = [
        scenario(f"model={m}", f"cluster.n_gpus={n}", f"efficiency.mode={mode}")
        for m, n, mode in itertools.product(
            ["llama3_8b", "mixtral_8x7b"], [64, 96], ["fixed", "derived"]
        )
    ]
    archs = [arch_from_model(s.model) for s in scs]
    many, one = choose_layouts(scs, archs, top_n=5), choose_layouts(scs, archs, top_n=1)
    for a, b in zip(many, one, strict=True):
        assert a.layout == b.layout and a.step_breakdown_s == b.step_breakdown_s
        assert b.alternatives == [] and len(a.alternatives) == 4


@pytest.mark.parametrize(
    "selection",
    [
        (),
        ("experiment=deepseek_v3",),
        ("experiment=deepseek_v3", "hardware=h100_sxm"),  # the command line wins
        ("experiment=export_controls",),
        ("experiment=dense_vs_moe", "software=megatron_lm"),
        ("model=hf",),
        *(
            (f"model={m}", f"hardware={h}")
            for m, h in [("mixtral_8x22b", "mi300x"), ("llama3_405b", "ascend_910c")]
        ),
        *((f"hardware={h}",) for h in ("a100_80gb", "b200", "h20", "v100")),
        *((f"software={s}",) for s in ("default", "deepseek", "megascale")),
    ],
)
def test_preset_composition_equals_hydras(selection):
    from simsim import scenario as S

    assert S._compose_simple("config", selection) == S._compose_hydra("config", selection)


def test_preset_yaml_reads_as_omegaconf_does():
    """simsim reads presets with libyaml under OmegaConf's rules: the same values and the same
    types (``14.8e12`` a float, no timestamps) as ``OmegaConf.load``, on every preset file."""
    from omegaconf import OmegaConf

    from simsim import scenario as S
    from simsim._paths import config_dir

    files = sorted(config_dir().rglob("*.yaml"))
    assert len(files) > 40
    for path in files:
        ours = S._yaml(path)
        theirs = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        assert isinstance(theirs, dict)
        assert repr(ours) == repr({str(k): v for k, v in theirs.items()}), path


def test_preset_yaml_refuses_duplicate_keys(tmp_path: Path):
    import yaml

    from simsim import scenario as S

    bad = tmp_path / "dup.yaml"
    bad.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key a"):
        S._yaml(bad)


def test_a_sweep_pauses_the_garbage_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch):
    import gc

    from simsim import sweeps

    seen: list[bool] = []
    inner = sweeps.simulate_many

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return inner(*args, **kwargs)

    monkeypatch.setattr(sweeps, "simulate_many", spy)
    base = scenario("model=llama3_8b", "cluster.n_gpus=64")
    assert gc.isenabled()
    assert len(simsim.sweep(base, {"cluster.n_gpus": [64, 128]})) == 2
    assert seen == [False]  # paused while the points run
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        simsim.sweep(base, {"cluster.n_gpus": [64, -1]})
    assert gc.isenabled()  # restored after a failure too
    gc.disable()
    try:
        simsim.sweep(base, {"cluster.n_gpus": [64]})
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()


def test_replace_fields_is_dataclasses_replace_for_the_schema():
    from simsim.schema import replace_fields

    sc = scenario("model=llama3_8b")
    new = replace_fields(sc.cluster, {"n_gpus": 4096, "pue": 1.3})
    assert new == dataclasses.replace(sc.cluster, n_gpus=4096, pue=1.3)
    assert hash(new) == hash(dataclasses.replace(sc.cluster, n_gpus=4096, pue=1.3))
    assert sc.cluster.n_gpus != 4096  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.n_gpus = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'gpus'"):
        replace_fields(sc.cluster, {"gpus": 1})
