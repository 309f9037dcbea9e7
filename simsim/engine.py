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

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .performance import (
    Layout,
    Machine,
    Shape,
    Workload,
    compute_class_columns,
    machine,
    spread,
    spread_rows,
    stack_machines,
    step_class_columns,
    step_time,
    take,
    take_rows,
)
from .physics import architecture as A
from .physics import memory as M
from .physics.pipeline import SCHEDULE_CODES, in_flight_microbatches
from .schema import Scenario

GIB = 2.0**30

#: Defaults for null layout fields that fixed mode does not search: micro-batch 1 and the 1F1B
#: schedule (Megatron-LM's defaults). The stack's ZeRO stages and the virtual stages of a given
#: interleaved schedule are tried (they change memory only), and CP for long sequences (where
#: a sequence may not fit one GPU at all).
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


#: The fields of ``parallel`` that make a layout (what a search chooses; ``dp`` follows).
LAYOUT_FIELDS = ("tp", "pp", "cp", "ep", "zero_stage", "micro_batch", "schedule", "virtual_stages")


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


def _union_axes(scs: Sequence[Scenario]) -> dict[str, list[Any]]:
    """The search axes of a group of scenarios that share their discrete choices: a given
    field has its value; a null one is searched (derived mode) or defaulted (fixed mode, see
    :data:`FIXED_DEFAULTS`) over the union of what each scenario allows."""
    sc = scs[0]
    par, derived = sc.parallel, sc.efficiency.mode == "derived"
    schedules = list(sc.software.schedules)
    tp_max = max(_tp_max(s) for s in scs)
    pp_max = max(min(s.model.n_layers, s.cluster.n_gpus) for s in scs)
    ep_max = max(
        (min(s.model.moe.n_experts, s.cluster.n_gpus) for s in scs if s.model.moe), default=1
    )
    long_seq = any(s.training.seq_len >= CP_MIN_SEQ for s in scs)
    searched: dict[str, list[Any]] = {
        "tp": _powers_of_two(tp_max),
        "pp": _powers_of_two(pp_max),
        "cp": _powers_of_two(32) if long_seq else [1],
        "ep": _powers_of_two(ep_max),
        "zero_stage": list(sc.software.zero_stages),
        "micro_batch": SEARCH["micro_batch"] if derived else [FIXED_DEFAULTS["micro_batch"]],
        "schedule": schedules if derived else [_fixed_schedule(schedules)],
        "virtual_stages": [1, *SEARCH["virtual_stages"]],
    }
    axes = {k: [getattr(par, k)] if getattr(par, k) is not None else v for k, v in searched.items()}
    if par.virtual_stages is not None:
        axes["virtual_stages"] = [1, par.virtual_stages]
    axes["schedule"] = [SCHEDULE_CODES[s] for s in axes["schedule"]]
    return axes


def _tp_max(sc: Scenario) -> int:
    tp_max = min(sc.hardware.scale_up_domain, TP_CAP, sc.model.n_heads)
    if sc.efficiency.mode != "derived":
        tp_max = min(tp_max, sc.hardware.gpus_per_node)
    return tp_max


def _grid(axes: dict[str, list[Any]]) -> dict[str, NDArray[np.int64]]:
    grids = np.meshgrid(*[np.asarray(v, dtype=np.int64) for v in axes.values()], indexing="ij")
    c = {k: g.ravel() for k, g in zip(axes, grids, strict=True)}
    # virtual stages belong to the interleaved schedule only
    interleaved = c["schedule"] == SCHEDULE_CODES["interleaved"]
    keep = np.where(interleaved, c["virtual_stages"] >= 2, c["virtual_stages"] == 1)
    return {k: val[keep] for k, val in c.items()}


#: Pipeline chunks a *given* interleaved layout may have beyond the model's layers: the embedding
#: and the loss each count as one layer of the split (Megatron-Core's
#: --account-for-embedding-in-pipeline-split and --account-for-loss-in-pipeline-split; e.g.
#: Qwen3-235B's 94 layers as PP32 x VPP3 in Megatron-MoE-ModelZoo's table). The search keeps at
#: least one layer per chunk.
EXTRA_CHUNKS = 2
#: What the search allows, in the words of a rejection (see :func:`_allowed`).
SEARCH_LIMITS = (
    "TP within the scale-up domain dividing the heads, PP up to the layers and GPUs, EP dividing "
    "the experts, CP only for long sequences, interleaved chunks at most the layers (+"
    f"{EXTRA_CHUNKS} for a given parallel.virtual_stages)"
)


def _allowed(scs: Sequence[Scenario], c: dict[str, NDArray[np.int64]]) -> NDArray[np.bool_]:
    """Which candidates of the union grid each scenario may use (scenarios x candidates): what
    its own search would have tried (:data:`SEARCH_LIMITS`)."""
    par = scs[0].parallel
    col = lambda f: np.asarray([f(s) for s in scs], dtype=np.int64)[:, None]  # noqa: E731
    ok = np.ones((len(scs), len(c["tp"])), dtype=bool)
    layers = col(lambda s: s.model.n_layers)
    if par.tp is None:
        ok &= (c["tp"] <= col(_tp_max)) & (col(lambda s: s.model.n_heads) % c["tp"] == 0)
    if par.pp is None:
        ok &= c["pp"] <= np.minimum(layers, col(lambda s: s.cluster.n_gpus))
    if par.cp is None:
        long_seq = col(lambda s: s.training.seq_len) >= CP_MIN_SEQ
        ok &= long_seq | (c["cp"] == 1)
    if par.ep is None:
        n_exp = col(lambda s: s.model.moe.n_experts if s.model.moe else 1)
        n_gpu = col(lambda s: s.cluster.n_gpus)
        ok &= (c["ep"] <= np.minimum(n_exp, n_gpu)) & (n_exp % c["ep"] == 0)
    interleaved = c["schedule"] == SCHEDULE_CODES["interleaved"]
    extra = EXTRA_CHUNKS if par.virtual_stages is not None else 0  # given, not searched
    ok &= ~interleaved | (c["pp"] * c["virtual_stages"] <= layers + extra)
    return ok


def _candidates(sc: Scenario) -> dict[str, NDArray[np.int64]]:
    """Every candidate layout of one scenario (arrays of the layout fields)."""
    c = _grid(_union_axes([sc]))
    keep = _allowed([sc], c)[0]
    return {k: v[keep] for k, v in c.items()}


def _f(x: Any) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


def stage_params(
    arch: A.Arch, tp: NDArray[Any], pp: NDArray[Any], ep: NDArray[Any]
) -> dict[str, NDArray[np.float64]]:
    """Parameters per GPU on the most loaded pipeline stage [elements]; ``arch`` fields
    broadcast with the layout.

    ``ne``: non-expert weights split by ``tp*pp``, plus the embedding or LM head and the MTP
    module on the end stages (with pp=1 the one stage holds them all); ``expert``: routed
    experts split by ``pp*ep`` (expert TP = 1), plus the MTP module's experts.
    """
    return _stage_params(stage_terms(arch), tp, pp, ep)


def stage_terms(arch: A.Arch) -> dict[str, NDArray[np.float64]]:
    """The parameter counts :func:`stage_params` splits over a layout [elements]."""
    pc = A.param_counts(arch)
    _, moe_layers = A.layer_counts(arch)
    routed_per_layer = _f(arch.n_experts) * A.expert_params(arch)
    mtp_expert = _f(arch.mtp_depth) * np.where(moe_layers > 0, routed_per_layer, 0.0)
    return {
        "layer_ne": pc["total"] - pc["expert"] - pc["embedding"],
        "embedding": pc["embedding"],
        "vh": _f(arch.vocab_size) * _f(arch.d_model),  # one of the embedding or the LM head
        "mtp_ne": A.mtp_extra_params(arch) - mtp_expert,
        "expert": pc["expert"],
        "mtp_expert": mtp_expert,
    }


def _stage_params(t: dict[str, Any], tp: Any, pp: Any, ep: Any) -> dict[str, NDArray[np.float64]]:
    tp, pp, ep = (_f(x) for x in (tp, pp, ep))
    ends = np.where(pp == 1, t["embedding"], t["vh"]) + t["mtp_ne"]
    return {
        "ne": (t["layer_ne"] / pp + ends) / tp,
        "expert": (t["expert"] / pp + t["mtp_expert"]) / ep,
    }


def memory_per_gpu(
    arch: A.Arch,
    *,
    precision: str,
    recompute: str,
    schedule: str | NDArray[Any],
    seq_len: Any,
    n_gpus: Any,
    tp: Any,
    pp: Any,
    cp: Any,
    ep: Any,
    zero_stage: Any,
    micro_batch: Any,
    n_microbatches: Any,
    virtual_stages: Any = 1,
) -> dict[str, NDArray[np.float64]]:
    """Model states and activations on the most loaded GPU [bytes]; every argument broadcasts
    (the ``arch`` fields too).

    Non-expert weights are split by ``tp*pp`` and ZeRO-sharded over ``dp*cp``; routed experts by
    ``pp*ep`` and sharded over the expert-data-parallel group ``n/(pp*ep)`` (Megatron-LM
    ``theoretical_memory_usage.py``). The embedding, LM head and MTP modules sit on the end
    stages; the worst stage is taken (with pp=1 the one stage holds them all). Activations:
    layers per stage x in-flight micro-batches x tokens per micro-batch / (tp*cp) (sequence and
    context parallel split them) x bytes per token-layer (:mod:`simsim.physics.memory`).
    """
    return _memory(
        stage_terms(arch), activation_bytes(arch, precision, recompute),
        _f(arch.n_layers) + _f(arch.mtp_depth), precision=precision, schedule=schedule,
        seq_len=seq_len, n_gpus=n_gpus, tp=tp, pp=pp, cp=cp, ep=ep, zero_stage=zero_stage,
        micro_batch=micro_batch, n_microbatches=n_microbatches, virtual_stages=virtual_stages,
    )  # fmt: skip


def _memory(
    terms: dict[str, Any], per_tok_layer: Any, layers: Any, *, precision: str,
    schedule: str | NDArray[Any], seq_len: Any, n_gpus: Any, tp: Any, pp: Any, cp: Any,
    ep: Any, zero_stage: Any, micro_batch: Any, n_microbatches: Any, virtual_stages: Any,
) -> dict[str, NDArray[np.float64]]:  # fmt: skip
    """:func:`memory_per_gpu` from the model's precomputed terms (a batch search computes them
    once per scenario)."""
    tp, pp, cp, ep = (_f(x) for x in (tp, pp, cp, ep))
    n = _f(n_gpus)
    dp = n / (tp * pp * cp)
    sp = _stage_params(terms, tp, pp, ep)
    code = np.asarray(SCHEDULE_CODES[schedule] if isinstance(schedule, str) else schedule)
    copies = np.where(code == SCHEDULE_CODES["dualpipe"], 2.0, 1.0)
    states = M.model_state_bytes(sp["ne"], dp * cp, zero_stage, precision, copies)
    states = states + M.model_state_bytes(
        sp["expert"], n / (pp * ep), zero_stage, precision, copies
    )
    layers_per_stage = layers / pp
    in_flight = in_flight_microbatches(schedule, pp, n_microbatches, virtual_stages)
    tokens = _f(micro_batch) * _f(seq_len) / (tp * cp)
    acts = per_tok_layer * layers_per_stage * in_flight * tokens
    return {"model_states": states, "activations": acts, "total": states + acts}


def _imbalance(sc: Scenario) -> float:
    """Routed load of the busiest expert-parallel rank over the mean: the model's
    ``moe.load_imbalance``, else the default of dropless learned routing. With token dropping
    (``moe.capacity_factor`` set) no rank exceeds its capacity and every expert's batch is
    padded to it: the capacity factor is the whole cost, and the imbalance is 1."""
    moe = sc.model.moe
    if moe is None or moe.capacity_factor is not None:
        return 1.0
    return moe.load_imbalance or sc.efficiency.moe_load_imbalance


def activation_bytes(arch: A.Arch, precision: str, recompute: str) -> NDArray[np.float64]:
    """Activation bytes kept per token and layer, averaged over the model's layers, before
    TP/SP/CP (:func:`simsim.physics.memory.activation_bytes_per_token_layer`)."""
    h = _f(arch.d_model)
    dense_layers, moe_layers = A.layer_counts(arch)
    n_layers = _f(arch.n_layers)
    # widths kept per token-layer (see activation_bytes_per_token_layer)
    nh = _f(arch.n_heads)
    if arch.attention == "mla":
        q = _f(arch.q_lora_rank)
        attn_in = q + _f(arch.kv_lora_rank) + _f(arch.qk_rope_head_dim)
        attn_in = np.where(q == 0, attn_in + h, attn_in)
    else:
        attn_in = (nh + 2.0 * _f(arch.n_kv_heads)) * _f(arch.head_dim)
    mats = A.ffn_matrices(arch.gated_ffn) - 1.0  # FC1 outputs kept: 2f gated, f otherwise
    dense_inter = mats * _f(arch.d_ff)
    k, ns = _f(arch.top_k), _f(arch.n_shared)
    fe = _f(arch.d_ff_expert)
    moe_lin = k * h + _f(arch.n_experts)  # dispatched inputs + router logits
    moe_inter = (k + ns) * mats * fe
    if recompute == "moe":  # MoE blocks recomputed from their input: keep none of their inside
        moe_lin, moe_inter, recompute = 0.0 * moe_lin, 0.0 * moe_inter, "selective"
    lin = attn_in + (moe_layers * moe_lin) / n_layers
    inter = (dense_layers * dense_inter + moe_layers * moe_inter) / n_layers
    return M.activation_bytes_per_token_layer(h, lin, inter, recompute, precision)


def _group_key(sc: Scenario, arch: A.Arch) -> tuple[Any, ...]:
    """Scenarios that share this key are searched in one vectorised pass: the discrete choices
    (attention kind, FFN gating, tied embeddings, precision, recompute, mode, the stack's
    schedules and ZeRO stages, the given layout fields) are the same for all of them."""
    return (
        arch.attention, arch.gated_ffn, arch.tie_embeddings, sc.training.precision,
        sc.training.recompute, sc.efficiency.mode, sc.software.schedules,
        sc.software.zero_stages, sc.parallel, sc.model.moe is not None,
    )  # fmt: skip


_ARCH_ARRAYS = tuple(
    f.name for f in fields(A.Arch) if f.name not in ("attention", "gated_ffn", "tie_embeddings")
)


#: Candidate layouts a batch search evaluates in one pass, about (see :func:`choose_layouts`): a
#: tuning choice, the fastest of 2**14, 2**16, 2**17, 2**18, 2**20 on make bench's derived sweep
#: on this 2-core machine (2**14 and 2**20 were 40% and 15% slower; 2**16-2**18 within noise).
SEARCH_BATCH = 2**17


def choose_layouts(
    scs: Sequence[Scenario], archs: Sequence[A.Arch], top_n: int = 5
) -> list[LayoutChoice]:
    """The best layout of each scenario, searched in as few vectorised passes as there are
    groups of scenarios with the same discrete choices (:func:`_group_key`): one union grid of
    candidates per group, each scenario's own candidates masked in, every check and the step
    time evaluated once over all of them, and a per-scenario choice."""
    out: list[LayoutChoice | None] = [None] * len(scs)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (sc, arch) in enumerate(zip(scs, archs, strict=True)):
        groups.setdefault(_group_key(sc, arch), []).append(i)
    for members in groups.values():
        # in batches of scenarios whose candidates stay in the CPU's caches (one pass over
        # millions of candidates is several times slower per candidate than many small ones)
        size = max(1, SEARCH_BATCH // len(_grid(_union_axes([scs[members[0]]]))["tp"]))
        for lo in range(0, len(members), size):
            batch = members[lo : lo + size]
            for i, choice in zip(
                batch, _search([scs[i] for i in batch], [archs[i] for i in batch], top_n),
                strict=True,
            ):  # fmt: skip
                out[i] = choice
    return [c for c in out if c is not None]


def choose_layout(sc: Scenario, arch: A.Arch, top_n: int = 5) -> LayoutChoice:
    """Evaluate every candidate layout of one scenario at once; keep the feasible ones; pick the
    best. Fixed mode: the least model parallelism that fits (the step time does not depend on
    it). Derived mode: the highest throughput (:mod:`simsim.performance`), then the least
    memory."""
    return _search([sc], [arch], top_n)[0]


#: Rejection reasons in the order the checks apply; a candidate counts under its first one.
REASONS = (
    "tp*pp*cp does not divide cluster.n_gpus (or mismatches parallel.dp)",
    "parallel.ep does not divide the GPUs of a pipeline stage",
    "global batch is smaller than dp*micro_batch sequences",
    "schedule needs: dualpipe an even pp; interleaved pp >= 2 and m a multiple of pp",
    "does not fit in usable HBM",
)


def _search(scs: Sequence[Scenario], archs: Sequence[A.Arch], top_n: int) -> list[LayoutChoice]:
    sc0 = scs[0]
    n_sc = len(scs)
    par, tr0 = sc0.parallel, sc0.training
    derived = sc0.efficiency.mode == "derived"
    c = _grid(_union_axes(scs))
    s_idx, c_idx = np.nonzero(_allowed(scs, c))
    n_cand = np.bincount(s_idx, minlength=n_sc)
    n_int = np.asarray([s.cluster.n_gpus for s in scs], dtype=np.int64)
    seqs_s = _f([s.training.global_batch_tokens / s.training.seq_len for s in scs])

    # The checks of REASONS in order, each on the candidates that passed those before it: a
    # candidate counts under its first failed check and is dropped there, so that the later
    # (costlier) checks and the step time see only the survivors
    failed: list[NDArray[np.int64]] = []
    passing: list[NDArray[np.int64]] = []
    # the layout columns gathered for the surviving candidates, and the data-parallel degree
    # and micro-batch count derived from them, narrowed with them at each check
    gathered: dict[str, NDArray[Any]] = {}

    def keep(passed: NDArray[np.bool_]) -> None:
        nonlocal s_idx, c_idx
        before = passing[-1] if passing else n_cand
        s_idx, c_idx = s_idx[passed], c_idx[passed]
        for k, values in gathered.items():
            gathered[k] = values[passed]
        passing.append(np.bincount(s_idx, minlength=n_sc))
        failed.append(before - passing[-1])  # each scenario's candidates that failed this check

    def col(k: str) -> NDArray[np.int64]:
        if k not in gathered:
            gathered[k] = c[k][c_idx]
        return gathered[k]

    mp = col("tp") * col("pp") * col("cp")
    gathered["dp"] = n_int[s_idx] // mp
    divides = n_int[s_idx] % mp == 0
    if par.dp:
        divides &= gathered["dp"] == par.dp
    keep(divides)
    keep((n_int[s_idx] // col("pp")) % col("ep") == 0)

    # The global batch is rounded down to a whole number of micro-batches per DP rank (as a
    # launcher would pick it); fewer than one is infeasible.
    gathered["m"] = np.floor(seqs_s[s_idx] / (gathered["dp"] * col("micro_batch")) + 1e-9)
    keep(gathered["m"] >= 1)
    m, pp_, code_ = gathered["m"], col("pp"), col("schedule")
    keep(np.select(
        [code_ == SCHEDULE_CODES["dualpipe"], code_ == SCHEDULE_CODES["interleaved"]],
        [(pp_ >= 2) & (pp_ % 2 == 0), (pp_ >= 2) & (m % pp_ == 0)],
        True,
    ))  # fmt: skip
    tp, pp, cp, ep, zs, mb, code, v = (col(k) for k in LAYOUT_FIELDS)
    mp, dp, m = tp * pp * cp, gathered["dp"], gathered["m"]

    # per-scenario inputs, gathered per candidate (kept scalar for a single scenario)
    def per(values: list[Any]) -> Any:
        return values[0] if n_sc == 1 else spread(values, s_idx)

    n = per([s.cluster.n_gpus for s in scs])
    seq_s: Any = scs[0].training.seq_len if n_sc == 1 else _f([s.training.seq_len for s in scs])
    seq = take(seq_s, s_idx)
    usable_s = [s.hardware.hbm_gib * GIB * s.efficiency.usable_hbm_fraction for s in scs]
    usable = per(usable_s)
    # the model's terms, once per scenario, then spread over its candidates
    stacked: dict[str, Any] = {f: _f([getattr(a, f) for a in archs]) for f in _ARCH_ARRAYS}
    arch_s = archs[0] if n_sc == 1 else replace(archs[0], **stacked)
    each = (lambda x: x) if n_sc == 1 else (lambda x: spread(x, s_idx))
    terms = {k: each(val) for k, val in stage_terms(arch_s).items()}
    act = each(activation_bytes(arch_s, tr0.precision, tr0.recompute))
    layers = each(_f(arch_s.n_layers) + _f(arch_s.mtp_depth))
    mem = _memory(
        terms, act, layers, precision=tr0.precision, schedule=code, seq_len=seq, n_gpus=n,
        tp=tp, pp=pp, cp=cp, ep=ep, zero_stage=zs, micro_batch=mb,
        n_microbatches=np.maximum(m, 1), virtual_stages=v,
    )  # fmt: skip
    fits = mem["total"] <= usable
    passing.append(np.bincount(s_idx[fits], minlength=n_sc))
    failed.append(passing[-2] - passing[-1])

    idx = np.flatnonzero(fits)
    breakdown: dict[str, NDArray[np.float64]] = {}
    cls: NDArray[np.intp] = np.zeros(0, dtype=np.intp)  # each candidate's step-time class
    if derived:
        moe = [s.model.moe for s in scs]
        lay = Layout(
            tp=tp[idx], pp=pp[idx], cp=cp[idx], ep=ep[idx], dp=dp[idx], zero_stage=zs[idx],
            micro_batch=mb[idx], schedule=code[idx], v=v[idx], m=m[idx],
            max_nodes=take(per([float(x.max_nodes_per_token or np.inf) if x else np.inf
                                 for x in moe]), idx),
        )  # fmt: skip
        fidx = s_idx[idx]
        wl = Workload(
            arch_s, take(seq, idx), tr0.precision, tr0.recompute, take(n, idx),
            capacity_factor=take(per([(x.capacity_factor or 1.0) if x else 1.0 for x in moe]),
                                  idx),
            dropless=take(per([x is None or x.capacity_factor is None for x in moe]), idx),
            load_imbalance=take(per([_imbalance(s) for s in scs]), idx),
            pipeline_split=sc0.parallel.pipeline_split,
        )  # fmt: skip
        mc = machine(sc0) if n_sc == 1 else spread_rows(_machines(scs), fidx)
        sp = _stage_params({k: take(val, idx) for k, val in terms.items()}, lay.tp, lay.pp,
                           lay.ep)  # fmt: skip
        shape = Shape.of(arch_s, seq_s)
        shp = shape if n_sc == 1 else spread_rows(shape, fidx)
        # one step time per class of candidates that share it, then each candidate's class
        classes = (equal_rows([fidx, *step_class_columns(lay)])
                   if len(idx) >= CLASSES_FROM else None)  # fmt: skip
        if classes is None:
            cls = np.arange(len(idx))
        else:
            rows, cls = classes
            wl, mc, lay, shp = (take_rows(x, rows) for x in (wl, mc, lay, shp))
            sp = {k: take(val, rows) for k, val in sp.items()}
            fidx = fidx[rows]
        kernel_rows = (equal_rows([fidx, *compute_class_columns(lay)])
                       if len(fidx) >= CLASSES_FROM else None)  # fmt: skip
        breakdown = step_time(wl, mc, lay, sp, shp, compute_rows=kernel_rows)
        rate = (lay.m * lay.dp * lay.micro_batch / breakdown["step"])[cls]
        keys = [-rate, mem["total"][idx]]  # highest throughput, then least memory
    else:  # least model parallelism, then lowest ZeRO stage, then least memory
        keys = [mp[idx].astype(float), zs[idx].astype(float), mem["total"][idx]]
    pos = np.empty(len(fits), dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    # each scenario's feasible candidates, best first: order[start[s]:start[s] + count[s]]
    count = passing[-1]
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    # idx is sorted by scenario (np.nonzero runs row by row), so each scenario's feasible
    # candidates are the slice idx[start[s] : start[s] + count[s]]
    best_of = _first_best(start, count, keys)
    # the runners-up: the whole ranking, only when they are asked for
    order = idx[np.lexsort((*keys[::-1], s_idx[idx]))] if top_n > 1 else idx
    names = {v_: k for k, v_ in SCHEDULE_CODES.items()}

    def describe(j: int) -> dict[str, Any]:
        out = {
            "tp": int(tp[j]), "pp": int(pp[j]), "dp": int(dp[j]), "ep": int(ep[j]),
            "cp": int(cp[j]), "zero_stage": int(zs[j]), "micro_batch": int(mb[j]),
            "schedule": names[int(code[j])], "virtual_stages": int(v[j]),
            "n_microbatches": int(m[j]), "global_batch_seqs": int(m[j] * dp[j] * mb[j]),
        }  # fmt: skip
        if derived:
            out["step_time_s"] = float(breakdown["step"][cls[pos[j]]])
        out["memory_gb"] = float(mem["total"][j]) / 1e9
        return out

    given = sorted(
        k for k in ("tp", "pp", "dp", "ep", "cp", "zero_stage", "micro_batch", "schedule")
        if getattr(par, k) is not None
    )  # fmt: skip
    chosen_by = (
        "highest throughput among feasible layouts"
        if derived
        else "least model parallelism (tp*pp*cp) that fits, then lowest ZeRO stage"
    )
    choices = []
    for s in range(n_sc):
        rejected = {r: int(f[s]) for r, f in zip(REASONS, failed, strict=True) if f[s]}
        if count[s] == 0:
            choices.append(
                _infeasible(scs[s], s, s_idx, passing, mem, usable_s[s], rejected,
                            int(n_cand[s]), tp, pp, ep, zs)
            )  # fmt: skip
            continue
        ranked = order[start[s] : start[s] + count[s]]
        best = int(idx[best_of[s]])
        layout = describe(best)
        layout.pop("memory_gb")
        layout["given"] = given
        layout["chosen_by"] = chosen_by
        memory_gb = {k: float(val[best]) / 1e9 for k, val in mem.items()}
        memory_gb["usable"] = usable_s[s] / 1e9
        steps = {k: float(val[cls[pos[best]]]) for k, val in breakdown.items()}
        alternatives = [describe(int(j)) for j in ranked[1:top_n]]
        choices.append(
            LayoutChoice(True, layout, memory_gb, None, rejected, int(n_cand[s]), steps,
                         alternatives)
        )  # fmt: skip
    return choices


def _machines(scs: Sequence[Scenario]) -> Machine:
    """The :class:`Machine` of each scenario as one of arrays over them: built once per distinct
    chip, stack, efficiency and precision (a sweep's points share a few), then indexed."""
    which: dict[tuple[Any, ...], int] = {}
    index = []
    for s in scs:
        key = (id(s.hardware), id(s.software), id(s.efficiency), s.training.precision,
               s.training.fp8_recipe)  # fmt: skip
        index.append(which.setdefault(key, len(which)))
    first = {i: s for s, i in zip(scs, index, strict=True)}
    unique = stack_machines([machine(first[i]) for i in range(len(which))])
    return spread_rows(unique, np.asarray(index))


#: Fewest candidates for which timing one per class pays for finding the classes: a choice, not a
#: measurement of it (a given layout, 1-2 candidates, went from 1.9 to 1.6 ms without the class
#: tables; a full search, thousands, gains from them).
CLASSES_FROM = 64


def equal_rows(
    cols: list[NDArray[Any]],
) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
    """The classes of equal rows of the non-negative integer columns ``cols``: one
    representative row of each class and each row's class, found in O(n) through a table of
    the mixed-radix keys (no sort); None when the table would outgrow the rows."""
    n = len(cols[0])
    if n == 0:
        return None
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for x in cols:
        x = np.asarray(x, dtype=np.int64)
        present = np.bincount(x) > 0  # each column's values, as dense codes 0 .. radix-1
        radix = int(present.sum())
        x = (np.cumsum(present) - 1)[x]
        size *= radix
        if size > 4 * n + 1_000_000:
            return None
        key = key * radix + x
    used = np.zeros(size, dtype=bool)
    used[key] = True
    rank = np.cumsum(used) - 1
    inverse = rank[key]
    rows = np.empty(int(rank[-1]) + 1, dtype=np.intp)
    rows[inverse] = np.arange(n)
    return rows, inverse


def _first_best(
    start: NDArray[np.int64], count: NDArray[np.int64], keys: list[NDArray[np.float64]]
) -> NDArray[np.int64]:
    """Per group (the slices ``start[s] : start[s] + count[s]`` of the key arrays), the position
    of the element that is smallest in ``keys[0]``, ties broken by ``keys[1]`` and so on, then
    by position: a stable lexicographic argmin in O(n), without sorting. Groups with no element
    get -1."""
    out = np.full(len(count), -1, dtype=np.int64)
    has = count > 0
    if not has.any():
        return out
    starts, counts = start[has], count[has]
    tied = np.ones(len(keys[0]), dtype=bool)
    for key in keys:
        k = np.where(tied, key, np.inf)
        tied &= k == np.repeat(np.minimum.reduceat(k, starts), counts)
    group = np.repeat(np.arange(len(starts)), counts)
    pos = np.flatnonzero(tied)
    _, first = np.unique(group[pos], return_index=True)
    out[has] = pos[first]
    return out


def _infeasible(
    sc: Scenario, s: int, s_idx: NDArray[np.intp], passing: list[NDArray[np.int64]],
    mem: dict[str, NDArray[np.float64]], usable: float, rejected: dict[str, int],
    n_candidates: int, *layout: NDArray[np.int64],
) -> LayoutChoice:  # fmt: skip
    """No candidate of scenario ``s`` is feasible: the reason of the first check that none of
    them passes (the checks are nested), with the smallest candidate's memory when it is HBM.
    ``s_idx``, ``mem`` and ``layout`` are over the candidates that passed every check but
    memory."""
    reason = (
        f"no candidate layout within the search's limits ({SEARCH_LIMITS})"
        if n_candidates == 0
        else next((r for r, p in zip(REASONS, passing, strict=True) if p[s] == 0), "")
    )
    lo, hi = np.searchsorted(s_idx, [s, s + 1])  # s_idx is sorted: the scenario's own slice
    if hi > lo:
        tp, pp, ep, zs = layout
        i = lo + int(np.argmin(mem["total"][lo:hi]))
        hbm = sc.hardware.hbm_gib
        reason += (
            f": the smallest candidate needs {mem['total'][i] / 1e9:.1f} GB per GPU "
            f"(tp={tp[i]}, pp={pp[i]}, ep={ep[i]}, zero_stage={zs[i]}) "
            f"against {usable / 1e9:.1f} GB usable ({hbm:g} GiB = {hbm * GIB / 1e9:.1f} GB of HBM)"
        )
    return LayoutChoice(False, {}, {}, reason, rejected, n_candidates)
