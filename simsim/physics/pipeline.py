"""Pipeline schedules: their bubbles and the micro-batches they keep in flight. Pure,
vectorized over schedule codes (:data:`SCHEDULE_CODES`).

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

Array = NDArray[np.float64]

#: The pipeline schedules simsim knows, and their integer codes (a whole grid of layouts is one
#: array): 1F1B [1], interleaved 1F1B [1], zero-bubble ZB-H1 [2], DualPipe [3].
SCHEDULES = ("1f1b", "interleaved", "zero_bubble", "dualpipe")
SCHEDULE_CODES = {name: i for i, name in enumerate(SCHEDULES)}


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


def in_flight_microbatches(
    schedule: ArrayLike, pp: ArrayLike, n_microbatches: ArrayLike, virtual_stages: ArrayLike = 1
) -> Array:
    """Micro-batches whose activations the first pipeline stage holds at its peak.

    ``schedule`` is a code of :data:`SCHEDULE_CODES` (or a name). 1F1B and zero-bubble:
    ``pp``; interleaved: ``pp * (1 + (pp-1)/(pp*v))`` [Narayanan et al. 2021, arXiv:2104.04473
    §2.2]; DualPipe: ``pp + 1`` [3] (DeepSeek-V3 Table 2). Never more than the ``m``
    micro-batches of a step.
    """
    code = np.asarray(SCHEDULE_CODES[schedule] if isinstance(schedule, str) else schedule)
    p, m, v = (np.asarray(x, float) for x in (pp, n_microbatches, virtual_stages))
    held = np.select(
        [code == SCHEDULE_CODES["interleaved"], code == SCHEDULE_CODES["dualpipe"]],
        [p * (1.0 + (p - 1.0) / (p * np.maximum(v, 1.0))), p + 1.0],
        p,
    )
    return np.minimum(held, np.maximum(m, 1.0))
