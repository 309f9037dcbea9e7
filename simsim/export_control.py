"""US export controls on AI accelerators (ECCN 3A090) as a model.

``classify`` applies a rule (``2022-10``: 87 FR 62186; ``2023-10``: 88 FR 73458), read from
``simsim/data/export_rules.yaml``, to any hardware spec: a preset name, a composed config or a
plain dict of the ``hardware`` section. ``compliant_variant`` returns the fastest variant of a
parent chip that a rule does not control (cut interconnect under 2022, as A800/H800 did; cut
dense compute under 2023, as H20 did). Where a figure a rule needs is unknown (a die area), the
answer says so instead of guessing (``controlled`` is then ``None``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from .scenario import available_presets, compose_dict
from .schema import HardwareConfig, Scenario, to_plain

#: Operand bit length of each precision key of ``hardware.peak_tflops`` (TN1 of 3A090).
BITS = {"fp8": 8, "bf16": 16, "fp16": 16, "tf32": 32, "fp32": 32}
RULES = ("2022-10", "2023-10")


@cache
def rules() -> dict[str, Any]:
    """The rule tables (thresholds, clauses, Federal Register citations)."""
    text = resources.files("simsim.data").joinpath("export_rules.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)["rules"]
    return data


@dataclass(frozen=True)
class Classification:
    """A chip under one rule. ``controlled`` is None when a needed figure is unknown."""

    hardware: str
    rule: str
    citation: str
    controlled: bool | None
    clause: str | None
    tpp: float
    tpp_basis: str
    performance_density: float | None
    io_gbps: float | None
    reason: str
    unknown: list[str] = field(default_factory=list)


def hardware_spec(
    hardware: str | DictConfig | HardwareConfig | Scenario | Mapping[str, Any],
) -> dict[str, Any]:
    """The ``hardware`` section as a plain dict, from a preset name, a config, a typed
    hardware section or scenario, or a dict."""
    node: Any = (
        compose_dict([f"hardware={hardware}"])["hardware"]
        if isinstance(hardware, str)
        else hardware
    )
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    elif isinstance(node, HardwareConfig | Scenario):
        node = to_plain(node)
    assert isinstance(node, dict)
    section = node.get("hardware", node)  # a whole scenario, or its hardware section
    return {str(k): v for k, v in section.items()}


def total_processing_performance(peak_tflops: dict[str, float | None]) -> tuple[float, str]:
    """TPP = max over supported precisions of dense TFLOP/s (= 2 x MacTOPS) x bit length."""
    scores = {p: float(v) * BITS[p] for p, v in peak_tflops.items() if v and p in BITS}
    if not scores:
        return 0.0, "none"
    best = max(scores.values())
    basis = "=".join(f"{p.upper()}x{BITS[p]}" for p, s in scores.items() if math.isclose(s, best))
    return best, basis


def io_bidirectional_gbps(spec: dict[str, Any]) -> float | None:
    """Scale-up + host PCIe + on-die NICs, both directions [GB/s]; None if PCIe is unknown."""
    if spec.get("pcie_gbps") is None:
        return None
    return 2.0 * (spec["scale_up_gbps"] + spec["pcie_gbps"] + (spec.get("onchip_nic_gbps") or 0.0))


def _holds(bounds: list[Any], value: float | None) -> bool | None:
    if value is None:
        return None
    lo, hi = bounds
    return (lo is None or value >= lo) and (hi is None or value < hi)


def _all(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _any(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def classify(hardware: str | DictConfig | dict[str, Any], rule: str = "2023-10") -> Classification:
    """Classify a chip under ``rule`` (``2022-10`` or ``2023-10``).

    Returns
    -------
    Classification
        ``controlled``, the ``clause`` that controls it (e.g. ``3A090.a``), ``tpp``,
        ``performance_density`` (None without a die area), ``io_gbps`` (the 2022 I/O sum).
    """
    if rule not in rules():
        raise ValueError(f"rule={rule!r}: expected one of {', '.join(rules())}")
    spec = hardware_spec(hardware)
    r = rules()[rule]
    tpp, basis = total_processing_performance(spec.get("peak_tflops") or {})
    die = spec.get("die_mm2")
    pd = tpp / die if die else None
    io = io_bidirectional_gbps(spec)
    values = {"tpp": tpp, "pd": pd, "io": io}
    names = {"pd": "die area (hardware.die_mm2)", "io": "host link (hardware.pcie_gbps)"}
    unknown = sorted({names[q] for q in ("pd", "io") if values[q] is None})
    exempt_below = r.get("non_datacenter_exempt_below_tpp")
    base = {
        "hardware": str(spec.get("name")),
        "rule": rule,
        "citation": r["citation"],
        "tpp": tpp,
        "tpp_basis": basis,
        "performance_density": pd,
        "io_gbps": io,
    }
    if exempt_below and not spec.get("datacenter", True) and tpp < exempt_below:
        why = f"not for datacenters and TPP {tpp:.0f} < {exempt_below} (Note 2)"
        return Classification(**base, controlled=False, clause=None, unknown=[], reason=why)
    undecided = False
    for clause in r["clauses"]:
        hit = _any(
            [_all([_holds(b, values[q]) for q, b in alt.items()]) for alt in clause["any_of"]]
        )
        if hit is True and not undecided:
            why = _describe(clause, values)
            return Classification(
                **base, controlled=True, clause=clause["clause"], reason=why, unknown=unknown
            )
        undecided = undecided or hit is None
    if undecided:
        why = f"cannot decide without the {' and '.join(unknown)}"
        return Classification(**base, controlled=None, clause=None, unknown=unknown, reason=why)
    return Classification(
        **base,
        controlled=False,
        clause=None,
        unknown=unknown,
        reason=f"below every line of {rule} (TPP {tpp:.0f}"
        + (f", PD {pd:.2f}" if pd is not None else "")
        + (f", I/O {io:.0f} GB/s" if io is not None else "")
        + ")",
    )


def _describe(clause: dict[str, Any], values: dict[str, float | None]) -> str:
    labels = {"tpp": "TPP", "pd": "PD", "io": "I/O GB/s"}
    for alt in clause["any_of"]:
        if _all([_holds(b, values[q]) for q, b in alt.items()]):
            parts = []
            for q, (lo, hi) in alt.items():
                rng = (
                    (f"{lo} <= " if lo is not None else "")
                    + labels[q]
                    + (f" < {hi}" if hi is not None else "")
                )
                parts.append(f"{rng} ({values[q]:.4g})")
            return f"{clause['clause']}: " + " and ".join(parts)
    return clause["clause"]


def compliant_variant(parent: str | dict[str, Any], rule: str = "2023-10") -> dict[str, Any]:
    """The fastest variant of ``parent`` that ``rule`` does not control, as a hardware spec.

    ``2022-10``: the scale-up interconnect is cut until the I/O sum is under 600 GB/s (what A800
    and H800 did); compute is untouched. ``2023-10``: every dense tensor peak is scaled down by
    one factor until neither 3A090.a nor .b applies (what H20 did); bandwidths are untouched.
    The returned dict has ``cut`` (what was cut and by how much) and ``classification``.
    """
    spec = copy.deepcopy(hardware_spec(parent))
    if classify(spec, rule).controlled is False:
        spec["cut"] = "nothing: the parent is not controlled"
        spec["classification"] = classify(spec, rule)
        return spec
    if rule == "2022-10":
        line = rules()[rule]["clauses"][0]["any_of"][0]["io"][0]
        new_up = max_scale_up_under_io(spec, line)
        if new_up <= 0:
            raise ValueError(f"{spec.get('name')}: host I/O alone reaches the {line} GB/s line")
        spec["cut"] = f"scale_up_gbps {spec['scale_up_gbps']:g} -> {new_up:g} GB/s per direction"
        spec["scale_up_gbps"] = new_up
    else:
        factor = _largest_uncontrolled_scale(spec, rule)
        spec = with_compute_scaled(spec, factor)
        spec["cut"] = f"dense tensor peaks x {factor:.4f} ({100 * (1 - factor):.1f}% cut)"
    spec["name"] = f"{spec['name']}_compliant_{rule}"
    spec["classification"] = classify(spec, rule)
    return spec


def with_compute_scaled(spec: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of ``spec`` with every dense tensor peak multiplied by ``factor`` (an H20-style cut:
    same memory and links, less compute)."""
    out = copy.deepcopy(spec)
    out["peak_tflops"] = {p: (v * factor if v else v) for p, v in spec["peak_tflops"].items()}
    return out


def max_scale_up_under_io(spec: dict[str, Any], io_line: float) -> float:
    """Largest whole GB/s per direction of scale-up bandwidth that keeps the bidirectional I/O
    sum (scale-up + host PCIe + on-die NICs) under ``io_line`` [GB/s] (an A800/H800-style cut)."""
    if spec.get("pcie_gbps") is None:
        raise ValueError(
            f"hardware {spec.get('name')!r}: pcie_gbps unknown, cannot size the I/O cut"
        )
    other = spec["pcie_gbps"] + (spec.get("onchip_nic_gbps") or 0.0)
    return float(math.floor(io_line / 2.0 - other - 1e-9))


def _largest_uncontrolled_scale(spec: dict[str, Any], rule: str) -> float:
    """Largest compute scale factor under which the chip is not controlled (bisection; an
    undecidable case counts as controlled, the conservative side)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if classify(with_compute_scaled(spec, mid), rule).controlled is False:
            lo = mid
        else:
            hi = mid
    return math.floor(lo * 1e4) / 1e4  # 4 decimals, rounded to the compliant side


def classification_table(hardware: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per preset: TPP, PD, I/O and the status under each rule, with citations."""
    names = hardware or available_presets("hardware")
    rows = []
    for name in names:
        row: dict[str, Any] = {"hardware": name}
        for rule in RULES:
            c = classify(name, rule)
            row.update(
                tpp=c.tpp,
                tpp_basis=c.tpp_basis,
                performance_density=c.performance_density,
                io_gbps=c.io_gbps,
            )
            status = {True: c.clause, False: "not controlled", None: "unknown"}[c.controlled]
            row[f"rule_{rule}"] = status
            row[f"reason_{rule}"] = c.reason
        rows.append(row)
    return rows
