"""The machine a benchmark ran on: CPU model, ISA extensions and the copy bandwidth.

Every table of ``bench_train.py`` and ``bench_kernels.py`` starts with :func:`machine_line`, because
the kernels' speed (and PyTorch's) depends on the CPU: the same code ran at 1.33× the copy bandwidth on
one Xeon and at 0.33× on an AMD EPYC (issue 19).  Ratios only compare within one such line.
"""

from __future__ import annotations

import os
import platform
import time

#: The ISA extensions that decide which code paths the kernels (and PyTorch's oneDNN/MKL) take.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512ifma", "avx512vbmi", "avx512_vbmi2", "amx_tile", "amx_bf16")


def parse_threads(parser, text: str) -> list[int]:
    """``--threads 1,2`` as ints >= 1; a bad list ends in ``parser.error`` naming it."""
    try:
        threads = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {text!r}")
    if not threads or min(threads) < 1:
        parser.error(f"--threads must name at least one thread count >= 1, got {text!r}")
    return threads


def cpu_model() -> str:
    """The "model name" of /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def isa_extensions() -> list[str]:
    """The avx512* / avx2 / fma / amx flags of the first CPU in /proc/cpuinfo (empty if unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    extra = sorted(f for f in flags if f.startswith("avx512") and f not in ISA_FLAGS)
                    return [f for f in ISA_FLAGS if f in flags] + extra
    except OSError:
        pass
    return []


def copy_bandwidth(megabytes: int = 256, repeat: int = 7) -> float:
    """GB/s of ``np.copyto`` of a ``megabytes`` float32 array into a preallocated one (bytes / best
    time; each byte read once and written once: the usual memcpy figure), far beyond the caches."""
    import numpy as np

    src = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    np.copyto(dst, src)  # map the pages
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return src.nbytes / best / 1e9


def machine_line(copy_gbs: float | None = None) -> str:
    """One line for a table header: CPU model, logical CPUs, ISA extensions, copy bandwidth."""
    copy_gbs = copy_bandwidth() if copy_gbs is None else copy_gbs
    isa = " ".join(isa_extensions()) or "none of avx2/fma/avx512 reported"
    return (f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; ISA: {isa}; "
            f"copy bandwidth (np.copyto, 256 MB): {copy_gbs:.1f} GB/s")
