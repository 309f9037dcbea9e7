"""Memory per GPU during training: model states (weights, gradients, optimizer) and activations.

Pure, vectorized functions: every argument broadcasts, so a whole grid of parallel layouts is
evaluated in one call. Results are bytes per GPU on the most loaded pipeline stage.

References
----------
.. [1] S. Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter
   Models", arXiv:1910.02054, §5 (stages 1-3).
.. [2] NVIDIA Megatron-LM, ``docs/user-guide/features/dist_optimizer.md`` (bf16 params, fp32
   main grads and params, fp32 Adam: 18 bytes/param) and
   ``megatron/training/theoretical_memory_usage.py`` (expert vs non-expert sharding).
.. [3] DeepSeek-AI, "DeepSeek-V3 Technical Report", arXiv:2412.19437, §3.3.3 (BF16 Adam moments,
   FP32 master weights and gradient accumulation) and Table 2 (DualPipe: 2x parameters,
   PP+1 in-flight micro-batches).
.. [4] V. Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models",
   arXiv:2205.05198, §4 (activation memory per layer, sequence parallelism, recomputation).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

#: Bytes per parameter of (weights, gradients, optimizer states) by training precision.
#: bf16/fp16: bf16 weights, fp32 main grads, fp32 master + Adam m, v [2].
#: fp8: DeepSeek-V3 recipe, bf16 weights cast to FP8 on the fly, fp32 grads, fp32 master,
#: bf16 Adam moments [3]. fp32/tf32: fp32 weights and grads, fp32 Adam m, v, no master copy [2].
STATE_BYTES: dict[str, tuple[float, float, float]] = {
    "bf16": (2.0, 4.0, 12.0),
    "fp16": (2.0, 4.0, 12.0),
    "fp8": (2.0, 4.0, 8.0),
    "tf32": (4.0, 4.0, 8.0),
    "fp32": (4.0, 4.0, 8.0),
}


def model_state_bytes(
    params: ArrayLike,
    shard_dp: ArrayLike,
    zero_stage: ArrayLike,
    precision: str,
    weight_copies: ArrayLike = 1.0,
) -> Array:
    """Weights + gradients + optimizer states per GPU [bytes].

    Parameters
    ----------
    params : model-parallel shard of the parameters held by one GPU [elements]
    shard_dp : data-parallel group over which ZeRO shards this shard [ranks]
    zero_stage : 0 (replicated), 1 (optimizer), 2 (+ gradients), 3 (+ weights) [1]
    precision : training precision, a key of :data:`STATE_BYTES`
    weight_copies : copies of weights and gradients (2 under DualPipe [3] Table 2)
    """
    w, g, o = STATE_BYTES[precision]
    p, d, z = np.asarray(params, float), np.asarray(shard_dp, float), np.asarray(zero_stage)
    c = np.asarray(weight_copies, float)
    return p * (
        c * (np.where(z >= 3, w / d, w) + np.where(z >= 2, g / d, g)) + np.where(z >= 1, o / d, o)
    )


#: Bytes per stored activation element: 16-bit in general; under the fp8 recipe the inputs of
#: linear layers (incl. MoE dispatch) and of SwiGLU are cached in FP8 [DeepSeek-V3 §3.3.4].
ACT_BYTES = 2.0
ACT_BYTES_FP8_CACHED = 1.0


def activation_bytes_per_token_layer(
    d_model: ArrayLike,
    linear_in_width: ArrayLike,
    intermediate_width: ArrayLike,
    recompute: str,
    precision: str,
) -> Array:
    """Activation memory kept for backward per token per layer, before TP/SP/CP [bytes].

    A generalisation of [4] to gated FFNs, GQA/MLA, MoE and FlashAttention (no ``s^2`` term).
    ``selective`` follows Megatron-Core's recompute modules ``core_attn``, ``layernorm``,
    ``mla_up_proj`` and ``moe_act``: kept are the two block inputs (``2h``, 16-bit), the
    attention inputs needed to recompute the core (Q/K/V, or MLA's latents), and the FFN inputs
    and pre-activation outputs (the caller sums their widths). ``none`` also keeps the attention
    normalised block inputs and the attention output, approximated as ``+4h`` (16-bit).
    ``full`` keeps only the layer input, ``2h`` bytes [4].

    Parameters
    ----------
    d_model : hidden size h [elements]
    linear_in_width : widths per token of the kept inputs of linear layers (attention latents
        or Q/K/V, dispatched MoE inputs) [elements]
    intermediate_width : widths per token of the kept FFN intermediates (SwiGLU inputs) [elements]
    recompute : ``none`` | ``selective`` | ``full``
    precision : training precision; ``fp8`` caches linear and SwiGLU inputs in FP8
    """
    h = np.asarray(d_model, float)
    if recompute == "full":
        return ACT_BYTES * h
    cached = ACT_BYTES_FP8_CACHED if precision == "fp8" else ACT_BYTES
    kept = ACT_BYTES * 2.0 * h + cached * (
        np.asarray(linear_in_width, float) + np.asarray(intermediate_width, float)
    )
    if recompute == "none":
        kept = kept + ACT_BYTES * 4.0 * h
    return kept
