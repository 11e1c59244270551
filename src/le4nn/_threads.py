"""How many threads the kernels and BLAS use, and keeping the two from fighting over the cores.

OpenMP worker threads that spin after a parallel region steal the cores OpenBLAS needs for the next
GEMM, and OpenBLAS threads that spin after a GEMM steal them from the next kernel (docs/design.md §4.2:
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
(``/proc/stat`` minus its own, over the last quarter second) and runs the kernels (and BLAS, outside
le4nn's steps) on only the cores left free, never more than :func:`set_num_threads` allows, going
back up when the others are done.  ``LE4NN_ADAPTIVE_THREADS=0`` turns this off (always the set count).

Results do not depend on how many threads run.  The kernels split work only across independent
outputs (or add fixed blocks' partial sums in block order), and :func:`run_chunks` gets chunks
whose bounds are fixed by the problem.  OpenBLAS's GEMM is not like that: its result depends on
its thread count for common shapes (a (100 × 784) · (784 × 100) product differs in the last bits
at 1 and 2 threads), so while le4nn computes (a :class:`StepGuard` is held, or :func:`run_chunks`
runs) BLAS runs on one thread, and the parallelism comes from the kernels and the chunks.

One step at a time.  Layers keep their last forward's values (for backward) and reuse their
output arrays, so two threads must not run the same layer at once.  Each layer has a reentrant
lock; a model step (a training step, a predict or evaluate batch) holds the locks of all its
layers, taken in the layers' creation order (:class:`StepGuard`), so models that share layers
(a GAN's generator inside the combined model) never deadlock: a model may be used from several
threads, and calls on one model (or on models sharing a layer) run one step at a time.
"""

from __future__ import annotations

import contextvars
import itertools
import operator
import os
import sys
import threading
import time
from concurrent.futures import wait

from le4nn._env import positive_int_from_env

_num_threads: int | None = None
#: The most threads le4nn accepts (LE4NN_NUM_THREADS, set_num_threads, --threads): asking the OpenMP
#: runtime for ~10⁵ threads ends the process with a segmentation fault.
MAX_THREADS = 1024


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
    n = positive_int_from_env("LE4NN_NUM_THREADS", None, maximum=MAX_THREADS)
    if n is None:
        return os.cpu_count() or 1
    return n


def get_num_threads() -> int:
    """The number of threads the compiled kernels use (and BLAS, once set via :func:`set_num_threads`)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the compiled kernels and in BLAS (via threadpoolctl; BLAS runs on one
    thread inside le4nn's own steps, see the module docstring).

    Results do not depend on ``n``: the kernels split work only across independent outputs.
    ``n`` is the most le4nn uses: while other processes keep cores busy it uses fewer (unless
    ``LE4NN_ADAPTIVE_THREADS=0``; see :mod:`le4nn._threads`).
    """
    global _num_threads, _now_threads, _blas_outside, _blas_controllers
    try:
        count = operator.index(n)
    except TypeError:
        count = None
    if isinstance(n, bool) or count is None or count < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    if count > MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be at most {MAX_THREADS}, got {n!r}")
    _num_threads = _now_threads = _blas_outside = count  # adaptation starts again from the full count
    _blas_controllers = None  # look for BLAS libraries loaded since (SciPy brings its own OpenBLAS)
    _apply_blas()  # now, unless a step is running in another thread (then when it ends)


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


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded when le4nn first needed them."""
    global _blas_controllers
    if _blas_controllers is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_controllers = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # no threadpoolctl, or nothing it can control
            _blas_controllers = []
    return _blas_controllers


def _blas_threads_in_force() -> int | None:
    """BLAS's thread count now (the first library's), or None when unknown."""
    for controller in _blas_libraries():
        try:
            return int(controller.get_num_threads())
        except Exception:
            return None
    return None


def _set_blas_threads(n: int) -> None:
    """Set BLAS's thread count (all BLAS libraries threadpoolctl finds); see :func:`_apply_blas`."""
    for controller in _blas_libraries():
        # threadpoolctl's set_num_threads ignores every Python thread but the first that used it
        # for a shared (pthreads) OpenBLAS pool, so steps run in other threads would keep BLAS's
        # count, and its bits: set it directly.
        setter = getattr(controller, "_real_set_num_threads", controller.set_num_threads)
        try:
            setter(n)
        except Exception:
            pass


def num_threads_now() -> int:
    """The thread count for the next kernel or GEMM: :func:`get_num_threads`, or fewer while other
    processes keep cores busy (see the module docstring); BLAS is switched along when it changes.

    Cheap to call before every kernel: it looks at the machine at most every quarter second.
    """
    global _now_threads, _last_sample, _last_check, _others, _blas_outside
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
        changed_from_set_count = _now_threads is not None or current != n
        _now_threads = current
        if changed_from_set_count:
            _blas_outside = current
            _apply_blas()
    return current


# --- BLAS on one thread while le4nn computes ----------------------------------------------------------

_computing = 0  # how many guarded steps and run_chunks calls are running, in all threads
_computing_lock = threading.Lock()
#: BLAS's count outside le4nn's steps: what set_num_threads or the adaptation chose, or None while
#: le4nn has chosen nothing (then each step gives back the count it found, e.g. the user's own).
_blas_outside: int | None = None
_blas_found: int | None = None  # the count BLAS had when the running steps began


def _apply_blas() -> None:
    """BLAS on one thread while le4nn computes (its GEMMs' bits must not depend on the count),
    else on the count le4nn chose, for the user's own NumPy code."""
    with _computing_lock:
        if _computing:
            _set_blas_threads(1)
        elif _blas_outside is not None:
            _set_blas_threads(_blas_outside)


def blas_is_single_threaded() -> bool:
    """Whether BLAS runs on one thread now because a step or ``run_chunks`` is running (a hint: read
    without the lock)."""
    return _computing > 0


def _begin_computing() -> None:
    global _computing, _blas_found
    with _computing_lock:
        if _computing == 0:
            _blas_found = _blas_threads_in_force() if _blas_outside is None else None
            _set_blas_threads(1)
        _computing += 1


def _end_computing() -> None:
    global _computing
    with _computing_lock:
        _computing -= 1
        if _computing == 0:
            outside = _blas_outside if _blas_outside is not None else _blas_found
            if outside is not None:
                _set_blas_threads(outside)


# --- one step at a time on each layer -------------------------------------------------------------

_layer_serials = itertools.count()


def new_layer_lock() -> tuple[int, threading.RLock]:
    """A layer's serial number (its place in the global lock order) and its reentrant lock."""
    return next(_layer_serials), threading.RLock()


class StepGuard:
    """Held around one step on some layers (a training step, a predict or evaluate batch, a layer
    or eager model call): takes the layers' locks in their global order (so that two guards over
    overlapping layer sets cannot deadlock) and keeps BLAS on one thread meanwhile.  Reentrant:
    a thread that holds it may enter it again.  Cheap: one uncontended lock per layer."""

    __slots__ = ("_locks",)

    def __init__(self, layers) -> None:
        unique = {id(layer): layer for layer in layers}.values()
        self._locks = tuple(layer._lock for layer in sorted(unique, key=lambda layer: layer._serial))

    def __enter__(self) -> StepGuard:
        taken = 0
        try:
            for lock in self._locks:
                lock.acquire()
                taken += 1
            _begin_computing()
        except BaseException:
            for lock in reversed(self._locks[:taken]):
                lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            _end_computing()
        finally:  # even when a signal's exception (a second Ctrl-C) arrives here
            for lock in reversed(self._locks):
                lock.release()


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
    _begin_computing()  # BLAS on one thread, whether or not the chunks are shared out
    try:
        if workers <= 1 or _local.worker is not None:
            _run_here(task, count, workers)
            return 1
        _run_shared(task, count, workers)
    finally:
        _end_computing()
    return workers


def _run_here(task, count: int, workers: int) -> None:
    saved = _local.worker
    _local.worker = 0 if saved is None and workers > 1 else saved
    try:
        for i in range(count):
            task(i)
    finally:
        _local.worker = saved


def _run_shared(task, count: int, workers: int) -> None:
    pool = _worker_pool(workers - 1)
    counter = itertools.count()  # next() is atomic under the GIL

    def work(index: int) -> None:
        _local.worker = index
        try:
            for i in counter:
                if i >= count:
                    break
                task(i)
        finally:
            _local.worker = None

    # Each helper runs in a copy of the caller's context: NumPy's floating-point error state
    # (np.errstate) lives in a context variable, so a helper's overflow is ignored, warned about or
    # raised as the caller asked, not by NumPy's defaults.
    futures = [pool.submit(contextvars.copy_context().run, work, k) for k in range(1, workers)]
    error = None
    try:
        work(0)
    except BaseException as exc:
        error = exc
        for _ in counter:  # nothing more for the others to take
            if _ >= count:
                break
    wait(futures)  # every worker has stopped writing before the step ends, whatever went wrong
    if error is None:
        error = next((f.exception() for f in futures if f.exception() is not None), None)
    if error is not None:
        raise error


def _worker_pool(size: int):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            from concurrent.futures import ThreadPoolExecutor

            # The old pool is not shut down (another thread may be submitting to it): its idle
            # workers exit once it is no longer referenced.
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
