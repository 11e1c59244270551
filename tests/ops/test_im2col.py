"""im2col / col2im (handout 5.7.5, eq. 59–62): the native kernels against the NumPy reference, the
adjoint identity, PyTorch's unfold, extreme values, ``out=`` handling, thread counts and validation.

Tests that compare the two backends use ``run_both``; the others run on the backend in force
(``LE4NN_BACKEND``), so the whole file is meaningful under both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import (
    assert_close_to_scale,
    assert_same_bits,
    hypothesis_settings,
    make_data,
    num_threads,
    output_size,
    pads4,
    pairs,
    window_cases,
)

SETTINGS = hypothesis_settings(300)


# --- native == reference ------------------------------------------------------------------------


@SETTINGS
@given(case=window_cases(), kind=st.sampled_from(["normal", "ties", "extreme"]))
def test_im2col_matches_reference_exactly(run_both, case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, kind)
    native, reference = run_both("im2col", x, kh, kw, stride, pad)
    OH, OW = output_size(shape, kh, kw, stride, pad)
    assert native.shape == (shape[1] * kh * kw, shape[0] * OH * OW)
    assert native.dtype == dtype
    np.testing.assert_array_equal(native, reference)  # data movement: exact (NaN positions too)


@SETTINGS
@given(case=window_cases())
def test_col2im_matches_reference(run_both, case):
    shape, kh, kw, stride, pad, dtype, seed = case
    OH, OW = output_size(shape, kh, kw, stride, pad)
    rng = np.random.default_rng(seed)
    cols = rng.standard_normal((shape[1] * kh * kw, shape[0] * OH * OW)).astype(dtype)
    native, reference = run_both("col2im", cols, shape, kh, kw, stride, pad)
    assert native.shape == shape and native.dtype == dtype
    assert_close_to_scale(native, reference)


@st.composite
def stride_two_cases(draw):
    """Strides 1 or 2 on each axis (the phase-plane path of the kernels, and beside it the plain one),
    padding on one side only or none, odd and even sides."""
    sh, sw = draw(st.sampled_from([(2, 2), (2, 1), (1, 2), (2, 2)]))
    pt, pb, pl, pr = draw(st.sampled_from([(0, 1, 0, 1), (1, 0, 1, 0), (0, 0, 0, 0), (1, 1, 1, 1), (0, 2, 1, 0)]))
    H, W = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kh = draw(st.integers(1, min(4, H + pt + pb)))
    kw = draw(st.integers(1, min(4, W + pl + pr)))
    shape = (draw(st.integers(1, 3)), draw(st.sampled_from([1, 3, 16, 17])), H, W)
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return shape, kh, kw, (sh, sw), (pt, pb, pl, pr), dtype, draw(st.integers(0, 2**32 - 1))


@hypothesis_settings(150)
@given(case=stride_two_cases(), kind=st.sampled_from(["normal", "extreme"]))
def test_stride_two_matches_reference_exactly(run_both, case, kind):
    """im2col copies and col2im sums (in the reference's order) exactly as the reference."""
    shape, kh, kw, stride, pad, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = make_data(rng, shape, dtype, kind)
    native, reference = run_both("im2col", x, kh, kw, stride, pad)
    np.testing.assert_array_equal(native, reference)
    cols = make_data(rng, reference.shape, dtype, kind)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN in both
        native, reference = run_both("col2im", cols, shape, kh, kw, stride, pad)
    np.testing.assert_array_equal(native, reference)


@pytest.mark.parametrize("shape", [(3, 17, 8, 8), (2, 3, 7, 9), (1, 1, 2, 3), (2, 16, 2, 32), (2, 5, 9, 8)])
@pytest.mark.parametrize("k, pad", [(3, 1), (3, (0, 1, 0, 1)), (2, 0), (3, (2, 0, 0, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_one_small_planes_sum_exactly_as_the_reference(run_both, rng, shape, k, pad, dtype):
    """col2im at stride 1 on planes of up to 64 elements (summed on a copy of the plane on the
    stack) and just beyond (the plain loops): the reference's sums, bit for bit."""
    x = make_data(rng, shape, dtype, "extreme")
    reference = ops.reference.im2col(x, k, k, 1, pad)
    cols = make_data(rng, reference.shape, dtype, "extreme")
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN in both
        native, reference = run_both("col2im", cols, shape, k, k, 1, pad)
    assert_same_bits(native, reference)


@pytest.mark.parametrize("stride", [(2, 2), (2, 1), (1, 2)])
def test_planes_beyond_the_phase_split_match_reference(run_both, rng, stride):
    """Planes over 4096 elements (66 × 70) take the strided loops instead of phase planes."""
    x = rng.standard_normal((2, 3, 66, 70)).astype(np.float32)
    native, reference = run_both("im2col", x, 3, 3, stride, (0, 1, 0, 1))
    np.testing.assert_array_equal(native, reference)
    cols = rng.standard_normal(reference.shape).astype(np.float32)
    native, reference = run_both("col2im", cols, x.shape, 3, 3, stride, (0, 1, 0, 1))
    np.testing.assert_array_equal(native, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_batch_matches_reference(run_both, rng, dtype):
    """Column matrices of 16 MB and more are written with streaming stores: same result."""
    x = rng.standard_normal((32 if dtype == np.float32 else 16, 16, 32, 32)).astype(dtype)
    native, reference = run_both("im2col", x, 3, 3, 1, 1)
    assert native.nbytes >= 16 * 2**20
    np.testing.assert_array_equal(native, reference)
    native, reference = run_both("col2im", reference, x.shape, 3, 3, 1, 1)
    assert_close_to_scale(native, reference)


# --- semantics on the current backend -------------------------------------------------------------


def test_im2col_layout_small_example():
    """Row c·kh·kw + i·kw + j, column b·OH·OW + oh·OW + ow, padding reads 0 (eq. 59)."""
    x = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3) + 1
    cols = ops.im2col(x, 2, 2, stride=1, pad=(1, 0, 0, 0))  # one row of zeros on top
    OH, OW = 3, 2
    assert cols.shape == (2 * 4, 2 * OH * OW)
    for b in range(2):
        for c in range(2):
            padded = np.pad(x[b, c], ((1, 0), (0, 0)))
            for i in range(2):
                for j in range(2):
                    for oh in range(OH):
                        for ow in range(OW):
                            assert cols[c * 4 + i * 2 + j, b * OH * OW + oh * OW + ow] == padded[oh + i, ow + j]


def test_col2im_scatter_adds_overlaps():
    """All-ones columns fold back into the number of windows covering each pixel."""
    cols = np.ones((9, 16), dtype=np.float32)
    x = ops.col2im(cols, (1, 1, 4, 4), 3, 3, stride=1, pad=1)
    counts = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=np.float32)
    np.testing.assert_array_equal(x[0, 0], counts)


@SETTINGS
@given(case=window_cases())
def test_adjoint_identity(case):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩: col2im is the adjoint of im2col (float64)."""
    shape, kh, kw, stride, pad, _, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    OH, OW = output_size(shape, kh, kw, stride, pad)
    c = rng.standard_normal((shape[1] * kh * kw, shape[0] * OH * OW))
    lhs = np.vdot(ops.im2col(x, kh, kw, stride, pad), c)
    rhs = np.vdot(x, ops.col2im(c, shape, kh, kw, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12 * np.sqrt(x.size * c.size))


@pytest.mark.parametrize(
    "shape, kh, kw, stride, pad",
    [
        ((2, 3, 8, 8), 3, 3, 1, 1),
        ((3, 2, 9, 7), 2, 3, (2, 1), (1, 0)),
        ((1, 4, 11, 6), 5, 2, 3, (2, 1, 0, 1)),
        ((2, 1, 5, 5), 1, 1, 2, 0),
    ],
)
def test_im2col_matches_torch_unfold(torch, shape, kh, kw, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    pt, pb, pl, pr = pads4(pad)
    xt = torch.nn.functional.pad(torch.from_numpy(x), (pl, pr, pt, pb))
    unfolded = torch.nn.functional.unfold(xt, (kh, kw), stride=pairs(stride)).numpy()  # (B, CKK, L)
    expected = unfolded.transpose(1, 0, 2).reshape(unfolded.shape[1], -1)
    np.testing.assert_array_equal(ops.im2col(x, kh, kw, stride, pad), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_values_are_copied(dtype):
    """±1e4 and ±inf are copied unchanged and NaN propagates (it does not vanish)."""
    x = np.zeros((1, 1, 3, 3), dtype=dtype)
    x[0, 0] = [[1e4, -1e4, np.inf], [-np.inf, np.nan, 0.5], [1, 2, 3]]
    cols = ops.im2col(x, 3, 3, stride=1, pad=1)  # every pixel lands in 9 - (border loss) windows
    counts = ops.col2im(np.ones_like(cols), x.shape, 3, 3, 1, 1)[0, 0]
    assert np.isnan(cols).sum() == counts[1, 1] == 9
    assert (cols == np.inf).sum() == counts[0, 2] == 4
    assert (cols == -np.inf).sum() == counts[1, 0] == 6
    assert (cols == dtype(1e4)).sum() == 4 and (cols == dtype(-1e4)).sum() == 6
    with np.errstate(invalid="ignore"):
        folded = ops.col2im(cols, x.shape, 3, 3, 1, 1)
    assert np.isnan(folded[0, 0, 1, 1])


def test_all_padding_rows():
    """A kernel taller than the input plus its top padding: whole rows read only padding."""
    x = np.ones((1, 1, 1, 2), dtype=np.float32)
    cols = ops.im2col(x, 3, 1, stride=1, pad=(0, 2, 0, 0))
    np.testing.assert_array_equal(cols, [[1, 1], [0, 0], [0, 0]])


# --- out= -----------------------------------------------------------------------------------------


def test_out_is_returned_and_filled(rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    out = np.full((27, 2 * 6 * 5), np.nan, dtype=np.float32)
    result = ops.im2col(x, 3, 3, 1, 1, out=out)
    assert result is out
    np.testing.assert_array_equal(out, ops.im2col(x, 3, 3, 1, 1))
    x_out = np.full(x.shape, np.nan, dtype=np.float32)
    assert ops.col2im(out, x.shape, 3, 3, 1, 1, out=x_out) is x_out
    assert not np.isnan(x_out).any()


@pytest.mark.parametrize("op", ["im2col", "col2im"])
def test_bad_out_is_rejected(op):
    x = np.zeros((2, 3, 6, 5), dtype=np.float32)
    cols = np.zeros((27, 60), dtype=np.float32)
    good = np.zeros_like(cols if op == "im2col" else x)

    def call(out):
        if op == "im2col":
            return ops.im2col(x, 3, 3, 1, 1, out=out)
        return ops.col2im(cols, x.shape, 3, 3, 1, 1, out=out)

    with pytest.raises(ValueError, match="out has shape"):
        call(np.empty(good.shape[:-1] + (good.shape[-1] + 1,), dtype=np.float32))
    with pytest.raises(TypeError, match="out has dtype"):
        call(good.astype(np.float64))
    strided = np.empty(good.shape[:-1] + (2 * good.shape[-1],), dtype=np.float32)[..., ::2]
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
        call(strided)


# --- threads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("large", [False, True])
def test_threads_give_identical_results(native, rng, large):
    shape = (32, 16, 32, 32) if large else (5, 3, 13, 11)  # the large one streams its stores
    x = make_data(rng, shape, np.float32, "extreme")
    cols_ref = rng.standard_normal((shape[1] * 9, shape[0] * shape[2] * shape[3])).astype(np.float32)
    results = []
    for n in (1, 2):
        with le4nn.backend("native"), num_threads(n):
            results.append((ops.im2col(x, 3, 3, 1, 1), ops.col2im(cols_ref, shape, 3, 3, 1, 1)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1].tobytes() == results[1][1].tobytes()  # bitwise


@pytest.mark.parametrize("kernel, stride, pad", [(3, 2, (0, 1, 0, 1)), (1, 2, 0), (3, 1, 1)])
def test_threads_give_identical_results_on_resnet_shapes(native, rng, kernel, stride, pad):
    """The phase-plane (3×3 stride 2), strided (1×1 stride 2) and small-plane (8×8) paths."""
    x = make_data(rng, (24, 16, 8 if stride == 1 else 16, 8 if stride == 1 else 16), np.float32, "extreme")
    cols = rng.standard_normal(ops.reference.im2col(x, kernel, kernel, stride, pad).shape).astype(np.float32)
    results = []
    for n in (1, 2):
        with le4nn.backend("native"), num_threads(n):
            results.append((ops.im2col(x, kernel, kernel, stride, pad).tobytes(),
                            ops.col2im(cols, x.shape, kernel, kernel, stride, pad).tobytes()))
    assert results[0] == results[1]


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: ops.im2col(np.zeros((2, 3, 4), np.float32), 2, 2), ValueError, r"\bx must be 4-D"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 8), np.float32)[..., ::2], 2, 2), ValueError,
         r"\bx must be C-contiguous"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.int32), 2, 2), TypeError, r"\bx must be float32"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.float32), 5, 2), ValueError, r"kernel .* larger"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.float32), 2, 2, stride=0), ValueError, "stride"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.float32), 2, 2, stride=(1, 0)), ValueError,
         "stride"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.float32), 2, 2, pad=-1), ValueError, "padding"),
        (lambda: ops.im2col(np.zeros((1, 1, 4, 4), np.float32), 0, 2), ValueError, "kernel size"),
        (lambda: ops.col2im(np.zeros((4, 8), np.float32), (1, 1, 4, 4), 2, 2), ValueError,
         r"cols has shape"),
        (lambda: ops.col2im(np.zeros((4, 9, 1), np.float32), (1, 1, 4, 4), 2, 2), ValueError,
         r"cols must be 2-D"),
        (lambda: ops.col2im(np.zeros((4, 9), np.float16), (1, 1, 4, 4), 2, 2), TypeError,
         r"cols must be float32"),
        (lambda: ops.col2im(np.zeros((4, 9), np.float32), (1, 4, 4), 2, 2), ValueError, "x shape"),
    ],
)
def test_validation_errors_name_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_read_only_inputs_are_accepted(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    x.setflags(write=False)
    cols = ops.im2col(x, 3, 3, 1, 1)
    cols.setflags(write=False)
    assert ops.col2im(cols, x.shape, 3, 3, 1, 1).shape == x.shape


@pytest.mark.parametrize("shape", [(3, 5, 8, 8), (2, 16, 7, 9), (1, 1, 1, 1), (4, 3, 32, 32), (2, 17, 5, 18)])
@pytest.mark.parametrize("stride", [1, 2, 3, (2, 1), (1, 2)])
@pytest.mark.parametrize("pad", [0, (0, 1, 0, 1), (0, 2, 0, 0), (1, 0, 0, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_windows_match_reference_exactly(run_both, rng, shape, stride, pad, dtype):
    """1×1 windows (ResNet projections): the kernels' subsampling branch (no padding read: strided
    rows, at column stride 2 vector shuffles) and the general plane loops (padding on the top or left)
    give the reference's bits both ways, padded bottom/right, non-finite values and −0 included."""
    x = make_data(rng, shape, dtype, "extreme")
    native, reference = run_both("im2col", x, 1, 1, stride, pad)
    np.testing.assert_array_equal(native, reference)
    cols = make_data(rng, reference.shape, dtype, "extreme")
    cols.flat[:: 7] = -0.0
    native, reference = run_both("col2im", cols, shape, 1, 1, stride, pad)
    assert_same_bits(native, reference)  # −0 + 0 is +0 in both
