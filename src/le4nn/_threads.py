"""How many threads the kernels and BLAS use, and keeping the two from fighting over the cores.

OpenMP worker threads that spin after a parallel region steal the cores OpenBLAS needs for the next
GEMM, and OpenBLAS threads that spin after a GEMM steal them from the next kernel (DESIGN.md §4:
the same training step took 85 ms with the defaults and 47 ms with passive waiting).  The runtimes
read their wait settings once, when they start, so :func:`configure_runtime_environment` must run
before NumPy (OpenBLAS) and the compiled kernels (OpenMP) are loaded: ``le4nn/__init__.py`` calls it
first thing.  A user's own settings of these variables are respected.

Sharing the machine.  Passive waiting stops the two pools from stealing each other's cores, but
when *another process* keeps a core busy, every parallel region and every multi-threaded GEMM waits
for a worker thread the scheduler has queued behind that process: measured on the 2-core
development VM with a compiler running, a (100 × 3136) · (3136 × 128) GEMM took 0.84 ms on one
thread and, on two, 0.62 ms median but 7.5 ms mean, 41 ms at the 90th percentile.  So by default
le4nn adapts (:func:`num_threads_now`): it watches how much CPU time other processes use
(``/proc/stat`` minus its own, over the last quarter second) and runs the kernels and BLAS on only
the cores left free, never more than :func:`set_num_threads` allows, going back up when the others
are done.  ``LE4NN_ADAPTIVE_THREADS=0`` turns this off (always the set count).
"""

from __future__ import annotations

import itertools
import operator
import os
import sys
import threading
import time

_num_threads: int | None = None
_blas_limiter = None


_late_openblas = False  # NumPy (OpenBLAS) was loaded before le4nn and the user set no timeout


def configure_runtime_environment() -> None:
    global _late_openblas
    # OpenMP threads sleep instead of spinning when a parallel region ends (libgomp, LLVM libomp).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS threads go to sleep after 2**4 idle cycles (its minimum) instead of 2**28 (0.1 s
    # at 2.6 GHz, after every BLAS call); OpenBLAS reads this when NumPy is first imported.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    else:  # too late for the environment: see _retime_openblas
        _late_openblas = "OPENBLAS_THREAD_TIMEOUT" not in os.environ


def _retime_openblas() -> None:
    """NumPy was imported before le4nn, so its OpenBLAS started with the default thread timeout:
    after every call its workers spin for about 0.1 s, on the cores the kernels need next.  Give
    OpenBLAS the short timeout anyway: make it re-read its environment (``openblas_read_env``,
    with the variable set only for that moment, so the process environment is left as the user
    had it) and restart its worker threads (``blas_thread_shutdown_``; the next call starts them
    with the new timeout).  Measured: CPU burnt during 0.3 s of idling after a few GEMMs, 0.10 s
    before, 0.00 s after.  Silently does nothing with another BLAS or without these symbols."""
    global _late_openblas
    if not _late_openblas:
        return
    _late_openblas = False
    try:
        from threadpoolctl import ThreadpoolController

        controllers = ThreadpoolController().select(internal_api="openblas").lib_controllers
    except Exception:
        return
    for controller in controllers:
        try:
            lib = controller.dynlib
            read_env, timeout, shutdown = (lib.openblas_read_env, lib.openblas_thread_timeout,
                                           lib.blas_thread_shutdown_)
        except AttributeError:
            continue
        try:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
            read_env()
        finally:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        if timeout() == 4:
            shutdown()


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
    ``n`` is the most le4nn uses: while other processes keep cores busy it uses fewer (unless
    ``LE4NN_ADAPTIVE_THREADS=0``; see :mod:`le4nn._threads`).
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
    global _now_threads
    _now_threads = n  # adaptation starts again from the full count


# --- adapting to other processes -------------------------------------------------------------------

_ADAPT_INTERVAL = 0.25  # seconds between two looks at the machine's load
_adaptive = os.environ.get("LE4NN_ADAPTIVE_THREADS", "1").strip() not in ("0", "false", "no", "off")
_now_threads: int | None = None  # the count in force (kernels and BLAS)
_last_sample: tuple[float, float, float] | None = None  # (wall time, busy CPU seconds, own CPU seconds)
_last_check = -1e9
_others = 0.0  # cores used by other processes over the last interval
_blas_controllers = None
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds() -> float | None:
    """CPU seconds spent busy on all cores since boot (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 5 or fields[0] != b"cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / _CLK_TCK


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


_monotonic = time.monotonic


def _cpu_count() -> int | None:
    return os.cpu_count()


def other_processes_load() -> float:
    """Cores kept busy by other processes over the last interval (0.0 when unknown)."""
    return _others


def _set_blas_threads(n: int) -> None:
    global _blas_controllers
    if _blas_controllers is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_controllers = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # no threadpoolctl, or nothing it can control
            _blas_controllers = []
    for controller in _blas_controllers:
        try:
            controller.set_num_threads(n)
        except Exception:
            pass


def num_threads_now() -> int:
    """The thread count for the next kernel or GEMM: :func:`get_num_threads`, or fewer while other
    processes keep cores busy (see the module docstring); BLAS is switched along when it changes.

    Cheap to call before every kernel: it looks at the machine at most every quarter second.
    """
    global _now_threads, _last_sample, _last_check, _others
    if _local.worker is not None:  # inside run_chunks: the parallelism is across chunks
        return 1
    n = get_num_threads()
    if not _adaptive or n == 1:
        return n
    now = _monotonic()
    if now - _last_check < _ADAPT_INTERVAL and _now_threads is not None and _now_threads <= n:
        return _now_threads
    _last_check = now
    busy = _busy_seconds()
    if busy is None:  # not Linux: no adaptation
        _now_threads = n
        return n
    own = _own_seconds()
    current = n if _now_threads is None else min(_now_threads, n)
    if _last_sample is not None and now - _last_sample[0] > 0.05:
        t0, busy0, own0 = _last_sample
        _others = max(0.0, ((busy - busy0) - (own - own0)) / (now - t0))
        free = (_cpu_count() or n) - _others
        # Hysteresis: give a core up when less than ~0.6 of it is left, take it back above ~0.7.
        if free < current - 0.4:
            current = max(1, min(n, int(free + 0.4)))
        elif free >= current + 0.7:
            current = max(1, min(n, int(free + 0.3)))
    _last_sample = (now, busy, own)
    if current != _now_threads:
        if _now_threads is not None or current != n:
            _set_blas_threads(current)
        _now_threads = current
    return current


# --- coarse-grained parallelism: whole chunks of work per thread ----------------------------------

class _Local(threading.local):
    worker: int | None = None  # the index of the run_chunks worker running on this thread


_local = _Local()
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def worker_index() -> int:
    """Inside :func:`run_chunks`: this thread's worker number (0 .. threads − 1); else 0."""
    return _local.worker or 0


def run_chunks(task, count: int) -> int:
    """Run ``task(i)`` once for every ``i`` in ``range(count)``, on up to :func:`num_threads_now`
    threads, the calling thread included; returns the number of workers used (for per-worker
    scratch arrays, see :func:`worker_index`).

    Each worker takes the next chunk as soon as it is done with its last (so a worker the scheduler
    holds back, behind another process, just does fewer), and the kernels and BLAS calls inside a
    task run single-threaded: instead of splitting every small GEMM and kernel between the threads
    and synchronizing after each (tens of microseconds each with sleeping workers), each thread
    works through whole chunks on its own core and cache.  Results do not depend on the number
    of workers as long as each task writes only its own chunk's outputs.
    """
    workers = min(num_threads_now(), count)
    if workers <= 1 or _local.worker is not None:
        saved = _local.worker
        _local.worker = 0 if saved is None and workers > 1 else saved
        try:
            for i in range(count):
                task(i)
        finally:
            _local.worker = saved
        return 1
    pool = _worker_pool(workers - 1)
    counter = itertools.count()  # next() is atomic under the GIL
    blas = _now_threads or get_num_threads()
    _set_blas_threads(1)

    def work(index: int) -> None:
        _local.worker = index
        try:
            for i in counter:
                if i >= count:
                    break
                task(i)
        finally:
            _local.worker = None

    try:
        futures = [pool.submit(work, k) for k in range(1, workers)]
        error = None
        try:
            work(0)
        except BaseException as exc:  # let the other workers finish before raising
            error = exc
            for _ in counter:  # nothing more for them to take
                if _ >= count:
                    break
        for future in futures:
            future.result()
        if error is not None:
            raise error
    finally:
        _set_blas_threads(blas)
    return workers


def _worker_pool(size: int):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            from concurrent.futures import ThreadPoolExecutor

            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="le4nn-chunks")
            _pool_size = size
        return _pool


def apply_env_thread_count() -> None:
    """Honour ``LE4NN_NUM_THREADS`` for BLAS too, when the user set it (and, when NumPy came first,
    give its OpenBLAS the short thread timeout, see :func:`_retime_openblas`)."""
    _retime_openblas()
    if os.environ.get("LE4NN_NUM_THREADS", "").strip():
        try:
            count = _default_num_threads()
        except ValueError:
            return  # importing le4nn works; get_num_threads raises the error naming the variable
        set_num_threads(count)
