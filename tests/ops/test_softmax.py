"""Softmax (handout eq. 5–6) and the fused softmax + cross-entropy (eq. 8, 12): the native kernels
against the NumPy reference, label forms, extreme logits, NaN, numerical gradients, PyTorch,
in-place use and ``out=`` handling.

Tests that compare the two backends use ``run_both``; the others run on the backend in force
(``LE4NN_BACKEND``), so the whole file is meaningful under both."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import DTYPES, RTOL, assert_close_elementwise, hypothesis_settings

SETTINGS = hypothesis_settings(150)
def onehot(labels, K, dtype):
    t = np.zeros((len(labels), K), dtype)
    t[np.arange(len(labels)), labels] = 1
    return t


@st.composite
def ce_cases(draw):
    """Batch 0–40, classes 1–30, logits at scales 0.1 to 1e4, either dtype, and labels as integers,
    one-hot or soft targets."""
    B, K = draw(st.integers(0, 40)), draw(st.integers(1, 30))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 100.0, 1e4]))
    form = draw(st.sampled_from(["index", "onehot", "soft"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return B, K, dtype, scale, form, seed


def make_case(case):
    B, K, dtype, scale, form, seed = case
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((B, K)) * scale).astype(dtype)
    index = rng.integers(0, K, B)
    if form == "index":
        labels = index
    elif form == "onehot":
        labels = onehot(index, K, dtype)
    else:
        labels = rng.random((B, K)).astype(dtype)
        labels[rng.random((B, K)) < 0.3] = 0
        labels /= np.maximum(labels.sum(axis=1, keepdims=True), 1e-3)
    return logits, labels


# --- native against the reference ----------------------------------------------------------------


@SETTINGS
@given(case=ce_cases())
def test_cross_entropy_matches_reference(run_both, case):
    logits, labels = make_case(case)
    (loss_n, probs_n), (loss_r, probs_r) = run_both("softmax_cross_entropy_forward", logits, labels)
    assert type(loss_n) is float and type(loss_r) is float
    assert np.isfinite(loss_n)
    assert loss_n == pytest.approx(loss_r, rel=RTOL[logits.dtype], abs=float(np.finfo(logits.dtype).eps))
    assert_close_elementwise(probs_n, probs_r)
    dx_n, dx_r = run_both("softmax_cross_entropy_backward", probs_r, labels)
    assert_close_elementwise(dx_n, dx_r)


@SETTINGS
@given(case=ce_cases())
def test_the_whole_loss_in_one_call_equals_the_two_ops(run_both, case):
    """softmax_cross_entropy = the forward op and the backward op of its probabilities, bit for bit
    on each backend; close across backends."""
    logits, labels = make_case(case)
    results = {}
    for backend in ("native", "numpy"):
        with le4nn.backend(backend):
            loss, probs, grad = ops.softmax_cross_entropy(logits, labels)
            loss2, probs2 = ops.softmax_cross_entropy_forward(logits, labels)
            grad2 = ops.softmax_cross_entropy_backward(probs2, labels)
        assert type(loss) is float and loss == loss2
        np.testing.assert_array_equal(probs, probs2)
        np.testing.assert_array_equal(grad, grad2)
        results[backend] = (loss, probs, grad)
    (loss_n, probs_n, grad_n), (loss_r, probs_r, grad_r) = results["native"], results["numpy"]
    assert loss_n == pytest.approx(loss_r, rel=RTOL[logits.dtype], abs=float(np.finfo(logits.dtype).eps))
    assert_close_elementwise(probs_n, probs_r)
    # (y − t)/B cancels where y ≈ t = 1: the probabilities' last-bit differences, absolutely
    eps = float(np.finfo(logits.dtype).eps)
    np.testing.assert_allclose(grad_n, grad_r, rtol=RTOL[logits.dtype], atol=8 * eps / max(len(logits), 1))


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 12), min_size=1, max_size=4).map(tuple),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_matches_reference(run_both, shape, dtype, scale, seed):
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    native, reference = run_both("softmax_forward", x)
    assert_close_elementwise(native, reference)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, K", [(1, 10), (100, 10), (1000, 10), (3000, 10), (5, 7000), (2, 50_000),
                                  (40_000, 1), (600, 131)])
def test_large_problems_match_reference(run_both, rng, dtype, B, K):
    """Shapes around the block size and the single-thread limit, where the work is split."""
    logits = (rng.standard_normal((B, K)) * 10).astype(dtype)
    labels = rng.integers(0, K, B)
    (loss_n, probs_n), (loss_r, probs_r) = run_both("softmax_cross_entropy_forward", logits, labels)
    # The kernels add each row in double: where p(label) rounds to 1 in float32, the reference's loss
    # is 0 and the kernel's a few 1e-9, so an absolute slack of one epsilon.
    assert loss_n == pytest.approx(loss_r, rel=RTOL[np.dtype(dtype)], abs=float(np.finfo(dtype).eps))
    assert_close_elementwise(probs_n, probs_r)
    assert_close_elementwise(*run_both("softmax_cross_entropy_backward", probs_r, labels))
    assert_close_elementwise(*run_both("softmax_cross_entropy_backward", probs_r, onehot(labels, K, dtype)))
    assert_close_elementwise(*run_both("softmax_forward", logits))


# --- semantics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_sum_to_one_over_the_last_axis(rng, dtype):
    x = (rng.standard_normal((3, 4, 11)) * 20).astype(dtype)
    y = ops.softmax_forward(x)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=10 * np.finfo(dtype).eps)
    # invariant to a shift of each row
    np.testing.assert_allclose(ops.softmax_forward(x + dtype(5)), y, rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(ops.softmax_forward(np.zeros(4, dtype)), np.full(4, 0.25))


@pytest.mark.parametrize("dtype", DTYPES)
def test_label_forms_give_the_same_loss(rng, dtype):
    """Integer labels of any integer dtype, one-hot rows and integral floats: the same loss, bitwise,
    and the same gradient."""
    logits = (rng.standard_normal((50, 10)) * 4).astype(dtype)
    index = rng.integers(0, 10, 50)
    forms = [index, index.astype(np.uint8), index.astype(np.int32), index.astype(np.float64),
             index.astype(np.float32), onehot(index, 10, dtype), onehot(index, 10, np.float64),
             onehot(index, 10, np.int64), onehot(index, 10, bool), index.tolist()]
    loss, probs = ops.softmax_cross_entropy_forward(logits, index)
    grad = ops.softmax_cross_entropy_backward(probs, index)
    for labels in forms:
        other_loss, other_probs = ops.softmax_cross_entropy_forward(logits, labels)
        assert other_loss == loss
        np.testing.assert_array_equal(other_probs, probs)
        np.testing.assert_array_equal(ops.softmax_cross_entropy_backward(probs, labels), grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_value_and_gradient_formula(dtype):
    logits = np.array([[0, 0, 0, 0], [2, 0, 0, -1]], dtype=dtype)
    labels = np.array([1, 0])
    loss, probs = ops.softmax_cross_entropy_forward(logits, labels)
    e = np.exp([2, 0, 0, -1])
    expected = (np.log(4) + (np.log(e.sum()) - 2)) / 2
    assert loss == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(probs[1], e / e.sum(), rtol=1e-6)
    dx = ops.softmax_cross_entropy_backward(probs, labels)
    np.testing.assert_allclose(dx, (probs - onehot(labels, 4, dtype)) / 2, rtol=1e-6)
    # soft targets: zero entries are skipped, so a -inf logit with t = 0 costs nothing
    soft = np.array([[0.5, 0.5, 0, 0]], dtype)
    loss, _ = ops.softmax_cross_entropy_forward(np.array([[1, 1, -np.inf, 0]], dtype), soft)
    assert loss == pytest.approx(np.log(2 + np.e**-1), rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_stay_finite(dtype):
    logits = np.array([[1e4, -1e4, 0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [0, 3e4, -3e4]], dtype=dtype)
    labels = np.array([1, 2, 0, 0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss, probs = ops.softmax_cross_entropy_forward(logits, labels)
        loss_onehot, _ = ops.softmax_cross_entropy_forward(logits, onehot(labels, 3, dtype))
        dx = ops.softmax_cross_entropy_backward(probs, labels)
        y = ops.softmax_forward(logits)
    expected = (2e4 + np.log(3) + np.log(2) + 3e4) / 4
    assert np.isfinite(loss) and loss == pytest.approx(expected, rel=1e-6)
    assert loss_onehot == loss
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(probs, [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0], [0, 1, 0]], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(y, probs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates_through_its_row(dtype):
    x = np.array([[1, np.nan, 2], [1, 2, 3], [np.nan, 0, 0]], dtype=dtype)
    y = ops.softmax_forward(x)
    assert np.isnan(y[0]).all() and np.isnan(y[2]).all()
    assert np.isfinite(y[1]).all()
    loss, probs = ops.softmax_cross_entropy_forward(x, np.array([0, 1, 1]))
    assert np.isnan(loss)
    np.testing.assert_array_equal(np.isnan(probs), np.isnan(y))
    assert np.isnan(ops.softmax_cross_entropy_backward(probs, np.array([0, 1, 1]))[0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(dtype):
    logits = np.empty((0, 5), dtype)
    loss, probs = ops.softmax_cross_entropy_forward(logits, np.empty(0, np.int64))
    assert loss == 0.0 and type(loss) is float and probs.shape == (0, 5)
    assert ops.softmax_cross_entropy_backward(probs, np.empty((0, 5))).shape == (0, 5)
    assert ops.softmax_forward(logits).shape == (0, 5)


# --- numerical gradients (float64, central differences) ------------------------------------------


@pytest.mark.parametrize("form", ["index", "onehot", "soft"])
def test_cross_entropy_gradient(rng, form):
    B, K, eps = 6, 7, 1e-6
    logits = rng.standard_normal((B, K)) * 3
    _, labels = make_case((B, K, np.dtype(np.float64), 1.0, form, int(rng.integers(2**32))))
    _, probs = ops.softmax_cross_entropy_forward(logits, labels)
    analytic = ops.softmax_cross_entropy_backward(probs, labels)
    numeric = np.empty_like(logits)
    for i in np.ndindex(logits.shape):
        saved = logits[i]
        logits[i] = saved + eps
        up, _ = ops.softmax_cross_entropy_forward(logits, labels)
        logits[i] = saved - eps
        down, _ = ops.softmax_cross_entropy_forward(logits, labels)
        logits[i] = saved
        numeric[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


# --- PyTorch as an oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(torch, rng, dtype):
    F = torch.nn.functional
    rtol = 2 * RTOL[np.dtype(dtype)]
    logits = (rng.standard_normal((64, 10)) * 5).astype(dtype)
    logits[0, :3] = [1e4, -1e4, 0]
    index = rng.integers(0, 10, 64)
    soft = rng.random((64, 10)).astype(dtype)
    soft /= soft.sum(axis=1, keepdims=True)
    for labels, target in ((index, torch.from_numpy(index)), (soft, torch.from_numpy(soft))):
        lt = torch.from_numpy(logits.copy()).requires_grad_(True)
        loss_t = F.cross_entropy(lt, target)  # mean over the batch
        loss_t.backward()
        loss, probs = ops.softmax_cross_entropy_forward(logits, labels)
        assert loss == pytest.approx(loss_t.item(), rel=rtol)
        np.testing.assert_allclose(probs, torch.softmax(lt, dim=1).detach().numpy(), rtol=rtol,
                                   atol=np.finfo(dtype).tiny)
        np.testing.assert_allclose(ops.softmax_cross_entropy_backward(probs, labels), lt.grad.numpy(),
                                   rtol=1e-5, atol=1e-7)
    x = (rng.standard_normal((4, 5, 9)) * 5).astype(dtype)
    np.testing.assert_allclose(ops.softmax_forward(x), torch.softmax(torch.from_numpy(x), dim=-1).numpy(),
                               rtol=rtol, atol=np.finfo(dtype).tiny)


# --- in place, out= ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [30, 5000])
def test_in_place(rng, dtype, B):
    logits = (rng.standard_normal((B, 10)) * 5).astype(dtype)
    index = rng.integers(0, 10, B)
    for labels in (index, onehot(index, 10, dtype)):
        loss, probs = ops.softmax_cross_entropy_forward(logits, labels)
        z = logits.copy()
        loss_z, probs_z = ops.softmax_cross_entropy_forward(z, labels, out=z)  # probs over logits
        assert probs_z is z and loss_z == loss
        np.testing.assert_array_equal(z, probs)
        dx = ops.softmax_cross_entropy_backward(probs, labels)
        assert ops.softmax_cross_entropy_backward(z, labels, out=z) is z  # dx over probs
        np.testing.assert_array_equal(z, dx)
    y = ops.softmax_forward(logits)
    z = logits.copy()
    assert ops.softmax_forward(z, out=z) is z
    np.testing.assert_array_equal(z, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax_forward", "softmax_cross_entropy_forward",
                                  "softmax_cross_entropy_backward"])
def test_out_argument(rng, dtype, name):
    x = rng.standard_normal((6, 5)).astype(dtype)
    args = (x,) if name == "softmax_forward" else (x, rng.integers(0, 5, 6))
    op = getattr(ops, name)

    def result(r):
        return r[1] if name == "softmax_cross_entropy_forward" else r

    expected = result(op(*args))
    out = np.full_like(x, np.nan)
    assert result(op(*args, out=out)) is out
    np.testing.assert_array_equal(out, expected)
    other = np.float64 if dtype == np.float32 else np.float32
    read_only = np.empty(x.shape, dtype)
    read_only.flags.writeable = False
    for out, error in [(np.empty((6, 4), dtype), ValueError), (np.empty(30, dtype), ValueError),
                       (np.empty(x.shape, other), TypeError), (np.empty((6, 10), dtype)[:, ::2], ValueError),
                       (np.empty((5, 6), dtype).T, ValueError), (read_only, ValueError),
                       (x.tolist(), TypeError)]:
        with pytest.raises(error, match=f"{name}: out"):
            op(*args, out=out)
