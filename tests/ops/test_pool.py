"""The helper-thread pool shared by the sparse products and the SGD update (``le4nn_pool_impl.h``,
reached through ``le4nn._kernels.threads``): calls from several Python threads at once, after fork,
with more threads than items, and helpers that go to sleep when the work stops."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time

import numpy as np
import pytest

MNIST_LIKE = (100, 784, 100)


def _operands(rng, B=100, N=784, K=100, density=0.2):
    x = (rng.random((B, N)) * (rng.random((B, N)) < density)).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    d = rng.standard_normal((B, K)).astype(np.float32)
    return x, w, d


def _products(x, w, d, threads):
    from le4nn._kernels import sparse

    z = np.empty((x.shape[0], w.shape[1]), x.dtype)
    g = np.empty((x.shape[1], d.shape[1]), x.dtype)
    sparse.sparse_matmul(x, w, z, threads)
    sparse.sparse_matmul_tn(x, d, g, threads)
    return z, g


def test_concurrent_callers_get_their_own_results(native, rng):
    """Python threads calling at once (the kernels release the GIL): one of them drives the pool, the
    others run their items alone; every result is the one-thread result."""
    cases = [_operands(np.random.default_rng(seed)) for seed in range(4)]
    expected = [_products(*case, threads=1) for case in cases]
    failures = []

    def worker(k):
        for _ in range(30):
            z, g = _products(*cases[k], threads=2)
            if not (np.array_equal(z, expected[k][0]) and np.array_equal(g, expected[k][1])):
                failures.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_more_threads_than_items_and_tiny_inputs(native, rng):
    for B, N, K in [(1, 784, 100), (5, 3, 2), (4, 64, 16), (9, 100, 33)]:
        x, w, d = _operands(rng, B, N, K)
        z1, g1 = _products(x, w, d, threads=1)
        z8, g8 = _products(x, w, d, threads=8)
        np.testing.assert_array_equal(z1, z8)
        np.testing.assert_array_equal(g1, g8)
        np.testing.assert_allclose(z1, x @ w, rtol=1e-5, atol=1e-4)


def _child_products(queue):
    rng = np.random.default_rng(7)
    x, w, d = _operands(rng)
    z, g = _products(x, w, d, threads=2)
    queue.put(bool(np.allclose(z, x @ w, atol=1e-4) and np.allclose(g, x.T @ d, atol=1e-4)))


@pytest.mark.skipif(sys.platform != "linux", reason="fork() is the Linux start method")
def test_a_forked_child_builds_its_own_helpers(native, rng):
    """Helper threads do not survive fork(): the child must start new ones, not wait for ghosts."""
    _products(*_operands(rng), threads=2)  # the parent's helpers exist and are spinning now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_products, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) is True


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the helpers need a second CPU to spin on")
def test_helpers_sleep_soon_after_the_last_product(native, rng):
    """They spin 0.5 ms after a product (so a training step's next product finds them awake), then
    sleep: a process that stops calling the kernels stops using the other cores."""
    x, w, d = _operands(rng)
    for _ in range(5):
        _products(x, w, d, threads=2)
    time.sleep(0.05)  # the spin ends
    before = os.times()
    time.sleep(0.3)
    after = os.times()
    assert (after.user + after.system) - (before.user + before.system) < 0.05


@pytest.mark.parametrize("size", [300_001, 1_100_003])  # below and above the SGD's wake limit
def test_sgd_shares_its_chunks_with_awake_helpers_with_the_same_bits(native, rng, size):
    """Right after a sparse product the helpers spin, and an SGD update of 32768+ elements is shared
    with them (a large one wakes them itself); either way its bits are the one-thread bits."""
    from le4nn._kernels import optim

    x, w, d = _operands(rng)
    param = rng.standard_normal(size).astype(np.float32)
    grad = rng.standard_normal(size).astype(np.float32)
    velocity = rng.standard_normal(size).astype(np.float32)
    one_p, one_v = param.copy(), velocity.copy()
    optim.sgd_momentum_update(one_p, grad, one_v, 0.01, 0.9, True, 1)
    for _ in range(3):
        _products(x, w, d, threads=2)  # the helpers are awake now
        p, v = param.copy(), velocity.copy()
        optim.sgd_momentum_update(p, grad, v, 0.01, 0.9, True, 2)
        np.testing.assert_array_equal(p, one_p)
        np.testing.assert_array_equal(v, one_v)
    time.sleep(0.05)  # asleep again: the update runs on the caller (or wakes them, if large)
    p, v = param.copy(), velocity.copy()
    optim.sgd_momentum_update(p, grad, v, 0.01, 0.9, True, 2)
    np.testing.assert_array_equal(p, one_p)
    np.testing.assert_array_equal(v, one_v)
