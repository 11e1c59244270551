"""le4nn._gemm: large products in blocks fixed by their shapes, the same bits at any thread count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import le4nn
from le4nn import _gemm, _threads


@pytest.fixture
def fixed_threads(monkeypatch):
    """Exactly the set thread count, even while other processes load the machine."""
    monkeypatch.setattr(_threads, "_adaptive", False)
    saved = _threads.get_num_threads()
    yield
    le4nn.set_num_threads(saved)


@given(length=st.integers(1, 5000), work=st.integers(1, 1 << 28))
def test_blocks_cover_the_rows_once_and_depend_on_the_shape_only(length, work):
    bounds = _gemm.block_bounds(length, work)
    assert bounds[0][0] == 0 and bounds[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    assert len(bounds) <= _gemm.MAX_BLOCKS
    assert all(stop - start == bounds[0][1] for start, stop in bounds[:-1])  # equal blocks, the last shorter
    assert len(bounds) == 1 or bounds[0][1] % _gemm.BLOCK_ALIGN == 0


SHAPES = [(100, 3136, 128), (128, 3136, 100), (100, 128, 3136), (3136, 100, 128), (64, 64, 64), (1, 5000, 3000)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.sampled_from(SHAPES), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 9))
def test_the_same_bits_at_every_thread_count(fixed_threads, shape, dtype, seed):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    results = []
    for threads in (1, 2, 3, 4):
        le4nn.set_num_threads(threads)
        results.append(_gemm.matmul(a, b, np.empty((m, n), dtype)).tobytes())
    assert all(r == results[0] for r in results)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.frombuffer(results[0], dtype).reshape(m, n), expected,
                               rtol=tolerance, atol=tolerance * np.sqrt(k))


def test_transposed_operands_and_strided_outputs(fixed_threads):
    """The Dense layer's products: xᵀ δ (a transposed view) and δ Wᵀ; blocks of columns write into a
    strided slice of ``out``."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3136)).astype(np.float32)
    d = rng.standard_normal((100, 128)).astype(np.float32)
    w = rng.standard_normal((3136, 128)).astype(np.float32)
    le4nn.set_num_threads(2)
    np.testing.assert_allclose(_gemm.matmul(x.T, d, np.empty((3136, 128), np.float32)), x.T @ d, rtol=1e-4,
                               atol=1e-3)
    np.testing.assert_allclose(_gemm.matmul(d, w.T, np.empty((100, 3136), np.float32)), d @ w.T, rtol=1e-4,
                               atol=1e-3)
