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


def gemm_efficiency(m: ArrayLike, eta_max: ArrayLike, m_half: ArrayLike = 200.0) -> Array:
    """Achievable fraction of peak of a GEMM with ``m`` rows (tokens) [3].

    ``eta_max * m / (m + m_half)``: large GEMMs reach the MAMF fraction ``eta_max`` [2]; GEMMs
    with few tokens (small per-expert batches) lose efficiency to tile and wave quantisation.
    """
    m = _f(m)
    return _f(eta_max) * m / (m + _f(m_half))


def gemm_time(
    flops: ArrayLike,
    m: ArrayLike,
    weight_bytes: ArrayLike,
    act_bytes: ArrayLike,
    peak_flops: ArrayLike,
    hbm_bytes_per_s: ArrayLike,
    eta_max: ArrayLike,
    m_half: ArrayLike = 200.0,
) -> Array:
    """Roofline time of GEMM work [s]: the larger of compute and memory time [1].

    Parameters
    ----------
    flops : GEMM FLOPs [FLOP]
    m : rows per GEMM (tokens) that sets the shape efficiency
    weight_bytes : weight bytes read [bytes]
    act_bytes : activation bytes read and written [bytes]
    peak_flops : dense peak of the GEMM precision [FLOP/s]
    hbm_bytes_per_s : memory bandwidth [bytes/s]
    eta_max : maximum achievable fraction of peak (MAMF) [2]
    m_half : rows at which efficiency is half of ``eta_max`` [3]
    """
    compute = _f(flops) / (_f(peak_flops) * gemm_efficiency(m, eta_max, m_half))
    memory = (_f(weight_bytes) + _f(act_bytes)) / _f(hbm_bytes_per_s)
    return np.maximum(compute, memory)


def attention_time(flops: ArrayLike, peak_flops: ArrayLike, efficiency: ArrayLike) -> Array:
    """Fused attention kernel time [s]: FLOPs at ``efficiency`` of the 16-bit peak [4]."""
    return _f(flops) / (_f(peak_flops) * _f(efficiency))


def memory_time(bytes_moved: ArrayLike, hbm_bytes_per_s: ArrayLike) -> Array:
    """Memory-bound kernel time (norms, activations, residuals, optimizer) [s]."""
    return _f(bytes_moved) / _f(hbm_bytes_per_s)
