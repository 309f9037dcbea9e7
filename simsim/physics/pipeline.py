"""Pipeline bubbles of the schedules simsim knows. Pure, vectorized over schedule codes
(:data:`simsim.physics.memory.SCHEDULE_CODES`).

``f``, ``b``, ``w`` are the per-micro-batch forward, full backward (input + weight gradients)
and weight-gradient times of one stage [s].

References
----------
.. [1] D. Narayanan et al., arXiv:2104.04473, §2.2: 1F1B bubble ``(p-1)(F+B)``; interleaved
   divides it by the ``v`` virtual stages.
.. [2] P. Qi et al., "Zero Bubble Pipeline Parallelism", arXiv:2401.10241: ZB-H1
   ``(p-1)(F+B-2W)``.
.. [3] DeepSeek-AI, arXiv:2412.19437, Table 2: DualPipe ``(p/2-1)(F&B+B-3W)``, with ``F&B`` the
   time of an overlapped forward-backward pair (taken here as ``F+B``: no overlap gain).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .memory import SCHEDULE_CODES

Array = NDArray[np.float64]


def bubble_time(
    schedule: ArrayLike, pp: ArrayLike, f: ArrayLike, b: ArrayLike, w: ArrayLike, v: ArrayLike = 1
) -> Array:
    """Idle time per step of the slowest stage [s]; zero without pipelining (``pp`` = 1)."""
    code = np.asarray(schedule)
    p, f_, b_, w_ = (np.asarray(x, float) for x in (pp, f, b, w))
    one_f_one_b = (p - 1.0) * (f_ + b_)
    bubble = np.select(
        [code == SCHEDULE_CODES[s] for s in ("interleaved", "zero_bubble", "dualpipe")],
        [
            one_f_one_b / np.maximum(np.asarray(v, float), 1.0),
            (p - 1.0) * np.maximum(f_ + b_ - 2.0 * w_, 0.0),
            np.maximum(p / 2.0 - 1.0, 0.0) * np.maximum((f_ + b_) + b_ - 3.0 * w_, 0.0),
        ],
        one_f_one_b,
    )
    return np.where(p > 1, bubble, 0.0)
