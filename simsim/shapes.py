"""Synthetic model shapes for a given parameter count (the dense equivalents of
:mod:`simsim.scaling_report` and the design space of :mod:`simsim.planner`)."""

from __future__ import annotations

from typing import Any

HEAD_DIM = 128  # Llama-family head width used for the synthetic dense shapes
ASPECT = 128  # d_model / n_layers, as Llama 3 8B (4096/32) and 405B (16384/126 ~ 130)


def dense_shape(n_params: float, vocab_size: int, name: str) -> dict[str, Any]:
    """A Llama-style dense model with ``n_params`` non-embedding parameters: SwiGLU FFN of width
    ~8/3 d (rounded to 256), GQA with 8 KV heads, ``d_model / n_layers = 128``. Solves
    ``n_params ~ n_layers (2.25 d^2 + 8 d^2)`` (attention with 8 KV heads + SwiGLU FFN) for d in
    multiples of 128 (1024 from 16 heads on, so that 8 KV heads divide the query heads), then
    counts the layer size exactly and rounds the layer count."""
    per_layer_coeff = 2.25 + 3.0 * 8.0 / 3.0  # Q,O (2d^2) + K,V with 8 of d/128 heads (~0.25d^2)
    d = (n_params * ASPECT / per_layer_coeff) ** (1.0 / 3.0)
    heads = max(round(d / HEAD_DIM), 2)
    if heads >= 16:
        heads = round(heads / 8.0) * 8  # so that the 8 KV heads divide the query heads
    d_model = heads * HEAD_DIM
    d_ff = round(8.0 / 3.0 * d_model / 256.0) * 256
    kv = 8 if heads % 8 == 0 else heads
    per_layer = 2 * d_model * d_model + 2 * d_model * kv * HEAD_DIM + 3 * d_model * d_ff
    n_layers = max(round(n_params / per_layer), 1)
    return {
        "name": name,
        "n_layers": n_layers,
        "d_model": d_model,
        "n_heads": heads,
        "n_kv_heads": kv,
        "head_dim": None,
        "d_ff": d_ff,
        "ffn_act": "swiglu",
        "vocab_size": vocab_size,
        "tie_embeddings": False,
        "attention": "gqa",
        "mla": None,
        "moe": None,
        "mtp_depth": 0,
        "path": None,
        "source": f"simsim.shapes.dense_shape({n_params:.3g}): synthetic Llama-style shape",
    }
