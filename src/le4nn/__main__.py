"""``python -m le4nn``: what this installation runs on, and a check of every kernel against NumPy.

Prints the version, the backend, OpenMP and BLAS thread settings, then runs each compiled kernel and
its NumPy reference on the shapes of a real CNN step, reporting agreement and the time of each.
"""

from __future__ import annotations

import time

import numpy as np

import le4nn
from le4nn import ops
from le4nn.cli.common import ArgumentParser, int_range, run

PROG = "python -m le4nn"
#: The most timing repeats (each repeat runs every kernel on a 100×32×28×28 batch, both backends).
MAX_REPEAT = 1000


def _best_time(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _cases(rng):
    x = rng.standard_normal((100, 32, 28, 28), dtype=np.float32)
    cols = ops.reference.im2col(x, 3, 3, 1, 1)
    pooled, argmax = ops.reference.maxpool2d_forward(x, 2, 2)
    logits = rng.standard_normal((1000, 10), dtype=np.float32)
    labels = rng.integers(0, 10, 1000)
    return [
        ("im2col 3x3 pad 1", "im2col", (x, 3, 3, 1, 1)),
        ("col2im 3x3 pad 1", "col2im", (cols, x.shape, 3, 3, 1, 1)),
        ("maxpool 2x2 forward", "maxpool2d_forward", (x, 2, 2)),
        ("maxpool 2x2 backward", "maxpool2d_backward", (pooled, argmax, x.shape)),
        ("avgpool 2x2 forward", "avgpool2d_forward", (x, 2, 2)),
        ("sigmoid forward", "sigmoid_forward", (x,)),
        ("relu forward", "relu_forward", (x,)),
        ("softmax-CE forward", "softmax_cross_entropy_forward", (logits, labels)),
    ]


def _main_array(result):
    """The array to compare: the result itself, pooled values, or softmax-CE's probabilities."""
    if not isinstance(result, tuple):
        return result
    return result[1] if isinstance(result[0], float) else result[0]


def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int_range(1, MAX_REPEAT), default=3,
                        help=f"timing repeats per kernel (default 3, at most {MAX_REPEAT})")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_info

    print(f"le4nn {le4nn.__version__}  backend: {le4nn.get_backend()}  threads: {le4nn.get_num_threads()}")
    if ops.native_available():
        import le4nn._kernels.threads as threads

        print(f"compiled kernels: yes (OpenMP: {'yes' if threads.openmp_enabled() else 'no'})")
    else:
        print("compiled kernels: not available (the NumPy backend is used)")
        return 0
    for pool in threadpool_info():
        api, version, count = pool["internal_api"], pool.get("version"), pool["num_threads"]
        print(f"{pool['user_api']}: {api} {version}, {count} threads")

    header = f"{'kernel (batch 100x32x28x28)':<28}{'agrees':>8}{'native ms':>11}{'numpy ms':>10}"
    print(f"\n{header}{'speed-up':>10}")
    all_agree = True
    for title, name, call_args in _cases(np.random.default_rng(0)):
        function = getattr(ops, name)
        with le4nn.backend("native"):
            native = _main_array(function(*call_args))
            native_time = _best_time(lambda f=function, a=call_args: f(*a), args.repeat)
        with le4nn.backend("numpy"):
            reference = _main_array(function(*call_args))
            reference_time = _best_time(lambda f=function, a=call_args: f(*a), args.repeat)
        agree = bool(np.allclose(native, reference, rtol=1e-5, atol=1e-6))
        all_agree &= agree
        print(
            f"{title:<28}{'yes' if agree else 'NO':>8}{native_time * 1e3:>11.2f}"
            f"{reference_time * 1e3:>10.2f}{reference_time / native_time:>9.1f}x"
        )
    return 0 if all_agree else 1


if __name__ == "__main__":
    raise SystemExit(run(main, PROG))  # a bad LE4NN_BACKEND / LE4NN_NUM_THREADS: one line, exit 2
