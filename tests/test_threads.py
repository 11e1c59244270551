"""Thread control: ``le4nn.set_num_threads`` / ``get_num_threads`` and ``LE4NN_NUM_THREADS``, results
that do not depend on the thread count (bitwise, for every kernel), the BLAS limit, and the OpenMP /
OpenBLAS wait settings that le4nn makes before those runtimes start (docs/design.md §4.2)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info, threadpool_limits

import le4nn
from le4nn import _threads, ops
from tests.helpers import run_python


def blas_libraries():
    return [lib for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def restore_threads():
    """Leave the kernels' thread count and the BLAS limits as they were before the test."""
    saved = (_threads._num_threads, _threads._blas_outside)
    blas = blas_libraries()
    yield
    if blas:
        threadpool_limits(limits=blas)
    _threads._num_threads, _threads._blas_outside = saved


# --- setting the count --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_get_num_threads_reflects_the_setting(n):
    le4nn.set_num_threads(n)
    assert le4nn.get_num_threads() == n


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, False, "2", None, np.float64(2)])
def test_invalid_counts_are_rejected(bad):
    le4nn.set_num_threads(2)
    with pytest.raises(ValueError, match="positive integer"):
        le4nn.set_num_threads(bad)
    assert le4nn.get_num_threads() == 2  # unchanged


def test_more_threads_than_the_limit_are_rejected_before_any_kernel_runs():
    """99 999 OpenMP threads ended the process with a segmentation fault."""
    le4nn.set_num_threads(2)
    with pytest.raises(ValueError, match=r"set_num_threads: n must be at most 1024, got 99999"):
        le4nn.set_num_threads(99_999)
    assert le4nn.get_num_threads() == 2


def test_set_num_threads_limits_blas():
    if not blas_libraries():
        pytest.skip("no BLAS library is loaded")
    le4nn.set_num_threads(1)
    assert all(lib["num_threads"] == 1 for lib in blas_libraries())
    if (os.cpu_count() or 1) >= 2:
        le4nn.set_num_threads(2)
        assert all(lib["num_threads"] == 2 for lib in blas_libraries())


def test_openmp_runtime_is_not_limited_globally(native):
    """Only BLAS is limited through threadpoolctl; the kernels pass their count to each parallel
    region instead, so that le4nn does not change the OpenMP default for other libraries."""
    openmp_before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]
    le4nn.set_num_threads(1)
    openmp_after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]
    assert openmp_after == openmp_before


# --- results do not depend on the thread count ----------------------------------------------------


def with_specials(rng, x):
    x.ravel()[rng.integers(0, x.size, 50)] = np.array([np.nan, np.inf, -np.inf, 1e4, -1e4])[
        rng.integers(0, 5, 50)
    ]
    return x


def all_op_calls(rng, dtype):
    """One call of each op on an input large enough for the kernels to split it."""
    x = rng.standard_normal((8, 16, 30, 30)).astype(dtype)
    cols = ops.reference.im2col(x, 3, 3, 1, 1)
    pooled, argmax = ops.reference.maxpool2d_forward(x, 3, 3, 2, 1)
    avg = ops.reference.avgpool2d_forward(x, 3, 3, 2, 1, False)
    flat = with_specials(rng, rng.standard_normal(300_001).astype(dtype) * 10)
    dout = rng.standard_normal(flat.shape).astype(dtype)
    logits = with_specials(rng, rng.standard_normal((6000, 10)).astype(dtype) * 5)
    labels = rng.integers(0, 10, 6000)
    onehot = np.eye(10, dtype=dtype)[labels]
    wide = rng.standard_normal((3, 40_000)).astype(dtype)
    wide_labels = rng.integers(0, 40_000, 3)
    probs = ops.reference.softmax_forward(logits)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    cols_nhwc = ops.reference.im2col_nhwc(x_nhwc, 3, 3, 1, 1)
    pooled_nhwc, argmax_nhwc = ops.reference.maxpool2d_nhwc_forward(x_nhwc, 3, 3, 2, 1)
    pooled2_nhwc, argmax2_nhwc = ops.reference.maxpool2d_nhwc_forward(x_nhwc, 2, 2)
    kernel = rng.standard_normal((3, 3, 16, 8)).astype(dtype)
    kernel_wide = rng.standard_normal((3, 3, 48, 48)).astype(dtype)  # enough work for an OpenMP team
    bias = rng.standard_normal(8).astype(dtype)
    conv = ops.reference.conv2d_nhwc_forward(x_nhwc, kernel, bias, 1, 1, True)
    dconv = rng.standard_normal(conv.shape).astype(dtype)
    rows = with_specials(rng, rng.standard_normal((3000, 100)).astype(dtype))
    row_bias = rng.standard_normal(100).astype(dtype)
    bn_gamma = rng.standard_normal(16).astype(dtype)
    bn_nhwc = ops.reference.batchnorm_forward(x_nhwc, None, None, 1e-3, -1, True)  # (y, mean, var, inv_std)
    bn_nchw = ops.reference.batchnorm_forward(x, bn_gamma, None, 1e-3, 1)
    # Sparse products above the wrapper's one-thread limit (32 M multiply-adds): 2003 × 200 × 100.
    pixels = rng.standard_normal((2003, 200)).astype(dtype) * (rng.random((2003, 200)) < 0.2)
    pixel_weights = rng.standard_normal((200, 100)).astype(dtype)
    pixel_grads = rng.standard_normal((2003, 100)).astype(dtype)
    return [
        ("sparse_matmul", (pixels, pixel_weights)),
        ("sparse_matmul_tn", (pixels, pixel_grads)),
        ("im2col_nhwc", (x_nhwc, 3, 3, 1, 1)),
        ("im2col_nhwc", (x_nhwc, 2, 4, (2, 1), (0, 1, 2, 1))),
        ("col2im_nhwc", (cols_nhwc, x_nhwc.shape, 3, 3, 1, 1)),
        ("maxpool2d_nhwc_forward", (x_nhwc, 2, 2)),
        ("maxpool2d_nhwc_forward", (x_nhwc, 3, 3, 2, 1)),
        ("maxpool2d_nhwc_backward", (pooled_nhwc, argmax_nhwc, x_nhwc.shape)),
        ("maxpool2d_nhwc_backward", (pooled2_nhwc, argmax2_nhwc, x_nhwc.shape)),
        ("conv2d_nhwc_forward", (x_nhwc, kernel, bias, 1, 1, True)),
        ("conv2d_nhwc_filter_grad", (x_nhwc, dconv, 3, 3, 1, 1, conv)),
        ("conv2d_nhwc_filter_grad_pooled", (x_nhwc, *pooled_conv(conv), 3, 3, 1, 1)),
        ("conv2d_nhwc_pool_forward", (x_nhwc, kernel, bias, 1, 1, True, 2, 2)),
        ("conv2d_nhwc_pool_forward", (x_nhwc, kernel, None, 1, 1, False, 3, 3, 2, 1)),
        ("bias_relu_forward", (rows, row_bias)),
        ("relu_backward_bias", (dout.reshape(-1)[: rows.size].reshape(rows.shape), rows)),
        ("sigmoid_backward_bias", (dout.reshape(-1)[: rows.size].reshape(rows.shape), rows)),
        ("winograd_input_transform", (x_nhwc, 1)),
        ("winograd_input_transform", (x_nhwc, (2, 0, 1, 2))),
        ("winograd_output_transform", (ops.reference.winograd_input_transform(x_nhwc, 1), x_nhwc.shape,
                                       x_nhwc[0, 0, 0], True)),
        ("winograd_gradient_transform", (x_nhwc,)),
        ("winograd4_input_transform", (x_nhwc, 1)),
        ("winograd4_input_transform", (x_nhwc, (2, 0, 1, 2))),
        ("winograd4_output_transform", (ops.reference.winograd4_input_transform(x_nhwc, 1), x_nhwc.shape,
                                        x_nhwc[0, 0, 0], True)),
        ("winograd4_gradient_transform", (x_nhwc,)),
        ("winograd_kernel_transform", (kernel_wide, 4, True)),
        ("winograd_kernel_transform", (kernel_wide, 2)),
        ("winograd_filter_gradient", (np.stack([ops.reference.winograd_kernel_transform(kernel_wide, 4)] * 3), 4)),
        ("im2col", (x, 3, 3, 1, 1)),
        ("im2col", (x, 2, 4, (2, 1), (0, 1, 2, 1))),
        ("col2im", (cols, x.shape, 3, 3, 1, 1)),
        ("maxpool2d_forward", (x, 2, 2)),
        ("maxpool2d_forward", (x, 3, 3, 2, 1)),
        ("maxpool2d_backward", (pooled, argmax, x.shape)),
        ("avgpool2d_forward", (x, 3, 3, 2, 1, False)),
        ("avgpool2d_backward", (avg, x.shape, 3, 3, 2, 1, False)),
        ("sigmoid_forward", (flat,)),
        ("sigmoid_backward", (dout, ops.reference.sigmoid_forward(flat))),
        ("relu_forward", (flat,)),
        ("relu_backward", (dout, flat)),
        ("softmax_forward", (logits,)),
        ("softmax_forward", (wide,)),
        ("softmax_cross_entropy_forward", (logits, labels)),
        ("softmax_cross_entropy_forward", (logits, onehot)),
        ("softmax_cross_entropy_forward", (wide, wide_labels)),
        ("softmax_cross_entropy_backward", (probs, labels)),
        ("softmax_cross_entropy_backward", (probs, onehot)),
        ("softmax_cross_entropy", (logits, labels)),
        ("softmax_cross_entropy", (logits, onehot)),
        ("sgd_update", (flat, dout, 0.01)),  # in place: each run updates its own copy (see _fresh)
        ("sgd_update", (flat, dout, 0.01, 0.9, dout[::-1].copy(), True)),
        ("add_relu_forward", ([flat, dout],)),
        ("add_relu_forward", ([flat, dout, dout[::-1].copy()],)),
        ("batchnorm_forward", (x_nhwc, None, None, 1e-3, -1, True)),
        ("batchnorm_forward", (x, bn_gamma, None, 1e-3, 1, False)),
        ("batchnorm_forward", (rows, None, row_bias, 1e-3)),
        ("batchnorm_backward", (x_nhwc * 0.5, x_nhwc, None, None, *bn_nhwc[1::2], -1, True)),
        ("batchnorm_backward", (x * 0.5, x, bn_gamma, None, *bn_nchw[1::2], 1, False)),
        ("batchnorm_backward", (x * 0.5, x, bn_gamma, None, *bn_nchw[1::2], 1, True, False)),
        ("nchw_to_nhwc", (x,)),
        ("nhwc_to_nchw", (x_nhwc,)),
    ]


def pooled_conv(conv):
    """(dout, argmax, pooled) of a 2×2 max pooling of ``conv``."""
    pooled, argmax = ops.reference.maxpool2d_nhwc_forward(conv, 2, 2)
    return np.linspace(-1, 1, pooled.size, dtype=conv.dtype).reshape(pooled.shape), argmax, pooled


def _fresh(args):
    """Copies of the array arguments, for the ops that update theirs in place."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def as_bytes(result):
    parts = result if isinstance(result, tuple) else (result,)
    return [np.asarray(p).tobytes() for p in parts]


@pytest.fixture
def fixed_threads(monkeypatch):
    """Exactly the set thread count, even while other processes load the machine."""
    monkeypatch.setattr(_threads, "_adaptive", False)


THREAD_COUNTS = (1, 2, 3, 4)


def assert_same_bits_at_every_thread_count(calls, context: str = "") -> None:
    """Each ``(op name, args)`` call gives the same bytes on the native backend at every count of
    :data:`THREAD_COUNTS`."""
    results = {}
    with le4nn.backend("native"):
        for n in THREAD_COUNTS:
            le4nn.set_num_threads(n)
            results[n] = [as_bytes(getattr(ops, name)(*_fresh(args))) for name, args in calls]
    for n in THREAD_COUNTS[1:]:
        for (name, _), one, other in zip(calls, results[1], results[n], strict=True):
            assert one == other, f"{name}: 1 and {n} threads differ {context}".rstrip()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bitwise_identical_for_any_thread_count(native, rng, dtype, fixed_threads):
    with np.errstate(invalid="ignore"):  # the reference's softmax of +inf logits (for the inputs)
        calls = all_op_calls(rng, dtype)
    assert {name for name, _ in calls} == set(ops.OPS)
    assert_same_bits_at_every_thread_count(calls)


def reduction_calls(rng, dtype, batch: int, width: int, side: int):
    """The ops that sum over something (the batch, overlapping windows, a row), on drawn sizes that
    straddle the kernels' one-thread limits (32768 elements, 400000 multiply-adds)."""
    rows = rng.standard_normal((batch, width)).astype(dtype)
    grads = rng.standard_normal((batch, width)).astype(dtype)
    x = rng.standard_normal((batch, side, side, 4)).astype(dtype)
    kernel = rng.standard_normal((3, 3, 4, 5)).astype(dtype)
    conv = ops.reference.conv2d_nhwc_forward(x, kernel, None, 1, 1, False)
    pixels = rows * (rng.random(rows.shape) < 0.3)
    avg = ops.reference.avgpool2d_forward(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), 3, 3, 2, 1, False)
    cols = ops.reference.im2col_nhwc(x, 3, 3, 2, 1)
    return [
        ("relu_backward_bias", (grads, rows)),
        ("sigmoid_backward_bias", (grads, ops.reference.sigmoid_forward(rows))),
        ("softmax_cross_entropy", (rows, rng.integers(0, width, batch))),
        ("sparse_matmul_tn", (pixels, grads)),
        ("conv2d_nhwc_filter_grad", (x, rng.standard_normal(conv.shape).astype(dtype), 3, 3, 1, 1)),
        ("col2im_nhwc", (cols, x.shape, 3, 3, 2, 1)),
        ("avgpool2d_backward", (avg, (batch, 4, side, side), 3, 3, 2, 1, False)),
        ("sgd_update", (rows.reshape(-1), grads.reshape(-1), 0.1, 0.9, grads.reshape(-1)[::-1].copy(), False)),
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 700), width=st.integers(1, 130), side=st.integers(3, 20),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_reductions_are_bitwise_identical_for_1_to_4_threads(native, fixed_threads, batch, width, side, dtype,
                                                             seed):
    calls = reduction_calls(np.random.default_rng(seed), dtype, batch, width, side)
    assert_same_bits_at_every_thread_count(calls, f"batch {batch}, width {width}, side {side}")


def test_kernels_are_built_with_openmp(native):
    from le4nn._kernels import threads

    if not threads.openmp_enabled():
        pytest.skip("the kernels were compiled without OpenMP (they run on one thread)")
    assert threads.max_threads() >= 1


# --- environment variables ----------------------------------------------------------------------------

REPORT = textwrap.dedent("""
    import os, le4nn
    from threadpoolctl import threadpool_info
    print(le4nn.get_num_threads())
    print(sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}))
    print(os.environ.get("OMP_WAIT_POLICY"), os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
""")


@pytest.mark.parametrize("value, expected", [("1", 1), (" 2 ", 2), ("3", 3)])
def test_environment_sets_the_count_and_blas(value, expected):
    result = run_python(REPORT, LE4NN_NUM_THREADS=value)
    assert result.returncode == 0, result.stderr
    count, blas, _ = result.stdout.splitlines()
    assert int(count) == expected
    if blas != "[]" and expected <= (os.cpu_count() or 1):
        assert blas == f"[{expected}]"


def test_default_count_is_the_cpu_count():
    result = run_python(REPORT + "\nprint(os.cpu_count())", LE4NN_NUM_THREADS=None)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == lines[3]
    result = run_python(REPORT + "\nprint(os.cpu_count())", LE4NN_NUM_THREADS="")
    assert result.stdout.splitlines()[0] == lines[3]


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5", "two"])
def test_invalid_environment_value_is_a_clear_error(value):
    result = run_python("import le4nn\nle4nn.get_num_threads()", LE4NN_NUM_THREADS=value)
    assert result.returncode != 0
    assert "ValueError: LE4NN_NUM_THREADS must be a positive integer" in result.stderr
    assert repr(value) in result.stderr


def test_wait_policies_are_set_before_the_runtimes_start():
    result = run_python(REPORT, OMP_WAIT_POLICY=None, OPENBLAS_THREAD_TIMEOUT=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == "PASSIVE 4"


def test_user_wait_settings_are_respected():
    result = run_python(REPORT, OMP_WAIT_POLICY="ACTIVE", OPENBLAS_THREAD_TIMEOUT="8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == "ACTIVE 8"


def test_openblas_timeout_is_left_alone_when_numpy_came_first():
    """OpenBLAS reads its timeout when NumPy is imported: setting it afterwards would only mislead."""
    result = run_python("import numpy\n" + REPORT, OMP_WAIT_POLICY=None,
                        OPENBLAS_THREAD_TIMEOUT=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == "PASSIVE None"


# --- adapting to other processes ------------------------------------------------------------------


def test_adaptation_follows_the_load_of_other_processes(monkeypatch):
    """With 2 threads set and another process keeping a core busy, kernels and BLAS drop to 1
    thread; when the other process stops, they go back to 2 (synthetic /proc/stat readings)."""
    clock = {"t": 1000.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr(_threads, "_adaptive", True)
    monkeypatch.setattr(_threads, "_monotonic", lambda: clock["t"])
    monkeypatch.setattr(_threads, "_busy_seconds", lambda: clock["busy"])
    monkeypatch.setattr(_threads, "_own_seconds", lambda: clock["own"])
    monkeypatch.setattr(_threads, "_cpu_count", lambda: 2)
    blas_calls = []
    monkeypatch.setattr(_threads, "_set_blas_threads", blas_calls.append)
    monkeypatch.setattr(_threads, "_last_sample", None)
    monkeypatch.setattr(_threads, "_last_check", -1e9)
    le4nn.set_num_threads(2)
    assert blas_calls == [2]  # set_num_threads sets BLAS directly too
    blas_calls.clear()

    def advance(seconds, own_cores, other_cores):
        clock["t"] += seconds
        clock["own"] += seconds * own_cores
        clock["busy"] += seconds * (own_cores + other_cores)

    assert _threads.num_threads_now() == 2
    advance(0.3, 2.0, 0.0)
    assert _threads.num_threads_now() == 2 and blas_calls == []
    advance(0.3, 1.0, 1.0)  # another process takes a core
    assert _threads.num_threads_now() == 1 and blas_calls == [1]
    advance(0.1, 1.0, 1.0)
    assert _threads.num_threads_now() == 1  # no new look within a quarter second
    advance(0.3, 1.0, 0.5)  # half a core busy: stay at 1 (hysteresis)
    assert _threads.num_threads_now() == 1
    advance(0.3, 1.0, 0.05)  # the other process is done
    assert _threads.num_threads_now() == 2 and blas_calls == [1, 2]
    assert _threads.other_processes_load() == pytest.approx(0.05)


def test_adaptation_can_be_turned_off():
    result = run_python("import le4nn; from le4nn import _threads; print(_threads._adaptive)",
                        LE4NN_ADAPTIVE_THREADS="0")
    assert result.stdout.strip() == "False"
    result = run_python("import le4nn; from le4nn import _threads; print(_threads._adaptive)",
                        LE4NN_ADAPTIVE_THREADS=None)
    assert result.stdout.strip() == "True"


SPIN = textwrap.dedent("""
    import sys, os, time
    if sys.argv[1:] == ["numpy-first"]:
        import numpy
    import le4nn, numpy as np
    le4nn.set_num_threads(2)
    a = np.random.rand(600, 600).astype(np.float32)
    for _ in range(3):
        a @ a
    t = os.times(); before = t.user + t.system
    time.sleep(0.3)
    t = os.times()
    print(t.user + t.system - before)
""")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS runs no worker threads on one CPU")
@pytest.mark.parametrize("order", ["le4nn-first", "numpy-first"])
def test_blas_workers_sleep_after_a_call(order):
    """After a GEMM, OpenBLAS's worker threads must not spin on the cores the kernels need next
    (docs/design.md §4.2 "Four threading mechanisms"), whichever of NumPy and le4nn was imported first."""
    result = run_python(f"import sys; sys.argv = ['x', {order!r}]\n" + SPIN, OPENBLAS_THREAD_TIMEOUT=None)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) < 0.03  # the default timeout burns ~0.1 s here


# --- training gives the same bits whatever the threads do ---------------------------------------------


def digits(n: int):
    from le4nn.datasets import sample

    (x, y), _ = sample.load_data()
    return x[:n, :, :, None] / np.float32(255), y[:n]


def train_preset(name: str, augment=None) -> list[np.ndarray]:
    """A few batches of the CLI's preset ``name`` (seeded): its weights afterwards."""
    from le4nn.cli.presets import PRESETS, build_preset

    x, y = digits(300)
    le4nn.utils.set_random_seed(7)
    model = build_preset(name, (28, 28, 1), 10)
    model.compile(optimizer=PRESETS[name].optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=50, epochs=1, verbose=0, augment=augment)
    return model.get_weights()


TRAININGS = {"mlp": ("mlp", None), "cnn-augmented": ("lecture", "digits"), "cnn-bn": ("cnn", None),
             "resnet": ("resnet", None)}  # BatchNorm, Add, strided and 1×1 convolutions, GAP


@pytest.fixture
def changing_thread_count(monkeypatch):
    """The thread count in force changes at every kernel and chunked call (1, 2, 3, 4, 1, ...),
    as it may under a changing load (``num_threads_now``), without waiting for the load to change."""
    counts = itertools.cycle([1, 2, 3, 4])
    monkeypatch.setattr(_threads, "_adaptive", False)
    monkeypatch.setattr(_threads, "get_num_threads", lambda: next(counts))


@pytest.mark.parametrize("training", TRAININGS)
def test_training_gives_the_same_bits_at_1_and_2_threads(training, fixed_threads):
    le4nn.set_num_threads(1)
    one = train_preset(*TRAININGS[training])
    le4nn.set_num_threads(2)
    two = train_preset(*TRAININGS[training])
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("training", TRAININGS)
def test_training_gives_the_same_bits_when_the_thread_count_changes_under_it(training, changing_thread_count,
                                                                            monkeypatch):
    changing = train_preset(*TRAININGS[training])
    monkeypatch.setattr(_threads, "get_num_threads", lambda: 1)
    one = train_preset(*TRAININGS[training])
    for a, b in zip(one, changing, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a second core for the busy process")
@pytest.mark.parametrize("training", TRAININGS)
def test_training_gives_the_same_bits_while_another_process_keeps_a_core_busy(training, monkeypatch):
    """The default, adaptive, thread count: le4nn uses fewer threads while the busy process runs
    (issue 15: the same run gave other bits under load)."""
    monkeypatch.setattr(_threads, "_adaptive", True)
    le4nn.set_num_threads(2)
    idle = train_preset(*TRAININGS[training])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # the adaptation looks every quarter second
        loaded = train_preset(*TRAININGS[training])
    finally:
        busy.kill()
        busy.wait()
    for a, b in zip(idle, loaded, strict=True):
        np.testing.assert_array_equal(a, b)


def numpy_blas_counts() -> list[int]:
    """The thread counts of the BLAS libraries le4nn drives (NumPy's; SciPy may load its own later)."""
    assert _threads._blas_controllers is not None, "no step has set BLAS's thread count yet"
    controlled = {controller.filepath for controller in _threads._blas_controllers}
    return [lib["num_threads"] for lib in blas_libraries() if lib["filepath"] in controlled]


def blas_counts_inside_a_step(model, x) -> list[int]:
    """NumPy's BLAS thread counts seen by the model's first layer during ``predict``."""
    layer = model.layers[0]
    seen = []
    forward = layer.forward

    def spying_forward(*args, **kwargs):
        seen.extend(numpy_blas_counts())
        return forward(*args, **kwargs)

    layer.forward = spying_forward
    try:
        model.predict(x)
    finally:
        del layer.forward
    return seen


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS runs one thread on one CPU anyway")
def test_blas_runs_on_one_thread_inside_a_step_from_any_python_thread(fixed_threads):
    """OpenBLAS's GEMM gives other bits at other thread counts (e.g. (100 × 784) · (784 × 100) at 1
    and 2 threads), so le4nn's steps run it on one thread, also from a second Python thread (which
    threadpoolctl's own setter ignores for OpenBLAS), and give the count back afterwards."""
    import threading

    from le4nn.layers import Dense
    from le4nn.models import Sequential

    if not blas_libraries():
        pytest.skip("no BLAS library is loaded")
    le4nn.set_num_threads(2)
    model = Sequential([Dense(4, input_shape=(3,))])
    x = np.ones((5, 3), np.float32)
    assert set(blas_counts_inside_a_step(model, x)) == {1}
    assert set(numpy_blas_counts()) == {2}
    seen = []
    thread = threading.Thread(target=lambda: seen.extend(blas_counts_inside_a_step(model, x)))
    thread.start()
    thread.join()
    assert seen and set(seen) == {1}
    assert set(numpy_blas_counts()) == {2}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS runs one thread on one CPU anyway")
def test_a_step_gives_back_the_users_own_blas_thread_count(fixed_threads, monkeypatch):
    """Until le4nn is told a thread count (set_num_threads, LE4NN_NUM_THREADS), a step leaves BLAS
    with the count it found, e.g. the user's threadpool_limits, instead of le4nn's default."""
    from le4nn.layers import Dense
    from le4nn.models import Sequential

    if not blas_libraries():
        pytest.skip("no BLAS library is loaded")
    monkeypatch.setattr(_threads, "_blas_outside", None)
    model = Sequential([Dense(4, input_shape=(3,))])
    x = np.ones((5, 3), np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        assert set(blas_counts_inside_a_step(model, x)) == {1}
        assert set(numpy_blas_counts()) == {1}
    with threadpool_limits(limits=2, user_api="blas"):
        assert set(blas_counts_inside_a_step(model, x)) == {1}
        assert set(numpy_blas_counts()) == {2}


def test_a_failing_chunk_lets_every_other_chunk_finish_before_the_error(fixed_threads):
    """run_chunks raises a worker's error only after every worker has stopped (none writes on into
    buffers after the step has ended): the caller's and the first helper's chunks fail at once while
    the other helpers are still in theirs."""
    import time

    le4nn.set_num_threads(4)
    running = []

    def task(i):
        if _threads.worker_index() in (0, 1):
            raise RuntimeError(f"chunk {i} failed")
        running.append(i)
        time.sleep(0.2)
        running.remove(i)

    with pytest.raises(RuntimeError, match="failed"):
        _threads.run_chunks(task, 8)
    assert running == []  # no chunk still running when the error reached the caller


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_window_kernels_on_resnet_shapes_give_the_same_bits_at_every_thread_count(native, rng, dtype,
                                                                                  fixed_threads):
    """The paths for a ResNet's small planes: NCHW col2im summed on phase planes (3×3 stride 2), 1×1
    stride-2 subsampling both ways (and channels_last im2col), and 2×2 max pooling over groups of
    8×8 and 16×16 planes (plane counts that do not fill the last group)."""
    calls = []
    for side, channels in ((16, 5), (8, 9)):
        x = rng.standard_normal((3, channels, side, side)).astype(dtype)
        x.flat[::11] = np.nan
        for k, stride, pad in ((3, 2, (0, 1, 0, 1)), (1, 2, 0)):
            cols = ops.reference.im2col(x, k, k, stride, pad)
            calls += [("im2col", (x, k, k, stride, pad)), ("col2im", (cols * 0.5, x.shape, k, k, stride, pad))]
        pooled, argmax = ops.reference.maxpool2d_forward(x, 2, 2)
        calls += [("maxpool2d_forward", (x, 2, 2)), ("maxpool2d_backward", (pooled * 0.5, argmax, x.shape)),
                  ("im2col_nhwc", (np.ascontiguousarray(x.transpose(0, 2, 3, 1)), 1, 1, 2, 0))]
    assert_same_bits_at_every_thread_count(calls)


def channels_first_resnet(seed: int):
    """A small channels_first ResNet (seeded) and its data: every Conv2D runs between the layout
    transposes, on the shared NHWC scratch arrays (Winograd, 1×1 stride-2 shortcuts, a 3-channel stem)."""
    from le4nn.applications import ResNet

    le4nn.utils.set_random_seed(seed)
    model = ResNet((8, 16), 1, (3, 16, 16), 4, data_format="channels_first")
    model.compile(optimizer="momentum", loss="sparse_categorical_crossentropy")
    data = np.random.default_rng(seed)
    return model, data.standard_normal((64, 3, 16, 16)).astype(np.float32), data.integers(0, 4, 64)


def train_two_steps(model, x, y) -> list[np.ndarray]:
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    return model.get_weights()


def test_channels_first_training_gives_the_same_bits_at_1_and_2_threads(native, fixed_threads):
    le4nn.set_num_threads(1)
    one = train_two_steps(*channels_first_resnet(3))
    le4nn.set_num_threads(2)
    two = train_two_steps(*channels_first_resnet(3))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_channels_first_models_trained_at_once_in_two_threads_give_their_own_bits(native, fixed_threads):
    """Two models training at the same time on two Python threads: each thread has its own NHWC
    scratch arrays (layers/_shared_scratch.py), so each gets the bits it gets alone."""
    alone = [train_two_steps(*channels_first_resnet(seed)) for seed in (3, 4)]
    setups = {seed: channels_first_resnet(seed) for seed in (3, 4)}  # built here: one global generator
    results = {}
    barrier = threading.Barrier(2)

    def run(seed):
        barrier.wait()
        results[seed] = train_two_steps(*setups[seed])

    workers = [threading.Thread(target=run, args=(seed,)) for seed in (3, 4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for seed, expected in zip((3, 4), alone, strict=True):
        for a, b in zip(expected, results[seed], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("state", ["ignore", "raise"])
def test_chunks_run_under_the_callers_floating_point_error_state(fixed_threads, state):
    """np.errstate lives in a context variable: helper threads run their chunks in a copy of the
    caller's context, so an overflow in a chunk is ignored (no warning line from a worker) or raised
    as the caller asked, whichever thread took the chunk."""
    import warnings

    le4nn.set_num_threads(3)
    seen = []

    def task(i):
        seen.append((_threads.worker_index(), np.geterr()["over"]))
        time.sleep(0.02)  # long enough for every helper to take a chunk
        if state == "raise":
            np.float32(3e38) * np.float32(10)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning from any thread would fail the chunk
        with np.errstate(over=state):
            if state == "raise":
                with pytest.raises(FloatingPointError):
                    _threads.run_chunks(task, 6)
            else:
                _threads.run_chunks(task, 6)
    assert {worker for worker, _ in seen} != {0}  # helpers took chunks
    assert {over for _, over in seen} == {state}
