"""The kernel side of the Winograd convolutions (ops.winograd_kernel_transform: U = G g Gᵀ, and
ops.winograd_filter_gradient: ∂E/∂W = Gᵀ (Σ_s P_s) G), F(2×2, 3×3) and F(4×4, 3×3): native against the
reference bit for bit (both sum the same nonzero terms in the same order in float64 and round once),
the reference against the definition in float64, the flip (the input gradient's kernel), the order of
the sum over parts, thread counts and non-finite weights.  The whole pipeline is checked against the convolution in
tests/ops/test_winograd.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from le4nn.ops.reference import WINOGRAD4_G, WINOGRAD_G
from tests.ops.helpers import hypothesis_settings, num_threads

SETTINGS = hypothesis_settings(100)
G = {2: WINOGRAD_G, 4: WINOGRAD4_G}


@st.composite
def kernels(draw):
    tile = draw(st.sampled_from([2, 4]))
    C = draw(st.one_of(st.integers(1, 12), st.sampled_from([16, 33, 64])))
    K = draw(st.one_of(st.integers(1, 20), st.sampled_from([8, 17, 64])))  # K < 8, = 8, ragged, blocks
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return tile, C, K, dtype, draw(st.integers(0, 2**32 - 1))


@SETTINGS
@given(case=kernels(), flip=st.booleans())
def test_kernel_transform_native_is_the_reference(run_both, case, flip):
    tile, C, K, dtype, seed = case
    kernel = np.random.default_rng(seed).standard_normal((3, 3, C, K)).astype(dtype)
    native, reference = run_both("winograd_kernel_transform", kernel, tile, flip)
    assert native.shape == reference.shape == ((tile + 2) ** 2, *((K, C) if flip else (C, K)))
    assert native.dtype == dtype
    assert native.tobytes() == reference.tobytes()


@SETTINGS
@given(case=kernels(), parts=st.integers(1, 5))
def test_filter_gradient_native_is_the_reference(run_both, case, parts):
    tile, C, K, dtype, seed = case
    partials = np.random.default_rng(seed).standard_normal((parts, (tile + 2) ** 2, C, K)).astype(dtype)
    native, reference = run_both("winograd_filter_gradient", partials, tile)
    assert native.shape == reference.shape == (3, 3, C, K) and native.dtype == dtype
    assert native.tobytes() == reference.tobytes()


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_transform_is_g_g_gt_rounded_once(run_both, rng, tile, dtype):
    kernel = rng.standard_normal((3, 3, 5, 11)).astype(dtype)
    U_n, U_r = run_both("winograd_kernel_transform", kernel, tile)
    exact = np.einsum("xi,ijck,yj->xyck", G[tile], kernel.astype(np.float64), G[tile])
    n = tile + 2
    # float32: within one rounding of the float64 value; float64: its summation order (cancellations)
    rtol, atol = (np.finfo(np.float32).eps, 1e-300) if dtype == np.float32 else (1e-13, 1e-14 * np.abs(exact).max())
    for U in (U_n, U_r):
        np.testing.assert_allclose(U.reshape(n, n, 5, 11), exact, rtol=rtol, atol=atol)
    flipped = run_both("winograd_kernel_transform", kernel, tile, True)
    expected = run_both("winograd_kernel_transform",
                        np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2)), tile)
    for got, want in zip(flipped, expected, strict=True):
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("tile", [2, 4])
def test_filter_gradient_is_gt_p_g_of_the_sum_in_order(run_both, rng, tile):
    n = tile + 2
    partials = rng.standard_normal((3, n * n, 4, 6)).astype(np.float32)
    P = (partials[0].astype(np.float64) + partials[1]) + partials[2]
    exact = np.einsum("xi,xyck,yj->ijck", G[tile], P.reshape(n, n, 4, 6), G[tile])
    for dW in run_both("winograd_filter_gradient", partials, tile):
        np.testing.assert_allclose(dW, exact, rtol=np.finfo(np.float32).eps, atol=1e-30)
    summed_first = run_both("winograd_filter_gradient", partials.sum(axis=0, keepdims=True), tile)
    np.testing.assert_allclose(summed_first[0], exact, rtol=1e-6, atol=1e-6)  # another rounding of P only
    zero_parts = run_both("winograd_filter_gradient", partials[:0], tile)
    assert all(not dW.any() for dW in zero_parts)


@pytest.mark.parametrize("tile", [2, 4])
def test_results_do_not_depend_on_the_thread_count(native, rng, tile):
    kernel = rng.standard_normal((3, 3, 96, 80)).astype(np.float32)
    partials = rng.standard_normal((4, (tile + 2) ** 2, 96, 80)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        with le4nn.backend("native"), num_threads(n):
            results.append((ops.winograd_kernel_transform(kernel, tile, True).tobytes(),
                            ops.winograd_filter_gradient(partials, tile).tobytes()))
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_weights_reach_the_same_entries_on_both_backends(run_both, tile, bad):
    """Only the terms with a nonzero coefficient are summed: an inf reaches exactly the entries whose
    formula uses it (no 0 · inf = NaN elsewhere), the same on both backends."""
    kernel = np.ones((3, 3, 2, 9), np.float32)
    kernel[0, 0, 1, 3] = bad
    U_n, U_r = run_both("winograd_kernel_transform", kernel, tile)
    assert U_n.tobytes() == U_r.tobytes()
    assert np.isfinite(U_n[:, 0]).all() and np.isfinite(U_n[:, 1, [0, 1, 2, 4]]).all()
    n = tile + 2
    uses_it = np.outer(G[tile][:, 0] != 0, G[tile][:, 0] != 0).ravel()  # entries with G[ξ,0] G[ν,0] ≠ 0
    assert (~np.isfinite(U_n[:, 1, 3]) == uses_it).all() and uses_it.sum() < n * n
    partials = np.ones((2, n * n, 2, 9), np.float32)
    partials[1, 0, 0, 5] = bad
    dW_n, dW_r = run_both("winograd_filter_gradient", partials, tile)
    assert dW_n.tobytes() == dW_r.tobytes() and np.isfinite(dW_n[..., 1, :]).all()
