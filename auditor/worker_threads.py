"""Thread counts of a worker process (a Spark task's Python worker), set explicitly.

Spark runs one task per core. Each task's Python worker gets ``n`` OpenMP threads
(LightGBM, torch) and ``n`` threads for the TreeSHAP kernels (numba's pool is as large as
the machine: tasks × pool threads would oversubscribe the cores). This used to be done by
writing ``OMP_NUM_THREADS``/``AUDITOR_THREADS`` into ``os.environ`` from library code;
now the worker calls :func:`limit_worker_threads` and the kernels ask
:func:`kernel_threads`. What the operator set stays in charge: ``AUDITOR_THREADS`` wins
over the worker's count, and an ``OMP_NUM_THREADS`` in the environment is left alone.
"""

from __future__ import annotations

import os
import threading

_LOCK = threading.Lock()
_worker_threads: int | None = None
_limits: object | None = None  # the threadpoolctl limiter, kept alive for the process


def limit_worker_threads(n: int) -> None:
    """In a worker process: ``n`` OpenMP threads and ``n`` TreeSHAP threads from now on.

    Idempotent; call it after the model library is imported (threadpoolctl limits the
    OpenMP runtimes that are loaded).
    """
    global _worker_threads, _limits
    n = max(1, int(n))
    with _LOCK:
        _worker_threads = n
        if os.environ.get("OMP_NUM_THREADS"):
            return  # the cluster chose: as with the environment variable it set
        from threadpoolctl import threadpool_limits

        _limits = threadpool_limits(limits=n, user_api="openmp")


def worker_threads() -> int | None:
    """The count :func:`limit_worker_threads` set in this process, else None."""
    return _worker_threads


def kernel_threads(default: int) -> int:
    """Threads for the TreeSHAP kernels: ``AUDITOR_THREADS``, else the worker's count,
    else ``default``."""
    from auditor.errors import AuditorError
    from auditor.settings import load_settings

    try:
        configured = load_settings().threads
    except AuditorError:
        configured = None  # another variable is malformed: its own reader reports it
    if configured is not None:
        return configured
    return _worker_threads if _worker_threads is not None else default
