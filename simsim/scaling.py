"""Scaling laws: compute-optimal dense models, and the dense equivalent of an MoE.

Pure functions (vectorized where it matters) with the fitted constants of each paper.

References
----------
.. [H22] J. Hoffmann et al., "Training Compute-Optimal Large Language Models", arXiv:2203.15556,
   Approach 3: L = E + A/N^alpha + B/D^beta, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28.
.. [B24] T. Besiroglu, E. Erdil, M. Barnett, J. You, "Chinchilla Scaling: A replication
   attempt", arXiv:2404.10102: refit of Hoffmann's data, E=1.8172, A=482.01, B=2085.43,
   alpha=0.3478, beta=0.3658; it shows the published Approach-3 constants are inconsistent with
   Chinchilla's own ~20 tokens per parameter (the narrow intervals came from a fitting issue).
.. [CL22] A. Clark et al., "Unified Scaling Laws for Routed Language Models", arXiv:2202.01169:
   log10 L = a log10 N + b log10 E^ + c log10 N log10 E^ + d, S-BASE a=-0.082, b=-0.108,
   c=0.009, d=1.104, E_start=1.847, E_max=314.5 (via a secondary summary; see
   simsim/data/references.md note N5).
   Fitted on models up to 1.3B dense parameters and 512 experts at 130B tokens.
.. [AB25] S. Abnar et al., "Parameters vs FLOPs: Scaling Laws for Optimal Sparsity for MoE LMs",
   arXiv:2501.12370, Fig. 11 (references.md note N5): ~3x compute at 1:8, ~6x at 1:32.
.. [DSMoE] D. Dai et al., "DeepSeekMoE", arXiv:2401.06066: 16.4B/2.8B MoE matches DeepSeek 7B
   on the same 2T tokens with 40.5% of the FLOPs (74.4 vs 183.5 TFLOPs per 4K tokens).
.. [KR24] J. Krajewski, J. Ludziejewski et al., "Scaling Laws for Fine-Grained Mixture of
   Experts", arXiv:2402.07871 (v1), Eq. 9 and Table 1: L(N, D, G) = c + (g/G^gamma + a)/N^alpha
   + b/D^beta with N the *total* non-embedding parameters, expansion rate E = 64 fixed, C4 data;
   dense row L = c + a/N^alpha + b/D^beta. FLOPs Eq. 10 with c_f = 6, c_r = 14 (App. E).
.. [LU25] J. Ludziejewski et al., "Joint MoE Scaling Laws: Mixture of Experts Can Be Memory
   Efficient", arXiv:2502.05172 (ICML 2025), Eq. 6 and Table 3: L(N_act, D, E^) =
   a E^^delta N_act^(alpha + gamma ln E^) + b E^^omega D^(beta + zeta ln E^) + c, exponents
   applied as printed (alpha, beta, delta < 0); E^ the Clark transform of the number of top-1
   experts of dense-FFN size (dense: E = 1, E^ = E_start); N_act *includes* the embeddings
   (App. A.1); FineWeb-Edu, GPT-2 tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from omegaconf import DictConfig

from .accounting import SECONDS_PER_HOUR
from .physics.architecture import param_counts, train_flops_per_token
from .scenario import arch_from_model, compose, resolve
from .schema import Scenario

Array = NDArray[np.float64]


@dataclass(frozen=True)
class ChinchillaLaw:
    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str
    #: budgets the fit saw [FLOPs]; outside them an allocation is flagged as extrapolated
    fitted_flops: tuple[float, float] = (5e17, 6e23)


LAWS = {
    "besiroglu2024": ChinchillaLaw(
        "besiroglu2024",
        1.8172,
        482.01,
        2085.43,
        0.3478,
        0.3658,
        "Besiroglu et al. 2024 (arXiv:2404.10102), Epoch AI refit",
    ),
    "hoffmann2022": ChinchillaLaw(
        "hoffmann2022",
        1.69,
        406.4,
        410.7,
        0.34,
        0.28,
        "Hoffmann et al. 2022 (arXiv:2203.15556), Approach 3 as published",
    ),
}
DEFAULT_LAW = "besiroglu2024"
#: Budgets the Chinchilla fits saw [H22]: from ~5e17 FLOPs up to Chinchilla itself (5.76e23),
#: rounded up to 6e23; beyond it the allocation is flagged as extrapolated.
FITTED_FLOPS = (5e17, 6e23)


def _law(law: str | ChinchillaLaw) -> ChinchillaLaw:
    if isinstance(law, ChinchillaLaw):
        return law
    if law not in LAWS:
        raise ValueError(f"law={law!r}: expected one of {', '.join(LAWS)}")
    return LAWS[law]


def loss(n_params: ArrayLike, n_tokens: ArrayLike, law: str | ChinchillaLaw = DEFAULT_LAW) -> Array:
    """Pre-training loss ``E + A/N^alpha + B/D^beta`` [nats/token]."""
    p = _law(law)
    n, d = np.asarray(n_params, float), np.asarray(n_tokens, float)
    return p.E + p.A / n**p.alpha + p.B / d**p.beta


@dataclass(frozen=True)
class Allocation:
    """A compute-optimal dense model: parameters, tokens, loss, under ``law``."""

    flops: float
    n_params: float
    n_tokens: float
    loss: float
    tokens_per_param: float
    law: str
    extrapolated: bool


def compute_optimal(flops: float, law: str | ChinchillaLaw = DEFAULT_LAW) -> Allocation:
    """Compute-optimal (N, D) for a budget of ``flops`` under ``C = 6ND`` [H22]:
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N* = G (C/6)^(beta/(alpha+beta))``,
    ``D* = C / (6 N*)``. ``extrapolated`` flags budgets outside the fitted range."""
    p = _law(law)
    if not flops > 0:
        raise ValueError(f"flops={flops!r} must be > 0")
    g = (p.alpha * p.A / (p.beta * p.B)) ** (1.0 / (p.alpha + p.beta))
    n = g * (flops / 6.0) ** (p.beta / (p.alpha + p.beta))
    d = flops / (6.0 * n)
    return Allocation(
        float(flops),
        float(n),
        float(d),
        float(loss(n, d, p)),
        float(d / n),
        p.name,
        not p.fitted_flops[0] <= flops <= p.fitted_flops[1],
    )


def compute_for_loss(target_loss: float, law: str = DEFAULT_LAW) -> Allocation:
    """The inverse: the smallest compute (and its optimal N, D) that reaches ``target_loss``."""
    p = _law(law)
    if target_loss <= p.E:
        raise ValueError(f"loss={target_loss} is at or below the law's floor E={p.E}")
    lo, hi = math.log(1e10), math.log(1e35)
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if compute_optimal(math.exp(mid), law).loss > target_loss:
            lo = mid
        else:
            hi = mid
    return compute_optimal(math.exp(hi), law)


def budget_flops(
    gpu_hours: float | None = None,
    usd: float | None = None,
    hardware: str = "h100_sxm",
    precision: str = "bf16",
    mfu: float | None = None,
) -> float:
    """Training FLOPs a budget buys on ``hardware``: GPU-hours (or dollars at the preset's rental
    price) x 3600 x MFU x dense peak. ``mfu`` defaults to simsim's prior for ``precision``."""
    sc = resolve(compose([f"hardware={hardware}", f"training.precision={precision}"]))
    hw = sc.hardware
    rate = mfu if mfu is not None else sc.efficiency.default_mfu.get(precision)
    if usd is not None:
        if hw.price_usd_per_hour is None:
            raise ValueError(f"hardware {hardware!r} has no price_usd_per_hour; give gpu_hours")
        gpu_hours = usd / hw.price_usd_per_hour
    if gpu_hours is None:
        raise ValueError("give gpu_hours or usd")
    peak = hw.peak_tflops.get(precision)
    assert rate is not None and peak is not None  # resolve checked the precision
    return float(gpu_hours * SECONDS_PER_HOUR * rate * peak * 1e12)


# --- MoE -> dense ------------------------------------------------------------------------------

CLARK_SBASE = {"a": -0.082, "b": -0.108, "c": 0.009, "d": 1.104, "e_start": 1.847, "e_max": 314.5}
#: Clark et al.'s largest dense base model (1.3B) and expert count (512) [recalled from the
#: paper, not re-read here; the secondary summary only confirms the fixed 130B tokens].
CLARK_FITTED = {"n_max": 1.3e9, "e_max": 512}
#: Efficiency leverage EL = (N_total/N_active)^gamma; gamma fitted on the DeepSeekMoE-16B vs
#: DeepSeek-7B anchor (EL = 1/0.405 at A = 2.8/16.4, non-embedding: gamma = 0.51; 0.35-0.65
#: across the anchors of references.md note N5, the range reported here).
EL_GAMMA = {"central": 0.51, "low": 0.35, "high": 0.65}
GUNDLACH_EL = 2.0  # Gundlach et al. 2025 (arXiv:2511.21622): "we approximate MoE gains as 2x"
ABNAR_POINTS = ((8.0, 3.0), (32.0, 6.0))  # (total/active, compute multiplier) [AB25]
METHODS = ("clark2022", "deepseek_el", "abnar2025", "gundlach2025")


def clark_effective_experts(n_experts: ArrayLike) -> Array:
    """Clark's saturating transform E^ of the expert count (S-BASE constants)."""
    e = np.asarray(n_experts, float)
    k = CLARK_SBASE
    inner = 1.0 / (e - 1.0 + 1.0 / (1.0 / (k["e_start"] - 1.0) - 1.0 / k["e_max"]))
    return 1.0 / (inner + 1.0 / k["e_max"])


def clark_effective_params(n_active: ArrayLike, n_experts: ArrayLike) -> Array:
    """Dense parameter count with the loss of an ``n_experts`` MoE of ``n_active`` parameters:
    ``N_eq = N E^^((b + c log10 N)/a)`` [CL22]; the gain vanishes near ``N = 10^(-b/c) = 1e12``."""
    n = np.asarray(n_active, float)
    k = CLARK_SBASE
    ehat = clark_effective_experts(n_experts)
    exponent = np.minimum((k["b"] + k["c"] * np.log10(n)) / k["a"], np.inf)
    return n * np.maximum(ehat, 1.0) ** np.maximum(exponent, 0.0)


def efficiency_leverage(ratio: ArrayLike, method: str, gamma: str = "central") -> Array:
    """Compute multiplier EL = C_dense / C_moe at equal loss for a total/active ``ratio``."""
    r = np.asarray(ratio, float)
    if method == "deepseek_el":
        return r ** EL_GAMMA[gamma]
    if method == "gundlach2025":
        return np.full_like(r, GUNDLACH_EL)
    if method == "abnar2025":  # log-linear in log-sparsity through Abnar's two readings
        (r1, m1), (r2, m2) = ABNAR_POINTS
        slope = math.log(m2 / m1) / math.log(r2 / r1)
        return np.maximum(m1 * (r / r1) ** slope, 1.0)
    raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class DenseEquivalent:
    """The dense model that reaches the MoE's loss."""

    method: str
    framing: str  # "same_data" or "compute_optimal"
    n_params: float
    n_tokens: float
    train_flops: float
    multiplier: float  # C_dense / C_moe
    extrapolated: bool
    note: str


def dense_equivalent(
    cfg: Scenario | DictConfig | Mapping[str, Any],
    method: str = "deepseek_el",
    framing: str = "same_data",
    law: str = DEFAULT_LAW,
) -> DenseEquivalent:
    """Dense equivalent of a composed MoE scenario (its model and training tokens).

    ``same_data``: a dense model trained on the MoE's tokens, with ``N = EL x N_active``
    (``N_eq`` from Clark's law for ``clark2022``); ``compute_optimal``: the equivalent compute
    ``EL x C_moe`` allocated by ``law``. Parameter counts exclude embeddings, as the laws do.
    """
    if framing not in ("same_data", "compute_optimal"):
        raise ValueError(f"framing={framing!r}: expected same_data or compute_optimal")
    sc = resolve(cfg)
    model, tokens = sc.model, sc.training.tokens
    if model.moe is None:
        raise ValueError(f"model {model.name!r} is dense: it is its own dense equivalent")
    arch = arch_from_model(model)
    pc = param_counts(arch)
    n_tot = float(pc["total"] - pc["embedding"])
    n_act = float(pc["active"] - pc["embedding"])
    c_moe = float(train_flops_per_token(arch, sc.training.seq_len)["total"]) * tokens
    extrapolated, note = False, ""
    if method == "clark2022":
        n_eq = float(clark_effective_params(n_act, model.moe.n_experts))
        mult = n_eq / n_act
        extrapolated = n_act > CLARK_FITTED["n_max"] or model.moe.n_experts > CLARK_FITTED["e_max"]
        note = "Clark et al. fitted N <= 1.3e9 at 130B tokens" if extrapolated else ""
    else:
        mult = float(efficiency_leverage(n_tot / n_act, method))
        n_eq = mult * n_act
    if framing == "same_data":
        return DenseEquivalent(
            method,
            framing,
            n_eq,
            tokens,
            6.0 * n_eq * tokens,
            6.0 * n_eq * tokens / c_moe,
            extrapolated,
            note,
        )
    alloc = compute_optimal(mult * c_moe, law)
    return DenseEquivalent(
        method,
        framing,
        alloc.n_params,
        alloc.n_tokens,
        alloc.flops,
        mult,
        extrapolated or alloc.extrapolated,
        (note + "; " if note else "") + f"{law} allocation",
    )


# --- MoE scaling laws --------------------------------------------------------------------------

#: [LU25] Table 3 (App. B), as printed: the exponents alpha, delta, beta are negative and are
#: applied as they stand (a product, not a quotient). Held-out fit error RMSE_v = 0.0039 on the
#: 30 runs of lowest loss, training RMSE_t = 0.0062 (§5.2).
LUDZIEJEWSKI = {
    "a": 35.91, "alpha": -0.1889, "delta": -0.2285, "gamma": 0.0098,
    "b": 35.98, "beta": -0.1775, "omega": 0.5529, "zeta": -0.0259,
    "e_start": 2.0732, "e_max": 290.4521, "c": 1.3637, "rmse": 0.0039,
}  # fmt: skip
#: [LU25] Table 4: the joint law reduced to Chinchilla's form for each E: (m, mu, n, nu) of
#: L = m N^mu + n D^nu + c (from the unrounded fit; Table 3 reproduces it to ~0.3%).
LUDZIEJEWSKI_TABLE4 = {
    1: (30.3640, -0.1817, 53.9838, -0.1965),
    2: (27.7982, -0.1780, 66.8401, -0.2065),
    4: (24.8462, -0.1731, 87.7022, -0.2192),
    8: (21.8330, -0.1676, 119.9126, -0.2338),
    16: (19.0159, -0.1617, 167.5073, -0.2494),
    32: (16.5424, -0.1557, 234.6726, -0.2652),
}
#: [LU25] App. E: the runs span N_act 79M-2.7B (embeddings included), D 0.5B-80B tokens,
#: E in {1, 2, 4, 8, 16, 32}, N_total <= 5.0B.
LUDZIEJEWSKI_FITTED = {"n_act": (79e6, 2.7e9), "tokens": (0.5e9, 80e9), "experts": (1, 32)}

#: [H22] abstract: "over 400 language models ranging from 70 million to over 16 billion
#: parameters on 5 to 500 billion tokens".
CHINCHILLA_FITTED = {"n_params": (7e7, 1.6e10), "tokens": (5e9, 5e11)}
#: [KR24] Table 1 (v1): MoE row (expansion rate E = 64) and dense row, same data (C4), shared c.
#: Fit RMSE 0.015, validation RMSE 0.019 (§5.3-5.4).
KRAJEWSKI = {"a": 18.1, "alpha": 0.115, "b": 30.8, "beta": 0.147, "g": 2.1, "gamma": 0.58,
             "c": 0.47, "rmse": 0.019, "expansion": 64}  # fmt: skip
KRAJEWSKI_DENSE = {"a": 16.3, "alpha": 0.126, "b": 26.7, "beta": 0.127, "c": 0.47}
#: [KR24] §5 and App. A Table 3: N_act 3M-85M (total non-embedding 0.13B-3.7B at E = 64),
#: D 16B-130B tokens, G 1-16; the dense runs (Table 4) 3M-85M parameters.
KRAJEWSKI_FITTED = {"n_act": (3e6, 85e6), "tokens": (16e9, 130e9), "granularity": (1, 16)}
#: [KR24] App. E: FLOPs per parameter per token (c_f, as Hoffmann) and per routing weight (c_r).
KRAJEWSKI_CF, KRAJEWSKI_CR = 6.0, 14.0

#: MoE laws simsim's planner can use, and the kind of MoE each describes.
MOE_LAWS = {
    "ludziejewski2025": "top-1 experts of the dense FFN's size (granularity 1), E = 1-32 fitted",
    "krajewski2024": "fine-grained experts: expansion 64, granularity G (G of d_ff/G active)",
}


def ludziejewski_e_hat(n_experts: ArrayLike) -> Array:
    """The transformed expert count of [LU25] Eq. 4 (Clark et al.'s form):
    ``1/E^ = 1/(E - 1 + (1/E_start - 1/E_max)^-1) + 1/E_max``; E = 1 (dense) gives E_start."""
    k = LUDZIEJEWSKI
    e = np.asarray(n_experts, float)
    return 1.0 / (
        1.0 / (e - 1.0 + 1.0 / (1.0 / k["e_start"] - 1.0 / k["e_max"])) + 1.0 / k["e_max"]
    )


def ludziejewski_loss(n_active: ArrayLike, n_tokens: ArrayLike, n_experts: ArrayLike) -> Array:
    """Loss of [LU25] Eq. 6 [nats/token, FineWeb-Edu, GPT-2 tokenizer]: ``n_active`` includes
    the embedding and unembedding parameters; ``n_experts`` = 1 is a dense model."""
    k = LUDZIEJEWSKI
    eh = ludziejewski_e_hat(n_experts)
    ln = np.log(eh)
    n, d = np.asarray(n_active, float), np.asarray(n_tokens, float)
    return (
        k["a"] * eh ** k["delta"] * n ** (k["alpha"] + k["gamma"] * ln)
        + k["b"] * eh ** k["omega"] * d ** (k["beta"] + k["zeta"] * ln)
        + k["c"]
    )


def ludziejewski_law(n_experts: int) -> ChinchillaLaw:
    """[LU25] Eq. 6 at a fixed E as a Chinchilla law ``c + m/N^-mu + n/D^-nu`` (their Eq. 5,
    Table 4), so that :func:`compute_optimal` allocates compute for that E; N includes the
    embeddings and the budget is ``6 N_act D`` (their App. A.2)."""
    k = LUDZIEJEWSKI
    eh = float(ludziejewski_e_hat(n_experts))
    ln = math.log(eh)
    lo, hi = LUDZIEJEWSKI_FITTED["n_act"], LUDZIEJEWSKI_FITTED["tokens"]
    return ChinchillaLaw(
        f"ludziejewski2025_e{n_experts}",
        k["c"],
        k["a"] * eh ** k["delta"],
        k["b"] * eh ** k["omega"],
        -(k["alpha"] + k["gamma"] * ln),
        -(k["beta"] + k["zeta"] * ln),
        "Ludziejewski et al. 2025 (arXiv:2502.05172) Eq. 6, Table 3",
        (6.0 * lo[0] * hi[0], 6.0 * lo[1] * hi[1]),
    )


def krajewski_loss(n_total: ArrayLike, n_tokens: ArrayLike, granularity: ArrayLike) -> Array:
    """Loss of [KR24] Eq. 9 [nats/token, C4, GPT-2 tokenizer] for an MoE of expansion rate 64:
    ``n_total`` is the *total* non-embedding parameter count (all experts), ``granularity``
    G = d_ff / d_expert."""
    k = KRAJEWSKI
    n, d, g = (np.asarray(x, float) for x in (n_total, n_tokens, granularity))
    return k["c"] + (k["g"] / g ** k["gamma"] + k["a"]) / n ** k["alpha"] + k["b"] / d ** k["beta"]


def krajewski_dense_loss(n_params: ArrayLike, n_tokens: ArrayLike) -> Array:
    """[KR24] Table 1's dense law on the same data as :func:`krajewski_loss` (non-embedding N)."""
    k = KRAJEWSKI_DENSE
    n, d = np.asarray(n_params, float), np.asarray(n_tokens, float)
    return k["c"] + k["a"] / n ** k["alpha"] + k["b"] / d ** k["beta"]


def krajewski_flops(n_active: ArrayLike, n_tokens: ArrayLike, granularity: ArrayLike) -> Array:
    """Training FLOPs of [KR24] Eq. 10 for their shapes (``d_model = 64 n_blocks``,
    ``N_act = 12 d_model^2 n_blocks``): ``(12 d^2 c_f + d E G c_r) D n_blocks`` with E = 64."""
    n_act = np.asarray(n_active, float)
    d_model = (64.0 * n_act / 12.0) ** (1.0 / 3.0)
    n_blocks = d_model / 64.0
    e, g = KRAJEWSKI["expansion"], np.asarray(granularity, float)
    per_token = (12.0 * d_model**2 * KRAJEWSKI_CF + d_model * e * g * KRAJEWSKI_CR) * n_blocks
    return per_token * np.asarray(n_tokens, float)


def krajewski_total_params(n_active: ArrayLike) -> Array:
    """[KR24] §6.1: total non-embedding parameters ``d^2 (8E + 4) n_blocks`` of a model with
    ``N_act = 12 d^2 n_blocks`` active: ``(8E + 4) / 12`` times (43x at E = 64)."""
    return np.asarray(n_active, float) * (8.0 * KRAJEWSKI["expansion"] + 4.0) / 12.0


@dataclass(frozen=True)
class MoEAllocation:
    """A compute-optimal fine-grained MoE under [KR24]: active and total non-embedding
    parameters, tokens, granularity, loss."""

    flops: float
    n_active: float
    n_total: float
    n_tokens: float
    granularity: int
    loss: float
    extrapolated: bool


def krajewski_compute_optimal(
    flops: float, granularities: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
) -> MoEAllocation:
    """The (N_act, D, G) of lowest [KR24] loss whose Eq. 10 FLOPs equal ``flops``, over
    ``granularities`` (powers of two, as every row of their Table 2) and a fine log grid of
    N_act (the paper solves the same problem with Brent's method, §6.2)."""
    if not flops > 0:
        raise ValueError(f"flops={flops!r} must be > 0")
    n_act = np.geomspace(1e5, 1e14, 9001)[:, None]
    g = np.asarray(granularities, float)[None, :]
    tokens = flops / krajewski_flops(n_act, 1.0, g)
    loss_ = krajewski_loss(krajewski_total_params(n_act), tokens, g)
    i, j = np.unravel_index(int(np.argmin(loss_)), loss_.shape)
    fit = KRAJEWSKI_FITTED
    n, d, gg = float(n_act[i, 0]), float(tokens[i, j]), int(g[0, j])
    inside = (
        fit["n_act"][0] <= n <= fit["n_act"][1]
        and fit["tokens"][0] <= d <= fit["tokens"][1]
        and gg <= fit["granularity"][1]
    )
    return MoEAllocation(
        float(flops), n, float(krajewski_total_params(n)), d, gg, float(loss_[i, j]), not inside
    )
