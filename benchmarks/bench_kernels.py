"""Kernel benchmark: the compiled (Cython/OpenMP) kernels against the NumPy reference path.

    python benchmarks/bench_kernels.py [--threads 1,2] [--repeat 20] [--dtype float32]

The shapes are those of one step of the course CNN (batch 100, MNIST 28×28, 32 channels): im2col and
col2im of (100, 32, 28, 28) with a 3×3 kernel and padding 1, 2×2 max and average pooling forward and
backward of (100, 32, 28, 28), softmax-cross-entropy of (100, 10) and (1000, 10), sigmoid and ReLU of
(100, 32, 28, 28).  Every native call writes into preallocated ``out=`` arrays (a fresh 90 MB array
costs more in page faults than the copy itself); the reference is given the same ``out=`` arrays, so
both do the same work.  Each timing is the minimum over ``--repeat`` calls after a warm-up (the median
is printed too: the machine may be shared).

Bandwidth.  "GB/s" is the effective bandwidth bytes / time, where bytes = the bytes an op must move:
every input read once plus every output written once (formulas next to each case below).  "copy
GB/s" is measured in the same run, alternating call by call with the native timing:
``np.copyto(dst, src)`` of an array of the same number of bytes into a preallocated array,
bytes / min time (the usual memcpy figure, in which each byte is read once and written once).
"ratio" = GB/s / copy GB/s.  The machine's bandwidth drifts by tens of percent over an hour, so only
ratios within one run are meaningful.

Ops whose kernel module is not built (``le4nn._kernels.softmax`` or ``activations``) are skipped with
a note.  This is a script, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import le4nn
from le4nn.ops import reference as ref

KERNEL_MODULES = ("im2col", "pooling", "softmax", "activations")


class Case(NamedTuple):
    op: str
    shape: str
    module: str  # the le4nn._kernels module the native version needs
    native: Callable[[], object]
    reference: Callable[[], object]
    nbytes: int  # bytes that must move: inputs read once + outputs written once


def load_native():
    """``le4nn.ops.native`` and the names of the kernel modules that are not built.

    ``le4nn.ops.native`` imports every kernel module; missing ones are replaced by empty stand-ins
    here (in this process only) so that the kernels that are built can still be timed.
    """
    missing = []
    for name in KERNEL_MODULES:
        try:
            importlib.import_module(f"le4nn._kernels.{name}")
        except ImportError:
            missing.append(name)
            sys.modules[f"le4nn._kernels.{name}"] = types.ModuleType(f"le4nn._kernels.{name}")
    try:
        from le4nn.ops import native
    except ImportError as exc:
        sys.exit(f"le4nn.ops.native cannot be imported ({exc}); build the kernels first")
    return native, missing


def make_cases(native, dtype, rng) -> list[Case]:
    f = np.dtype(dtype)
    cases = []

    # im2col / col2im, 3×3, stride 1, padding 1 (handout eq. 59, 62)
    x = rng.standard_normal((100, 32, 28, 28)).astype(f)
    cols = np.empty((32 * 9, 100 * 28 * 28), dtype=f)
    x_out = np.empty_like(x)
    shape = "(100,32,28,28) 3x3 p1"
    cases.append(Case("im2col", shape, "im2col",
                      lambda: native.im2col(x, 3, 3, 1, 1, out=cols),
                      lambda: ref.im2col(x, 3, 3, 1, 1, out=cols),
                      x.nbytes + cols.nbytes))  # read x, write cols
    cases.append(Case("col2im", shape, "im2col",
                      lambda: native.col2im(cols, x.shape, 3, 3, 1, 1, out=x_out),
                      lambda: ref.col2im(cols, x.shape, 3, 3, 1, 1, out=x_out),
                      cols.nbytes + x.nbytes))  # read cols, write x

    # 2×2 max pooling (eq. 63–64) and average pooling
    out = np.empty((100, 32, 14, 14), dtype=f)
    argmax = np.empty(out.shape, dtype=np.int32)
    native.maxpool2d_forward(x, 2, 2, out=out, argmax_out=argmax)
    dout = rng.standard_normal(out.shape).astype(f)
    dx = np.empty_like(x)
    shape = "(100,32,28,28) 2x2"
    cases.append(Case("maxpool fwd", shape, "pooling",
                      lambda: native.maxpool2d_forward(x, 2, 2, out=out, argmax_out=argmax),
                      lambda: ref.maxpool2d_forward(x, 2, 2, out=out, argmax_out=argmax),
                      x.nbytes + out.nbytes + argmax.nbytes))  # read x, write out and argmax
    cases.append(Case("maxpool bwd", shape, "pooling",
                      lambda: native.maxpool2d_backward(dout, argmax, x.shape, out=dx),
                      lambda: ref.maxpool2d_backward(dout, argmax, x.shape, out=dx),
                      dout.nbytes + argmax.nbytes + dx.nbytes))  # read dout and argmax, write dx
    cases.append(Case("avgpool fwd", shape, "pooling",
                      lambda: native.avgpool2d_forward(x, 2, 2, out=out),
                      lambda: ref.avgpool2d_forward(x, 2, 2, out=out),
                      x.nbytes + out.nbytes))  # read x, write out
    cases.append(Case("avgpool bwd", shape, "pooling",
                      lambda: native.avgpool2d_backward(dout, x.shape, 2, 2, out=dx),
                      lambda: ref.avgpool2d_backward(dout, x.shape, 2, 2, out=dx),
                      dout.nbytes + dx.nbytes))  # read dout, write dx

    # softmax + cross-entropy (eq. 5, 6, 8, 12), integer labels
    for batch in (100, 1000):
        logits = rng.standard_normal((batch, 10)).astype(f) * 3
        labels = rng.integers(0, 10, batch)
        probs = np.empty_like(logits)
        grad = np.empty_like(logits)
        shape = f"({batch},10)"
        io = logits.nbytes + labels.nbytes + probs.nbytes  # read logits|probs and labels, write one array
        cases.append(Case("softmax-CE fwd", shape, "softmax",
                          lambda logits=logits, labels=labels, probs=probs:
                          native.softmax_cross_entropy_forward(logits, labels, out=probs),
                          lambda logits=logits, labels=labels, probs=probs:
                          ref.softmax_cross_entropy_forward(logits, labels, out=probs),
                          io))
        cases.append(Case("softmax-CE bwd", shape, "softmax",
                          lambda probs=probs, labels=labels, grad=grad:
                          native.softmax_cross_entropy_backward(probs, labels, out=grad),
                          lambda probs=probs, labels=labels, grad=grad:
                          ref.softmax_cross_entropy_backward(probs, labels, out=grad),
                          io))

    # activations, elementwise over (100, 32, 28, 28)
    y = np.empty_like(x)
    g = rng.standard_normal(x.shape).astype(f)
    shape = "(100,32,28,28)"
    for name in ("sigmoid", "relu"):
        fwd, bwd = f"{name}_forward", f"{name}_backward"
        cases.append(Case(f"{name} fwd", shape, "activations",
                          lambda fwd=fwd: getattr(native, fwd)(x, out=y),
                          lambda fwd=fwd: getattr(ref, fwd)(x, out=y),
                          x.nbytes + y.nbytes))  # read x, write y
        cases.append(Case(f"{name} bwd", shape, "activations",
                          lambda bwd=bwd: getattr(native, bwd)(g, y, out=dx),
                          lambda bwd=bwd: getattr(ref, bwd)(g, y, out=dx),
                          g.nbytes + y.nbytes + dx.nbytes))  # read dout and y, write dx
    return cases


def timings(fn, repeat: int) -> list[float]:
    fn()  # warm-up (caches, page mapping, OpenMP team)
    result = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        result.append(time.perf_counter() - start)
    return result


def interleaved(fn, nbytes: int, repeat: int) -> tuple[list[float], float]:
    """Times of ``fn`` and the copy bandwidth (GB/s) of ``np.copyto`` of an ``nbytes`` array into a
    preallocated one (bytes / min time), the two timed alternately so that both see the same state
    of a shared machine."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    fn()
    np.copyto(dst, src)  # warm-up: map the pages, start the OpenMP team
    times, copies = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(dst, src)
        copies.append(time.perf_counter() - start)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times, src.nbytes / min(copies) / 1e9


TARGETS = {"im2col": 0.75, "col2im": 0.75, "maxpool fwd": 0.5, "maxpool bwd": 0.5}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per native kernel (default 20)")
    parser.add_argument("--ref-repeat", type=int, default=5, help="timed calls per reference op (default 5)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]

    native, missing = load_native()
    cases = make_cases(native, args.dtype, np.random.default_rng(args.seed))
    print(f"# le4nn {le4nn.__version__} kernel benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}")
    print(f"# command: python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, dtype {args.dtype}; times are the min (and median) over "
          f"{args.repeat} native / {args.ref_repeat} reference calls")
    for name in missing:
        print(f"# note: le4nn._kernels.{name} is not built; its ops are skipped")

    header = ("op", "shape", "thr", "native ms", "(median)", "ref ms", "speed-up", "GB/s", "copy GB/s", "ratio")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    ref_ms: dict[str, float] = {}
    failures = []
    for n in threads:
        le4nn.set_num_threads(n)
        for case in cases:
            key = f"{case.op} {case.shape}"
            if case.module in missing:
                continue
            try:
                t, copy = interleaved(case.native, case.nbytes, args.repeat)
                if key not in ref_ms:  # the NumPy path does not depend on the thread count
                    ref_ms[key] = min(timings(case.reference, args.ref_repeat)) * 1e3
            except Exception as exc:  # e.g. a kernel module of another op that is half-built
                if case.module in ("im2col", "pooling"):
                    raise
                print(f"# note: {key} skipped: {type(exc).__name__}: {exc}")
                continue
            ms, med = min(t) * 1e3, statistics.median(t) * 1e3
            gbs = case.nbytes / (ms / 1e3) / 1e9
            ratio = gbs / copy
            speedup = ref_ms[key] / ms
            print(f"| {case.op} | {case.shape} | {n} | {ms:.3f} | {med:.3f} | {ref_ms[key]:.3f} | "
                  f"{speedup:.1f}x | {gbs:.1f} | {copy:.1f} | {ratio:.2f} |")
            if n == 1 and case.op in TARGETS and ratio < TARGETS[case.op]:
                failures.append(f"{case.op}: ratio {ratio:.2f} < {TARGETS[case.op]}")
            if speedup < 10:
                failures.append(f"{case.op} {case.shape} at {n} threads: speed-up {speedup:.1f}x < 10x")
    print()
    print("# targets (1 thread): im2col/col2im ratio >= 0.75, max pool ratio >= 0.5; every kernel >= 10x")
    for line in failures:
        print(f"# below target: {line}")
    if not failures:
        print("# all targets met")


if __name__ == "__main__":
    main()
