"""Whole-run reliability: interruptions, checkpoints and restarts, and the share of wall-clock
that trains (the effective training time ratio, ETTR). Pure, vectorized functions.

A synchronous training job stops whenever any of its GPUs (or their hosts, links, storage ...)
fails. Interruptions arrive as a Poisson process whose rate grows with the GPU count; each one
costs the restart time and the work done since the last checkpoint, and checkpoints cost their
write time. With checkpoint write time ``delta``, job mean time between interruptions ``M`` and
restart time ``R``, checkpointing every ``tau`` of compute wastes, per unit of wall-clock,

    delta / tau          (writing checkpoints; zero when the write overlaps training)
    (tau + delta) / 2M   (work lost since the last checkpoint, half an interval on average)
    R / M                (restarting and rescheduling)

and the optimum interval is Young's ``tau = sqrt(2 delta M)`` with Daly's higher-order terms.

References
----------
.. [1] J. W. Young, "A first order approximation to the optimum checkpoint interval",
   Commun. ACM 17(9), 1974.
.. [2] J. T. Daly, "A higher order estimate of the optimum checkpoint interval for restart
   dumps", Future Generation Computer Systems 22(3), 2006, eq. (37).
.. [3] Llama Team, "The Llama 3 Herd of Models", arXiv:2407.21783, §3.3.4 and Table 5:
   466 interruptions of the 16,384-GPU job in 54 days (47 planned, 419 unexpected).
.. [4] A. Kokolis et al., "Revisiting Reliability in Large-Scale Machine Learning Research
   Clusters", HPCA 2025, arXiv:2410.21680 (failure rate per GPU scale; ETTR model).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def job_interruptions_per_hour(
    n_gpus: ArrayLike, per_gpu_hour: ArrayLike, planned_per_day: ArrayLike
) -> Array:
    """Interruption rate of one synchronous job [1/h]: ``n_gpus`` x the per-GPU rate of
    unexpected interruptions, plus the job's planned ones (maintenance, upgrades) [3]."""
    return _f(n_gpus) * _f(per_gpu_hour) + _f(planned_per_day) / 24.0


def checkpoint_write_s(
    state_bytes: ArrayLike, n_gpus: ArrayLike, write_gbps_per_gpu: ArrayLike
) -> Array:
    """Time to write one checkpoint [s]: the model states every GPU writes its share of
    (distributed checkpointing) at its share of the storage bandwidth [GB/s per GPU]."""
    return _f(state_bytes) / (_f(n_gpus) * _f(write_gbps_per_gpu) * 1e9)


def optimal_checkpoint_interval_s(delta_s: ArrayLike, mtbf_s: ArrayLike) -> Array:
    """Compute time between checkpoints that minimises the waste [s]: Daly's estimate [2],
    ``sqrt(2 delta M) [1 + sqrt(delta / 2M) / 3 + delta / 18M] - delta`` for ``delta < 2M``,
    else ``M``; Young's ``sqrt(2 delta M)`` [1] is its first term."""
    d, m = _f(delta_s), _f(mtbf_s)
    x = d / (2.0 * m)
    daly = np.sqrt(2.0 * d * m) * (1.0 + np.sqrt(x) / 3.0 + x / 9.0) - d
    return np.where(d < 2.0 * m, np.maximum(daly, 0.0), m)


def wasted_fractions(
    delta_s: ArrayLike, interval_s: ArrayLike, mtbf_s: ArrayLike, restart_s: ArrayLike
) -> dict[str, Array]:
    """Shares of wall-clock lost to each cause (``checkpointing``, ``lost_work``,
    ``restarts``) and ``ettr`` = 1 - their sum; zero or less means the job cannot progress (the
    caller reports it infeasible). ``delta_s`` is the time a checkpoint blocks training: the
    whole write when it is synchronous, the device-to-host copy when it is asynchronous."""
    d, tau, m, r = _f(delta_s), _f(interval_s), _f(mtbf_s), _f(restart_s)
    tau = np.maximum(tau, 1e-9)
    ckpt = d / tau
    lost = (tau + d) / (2.0 * m)
    restarts = r / m
    ettr = 1.0 - (ckpt + lost + restarts)
    return {"ettr": ettr, "checkpointing": ckpt, "lost_work": lost, "restarts": restarts}
