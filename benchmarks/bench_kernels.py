"""Kernel benchmark: the compiled (Cython/OpenMP) kernels against the NumPy reference path.

    python benchmarks/bench_kernels.py [--threads 1,2] [--repeat 20] [--dtype float32]
                                       [--shapes course,resnet20] [--only 'col2im NCHW,maxpool']

Two groups of shapes (``--shapes``).  ``course``: the shapes of one step of the course CNN (batch 100,
MNIST 28×28, 32 channels): im2col and col2im of (100, 32, 28, 28) with a 3×3 kernel and padding 1, 2×2
max and average pooling forward and backward of (100, 32, 28, 28), softmax-cross-entropy of (100, 10)
and (1000, 10), sigmoid and ReLU of (100, 32, 28, 28).  ``resnet20``: the window kernels on the maps of
ResNet-20 at batch 128 (issue 19), 32×32×16, 16×16×32 and 8×8×64: im2col and col2im of the 3×3
stride-1 convolutions (padding 1), of the stride-2 3×3 ones (Keras "same": padding (0, 1, 0, 1),
bottom/right only) and of the stride-2 1×1 projections (no padding), in both layouts (channels_first:
``im2col``; channels_last: ``im2col_nhwc``), and 2×2 max pooling forward/backward on the same maps in
both layouts.  Every native call writes into preallocated ``out=`` arrays (a fresh 90 MB array costs
more in page faults than the copy itself); the reference is given the same ``out=`` arrays, so both do
the same work.  Each timing is the minimum over ``--repeat`` calls after a warm-up (the median is
printed too: the machine may be shared).

Bandwidth.  "GB/s" is the effective bandwidth bytes / time, where bytes = the bytes an op must move:
every input read once plus every output written once (formulas next to each case below).  "copy
GB/s" is measured in the same run, alternating call by call with the native timing:
``np.copyto(dst, src)`` of an array of the same number of bytes into a preallocated array,
bytes / min time (the usual memcpy figure, in which each byte is read once and written once).
"ratio" = GB/s / copy GB/s; "× big copy" = GB/s / the bandwidth of a 256 MB ``np.copyto`` measured
once at the start (printed in the header with the CPU model and its ISA extensions: small arrays copy
within the caches, so the same-size copy is the stricter yardstick).  The machine's bandwidth drifts
by tens of percent over an hour, so only ratios within one run are meaningful.

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
from bench_machine import copy_bandwidth, machine_line, parse_threads

import le4nn
from le4nn.ops import reference as ref

KERNEL_MODULES = ("im2col", "pooling", "softmax", "activations", "batchnorm")


class Case(NamedTuple):
    op: str
    shape: str
    module: str  # the le4nn._kernels module the native version needs
    native: Callable[[], object]
    reference: Callable[[], object]
    nbytes: int  # bytes that must move: inputs read once + outputs written once
    group: str = "course"


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


def make_course_cases(native, dtype, rng) -> list[Case]:
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


#: ResNet-20's maps at batch 128 (B, H, W, C) and the convolutions applied to each:
#: (kernel size, stride, padding (top, bottom, left, right)); Keras "same" for a stride-2 3×3 on an even size
#: pads the bottom row and the right column only.
RESNET_MAPS = ((128, 32, 32, 16), (128, 16, 16, 32), (128, 8, 8, 64))
RESNET_CONVS = ((3, 1, (1, 1, 1, 1)), (3, 2, (0, 1, 0, 1)), (1, 2, (0, 0, 0, 0)))


def _window_cases(native, x_nhwc: np.ndarray, k: int, stride: int, pad: tuple[int, ...]) -> list[Case]:
    """im2col and col2im of one convolution in both layouts (handout eq. 59, 62)."""
    B, H, W, C = x_nhwc.shape
    OH, OW = (H + pad[0] + pad[1] - k) // stride + 1, (W + pad[2] + pad[3] - k) // stride + 1
    cases = []
    for layout in ("NCHW", "NHWC"):
        if layout == "NCHW":
            x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
            cols = np.empty((C * k * k, B * OH * OW), dtype=x.dtype)
            fwd, bwd, ref_fwd, ref_bwd = native.im2col, native.col2im, ref.im2col, ref.col2im
        else:
            x = x_nhwc
            cols = np.empty((B * OH * OW, k * k * C), dtype=x.dtype)
            fwd, bwd, ref_fwd, ref_bwd = native.im2col_nhwc, native.col2im_nhwc, ref.im2col_nhwc, ref.col2im_nhwc
        x_out = np.empty_like(x)
        shape = f"{layout} {B}x{H}x{W}x{C} {k}x{k} s{stride} p{''.join(map(str, pad))}"
        args = (k, k, stride, pad)
        cases.append(Case("im2col", shape, "im2col",
                          lambda x=x, cols=cols, fwd=fwd, args=args: fwd(x, *args, out=cols),
                          lambda x=x, cols=cols, f=ref_fwd, args=args: f(x, *args, out=cols),
                          x.nbytes + cols.nbytes, "resnet20"))  # read x, write cols
        cases.append(Case("col2im", shape, "im2col",
                          lambda x=x_out, cols=cols, bwd=bwd, args=args: bwd(cols, x.shape, *args, out=x),
                          lambda x=x_out, cols=cols, f=ref_bwd, args=args: f(cols, x.shape, *args, out=x),
                          cols.nbytes + x.nbytes, "resnet20"))  # read cols, write x
    return cases


def _pool_cases(native, x_nhwc: np.ndarray, rng) -> list[Case]:
    """2×2 max pooling forward and backward (eq. 63–64) in both layouts."""
    B, H, W, C = x_nhwc.shape
    cases = []
    for layout in ("NCHW", "NHWC"):
        if layout == "NCHW":
            x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
            out_shape = (B, C, H // 2, W // 2)
            fwd, bwd, ref_fwd, ref_bwd = (native.maxpool2d_forward, native.maxpool2d_backward,
                                          ref.maxpool2d_forward, ref.maxpool2d_backward)
        else:
            x = x_nhwc
            out_shape = (B, H // 2, W // 2, C)
            fwd, bwd, ref_fwd, ref_bwd = (native.maxpool2d_nhwc_forward, native.maxpool2d_nhwc_backward,
                                          ref.maxpool2d_nhwc_forward, ref.maxpool2d_nhwc_backward)
        out = np.empty(out_shape, dtype=x.dtype)
        argmax = np.empty(out_shape, dtype=np.int32)
        fwd(x, 2, 2, out=out, argmax_out=argmax)
        dout = rng.standard_normal(out_shape).astype(x.dtype)
        dx = np.empty_like(x)
        shape = f"{layout} {B}x{H}x{W}x{C} 2x2"
        cases.append(Case("maxpool fwd", shape, "pooling",
                          lambda x=x, out=out, a=argmax, f=fwd: f(x, 2, 2, out=out, argmax_out=a),
                          lambda x=x, out=out, a=argmax, f=ref_fwd: f(x, 2, 2, out=out, argmax_out=a),
                          x.nbytes + out.nbytes + argmax.nbytes, "resnet20"))
        cases.append(Case("maxpool bwd", shape, "pooling",
                          lambda d=dout, a=argmax, dx=dx, f=bwd: f(d, a, dx.shape, out=dx),
                          lambda d=dout, a=argmax, dx=dx, f=ref_bwd: f(d, a, dx.shape, out=dx),
                          dout.nbytes + argmax.nbytes + dx.nbytes, "resnet20"))
    return cases


def make_resnet_cases(native, dtype, rng) -> list[Case]:
    """The window kernels on ResNet-20's shapes (module docstring)."""
    cases = []
    for shape in RESNET_MAPS:
        x = rng.standard_normal(shape).astype(np.dtype(dtype))
        for k, stride, pad in RESNET_CONVS:
            if stride == 2 and shape[1] <= 8:
                continue  # the last stage does not downsample
            cases += _window_cases(native, x, k, stride, pad)
        cases += _pool_cases(native, x, rng)
        cases += _batchnorm_cases(native, x, rng)
    return cases


def _batchnorm_cases(native, x_nhwc: np.ndarray, rng) -> list[Case]:
    """BatchNormalization + ReLU in training (eq. 28–37), both layouts: the forward (statistics and
    y) and the backward (sums and dx).  Bytes: x and y; dout, x and dx (each pass over x counted once)."""
    B, H, W, C = x_nhwc.shape
    gamma, beta = rng.standard_normal(C).astype(x_nhwc.dtype) + 1, rng.standard_normal(C).astype(x_nhwc.dtype)
    cases = []
    for layout, x, axis in (("NCHW", np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)), 1),
                            ("NHWC", x_nhwc, -1)):
        y, dx, dout = np.empty_like(x), np.empty_like(x), rng.standard_normal(x.shape).astype(x.dtype)
        _, mean, _, inv_std = native.batchnorm_forward(x, gamma, beta, 1e-3, axis, True, out=y)
        shape = f"{layout} {B}x{H}x{W}x{C}"

        def fwd(f, x=x, y=y, axis=axis):
            return f(x, gamma, beta, 1e-3, axis, True, out=y)

        def bwd(f, x=x, dx=dx, d=dout, m=mean, s=inv_std, axis=axis):
            return f(d, x, gamma, beta, m, s, axis, True, out=dx)

        cases.append(Case("bn+relu fwd", shape, "batchnorm", lambda f=fwd: f(native.batchnorm_forward),
                          lambda f=fwd: f(ref.batchnorm_forward), 2 * x.nbytes, "resnet20"))
        cases.append(Case("bn+relu bwd", shape, "batchnorm", lambda f=bwd: f(native.batchnorm_backward),
                          lambda f=bwd: f(ref.batchnorm_backward), 3 * x.nbytes, "resnet20"))
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


#: Per group: the least ratio (GB/s / same-size copy GB/s) at one thread, and the least speed-up over the
#: NumPy reference at every thread count.  course: issue 6; resnet20: issue 19 (window kernels at >= 0.75x
#: copy, every kernel at least as fast as its reference on every shape).
TARGETS = {
    "course": ({"im2col": 0.75, "col2im": 0.75, "maxpool fwd": 0.5, "maxpool bwd": 0.5}, 10.0),
    "resnet20": ({"im2col": 0.75, "col2im": 0.75, "maxpool fwd": 0.75, "maxpool bwd": 0.75}, 1.0),
}
GROUPS = {"course": make_course_cases, "resnet20": make_resnet_cases}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per native kernel (default 20)")
    parser.add_argument("--ref-repeat", type=int, default=5, help="timed calls per reference op (default 5)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--shapes", default="course,resnet20",
                        help="comma-separated groups of shapes: course, resnet20 (default both)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="",
                        help="comma-separated substrings: time only the cases whose 'op shape' contains one "
                             "(e.g. 'col2im NCHW,maxpool'; default all)")
    args = parser.parse_args(argv)
    threads = parse_threads(parser, args.threads)
    if args.repeat < 1 or args.ref_repeat < 1:
        parser.error("--repeat and --ref-repeat must be >= 1")
    groups = [g.strip() for g in args.shapes.split(",") if g.strip()]
    if not groups or any(g not in GROUPS for g in groups):
        parser.error(f"--shapes must name groups among {', '.join(GROUPS)}, got {args.shapes!r}")
    return args, threads, groups


def _check(case: Case, n: int, ratio: float, speedup: float) -> list[str]:
    min_ratio, min_speedup = TARGETS[case.group]
    failures = []
    if n == 1 and case.op in min_ratio and ratio < min_ratio[case.op]:
        failures.append(f"{case.op} {case.shape}: ratio {ratio:.2f} < {min_ratio[case.op]}")
    if speedup < min_speedup:
        failures.append(f"{case.op} {case.shape} at {n} threads: speed-up {speedup:.2f}x < {min_speedup:g}x")
    return failures


def main(argv=None) -> None:
    args, threads, groups = parse_args(argv)
    native, missing = load_native()
    rng = np.random.default_rng(args.seed)
    cases = [case for g in groups for case in GROUPS[g](native, args.dtype, rng)]
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    if only:
        cases = [case for case in cases if any(w in f"{case.op} {case.shape}" for w in only)]
    big_copy = copy_bandwidth()
    print(f"# le4nn {le4nn.__version__} kernel benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}")
    print(f"# command: python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}")
    print(f"# {machine_line(big_copy)}")
    print(f"# {platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}, dtype {args.dtype}; "
          f"times are the min (and median) over {args.repeat} native / {args.ref_repeat} reference calls")
    for name in missing:
        print(f"# note: le4nn._kernels.{name} is not built; its ops are skipped")

    header = ("op", "shape", "thr", "native ms", "(median)", "ref ms", "speed-up", "GB/s", "copy GB/s", "ratio",
              "× big copy")
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
            speedup = ref_ms[key] / ms
            print(f"| {case.op} | {case.shape} | {n} | {ms:.3f} | {med:.3f} | {ref_ms[key]:.3f} | "
                  f"{speedup:.1f}x | {gbs:.1f} | {copy:.1f} | {gbs / copy:.2f} | {gbs / big_copy:.2f} |", flush=True)
            failures += _check(case, n, gbs / copy, speedup)
    print()
    print("# targets: course shapes (1 thread) im2col/col2im ratio >= 0.75, max pool >= 0.5, every kernel >= 10x; "
          "resnet20 shapes (1 thread) im2col/col2im/max pool ratio >= 0.75, every kernel >= 1x its reference")
    for line in failures:
        print(f"# below target: {line}")
    if not failures:
        print("# all targets met")


if __name__ == "__main__":
    main()
