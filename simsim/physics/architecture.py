"""Parameter counts and training FLOPs of dense and MoE transformers.

Pure, vectorized functions (pvlib style): every numeric argument may be a numpy array and the
results broadcast. No configuration objects are read here; :func:`simsim.scenario.arch_from_config`
turns a scenario into an :class:`Arch`.

FLOP convention
---------------
A GEMM ``(M x K)(K x N)`` costs ``2MKN`` FLOPs. *Model* FLOPs per token are forward + backward =
3 x forward, without recomputation (Narayanan et al. 2021; PaLM's MFU definition). Attention core
work uses causal masking (half of the ``s x s`` score and value products), as Megatron-LM's
``num_floating_point_operations`` and DeepSeek's ISCA'25 Table 2 do. The MoE router GEMM
(``2hE``) is counted; Megatron-LM does not count it (0.26% of DeepSeek-V3's FLOPs). Norms,
softmax, activations and the optimizer are not GEMMs and are not counted.

References
----------
.. [1] D. Narayanan et al., "Efficient Large-Scale Language Model Training on GPU Clusters Using
   Megatron-LM", SC21, arXiv:2104.04473, eq. (3).
.. [2] A. Chowdhery et al., "PaLM", arXiv:2204.02311, Appendix B (MFU).
.. [3] NVIDIA Megatron-LM, ``megatron/training/training.py``, ``num_floating_point_operations``
   (MLA, MoE and MTP terms added in commit d4f9a6f7b4, 2025).
.. [4] DeepSeek-AI, "DeepSeek-V3 Technical Report", arXiv:2412.19437, §2 (MLA, MoE, MTP).
.. [5] C. Zhao et al., "Insights into DeepSeek-V3", ISCA'25, arXiv:2505.09343, Table 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

#: Forward + backward (dgrad + wgrad) = 3 x forward GEMM work [1].
TRAIN_MULTIPLIER = 3.0


@dataclass(frozen=True)
class Arch:
    """Numeric shape of a transformer. Every field broadcasts (scalars or numpy arrays).

    Attributes are in elements or counts; ``attention`` is one of ``mha``, ``gqa``, ``mla``
    (MHA and GQA share one formula with ``n_kv_heads``). MoE fields are zero for a dense model.
    """

    attention: str
    n_layers: ArrayLike
    d_model: ArrayLike
    n_heads: ArrayLike
    n_kv_heads: ArrayLike
    head_dim: ArrayLike
    d_ff: ArrayLike
    gated_ffn: bool
    vocab_size: ArrayLike
    tie_embeddings: bool = False
    # MLA (DeepSeek-V2/V3); q_lora_rank 0 = no query compression
    q_lora_rank: ArrayLike = 0
    kv_lora_rank: ArrayLike = 0
    qk_nope_head_dim: ArrayLike = 0
    qk_rope_head_dim: ArrayLike = 0
    v_head_dim: ArrayLike = 0
    # MoE; n_experts 0 = dense
    n_experts: ArrayLike = 0
    n_shared: ArrayLike = 0
    top_k: ArrayLike = 0
    d_ff_expert: ArrayLike = 0
    n_dense_layers: ArrayLike = 0
    mtp_depth: ArrayLike = 0
    # sliding-window (local) attention in ``sliding_layers`` of the layers; window 0 = none
    sliding_window: ArrayLike = 0
    sliding_layers: ArrayLike = 0


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def ffn_matrices(gated: bool) -> float:
    """Weight matrices in one FFN: 3 for gated (SwiGLU: gate, up, down), 2 otherwise."""
    return 3.0 if gated else 2.0


def attention_linear_params(a: Arch) -> Array:
    """Weights of the attention projections of one layer [elements].

    MHA/GQA: ``h*n_h*d_h + 2*h*n_kv*d_h + n_h*d_h*h``. MLA [4]: query down/up projection (or a
    plain query projection without Q-LoRA), joint KV down-projection plus the shared RoPE key,
    K/V up-projection, output projection.
    """
    h, nh = _f(a.d_model), _f(a.n_heads)
    if a.attention == "mla":
        qr, kr = _f(a.q_lora_rank), _f(a.kv_lora_rank)
        dn, dr, dv = _f(a.qk_nope_head_dim), _f(a.qk_rope_head_dim), _f(a.v_head_dim)
        q = np.where(qr > 0, h * qr + qr * nh * (dn + dr), h * nh * (dn + dr))
        kv = h * (kr + dr) + kr * nh * (dn + dv)
        return q + kv + nh * dv * h
    dh, nkv = _f(a.head_dim), _f(a.n_kv_heads)
    return h * nh * dh + 2.0 * h * nkv * dh + nh * dh * h


def norm_params_per_layer(a: Arch) -> Array:
    """RMSNorm/LayerNorm weights of one layer: two of width h, plus MLA's latent norms."""
    extra = _f(a.q_lora_rank) + _f(a.kv_lora_rank) if a.attention == "mla" else 0.0
    return 2.0 * _f(a.d_model) + extra


def expert_params(a: Arch) -> Array:
    """Weights of one routed or shared expert (an FFN of width ``d_ff_expert``)."""
    return ffn_matrices(a.gated_ffn) * _f(a.d_model) * _f(a.d_ff_expert)


def dense_ffn_params(a: Arch) -> Array:
    return ffn_matrices(a.gated_ffn) * _f(a.d_model) * _f(a.d_ff)


def router_params(a: Arch) -> Array:
    return _f(a.d_model) * _f(a.n_experts)


def layer_counts(a: Arch) -> tuple[Array, Array]:
    """(layers with a dense FFN, layers with an MoE FFN); all layers are dense without MoE."""
    n_layers = _f(a.n_layers)
    moe = _f(a.n_experts) > 0
    dense = np.where(moe, np.minimum(_f(a.n_dense_layers), n_layers), n_layers)
    return dense, n_layers - dense


def embedding_params(a: Arch) -> Array:
    """Input embedding plus (if untied) the LM head [elements]."""
    return (1.0 if a.tie_embeddings else 2.0) * _f(a.vocab_size) * _f(a.d_model)


def mtp_extra_params(a: Arch) -> Array:
    """Unique weights of the MTP modules [4] §2.2: per depth one transformer block of the type of
    the last layer, a ``2h x h`` projection and three norms; embedding and head are shared."""
    h = _f(a.d_model)
    _, moe_layers = layer_counts(a)
    last_is_moe = moe_layers > 0
    block = (
        attention_linear_params(a)
        + norm_params_per_layer(a)
        + np.where(
            last_is_moe,
            _f(a.n_experts) * expert_params(a)
            + _f(a.n_shared) * expert_params(a)
            + router_params(a),
            dense_ffn_params(a),
        )
    )
    return _f(a.mtp_depth) * (block + 2.0 * h * h + 3.0 * h)


def param_counts(a: Arch) -> dict[str, Array]:
    """Parameter counts [elements].

    Returns
    -------
    dict with ``total`` (without MTP), ``active`` (per token: routed experts counted ``top_k``
    times, embeddings included, as DeepSeek reports 37B for V3), ``total_with_mtp``,
    ``expert`` (routed-expert weights, sharded by expert parallelism), ``embedding``.
    """
    dense_layers, moe_layers = layer_counts(a)
    attn = attention_linear_params(a) + norm_params_per_layer(a)
    emb = embedding_params(a)
    e = expert_params(a)
    shared_and_router = _f(a.n_shared) * e + router_params(a)
    routed_total = _f(a.n_experts) * e
    routed_active = _f(a.top_k) * e
    body = _f(a.n_layers) * attn + dense_layers * dense_ffn_params(a) + _f(a.d_model)
    total = body + moe_layers * (shared_and_router + routed_total) + emb
    active = body + moe_layers * (shared_and_router + routed_active) + emb
    return {
        "total": total,
        "active": active,
        "total_with_mtp": total + mtp_extra_params(a),
        "expert": moe_layers * routed_total,
        "embedding": emb,
    }


def attention_core_flops(a: Arch, seq_len: ArrayLike, causal: bool = True) -> Array:
    """Forward FLOPs per token per layer of ``softmax(QK^T)V`` [FLOP], averaged over layers.

    ``2*n_h*d_qk*s_eff + 2*n_h*d_v*s_eff`` with ``s_eff = s/2`` under a causal mask (FlashAttention
    skips masked blocks) or ``s`` without; GQA does not reduce it. MLA attends with
    ``d_qk = qk_nope + qk_rope`` and ``d_v = v_head_dim`` [3]. A layer with a sliding window
    ``w`` (Mistral 7B, Beltagy et al. 2020 arXiv:2004.05150) attends ``min(p, w)`` keys at position
    ``p``: ``s_eff = w - w (w - 1) / (2s)`` causal for ``w < s`` (the mean of ``min(p, w)`` over
    ``p = 1..s``, less the diagonal as above: ``s/2`` at ``w = s``), ``min(w, s)`` without.
    """
    nh, s = _f(a.n_heads), _f(seq_len)
    full = s / 2.0 if causal else s
    w = np.minimum(np.where(_f(a.sliding_window) > 0, _f(a.sliding_window), s), s)
    local = w - w * (w - 1.0) / (2.0 * s) - 0.5 if causal else w
    local = np.where(w >= s, full, local)
    share = np.clip(_f(a.sliding_layers) / np.maximum(_f(a.n_layers), 1.0), 0.0, 1.0)
    s_eff = np.where(_f(a.sliding_window) > 0, share * local + (1.0 - share) * full, full)
    if a.attention == "mla":
        d_qk = _f(a.qk_nope_head_dim) + _f(a.qk_rope_head_dim)
        d_v = _f(a.v_head_dim)
    else:
        d_qk = d_v = _f(a.head_dim)
    return 2.0 * nh * (d_qk + d_v) * s_eff


def forward_flops_per_token(
    a: Arch, seq_len: ArrayLike, causal: bool = True, include_mtp: bool = True
) -> dict[str, Array]:
    """Forward FLOPs per token by component, summed over layers [FLOP].

    Components: ``attn_linear`` (Q/K/V/O or MLA projections), ``attn_core``, ``dense_ffn``
    (first-k-dense layers, or every layer of a dense model), ``moe_routed`` (``top_k`` experts),
    ``moe_shared``, ``router`` (``2hE``), ``lm_head`` (``2hV``), ``mtp`` (one block of the last
    layer's type, the ``2h x h`` projection and another LM head per MTP depth [3]).
    The embedding lookup is a gather (0 FLOPs).
    """
    h = _f(a.d_model)
    dense_layers, moe_layers = layer_counts(a)
    n_layers = _f(a.n_layers)
    e = expert_params(a)
    attn_lin = 2.0 * attention_linear_params(a)
    core = attention_core_flops(a, seq_len, causal)
    routed = 2.0 * _f(a.top_k) * e
    shared = 2.0 * _f(a.n_shared) * e
    router = 2.0 * router_params(a)
    dense_ffn = 2.0 * dense_ffn_params(a)
    head = 2.0 * h * _f(a.vocab_size)
    last_is_moe = moe_layers > 0
    mtp_block = attn_lin + core + np.where(last_is_moe, routed + shared + router, dense_ffn)
    mtp = _f(a.mtp_depth) * (mtp_block + 2.0 * (2.0 * h) * h + head)
    if not include_mtp:
        mtp = np.zeros_like(mtp)
    return {
        "attn_linear": n_layers * attn_lin,
        "attn_core": n_layers * core,
        "dense_ffn": dense_layers * dense_ffn,
        "moe_routed": moe_layers * routed,
        "moe_shared": moe_layers * shared,
        "router": moe_layers * router,
        "lm_head": head,
        "mtp": mtp,
    }


def train_flops_per_token(
    a: Arch, seq_len: ArrayLike, causal: bool = True, include_mtp: bool = True
) -> dict[str, Array]:
    """Model FLOPs per trained token by component: 3 x forward, no recomputation [1], [2].

    The ``total`` key holds the sum. Returned arrays broadcast over the array fields of ``a``
    and ``seq_len``.
    """
    fwd = forward_flops_per_token(a, seq_len, causal, include_mtp)
    out = {k: TRAIN_MULTIPLIER * v for k, v in fwd.items()}
    out["total"] = sum(out.values(), start=np.zeros(()))
    return out


def recompute_flops_per_token(
    a: Arch, seq_len: ArrayLike, policy: str, causal: bool = True, include_mtp: bool = True
) -> Array:
    """Extra *hardware* FLOPs per token that activation recomputation adds [FLOP].

    ``none``: 0. ``selective`` (Korthikanti et al. 2022, arXiv:2205.05198, Megatron ``core_attn``):
    one more forward of the attention core. ``moe`` (Megatron-Core's recompute module ``moe``):
    one more forward of the MoE blocks (routed and shared experts, router). ``full``: one more
    forward of every layer (the LM head is not recomputed) [1].
    """
    fwd = forward_flops_per_token(a, seq_len, causal, include_mtp)
    if policy == "none":
        return np.zeros_like(fwd["attn_core"])
    if policy == "selective":
        return fwd["attn_core"]
    if policy == "moe":
        return fwd["moe_routed"] + fwd["moe_shared"] + fwd["router"]
    if policy == "full":
        return sum((v for k, v in fwd.items() if k != "lm_head"), start=np.zeros(()))
    raise ValueError(f"recompute policy {policy!r}: expected one of none, selective, moe, full")
