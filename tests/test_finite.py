"""le4nn._finite: the one-pass finiteness checks of inputs and weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from le4nn._finite import all_finite, first_non_finite_row


@given(hnp.arrays(st.sampled_from([np.float16, np.float32, np.float64, np.complex64]),
                  hnp.array_shapes(min_dims=0, max_dims=3, max_side=7)))
def test_all_finite_agrees_with_numpy(a):
    assert all_finite(a) == bool(np.isfinite(a).all())
    if a.ndim >= 2:
        assert all_finite(a.T) == bool(np.isfinite(a).all())  # non-contiguous views too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_finite_entries_are_finite_although_their_squares_overflow(dtype):
    a = np.ones((40, 30), dtype)
    a[3, 4] = np.finfo(dtype).max
    assert all_finite(a)  # Σ a² overflows; the exact test decides, without a warning
    a[5, 6] = np.nan
    assert not all_finite(a)


def test_integers_are_finite():
    assert all_finite(np.arange(10, dtype=np.int64)) and all_finite(np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_first_bad_row_is_found_in_large_arrays_a_chunk_at_a_time(bad):
    x = np.zeros((3000, 1000), np.float32)
    x[2999, 999] = bad
    x[2500, 0] = np.finfo(np.float32).max  # overflows Σ x² in its chunk, but is finite
    assert first_non_finite_row(x) == 2999
    assert first_non_finite_row(x, chunk_entries=10) == 2999
    x[7, 3] = bad
    assert first_non_finite_row(x) == 7
    assert first_non_finite_row(np.zeros((5, 3), np.uint8)) is None
    assert first_non_finite_row(np.zeros((0, 3), np.float32)) is None
