"""The in-place SGD update (sgd_update): the native kernel gives the reference's bits over many sizes,
dtypes, momenta and Nesterov, for any thread count; views go through NumPy; the handout's formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import le4nn
from le4nn import ops

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _operands(rng, shape, dtype):
    param, grad, velocity = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    return param, grad, velocity


def _update_both(param, grad, lr, momentum, velocity, nesterov):
    """Run the update on copies with each backend; return ((param, velocity) native, ... reference)."""
    results = []
    for backend in ("native", "numpy"):
        p, v = param.copy(), None if velocity is None else velocity.copy()
        with le4nn.backend(backend):
            returned = ops.sgd_update(p, grad, lr, momentum, v, nesterov)
        assert returned is p
        results.append((p, v))
    return results


@SETTINGS
@given(
    size=st.sampled_from([0, 1, 5, 16, 17, 63, 64, 65, 1000, 4099]),
    dtype=st.sampled_from([np.float32, np.float64]),
    rule=st.sampled_from([(0.0, False), (0.9, False), (0.5, True), (0.0, True)]),
    lr=st.sampled_from([0.01, 0.1, 1e-4, 3.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_native_update_has_the_reference_bits(native, size, dtype, rule, lr, seed):
    momentum, nesterov = rule
    rng = np.random.default_rng(seed)
    param, grad, velocity = _operands(rng, (size,), dtype)
    uses_velocity = bool(momentum or nesterov)
    (p_native, v_native), (p_ref, v_ref) = _update_both(param, grad, lr, momentum,
                                                         velocity if uses_velocity else None, nesterov)
    np.testing.assert_array_equal(p_native, p_ref)
    if uses_velocity:
        np.testing.assert_array_equal(v_native, v_ref)


def test_the_reference_follows_the_handout(rng):
    """eq. (40)–(41) written out in float64 (exact enough for a 1e-12 comparison)."""
    param, grad, velocity = _operands(rng, (3, 4), np.float64)
    lr, alpha = 0.1, 0.9
    p, v = param.copy(), velocity.copy()
    ops.reference.sgd_update(p, grad, lr, alpha, v)
    np.testing.assert_allclose(v, alpha * velocity - lr * grad, rtol=1e-12)
    np.testing.assert_allclose(p, param + alpha * velocity - lr * grad, rtol=1e-12)
    p, v = param.copy(), velocity.copy()
    ops.reference.sgd_update(p, grad, lr, alpha, v, nesterov=True)
    np.testing.assert_allclose(p, param + alpha * (alpha * velocity - lr * grad) - lr * grad, rtol=1e-12)
    p = param.copy()
    ops.reference.sgd_update(p, grad, lr)
    np.testing.assert_allclose(p, param - lr * grad, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_the_thread_count(native, rng, dtype):
    from le4nn._kernels import optim

    param, grad, velocity = _operands(rng, (300_001,), dtype)  # large enough for an OpenMP team
    results = []
    for threads in (1, 2, 3):
        p, v = param.copy(), velocity.copy()
        optim.sgd_momentum_update(p, grad, v, 0.01, 0.9, False, threads)
        q = param.copy()
        optim.sgd_update(q, grad, 0.01, threads)
        results.append((p, v, q))
    for got in results[1:]:
        for a, b in zip(got, results[0], strict=True):
            np.testing.assert_array_equal(a, b)


def test_views_and_non_contiguous_gradients_are_updated_correctly(native, rng):
    param, grad, velocity = _operands(rng, (6, 8), np.float32)
    (p_native, v_native), (p_ref, v_ref) = _update_both(param[:, ::2].copy(), grad[:, ::2], 0.1, 0.9,
                                                         velocity[:, ::2].copy(), False)
    np.testing.assert_array_equal(p_native, p_ref)
    np.testing.assert_array_equal(v_native, v_ref)
    for backend in ("native", "numpy"):
        p, v = param.copy(), velocity.copy()
        with le4nn.backend(backend):
            ops.sgd_update(p[:, 1::2], grad[:, 1::2], 0.1, 0.9, v[:, 1::2])  # strided views, in place
        np.testing.assert_array_equal(p[:, ::2], param[:, ::2])  # the other columns are untouched
        np.testing.assert_allclose(p[:, 1::2], param[:, 1::2] + v[:, 1::2], rtol=1e-6)


def test_nan_and_inf_propagate_like_numpy(native):
    param = np.array([1.0, np.inf, np.nan, 0.0], np.float32)
    grad = np.array([np.nan, 1.0, 0.0, np.inf], np.float32)
    results = []
    for backend in ("native", "numpy"):
        p = param.copy()
        with le4nn.backend(backend):
            ops.sgd_update(p, grad, 0.5)
        results.append(p)
    np.testing.assert_array_equal(results[0], results[1])
    assert np.isnan(results[0][0]) and np.isinf(results[0][1]) and np.isinf(results[0][3])
