"""Communication time on a two-level network (alpha-beta model). Pure, vectorized.

Bandwidths are per GPU per direction [bytes/s]; ``efficiency`` is the fraction of link bandwidth
NCCL-style collectives achieve (bus bandwidth / link bandwidth).

References
----------
.. [1] NVIDIA nccl-tests ``doc/PERFORMANCE.md``: ring collectives move ``(P-1)/P`` of the
   buffer per rank for reduce-scatter / all-gather / all-to-all, ``2(P-1)/P`` for all-reduce.
.. [2] DeepSeek-AI, "DeepSeek-V3 Technical Report", arXiv:2412.19437, §3.2.2 (node-limited
   routing: each token crosses IB once per target node, then fans out over NVLink).
.. [3] C. Zhao et al., "Insights into DeepSeek-V3", ISCA'25, arXiv:2505.09343, §2.3.2 and
   Table 5 (NVLink 3.3 us, IB 2.8-3.7 us latency).
.. [4] deepseek-ai/DeepEP ``deep_ep/buffer.py``, ``Buffer.get_dispatch_layout``: the dispatch
   layout is ``num_tokens_per_rank`` and ``is_token_in_rank`` ("whether a token be sent to a
   rank"), a token's copies per destination rank; across nodes ``num_tokens_per_rdma_rank``
   (one per RDMA rank with the same GPU index), forwarded over NVLink inside the node
   (simsim/data/references.md note N14).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def ring_time(
    bytes_full: ArrayLike, ranks: ArrayLike, bandwidth: ArrayLike, latency_s: ArrayLike = 0.0
) -> Array:
    """Reduce-scatter or all-gather of a ``bytes_full`` buffer over ``ranks`` [s] [1].

    Zero when ``ranks`` is 1 or there is nothing to move (a dense model's expert-parallel
    group). An all-reduce is two of these.
    """
    p, b = _f(ranks), _f(bytes_full)
    steps = np.maximum(p - 1.0, 0.0)
    return np.where((p > 1) & (b > 0), steps / p * b / _f(bandwidth) + steps * _f(latency_s), 0.0)


def expected_distinct_nodes(
    nodes: ArrayLike, top_k: ArrayLike, max_nodes: ArrayLike, experts_per_node: ArrayLike = np.inf
) -> Array:
    """Expected number of distinct nodes a token's ``top_k`` experts fall on [2].

    The ``k`` experts are ``k`` distinct draws among the experts of ``n`` candidate nodes
    (uniform routing); node-limited routing first picks ``max_nodes`` nodes, so
    ``n = min(nodes, max_nodes)``. A node receives none with probability
    ``prod_i (E - e - i) / (E - i)`` (``E = n e`` candidate experts, ``e`` per node); with
    ``experts_per_node`` infinite this is ``(1 - 1/n)^k``. Uniform 8 nodes x 32 experts, k=8:
    5.29 distinct nodes, 3.63 with 4-node routing (simsim/data/references.md note N3).
    """
    n = np.maximum(np.minimum(_f(nodes), _f(max_nodes)), 1.0)
    k = _f(top_k)
    finite = np.isfinite(_f(experts_per_node))
    e = np.where(finite, _f(experts_per_node), 1.0)
    total = n * e
    p_none = np.ones(np.broadcast(n, k, e).shape)
    for i in range(int(np.max(k)) if k.size else 0):
        ratio = np.where(finite, (total - e - i) / np.maximum(total - i, 1.0), 1.0 - 1.0 / n)
        p_none = np.where(i < k, p_none * np.clip(ratio, 0.0, 1.0), p_none)
    return n * (1.0 - p_none)


def expert_all_to_all_time(
    tokens: ArrayLike,
    top_k: ArrayLike,
    d_model: ArrayLike,
    bytes_per_elem: ArrayLike,
    ep: ArrayLike,
    gpus_per_node: ArrayLike,
    scale_up_bw: ArrayLike,
    scale_out_bw: ArrayLike,
    max_nodes: ArrayLike,
    dedup: ArrayLike,
    latency_s: ArrayLike = 0.0,
    n_experts: ArrayLike = np.inf,
) -> Array:
    """One dispatch (or combine) all-to-all of an MoE layer [s].

    ``tokens`` leave each GPU, each to ``top_k`` experts spread over the ``ep`` GPUs of the
    expert-parallel group. Inside one node everything moves over the scale-up network. Across
    nodes, a token's copies to remote nodes cross the scale-out network: once per target node
    with DeepSeek's deduplication (``dedup``; at most ``max_nodes``) [2], else once per remote
    expert; the in-node fan-out rides the scale-up links. The slower of the two sets the time.
    A deduplicating dispatcher also sends a token once per destination GPU on the scale-up
    links, not once per expert [4]: the expected distinct GPUs among the candidates (those of
    ``max_nodes`` nodes at most), less this one.
    """
    t, k, h, b = _f(tokens), _f(top_k), _f(d_model), _f(bytes_per_elem)
    e, g = _f(ep), _f(gpus_per_node)
    nodes = np.maximum(e / g, 1.0)
    local_gpus = np.minimum(e, g)
    # copies that stay on this node (other GPUs) vs leave it
    remote_frac = np.where(nodes > 1, (nodes - 1.0) / nodes, 0.0)
    local_frac = np.where(nodes > 1, (local_gpus - 1.0) / e, (e - 1.0) / e)
    per_copy = t * h * b
    remote_copies = np.where(
        _f(dedup) > 0,
        expected_distinct_nodes(nodes, k, max_nodes, _f(n_experts) / nodes) * remote_frac,
        k * remote_frac,
    )
    out_bytes = remote_copies * per_copy
    # scale-up copies: one per remote expert, or (dedup) one per distinct destination GPU
    ranks = np.minimum(nodes, np.maximum(_f(max_nodes), 1.0)) * local_gpus
    distinct_gpus = expected_distinct_nodes(ranks, k, np.inf, _f(n_experts) / e)
    per_gpu = distinct_gpus * (1.0 - 1.0 / np.maximum(ranks, 1.0))
    per_expert = k * local_frac + np.where(nodes > 1, k * remote_frac, 0.0)
    nvl_bytes = np.where(_f(dedup) > 0, per_gpu, per_expert) * per_copy
    t_out = out_bytes / _f(scale_out_bw)
    t_up = nvl_bytes / _f(scale_up_bw)
    return np.where(e > 1, np.maximum(t_out, t_up) + _f(latency_s), 0.0)
