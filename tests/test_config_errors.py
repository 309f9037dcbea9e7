"""Every bad input gets one clear error that names the field path, the value and what is allowed."""

from __future__ import annotations

import pytest

import simsim
from simsim import ConfigError

from .conftest import run_cli, scenario


def error_of(*overrides: str) -> str:
    with pytest.raises(ConfigError) as exc:
        simsim.simulate(simsim.compose(list(overrides)))
    return str(exc.value)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("model.n_layers=0", "model.n_layers=0 must be > 0"),
        ("model.d_model=-8", "model.d_model=-8 must be > 0"),
        ("training.tokens=0", "training.tokens=0"),
        ("training.tokens=-1e12", "training.tokens=-1000000000000.0 must be > 0"),
        ("training.seq_len=0", "training.seq_len=0"),
        ("cluster.n_gpus=0", "cluster.n_gpus=0 must be >= 1"),
        ("model.moe.d_ff_expert=0", "model.moe.d_ff_expert=0"),
    ],
)
def test_non_positive_sizes(override: str, field: str):
    assert field in error_of(override)


def test_heads_must_divide_width_when_head_dim_unset():
    msg = error_of("model=llama3_8b", "model.n_heads=24")
    assert "model.n_heads=24 must divide model.d_model=4096" in msg
    # with an explicit head_dim the same shape is fine
    simsim.simulate(simsim.compose(["model=llama3_8b", "model.n_heads=24", "model.head_dim=128"]))


def test_kv_heads_must_divide_heads():
    assert "model.n_kv_heads=5 must divide model.n_heads=32" in error_of(
        "model=llama3_8b", "model.n_kv_heads=5"
    )


def test_top_k_at_most_n_experts():
    # the example of DESIGN.md
    assert "model.moe.top_k=9 must be <= model.moe.n_experts=8" in error_of(
        "model=mixtral_8x7b", "model.moe.top_k=9"
    )


def test_dense_layers_at_most_layers():
    msg = error_of("model=deepseek_v3", "model.moe.n_dense_layers=62")
    assert "model.moe.n_dense_layers=62 must be in [0, model.n_layers=61]" in msg


def test_precision_the_hardware_lacks():
    msg = error_of("hardware=a100_80gb", "training.precision=fp8")
    assert "training.precision='fp8'" in msg
    assert "'a100_80gb'" in msg
    assert "bf16, fp16, tf32, fp32" in msg


def test_unknown_precision():
    assert "must be one of fp8, bf16, fp16, tf32, fp32" in error_of("training.precision=int4")


def test_unknown_preset_lists_available():
    msg = error_of("model=gpt5")
    assert "gpt5" in msg
    for name in ("deepseek_v3", "llama3_405b", "mixtral_8x7b"):
        assert name in msg


def test_unknown_hardware_preset_lists_available():
    msg = error_of("hardware=h900")
    assert "h900" in msg and "h800_sxm" in msg and "ascend_910b" in msg


def test_unknown_key():
    msg = error_of("model.n_layer=3")
    assert "model.n_layer" in msg


def test_unknown_key_in_plain_dict():
    d = simsim.resolve(simsim.compose([])).to_dict()
    d["cluster"]["n_gpu"] = 8
    with pytest.raises(ConfigError, match=r"cluster\.n_gpu: unknown key 'n_gpu' in cluster"):
        simsim.simulate(d)


def test_wrong_type_names_field():
    assert "model.n_layers" in error_of("model.n_layers=many")


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5"])
def test_mfu_outside_unit_interval(value: str):
    assert f"efficiency.mfu={float(value)!r} must be in (0, 1]" in error_of(
        f"efficiency.mfu={value}"
    )


def test_mfu_of_one_is_allowed():
    cfg = simsim.compose(["efficiency.mode=fixed", "efficiency.mfu=1.0"])
    assert simsim.simulate(cfg).mfu == 1.0


def test_mfu_needs_fixed_mode():
    assert error_of("efficiency.mfu=0.35") == (
        "efficiency.mfu=0.35 is used only with efficiency.mode=fixed (derived mode computes the "
        "MFU); add efficiency.mode=fixed"
    )


def test_several_problems_reported_together():
    with pytest.raises(ConfigError) as exc:
        simsim.simulate(simsim.compose(["model.n_layers=0", "cluster.pue=0.5"]))
    assert len(exc.value.problems) == 2


def test_expert_parallel_on_dense_model():
    assert "parallel.ep=8 must be 1 (or null) for a dense model" in error_of(
        "model=llama3_8b", "parallel.ep=8"
    )


def test_missing_field_in_plain_dict():
    d = simsim.resolve(simsim.compose([])).to_dict()
    del d["model"]["n_layers"]
    with pytest.raises(ConfigError, match=r"model\.n_layers"):
        simsim.simulate(d)


def test_cli_reports_error_without_traceback(tmp_path):
    proc = run_cli("model.moe.top_k=300", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "model.moe.top_k=300 must be <= model.moe.n_experts=256" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_moe_fields_can_be_given_to_a_dense_preset():
    # OmegaConf cannot merge into a null optional node; simsim applies these overrides itself
    r = simsim.simulate(
        simsim.compose(
            ["model=llama3_8b", "model.moe={n_experts: 8, top_k: 2, d_ff_expert: 14336}"]
        )
    )
    assert r.total_params > 40e9
    assert "model.moe.top_k=8 must be <= model.moe.n_experts=4" in error_of(
        "model=llama3_8b", "model.moe={n_experts: 4, top_k: 8, d_ff_expert: 14336}"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("software.kernel_efficiency=1.2", "software.kernel_efficiency=1.2 must be in (0, 1]"),
        ("software.dp_overlap=-0.5", "software.dp_overlap=-0.5 must be in [0, 1]"),
        ("software.schedules=[gpipe]", "software.schedules[0]='gpipe' must be one of 1f1b"),
        ("software.zero_stages=[]", "software.zero_stages=[] must list at least one of"),
        ("parallel.zero_stage=3", "parallel.zero_stage=3 is not offered by software=deepseek"),
    ],
)
def test_software_stack_errors(override: str, message: str):
    assert message in error_of("experiment=deepseek_v3", override)


def test_unknown_software_preset_lists_available():
    msg = error_of("software=pytorch_2019")
    assert "software" in msg and "megascale" in msg and "megatron_lm" in msg


def test_plain_dict_takes_presets_read_from_their_yaml():
    # a preset file read as-is keeps its Hydra defaults list; resolve drops it for any group
    import yaml
    from omegaconf import OmegaConf

    from .conftest import REPO

    d = OmegaConf.to_container(simsim.compose(["model=llama3_8b"]), resolve=True)
    assert isinstance(d, dict)
    d["software"] = yaml.safe_load((REPO / "configs/software/megascale.yaml").read_text())
    d["hardware"] = yaml.safe_load((REPO / "configs/hardware/h800_sxm.yaml").read_text())
    r = simsim.simulate(d)
    assert (r.software, r.hardware) == ("megascale", "h800_sxm")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "software.moe_dispatcher=nccl",
            "software.moe_dispatcher='nccl' must be one of alltoall, deepep",
        ),
        ("software.loss_bytes_per_logit=0", "software.loss_bytes_per_logit=0"),
        ("software.param_gather_overlap=1.5", "software.param_gather_overlap=1.5"),
        ("software.moe_sync_idle_us=-1", "software.moe_sync_idle_us=-1.0 must be >= 0"),
    ],
)
def test_software_fields_are_checked(override: str, message: str):
    assert message in error_of(override)


class _Recorder:
    """A scenario that records which of its groups are read."""

    def __init__(self, sc):
        object.__setattr__(self, "_sc", sc)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self._sc, name)


@pytest.mark.parametrize(
    "overrides",
    [
        ("model=llama3_8b",),
        ("experiment=deepseek_v3",),
        ("model=mixtral_8x7b", "hardware=ascend_910b", "efficiency.mode=fixed"),
        ("model=qwen3_235b_a22b", "software=megatron_core", "parallel.tp=4", "parallel.ep=8"),
        ("model=gpt3_175b", "hardware=v100", "training.precision=fp16", "parallel.pp=8"),
    ],
)
def test_each_check_reads_only_the_groups_it_declares(overrides):
    """validate() memoises each check on the sections it declares it reads (checks._CHECKS), and
    skips the checks a sweep axis cannot affect: a check reading more would go stale."""
    from simsim import checks

    sc = scenario(*overrides)
    for check, reads in checks._CHECKS:
        if check is checks._check_uncertainty:  # not memoised: it reads its inputs' fields
            continue
        rec = _Recorder(sc)
        check(checks._Checker(rec))
        assert rec.read <= reads, (check.__name__, rec.read - reads)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.sliding_window=0", "model.sliding_window=0 must be > 0"),
        ("model.sliding_window_layers=99", "model.sliding_window_layers=99 must be in [0, "),
    ],
)
def test_sliding_window_fields_are_checked(override: str, message: str):
    assert message in error_of(override)


@pytest.mark.parametrize("changed", [["hardware"], ["hardware.tdp_w"]])
def test_a_sweep_point_names_the_number_it_changed(changed: list[str]):
    """validate(changed=...) checks only what a sweep point changed, a whole group (a preset
    swept by name) or one field, and names the field by its own path."""
    import dataclasses

    from simsim import checks

    sc = scenario()
    bad = dataclasses.replace(sc, hardware=dataclasses.replace(sc.hardware, tdp_w=1e30))
    with pytest.raises(ConfigError) as err:
        checks.validate(bad, changed=changed)
    assert err.value.problems[0].startswith("hardware.tdp_w=1e+30 must be 0 or between")
    assert len(err.value.problems) == 1
