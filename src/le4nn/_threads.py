"""How many threads the kernels and BLAS use, and keeping the two from fighting over the cores.

OpenMP worker threads that spin after a parallel region steal the cores OpenBLAS needs for the next
GEMM, and OpenBLAS threads that spin after a GEMM steal them from the next kernel (DESIGN.md §4:
the same training step took 85 ms with the defaults and 47 ms with passive waiting).  The runtimes
read their wait settings once, when they start, so :func:`configure_runtime_environment` must run
before NumPy (OpenBLAS) and the compiled kernels (OpenMP) are loaded: ``le4nn/__init__.py`` calls it
first thing.  A user's own settings of these variables are respected.
"""

from __future__ import annotations

import operator
import os
import sys

_num_threads: int | None = None
_blas_limiter = None


def configure_runtime_environment() -> None:
    # OpenMP threads sleep instead of spinning when a parallel region ends (libgomp, LLVM libomp).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS threads go to sleep after 2**4 idle cycles (its minimum) instead of 2**28; OpenBLAS
    # reads this when NumPy is first imported, so it only helps if le4nn is imported first.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _default_num_threads() -> int:
    value = os.environ.get("LE4NN_NUM_THREADS", "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"LE4NN_NUM_THREADS must be a positive integer, got {value!r}") from None
        if n < 1:
            raise ValueError(f"LE4NN_NUM_THREADS must be a positive integer, got {value!r}")
        return n
    return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads the compiled kernels use (and BLAS, once set via :func:`set_num_threads`)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the compiled kernels and in BLAS (via threadpoolctl).

    Results do not depend on ``n``: the kernels split work only across independent outputs.
    """
    global _num_threads, _blas_limiter
    try:
        count = operator.index(n)
    except TypeError:
        count = None
    if isinstance(n, bool) or count is None or count < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _num_threads = n = count
    from threadpoolctl import threadpool_limits

    # Kept (not used as a context manager): the limit stays in force until the next call.
    _blas_limiter = threadpool_limits(limits=n, user_api="blas")


def apply_env_thread_count() -> None:
    """Honour ``LE4NN_NUM_THREADS`` for BLAS too, when the user set it."""
    if os.environ.get("LE4NN_NUM_THREADS", "").strip():
        set_num_threads(_default_num_threads())
