"""Compute time: GEMMs on the roofline with a shape-dependent efficiency, attention kernels,
memory-bound element-wise work. Pure, vectorized (every argument broadcasts).

References
----------
.. [1] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual performance
   model", CACM 52(4), 2009.
.. [2] stas00/ml-engineering, ``compute/accelerator/README.md``: maximum achievable matmul FLOPS
   (MAMF) per GPU (H100 BF16 794.5 of 989.5 TFLOP/s = 80.3%; A100 BF16 86.9%; H200 FP8 73.4%).
.. [3] deepseek-ai/DeepGEMM README (2025-04) FP8 grouped-GEMM tables on H800, and
   simsim/data/references.md note N1: eta(M) = eta_max * M / (M + M_half), M_half ~ 200 tokens.
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
    x, half = np.maximum(_f(x), 1e-9), _f(half)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(x), 1.0, x / (x + half))


def gemm_efficiency(
    m: ArrayLike,
    eta_max: ArrayLike,
    m_half: ArrayLike = 200.0,
    n: ArrayLike = np.inf,
    k: ArrayLike = np.inf,
    n_half: ArrayLike = 0.0,
    k_half: ArrayLike = 0.0,
) -> Array:
    """Achievable fraction of peak of an ``(m x k) . (k x n)`` GEMM [2, 3].

    ``eta_max * m/(m + m_half) * n/(n + n_half) * k/(k + k_half)``: large GEMMs reach the MAMF
    fraction ``eta_max`` [2]; a small dimension costs what it costs: few rows (small per-expert
    batches) and narrow outputs fill few output tiles of the chip's SMs, a shallow reduction
    amortises each tile's prologue and epilogue over few multiply-accumulate steps (simsim's
    fit to public measured GEMM sweeps: simsim/data/references.md note N7). ``n`` and ``k``
    default to infinitely large (the row-only model).
    """
    eta = _f(eta_max) * _saturation(m, m_half)
    return eta * _saturation(n, n_half) * _saturation(k, k_half)


def gemm_time(
    flops: ArrayLike,
    m: ArrayLike,
    weight_bytes: ArrayLike,
    act_bytes: ArrayLike,
    peak_flops: ArrayLike,
    hbm_bytes_per_s: ArrayLike,
    eta_max: ArrayLike,
    m_half: ArrayLike = 200.0,
    n: ArrayLike = np.inf,
    k: ArrayLike = np.inf,
    n_half: ArrayLike = 0.0,
    k_half: ArrayLike = 0.0,
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
    eta_max : maximum achievable fraction of peak (MAMF) [2]
    m_half, n_half, k_half : the dimension at which its factor of the efficiency is one half
    """
    eta = gemm_efficiency(m, eta_max, m_half, n, k, n_half, k_half)
    compute = _f(flops) / (_f(peak_flops) * eta)
    memory = (_f(weight_bytes) + _f(act_bytes)) / _f(hbm_bytes_per_s)
    return np.maximum(compute, memory)


def attention_time(flops: ArrayLike, peak_flops: ArrayLike, efficiency: ArrayLike) -> Array:
    """Fused attention kernel time [s]: FLOPs at ``efficiency`` of the 16-bit peak [4]."""
    return _f(flops) / (_f(peak_flops) * _f(efficiency))


def memory_time(bytes_moved: ArrayLike, hbm_bytes_per_s: ArrayLike) -> Array:
    """Memory-bound kernel time (norms, activations, residuals, optimizer) [s]."""
    return _f(bytes_moved) / _f(hbm_bytes_per_s)
