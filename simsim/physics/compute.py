"""Compute time: GEMMs on the roofline with a shape-dependent efficiency, attention kernels,
memory-bound element-wise work. Pure, vectorized (every argument broadcasts).

References
----------
.. [1] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual performance
   model", CACM 52(4), 2009.
.. [2] stas00/ml-engineering, ``compute/accelerator/README.md``: maximum achievable matmul FLOPS
   (MAMF) per GPU (H100 BF16 794.5 of 989.5 TFLOP/s = 80.3%; A100 BF16 86.9%; H200 FP8 73.4%).
.. [3] simsim/data/gemm_measurements.csv: 450 measured GEMMs (XLA's H100/B200 matmul tables,
   DeepGEMM's H800 FP8 tables, MAMF searches, cuBLAS A100 chart), and references.md notes N1 and N7
   (the fit of the half-sizes).
.. [4] J. Shah et al., "FlashAttention-3", arXiv:2407.08608 (BF16 forward up to 740 TFLOP/s =
   75% of H100 peak); deepseek-ai/FlashMLA README (660 TFLOP/s BF16 on H800 SXM5).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def _saturation(x: ArrayLike, half: ArrayLike) -> Array:
    """``x / (x + half)``; 1 for an unbounded dimension."""
    x = np.maximum(_f(x), 1e-9)
    unbounded = np.isinf(x)
    if unbounded.any():  # inf / inf is NaN: divide finite stand-ins, then put the 1s in
        finite = np.where(unbounded, 1.0, x)
        out: Array = np.where(unbounded, 1.0, finite / (finite + half))
        return out
    ratio: Array = x / (x + _f(half))
    return ratio


def gemm_efficiency(
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    eta_max: ArrayLike,
    e: ArrayLike,
    mn_half: ArrayLike,
    k_half: ArrayLike,
) -> Array:
    """Achievable fraction of peak of an ``(m x k) . (k x n)`` GEMM [2, 3].

    ``min(eta_max, e * m/(m + h) * n/(n + h) * k/(k + h_k))``: a large GEMM reaches the chip's
    measured best (MAMF, ``eta_max``); a small dimension costs what it costs: few rows (small
    per-expert batches) or a narrow output fill few output tiles (one half-size ``h`` for both:
    cuBLAS is symmetric under transposition), a shallow reduction amortises each tile's prologue
    and epilogue over few steps. Fitted to public measured GEMM tables (simsim/data/
    gemm_measurements.csv; references.md notes N1, N7).
    """
    prod = _saturation(m, mn_half) * _saturation(n, mn_half) * _saturation(k, k_half)
    return np.minimum(_f(eta_max), _f(e) * prod)


def gemm_time(
    flops: ArrayLike,
    m: ArrayLike,
    n: ArrayLike,
    k: ArrayLike,
    weight_bytes: ArrayLike,
    act_bytes: ArrayLike,
    peak_flops: ArrayLike,
    hbm_bytes_per_s: ArrayLike,
    eta_max: ArrayLike,
    e: ArrayLike = 1.0,
    mn_half: ArrayLike = 0.0,
    k_half: ArrayLike = 0.0,
    scale: ArrayLike = 1.0,
) -> Array:
    """Roofline time of GEMM work [s]: the larger of compute and memory time [1].

    Parameters
    ----------
    flops : GEMM FLOPs [FLOP]
    m, n, k : rows (tokens), output width and reduction depth of one GEMM, which set its shape
        efficiency (:func:`gemm_efficiency`)
    weight_bytes : weight bytes read [bytes]
    act_bytes : activation bytes read and written [bytes]
    peak_flops : dense peak of the GEMM precision [FLOP/s]
    hbm_bytes_per_s : memory bandwidth [bytes/s]
    eta_max : the chip's maximum achievable fraction of peak (MAMF) [2]
    e, mn_half, k_half : the shape constants of :func:`gemm_efficiency`
    scale : the software stack's fraction of that rate (``software.kernel_efficiency``)
    """
    eta = gemm_efficiency(m, n, k, eta_max, e, mn_half, k_half) * _f(scale)
    compute = _f(flops) / (_f(peak_flops) * eta)
    memory = (_f(weight_bytes) + _f(act_bytes)) / _f(hbm_bytes_per_s)
    return np.maximum(compute, memory)


def attention_time(flops: ArrayLike, peak_flops: ArrayLike, efficiency: ArrayLike) -> Array:
    """Fused attention kernel time [s]: FLOPs at ``efficiency`` of the 16-bit peak [4]."""
    return _f(flops) / (_f(peak_flops) * _f(efficiency))


def memory_time(bytes_moved: ArrayLike, hbm_bytes_per_s: ArrayLike) -> Array:
    """Memory-bound kernel time (norms, activations, residuals, optimizer) [s]."""
    return _f(bytes_moved) / _f(hbm_bytes_per_s)
