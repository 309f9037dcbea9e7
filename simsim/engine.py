"""Engine: the parallel layout and the memory it needs, evaluated for all candidates at once.

In ``efficiency.mode=fixed`` the step time does not depend on the layout, so a null field of
``parallel`` is filled with the *least model parallelism that fits in memory*: the smallest
``tp*pp*cp``, then the lowest ZeRO stage, then the least memory. (The performance-driven search
of every layout arrives with the derived efficiency model.) Every candidate is one element of a
numpy array; rejected candidates are counted by reason, and a scenario with no feasible layout is
reported as infeasible with the commonest reason, never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .physics import architecture as A
from .physics import memory as M

GIB = 2.0**30

#: Defaults for null layout fields that fixed mode does not search: no context parallelism,
#: micro-batch 1 and the 1F1B schedule (Megatron-LM's defaults). ZeRO stages 1-3 are tried.

FIXED_DEFAULTS: dict[str, Any] = {
    "cp": 1,
    "micro_batch": 1,
    "schedule": "1f1b",
    "virtual_stages": 1,
}


@dataclass(frozen=True)
class LayoutChoice:
    feasible: bool
    layout: dict[str, Any]
    memory_gb: dict[str, float]
    reason: str | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    n_candidates: int = 0


def _powers_of_two(limit: int) -> list[int]:
    out, v = [], 1
    while v <= limit:
        out.append(v)
        v *= 2
    return out


def _candidates(sc: dict[str, Any]) -> dict[str, NDArray[np.int64]]:
    par, model, hw = sc["parallel"], sc["model"], sc["hardware"]
    n = sc["cluster"]["n_gpus"]
    moe = model.get("moe")
    tp_max = min(hw["scale_up_domain"], hw["gpus_per_node"], model["n_heads"])
    axes: dict[str, list[int]] = {
        "tp": [par["tp"]]
        if par["tp"]
        else [t for t in _powers_of_two(tp_max) if model["n_heads"] % t == 0],
        "pp": [par["pp"]] if par["pp"] else _powers_of_two(min(model["n_layers"], n)),
        "cp": [par["cp"] or FIXED_DEFAULTS["cp"]],
        "ep": [par["ep"]]
        if par["ep"]
        else (
            [e for e in _powers_of_two(min(moe["n_experts"], n)) if moe["n_experts"] % e == 0]
            if moe
            else [1]
        ),
        "zero_stage": [par["zero_stage"]] if par["zero_stage"] is not None else [1, 2, 3],
        "micro_batch": [par["micro_batch"] or FIXED_DEFAULTS["micro_batch"]],
    }
    grids = np.meshgrid(*[np.asarray(v, dtype=np.int64) for v in axes.values()], indexing="ij")
    return {k: g.ravel() for k, g in zip(axes, grids, strict=True)}


def memory_per_gpu(
    arch: A.Arch,
    precision: str,
    recompute: str,
    schedule: str,
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
    pc = A.param_counts(arch)
    h = float(np.asarray(arch.d_model))
    vh = float(np.asarray(arch.vocab_size)) * h
    dense_layers, moe_layers = (float(x) for x in A.layer_counts(arch))
    n_layers = float(np.asarray(arch.n_layers))
    e = float(A.expert_params(arch))
    routed_per_layer = float(np.asarray(arch.n_experts)) * e
    mtp_total = float(A.mtp_extra_params(arch))
    mtp_expert = float(np.asarray(arch.mtp_depth)) * (routed_per_layer if moe_layers > 0 else 0.0)
    layer_ne = float(pc["total"]) - float(pc["expert"]) - float(pc["embedding"])
    tp, pp, cp, ep = (np.asarray(x, float) for x in (tp, pp, cp, ep))
    n = np.asarray(n_gpus, float)
    dp = n / (tp * pp * cp)
    ends = np.where(pp == 1, float(pc["embedding"]), vh) + (mtp_total - mtp_expert)
    stage_ne = layer_ne / pp + ends
    stage_expert = float(pc["expert"]) / pp + mtp_expert
    copies = 2.0 if schedule == "dualpipe" else 1.0
    states = M.model_state_bytes(stage_ne / tp, dp * cp, zero_stage, precision, copies)
    states = states + M.model_state_bytes(
        stage_expert / ep, n / (pp * ep), zero_stage, precision, copies
    )

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
    in_flight = M.in_flight_microbatches(schedule, pp, n_microbatches, virtual_stages)
    tokens = np.asarray(micro_batch, float) * seq_len / (tp * cp)
    acts = per_tok_layer * layers_per_stage * in_flight * tokens
    return {"model_states": states, "activations": acts, "total": states + acts}


def choose_layout(sc: dict[str, Any], arch: A.Arch) -> LayoutChoice:
    """Fill the null fields of ``sc['parallel']`` (fixed mode) and check memory and divisibility."""
    par = sc["parallel"]
    n = int(sc["cluster"]["n_gpus"])
    tr = sc["training"]
    schedule = par["schedule"] or FIXED_DEFAULTS["schedule"]
    v = par["virtual_stages"] or (2 if schedule == "interleaved" else 1)
    c = _candidates(sc)
    tp, pp, cp, ep, zs, mb = (c[k] for k in ("tp", "pp", "cp", "ep", "zero_stage", "micro_batch"))
    mp = tp * pp * cp
    divides = n % mp == 0
    dp = np.where(divides, n // np.maximum(mp, 1), 0)
    if par["dp"]:
        divides &= dp == par["dp"]
    ep_ok = divides & ((n // np.maximum(pp, 1)) % ep == 0)
    # The global batch is rounded down to a whole number of micro-batches per DP rank (as a
    # launcher would pick it); fewer than one is infeasible.
    seqs = tr["global_batch_tokens"] / tr["seq_len"]
    m = np.floor(seqs / np.maximum(dp * mb, 1) + 1e-9)
    batch_ok = ep_ok & (m >= 1)
    mem = memory_per_gpu(
        arch, tr["precision"], tr["recompute"], schedule, tr["seq_len"], n,
        tp, pp, cp, ep, zs, mb, np.maximum(m, 1), v,
    )  # fmt: skip
    # HBM capacities are binary: a vendor's "80GB" H100 has 80 GiB (nvidia-smi: 81,559 MiB).
    usable = sc["hardware"]["hbm_gb"] * GIB * sc["efficiency"]["usable_hbm_fraction"]
    fits = batch_ok & (mem["total"] <= usable)
    # rejection reasons in the order the checks apply; a candidate counts under its first one
    stages = [
        ("tp*pp*cp does not divide cluster.n_gpus (or mismatches parallel.dp)", divides),
        ("parallel.ep does not divide the GPUs of a pipeline stage", ep_ok),
        ("global batch is smaller than dp*micro_batch sequences", batch_ok),
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
        if batch_ok.any():
            i = int(np.argmin(np.where(batch_ok, mem["total"], np.inf)))
            reason += (
                f": the smallest candidate needs {mem['total'][i] / 1e9:.1f} GB per GPU "
                f"(tp={tp[i]}, pp={pp[i]}, ep={ep[i]}, zero_stage={zs[i]}) "
                f"against {usable / 1e9:.1f} GB usable of {sc['hardware']['hbm_gb']} GiB"
            )
        return LayoutChoice(False, {}, {}, reason, rejected, len(tp))
    order = np.lexsort((mem["total"], zs, mp))  # last key sorts first
    best = int(order[np.flatnonzero(fits[order])[0]])
    given = {
        k
        for k in ("tp", "pp", "dp", "ep", "cp", "zero_stage", "micro_batch", "schedule")
        if par[k] is not None
    }
    layout = {
        "tp": int(tp[best]),
        "pp": int(pp[best]),
        "dp": int(dp[best]),
        "ep": int(ep[best]),
        "cp": int(cp[best]),
        "zero_stage": int(zs[best]),
        "micro_batch": int(mb[best]),
        "schedule": schedule,
        "virtual_stages": int(v),
        "n_microbatches": int(m[best]),
        "global_batch_seqs": int(m[best] * dp[best] * mb[best]),
        "given": sorted(given),
        "chosen_by": "least model parallelism (tp*pp*cp) that fits, then lowest ZeRO stage",
    }
    memory_gb = {k: float(val[best]) / 1e9 for k, val in mem.items()}
    memory_gb["usable"] = usable / 1e9
    return LayoutChoice(True, layout, memory_gb, None, rejected, len(tp))
