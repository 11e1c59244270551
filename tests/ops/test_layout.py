"""The image layout transposes (nchw_to_nhwc, nhwc_to_nchw): native against the reference and NumPy's
own transpose, bit for bit, over many shapes (odd channel counts, C = 1, H·W = 1, batch 1, tiles with
ragged edges), NaN payloads, -0 and inf, preallocated ``out``, overlap and thread counts.  The other
bad arguments are in test_dispatch.py's BAD_CALLS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import hypothesis_settings, normal_data, num_threads

SETTINGS = hypothesis_settings(300)
TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


@st.composite
def cases(draw):
    """(NCHW shape, dtype, specials, seed): channels from the ResNet and stem sizes and odd ones, sides
    1–70 (a tile is 8 × 8 blocks up to 4096 elements, so the edges and the multi-tile images occur)."""
    B = draw(st.integers(1, 4))
    C = draw(st.one_of(st.sampled_from([1, 3, 8, 16, 17, 64, 256]), st.integers(1, 40)))
    H, W = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    if B * C * H * W > 400_000:  # keep an example small
        H, W = min(H, 8), min(W, 8)
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return (B, C, H, W), dtype, draw(st.booleans()), draw(st.integers(0, 2**32 - 1))


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@SETTINGS
@given(case=cases())
def test_nchw_to_nhwc_matches_numpy_bit_for_bit(run_both, case):
    shape, dtype, specials, seed = case
    x = normal_data(np.random.default_rng(seed), shape, dtype, specials)
    native, reference = run_both("nchw_to_nhwc", x)
    expected = np.ascontiguousarray(x.transpose(TO_NHWC))
    assert same_bits(native, expected) and same_bits(reference, expected)


@SETTINGS
@given(case=cases())
def test_nhwc_to_nchw_matches_numpy_bit_for_bit(run_both, case):
    (B, C, H, W), dtype, specials, seed = case
    x = normal_data(np.random.default_rng(seed), (B, H, W, C), dtype, specials)
    native, reference = run_both("nhwc_to_nchw", x)
    expected = np.ascontiguousarray(x.transpose(TO_NCHW))
    assert same_bits(native, expected) and same_bits(reference, expected)


@pytest.mark.parametrize("shape, dtype", [
    ((2, 16, 32, 32), np.float32), ((3, 9, 32, 32), np.float32), ((1, 20, 16, 64), np.float32),
    ((2, 3, 64, 64), np.float32), ((1, 67, 32, 64), np.float32), ((2, 12, 16, 32), np.float64),
    ((1, 5, 8, 64), np.float64), ((2, 33, 32, 32), np.float64),
])
def test_planes_of_4_kilobytes_match_numpy(run_both, rng, shape, dtype):
    """H·W a multiple of 4 kB: NHWC -> NCHW goes through the kernel's row buffer (le4nn_layout.h),
    with full and ragged channel blocks."""
    x = rng.standard_normal(shape).astype(dtype)
    nhwc = np.ascontiguousarray(x.transpose(TO_NHWC))
    native, reference = run_both("nhwc_to_nchw", nhwc)
    assert same_bits(native, x) and same_bits(reference, x)
    native, reference = run_both("nchw_to_nhwc", x)
    assert same_bits(native, nhwc) and same_bits(reference, nhwc)


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_nan_payloads_and_signed_zeros(native, backend, dtype):
    """Values are moved, never computed: a NaN's payload, -0 and ±inf come back as they were."""
    uint = np.uint32 if dtype == np.float32 else np.uint64
    bits = np.arange(2 * 9 * 5 * 7, dtype=uint) * uint(2654435761)  # every bit pattern kind, NaNs included
    x = bits.view(dtype).reshape(2, 9, 5, 7)
    x.reshape(-1)[:4] = [-0.0, np.inf, -np.inf, np.nan]
    with le4nn.backend(backend):
        y = ops.nchw_to_nhwc(x)
        back = ops.nhwc_to_nchw(y)
    assert same_bits(y, np.ascontiguousarray(x.transpose(TO_NHWC)))
    assert same_bits(back, x)


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_out_is_filled_and_returned(native, rng, backend):
    x = rng.standard_normal((3, 16, 12, 10)).astype(np.float32)
    out = np.full((3, 12, 10, 16), np.nan, np.float32)
    with le4nn.backend(backend):
        assert ops.nchw_to_nhwc(x, out=out) is out
        back = np.empty_like(x)
        assert ops.nhwc_to_nchw(out, out=back) is back
    np.testing.assert_array_equal(out, x.transpose(TO_NHWC))
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (1, 1, 1, 1)])
def test_empty_and_single_element_batches(native, backend, shape):
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    with le4nn.backend(backend):
        y = ops.nchw_to_nhwc(x)
        back = ops.nhwc_to_nchw(y)
    assert y.shape == (shape[0], shape[2], shape[3], shape[1]) and same_bits(back, x)


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("op", ["nchw_to_nhwc", "nhwc_to_nchw"])
def test_out_overlapping_x_is_refused(native, backend, op):
    """In place (C = H = W: the same shape both ways) or on x's buffer shifted by one element: one
    clear error on both backends, before anything is written."""
    buffer = np.arange(2 * 27 + 1, dtype=np.float32)
    x = buffer[:-1].reshape(2, 3, 3, 3)
    for out in (x, buffer[1:].reshape(2, 3, 3, 3)):
        with le4nn.backend(backend), pytest.raises(ValueError, match=f"^{op}: out must not overlap x"):
            getattr(ops, op)(x, out=out)
    np.testing.assert_array_equal(buffer, np.arange(buffer.size, dtype=np.float32))


@pytest.mark.parametrize("shape", [(64, 16, 32, 32), (3, 3, 67, 45), (1, 256, 40, 40), (5, 17, 9, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_at_any_thread_count(native, rng, shape, dtype):
    """Large enough for an OpenMP team; tiles are fixed by the shape, so every count gives one result."""
    x = rng.standard_normal(shape).astype(dtype)
    results = []
    for n in (1, 2, 3):
        with le4nn.backend("native"), num_threads(n):
            y = ops.nchw_to_nhwc(x)
            results.append((y.tobytes(), ops.nhwc_to_nchw(y).tobytes()))
    assert results[0] == results[1] == results[2]
    assert results[0][0] == np.ascontiguousarray(x.transpose(TO_NHWC)).tobytes()
    assert results[0][1] == x.tobytes()
