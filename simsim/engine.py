"""Engine: the parallel layout and the memory it needs, evaluated for all candidates at once.

Every combination of the null fields of ``parallel`` is one element of numpy arrays; candidates
that do not divide the GPUs, get less than one micro-batch, break a schedule's rules or do not fit
in memory are counted by reason. ``efficiency.mode=derived`` keeps the feasible layout with the
highest throughput (:mod:`simsim.performance`); ``fixed`` mode, where the step time does not
depend on the layout, keeps the least model parallelism that fits (smallest ``tp*pp*cp``, then
the lowest ZeRO stage, then the least memory). A scenario with no feasible layout is reported as
infeasible with the reason of the first check no candidate passes, never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .performance import Layout, Workload, machine, step_time
from .physics import architecture as A
from .physics import memory as M
from .physics.pipeline import SCHEDULE_CODES, in_flight_microbatches
from .schema import Scenario

GIB = 2.0**30

#: Defaults for null layout fields that fixed mode does not search: micro-batch 1 and the 1F1B
#: schedule (Megatron-LM's defaults). The stack's ZeRO stages and the virtual stages of a given
#: interleaved schedule are tried (they change memory only); CP only in derived mode.
FIXED_DEFAULTS: dict[str, Any] = {"micro_batch": 1, "schedule": "1f1b"}


@dataclass(frozen=True)
class LayoutChoice:
    feasible: bool
    layout: dict[str, Any]
    memory_gb: dict[str, float]
    reason: str | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    n_candidates: int = 0
    step_breakdown_s: dict[str, float] = field(default_factory=dict)
    alternatives: list[dict[str, Any]] = field(default_factory=list)


def _powers_of_two(limit: int) -> list[int]:
    out, v = [], 1
    while v <= limit:
        out.append(v)
        v *= 2
    return out


#: Context parallelism is searched only for sequences at least this long (below it the ring
#: exchange cannot hide behind attention; Llama 3 used CP only for its 128K stages).
CP_MIN_SEQ = 16384
TP_CAP = 64  # search range: tensor parallelism beyond 64 ways is not used (NVL72 domains: 72)
#: Search ranges (choices, not measured constants): micro-batches of 1-4 sequences, 2-8 virtual
#: stages; TP at most the scale-up domain, capped at 64. Schedules and ZeRO stages are those the
#: software stack offers (``software.schedules``, ``software.zero_stages``).
SEARCH: dict[str, list[Any]] = {
    "micro_batch": [1, 2, 4],
    "virtual_stages": [2, 4, 8],  # interleaved only
}


def _fixed_schedule(offered: list[str]) -> str:
    """Fixed mode's schedule: 1F1B if the stack offers it, else the stack's first."""
    return FIXED_DEFAULTS["schedule"] if FIXED_DEFAULTS["schedule"] in offered else offered[0]


def _candidates(sc: Scenario) -> dict[str, NDArray[np.int64]]:
    """Every combination of the layout fields: a given field has its value; a null one is
    searched (derived mode) or defaulted (fixed mode, see :data:`FIXED_DEFAULTS`)."""
    par, model, hw = sc.parallel, sc.model, sc.hardware
    n = sc.cluster.n_gpus
    derived = sc.efficiency.mode == "derived"
    moe = model.moe
    seq = sc.training.seq_len
    schedules = list(sc.software.schedules)
    tp_max = min(hw.scale_up_domain, TP_CAP, model.n_heads)
    if not derived:
        tp_max = min(tp_max, hw.gpus_per_node)
    searched: dict[str, list[Any]] = {
        "tp": [t for t in _powers_of_two(tp_max) if model.n_heads % t == 0],
        "pp": _powers_of_two(min(model.n_layers, n)),
        "cp": _powers_of_two(32) if derived and seq >= CP_MIN_SEQ else [1],
        "ep": [e for e in _powers_of_two(min(moe.n_experts, n)) if moe.n_experts % e == 0]
        if moe
        else [1],
        "zero_stage": list(sc.software.zero_stages),
        "micro_batch": SEARCH["micro_batch"] if derived else [FIXED_DEFAULTS["micro_batch"]],
        "schedule": schedules if derived else [_fixed_schedule(schedules)],
        "virtual_stages": [1, *SEARCH["virtual_stages"]],
    }
    axes = {k: [getattr(par, k)] if getattr(par, k) is not None else v for k, v in searched.items()}
    if par.virtual_stages is not None:
        axes["virtual_stages"] = [1, par.virtual_stages]
    axes["schedule"] = [SCHEDULE_CODES[s] for s in axes["schedule"]]
    grids = np.meshgrid(*[np.asarray(v, dtype=np.int64) for v in axes.values()], indexing="ij")
    c = {k: g.ravel() for k, g in zip(axes, grids, strict=True)}
    # virtual stages belong to the interleaved schedule only, with >= 1 layer per chunk
    interleaved = c["schedule"] == SCHEDULE_CODES["interleaved"]
    chunks_fit = c["pp"] * c["virtual_stages"] <= model.n_layers
    keep = np.where(interleaved, (c["virtual_stages"] >= 2) & chunks_fit, c["virtual_stages"] == 1)
    return {k: val[keep] for k, val in c.items()}


def stage_params(
    arch: A.Arch, tp: NDArray[Any], pp: NDArray[Any], ep: NDArray[Any]
) -> dict[str, NDArray[np.float64]]:
    """Parameters per GPU on the most loaded pipeline stage [elements].

    ``ne``: non-expert weights split by ``tp*pp``, plus the embedding or LM head and the MTP
    module on the end stages (with pp=1 the one stage holds them all); ``expert``: routed
    experts split by ``pp*ep`` (expert TP = 1), plus the MTP module's experts.
    """
    pc = A.param_counts(arch)
    vh = float(np.asarray(arch.vocab_size)) * float(np.asarray(arch.d_model))
    _, moe_layers = (float(x) for x in A.layer_counts(arch))
    routed_per_layer = float(np.asarray(arch.n_experts)) * float(A.expert_params(arch))
    mtp_total = float(A.mtp_extra_params(arch))
    mtp_expert = float(np.asarray(arch.mtp_depth)) * (routed_per_layer if moe_layers > 0 else 0.0)
    layer_ne = float(pc["total"]) - float(pc["expert"]) - float(pc["embedding"])
    tp, pp, ep = (np.asarray(x, float) for x in (tp, pp, ep))
    ends = np.where(pp == 1, float(pc["embedding"]), vh) + (mtp_total - mtp_expert)
    return {
        "ne": (layer_ne / pp + ends) / tp,
        "expert": (float(pc["expert"]) / pp + mtp_expert) / ep,
    }


def memory_per_gpu(
    arch: A.Arch,
    *,
    precision: str,
    recompute: str,
    schedule: str | NDArray[Any],
    seq_len: int,
    n_gpus: NDArray[Any] | int,
    tp: NDArray[Any],
    pp: NDArray[Any],
    cp: NDArray[Any],
    ep: NDArray[Any],
    zero_stage: NDArray[Any],
    micro_batch: NDArray[Any],
    n_microbatches: NDArray[Any],
    virtual_stages: NDArray[Any] | int = 1,
) -> dict[str, NDArray[np.float64]]:
    """Model states and activations on the most loaded GPU [bytes]; arrays broadcast.

    Non-expert weights are split by ``tp*pp`` and ZeRO-sharded over ``dp*cp``; routed experts by
    ``pp*ep`` and sharded over the expert-data-parallel group ``n/(pp*ep)`` (Megatron-LM
    ``theoretical_memory_usage.py``). The embedding, LM head and MTP modules sit on the end
    stages; the worst stage is taken (with pp=1 the one stage holds them all). Activations:
    layers per stage x in-flight micro-batches x tokens per micro-batch / (tp*cp) (sequence and
    context parallel split them) x bytes per token-layer (:mod:`simsim.physics.memory`).
    """
    tp, pp, cp, ep = (np.asarray(x, float) for x in (tp, pp, cp, ep))
    n = np.asarray(n_gpus, float)
    dp = n / (tp * pp * cp)
    sp = stage_params(arch, tp, pp, ep)
    code = np.asarray(SCHEDULE_CODES[schedule] if isinstance(schedule, str) else schedule)
    copies = np.where(code == SCHEDULE_CODES["dualpipe"], 2.0, 1.0)
    states = M.model_state_bytes(sp["ne"], dp * cp, zero_stage, precision, copies)
    states = states + M.model_state_bytes(
        sp["expert"], n / (pp * ep), zero_stage, precision, copies
    )
    h = float(np.asarray(arch.d_model))
    dense_layers, moe_layers = (float(x) for x in A.layer_counts(arch))
    n_layers = float(np.asarray(arch.n_layers))

    # widths kept per token-layer (see activation_bytes_per_token_layer)
    nh = float(np.asarray(arch.n_heads))
    if arch.attention == "mla":
        attn_in = (
            float(np.asarray(arch.q_lora_rank))
            + float(np.asarray(arch.kv_lora_rank))
            + float(np.asarray(arch.qk_rope_head_dim))
        )
        if float(np.asarray(arch.q_lora_rank)) == 0:
            attn_in += h
    else:
        dh, nkv = float(np.asarray(arch.head_dim)), float(np.asarray(arch.n_kv_heads))
        attn_in = (nh + 2.0 * nkv) * dh
    mats = A.ffn_matrices(arch.gated_ffn) - 1.0  # FC1 outputs kept: 2f gated, f otherwise
    dense_inter = mats * float(np.asarray(arch.d_ff))
    k, ns = float(np.asarray(arch.top_k)), float(np.asarray(arch.n_shared))
    fe = float(np.asarray(arch.d_ff_expert))
    moe_lin = k * h + float(np.asarray(arch.n_experts))  # dispatched inputs + router logits
    moe_inter = (k + ns) * mats * fe
    lin = attn_in + (moe_layers * moe_lin) / n_layers
    inter = (dense_layers * dense_inter + moe_layers * moe_inter) / n_layers
    per_tok_layer = M.activation_bytes_per_token_layer(h, lin, inter, recompute, precision)
    layers_per_stage = (n_layers + float(np.asarray(arch.mtp_depth))) / pp
    in_flight = in_flight_microbatches(schedule, pp, n_microbatches, virtual_stages)
    tokens = np.asarray(micro_batch, float) * seq_len / (tp * cp)
    acts = per_tok_layer * layers_per_stage * in_flight * tokens
    return {"model_states": states, "activations": acts, "total": states + acts}


def choose_layout(sc: Scenario, arch: A.Arch, top_n: int = 5) -> LayoutChoice:
    """Evaluate every candidate layout at once; keep the feasible ones; pick the best.

    Fixed mode: the least model parallelism that fits (the step time does not depend on it).
    Derived mode: the highest throughput (:mod:`simsim.performance`), then the least memory.
    """
    par, tr = sc.parallel, sc.training
    n = sc.cluster.n_gpus
    derived = sc.efficiency.mode == "derived"
    c = _candidates(sc)
    tp, pp, cp, ep, zs, mb, code, v = (
        c[k]
        for k in ("tp", "pp", "cp", "ep", "zero_stage", "micro_batch", "schedule", "virtual_stages")
    )
    mp = tp * pp * cp
    divides = n % mp == 0
    dp = np.where(divides, n // np.maximum(mp, 1), 0)
    if par.dp:
        divides &= dp == par.dp
    ep_ok = divides & ((n // np.maximum(pp, 1)) % ep == 0)
    # The global batch is rounded down to a whole number of micro-batches per DP rank (as a
    # launcher would pick it); fewer than one is infeasible.
    seqs = tr.global_batch_tokens / tr.seq_len
    m = np.floor(seqs / np.maximum(dp * mb, 1) + 1e-9)
    batch_ok = ep_ok & (m >= 1)
    sched_ok = batch_ok & np.select(
        [code == SCHEDULE_CODES["dualpipe"], code == SCHEDULE_CODES["interleaved"]],
        [(pp >= 2) & (pp % 2 == 0), (pp >= 2) & (m % np.maximum(pp, 1) == 0)],
        True,
    )
    mem = memory_per_gpu(
        arch, precision=tr.precision, recompute=tr.recompute, schedule=code,
        seq_len=tr.seq_len, n_gpus=n, tp=tp, pp=pp, cp=cp, ep=ep, zero_stage=zs,
        micro_batch=mb, n_microbatches=np.maximum(m, 1), virtual_stages=v,
    )  # fmt: skip
    usable = sc.hardware.hbm_gib * GIB * sc.efficiency.usable_hbm_fraction
    fits = sched_ok & (mem["total"] <= usable)
    # rejection reasons in the order the checks apply; a candidate counts under its first one
    stages = [
        ("tp*pp*cp does not divide cluster.n_gpus (or mismatches parallel.dp)", divides),
        ("parallel.ep does not divide the GPUs of a pipeline stage", ep_ok),
        ("global batch is smaller than dp*micro_batch sequences", batch_ok),
        (
            "schedule needs: dualpipe an even pp; interleaved pp >= 2 and m a multiple of pp",
            sched_ok,
        ),
        ("does not fit in usable HBM", fits),
    ]
    rejected, previous = {}, np.ones_like(fits)
    for reason, passed in stages:
        if count := int((previous & ~passed).sum()):
            rejected[reason] = count
        previous = passed
    if not fits.any():
        # the masks are nested: the first check that no candidate passes is the blocking one
        reason = next(r for r, passed in stages if not passed.any())
        if sched_ok.any():
            i = int(np.argmin(np.where(sched_ok, mem["total"], np.inf)))
            reason += (
                f": the smallest candidate needs {mem['total'][i] / 1e9:.1f} GB per GPU "
                f"(tp={tp[i]}, pp={pp[i]}, ep={ep[i]}, zero_stage={zs[i]}) "
                f"against {usable / 1e9:.1f} GB usable ({sc.hardware.hbm_gib:g} GiB = "
                f"{sc.hardware.hbm_gib * GIB / 1e9:.1f} GB of HBM)"
            )
        return LayoutChoice(False, {}, {}, reason, rejected, len(tp))

    idx = np.flatnonzero(fits)
    names = {v_: k for k, v_ in SCHEDULE_CODES.items()}
    breakdown: dict[str, NDArray[np.float64]] = {}
    if derived:
        moe = sc.model.moe
        lay = Layout(
            tp=tp[idx], pp=pp[idx], cp=cp[idx], ep=ep[idx], dp=dp[idx], zero_stage=zs[idx],
            micro_batch=mb[idx], schedule=code[idx], v=v[idx], m=m[idx],
            max_nodes=float(moe.max_nodes_per_token or np.inf) if moe else np.inf,
        )  # fmt: skip
        wl = Workload(
            arch, tr.seq_len, tr.precision, tr.recompute, n,
            capacity_factor=(moe.capacity_factor or 1.0) if moe else 1.0,
        )  # fmt: skip
        sp = stage_params(arch, lay.tp, lay.pp, lay.ep)
        breakdown = step_time(wl, machine(sc), lay, sp)
        rate = lay.m * lay.dp * lay.micro_batch / breakdown["step"]
        order = idx[np.lexsort((mem["total"][idx], -rate))]
        pos = {int(j): i for i, j in enumerate(idx)}
    else:
        order = idx[np.lexsort((mem["total"][idx], zs[idx], mp[idx]))]
        pos = {}
    given = sorted(
        k for k in ("tp", "pp", "dp", "ep", "cp", "zero_stage", "micro_batch", "schedule")
        if getattr(par, k) is not None
    )  # fmt: skip

    def describe(j: int) -> dict[str, Any]:
        out = {
            "tp": int(tp[j]), "pp": int(pp[j]), "dp": int(dp[j]), "ep": int(ep[j]),
            "cp": int(cp[j]), "zero_stage": int(zs[j]), "micro_batch": int(mb[j]),
            "schedule": names[int(code[j])], "virtual_stages": int(v[j]),
            "n_microbatches": int(m[j]), "global_batch_seqs": int(m[j] * dp[j] * mb[j]),
        }  # fmt: skip
        if derived:
            out["step_time_s"] = float(breakdown["step"][pos[j]])
        out["memory_gb"] = float(mem["total"][j]) / 1e9
        return out

    best = int(order[0])
    layout = describe(best)
    layout.pop("memory_gb")
    layout["given"] = given
    layout["chosen_by"] = (
        "highest throughput among feasible layouts"
        if derived
        else "least model parallelism (tp*pp*cp) that fits, then lowest ZeRO stage"
    )
    memory_gb = {k: float(val[best]) / 1e9 for k, val in mem.items()}
    memory_gb["usable"] = usable / 1e9
    steps = {k: float(val[pos[best]]) for k, val in breakdown.items()} if derived else {}
    alternatives = [describe(int(j)) for j in order[1:top_n]]
    return LayoutChoice(True, layout, memory_gb, None, rejected, len(tp), steps, alternatives)
