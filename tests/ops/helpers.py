"""Helpers shared by the op tests (``from tests.ops.helpers import ...``): hypothesis settings and
window geometries, test data with ties and non-finite values, tolerances, pinned thread counts and
numerical gradients.  The fixtures (``rng``, ``native``, ``run_both``) are in ``tests/conftest.py``."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import le4nn
from le4nn import _threads

DTYPES = [np.float32, np.float64]
#: Elementwise tolerance of a native result against the reference: float32 results may differ by
#: rounding, float64 ones by far less.
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


def hypothesis_settings(max_examples: int):
    """Hypothesis settings for the op tests: no deadline (the kernels' first call compiles nothing, but
    a loaded machine is slow), function-scoped fixtures allowed (``run_both`` holds no state)."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def pads4(pad) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right), as the ops normalize it."""
    if isinstance(pad, int):
        return (pad,) * 4
    if len(pad) == 2:
        return (pad[0], pad[0], pad[1], pad[1])
    return tuple(pad)


def pairs(stride) -> tuple[int, int]:
    """A stride as (vertical, horizontal)."""
    return (stride, stride) if isinstance(stride, int) else tuple(stride)


def output_size(shape, kh, kw, stride, pad) -> tuple[int, int]:
    """(OH, OW) of a window op over an NCHW ``shape``: floor((H + pt + pb − kh) / sh) + 1 per axis."""
    _, _, H, W = shape
    pt, pb, pl, pr = pads4(pad)
    sh, sw = pairs(stride)
    return (H + pt + pb - kh) // sh + 1, (W + pl + pr - kw) // sw + 1


@st.composite
def window_cases(draw, max_batch=8, max_channels=5, max_side=17, long_side=8, channels_last=False,
                 channel_choices=None):
    """Random window geometry: batch 1–max_batch, channels 1–max_channels (or one of
    ``channel_choices``), H and W 1–max_side (half of the time at least ``long_side``: longer rows),
    kernels 1–5 (non-square), stride 1–3 (int or pair), padding 0–2 (int, pair or asymmetric 4-tuple).
    Returns ``(shape, kh, kw, stride, pad, dtype, seed)`` with an NCHW shape, or NHWC with
    ``channels_last``."""
    B = draw(st.integers(1, max_batch))
    C = draw(st.sampled_from(channel_choices) if channel_choices else st.integers(1, max_channels))
    sides = st.integers(1, max_side) | st.integers(long_side, max_side)
    H, W = draw(sides), draw(sides)
    stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    pad = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)),
                         st.tuples(*[st.integers(0, 2)] * 4)))
    pt, pb, pl, pr = pads4(pad)
    kh = draw(st.integers(1, min(5, H + pt + pb)))
    kw = draw(st.integers(1, min(5, W + pl + pr)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (B, H, W, C) if channels_last else (B, C, H, W)
    return shape, kh, kw, stride, pad, dtype, seed


SPECIALS = (1e4, -1e4, np.inf, -np.inf, np.nan)


def make_data(rng, shape, dtype, kind="normal", ties=(-2, 3), neginf=0.7):
    """Random data of one ``kind``: ``normal``; ``ties`` (small integers in ``range(*ties)``);
    ``extreme`` (30 % of ±1e4, ±inf, NaN); ``neginf`` (a share ``neginf`` of −inf); or
    ``extreme+neginf`` (extremes, then −inf over them)."""
    if kind == "ties":
        return rng.integers(*ties, size=shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if "extreme" in kind:
        specials = np.array(SPECIALS, dtype=dtype)
        mask = rng.random(shape) < 0.3
        x[mask] = rng.choice(specials, size=int(mask.sum()))
    if "neginf" in kind:
        x[rng.random(shape) < neginf] = -np.inf
    return x


def assert_close_to_scale(actual, expected, rtol=1e-6):
    """Equal up to ``rtol`` relative to the magnitude of the expected array's finite values (and
    NaN/inf where the expected array has them)."""
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]))) if finite.any() else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def assert_same_bits(actual, expected):
    """Equal bit for bit (the sign of zero included), NaN where the expected array has NaN: which
    NaN an operation on two NaNs or on inf − inf returns depends on the order of its operands
    inside NumPy's vector loops, so NaN payloads and signs are not compared."""
    np.testing.assert_array_equal(actual, expected)
    real = ~np.isnan(expected)
    assert actual[real].tobytes() == expected[real].tobytes()


def assert_close_elementwise(native, reference):
    """Same dtype and shape, each element within :data:`RTOL` relative, NaN where the reference has
    NaN; an absolute slack of the smallest normal number covers results that underflow into the
    subnormal range."""
    dtype = reference.dtype
    assert native.dtype == dtype and native.shape == reference.shape
    np.testing.assert_allclose(native, reference, rtol=RTOL[dtype], atol=np.finfo(dtype).tiny)


@contextlib.contextmanager
def num_threads(n):
    """Exactly ``n`` native threads inside the block (even on a loaded machine), then as before."""
    saved, adaptive = le4nn.get_num_threads(), _threads._adaptive
    _threads._adaptive = False
    le4nn.set_num_threads(n)
    try:
        yield
    finally:
        le4nn.set_num_threads(saved)
        _threads._adaptive = adaptive


def numerical_gradient(f, x, eps=1e-6):
    """∂f/∂x by central differences, one element of ``x`` (float64, changed in place) at a time."""
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = f(x)
        flat[k] = saved - eps
        minus = f(x)
        flat[k] = saved
        g[k] = (plus - minus) / (2 * eps)
    return grad


def normal_data(rng, shape, dtype, specials: bool) -> np.ndarray:
    """Standard normal values of ``dtype``; with ``specials``, about 5% of them replaced by 0, -0, NaN
    and ±inf (the elementwise kernels must treat them as NumPy does)."""
    x = rng.standard_normal(shape).astype(dtype)
    if specials and x.size:
        flat = x.reshape(-1)
        idx = rng.integers(0, x.size, max(1, x.size // 20))
        flat[idx] = rng.choice(np.array([0.0, -0.0, np.nan, np.inf, -np.inf], dtype), idx.size)
    return x
