"""Winograd F(2×2, 3×3) and F(4×4, 3×3): the data transforms of 3×3 stride-1 convolutions with fewer
multiplications (the NumPy twins of the native kernels; re-exported by :mod:`le4nn.ops.reference`).

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016).  The output is cut into
m×m tiles (m = 2 or 4); tile t of the output needs the (m + 2)×(m + 2) input patch d_t (rows
m·ty .. m·ty + m + 1 of the padded input) and is  Y_t = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d_t B) ] A  for one channel
pair: the handout's convolution (eq. 59–62) of the patch with the 3×3 kernel g, exactly in exact
arithmetic.  Over channels the ⊙ becomes n² = (m + 2)² matrix products, one per position (ξ, ν) of
the transformed tile:
    M[ξν] (T, K) = V[ξν] (T, C) · U[ξν] (C, K),  V = Bᵀ d B (input),  U = G g Gᵀ (kernel),
n²·C·K multiplications per tile instead of m²·9·C·K: 2.25× fewer for F(2, 3), 4× fewer for F(4, 3).
The backward pass uses the same pieces: ∂E/∂x is the same kind of convolution of ∂E/∂z (padded by
2 − p) with the kernel rotated by 180° and its channels swapped; ∂E/∂W = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙
(A ∂E/∂Y_t Aᵀ) ] G, i.e. n² products V[ξν]ᵀ Q[ξν] with Q = A ∂E/∂Y Aᵀ.  The ops are the three
transforms of the data and the two of the kernel side (U = G g Gᵀ and ∂E/∂W = Gᵀ P G), the matrix
products are the Conv2D layer's (``layers._conv_winograd``).

The matrices come from Toom–Cook interpolation at n − 1 finite points and ∞.  F(2, 3): the points 0,
±1 (Lavin & Gray's matrices, with 0 and ±1 only in Bᵀ and Aᵀ).  F(4, 3): the points 0, ±1, 1/2, −2
(Barabasz et al., "Error analysis and improving the accuracy of Winograd convolution for deep neural
networks", 2020), not Lavin & Gray's 0, ±1, ±2: the transformed values grow with the points' spread
(Aᵀ holds their powers up to the 3rd, G divides by their differences), and mixing a point and an
inverse point balances the growth.  Measured on float32 N(0, 1) inputs of 16×16 and He-initialised
kernels, against a float64 direct convolution (relative L2 error; max |error| / rms output):

    ================  ==================  ==================  ==================
    C                 16                  64                  256
    ================  ==================  ==================  ==================
    direct float32    1.0e-7; 0.9e-6      1.6e-7; 1.1e-6      3.0e-7; 1.5e-6
    F(2,3) 0, ±1      1.6e-7; 1.2e-6      2.7e-7; 1.6e-6      5.0e-7; 3.2e-6
    F(4,3) 0, ±1, ±2  1.0e-6; 1.9e-5      1.8e-6; 3.7e-5      3.3e-6; 4.7e-5
    F(4,3) 0, ±1, ±½  1.0e-6; 2.8e-5      1.8e-6; 3.2e-5      3.2e-6; 5.7e-5
    F(4,3) chosen     0.7e-6; 0.8e-5      1.1e-6; 1.2e-5      2.1e-6; 1.7e-5
    ================  ==================  ==================  ==================

(the chosen set: 0.65× the L2 and 0.35–0.45× the largest error of Lavin & Gray's; 0, ±½, ±2 was as
good in L2 but 1.5× worse at the maximum).  F(4, 3) is ~5× less accurate than F(2, 3) in float32,
still far below what training notices (a float32 gradient step is noisier by orders of magnitude);
the kernel transform U = G g Gᵀ (G holds thirds and fifteenths) is computed in float64 and rounded
once.  Bᵀ and Aᵀ hold only dyadic values (halves, powers of 2), exact in floating point.  PyTorch
and Keras use no Winograd on the CPU (oneDNN has an F(4, 3) behind an option).
"""

from __future__ import annotations

import functools

import numpy as np

from le4nn._typing import FloatArray, Padding, Shape
from le4nn.ops import _checks_winograd as wchecks

WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])  # Bᵀ
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])  # G
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])  # Aᵀ

#: F(4×4, 3×3) at the points 0, 1, −1, 1/2, −2, ∞ (column j of Aᵀ: the powers of point j).
WINOGRAD4_BT = np.array([
    [1, -1.5, -2, 1.5, 1, 0],
    [0, -1, 0.5, 2.5, 1, 0],
    [0, 1, -2.5, 0.5, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 0.5, -1, -0.5, 1, 0],
    [0, 1, -1.5, -2, 1.5, 1],
])  # Bᵀ
WINOGRAD4_G = np.array([
    [1, 0, 0],
    [1 / 3, 1 / 3, 1 / 3],
    [-1 / 3, 1 / 3, -1 / 3],
    [-16 / 15, -8 / 15, -4 / 15],
    [1 / 15, -2 / 15, 4 / 15],
    [0, 0, 1],
])  # G
WINOGRAD4_AT = np.array([
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 0.5, -2, 0],
    [0, 1, 1, 0.25, 4, 0],
    [0, 1, -1, 0.125, -8, 1],
])  # Aᵀ


def _combine(matrix: np.ndarray, stack: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` applied along ``axis`` of ``stack``: out[i] = Σ_j matrix[i, j] stack[j], summing only the
    terms whose coefficient is nonzero (as the native kernels do: an inf or NaN in the data reaches
    exactly the transformed entries whose formula uses it, never through a 0 · inf = NaN).  The
    coefficients are exact in the data's dtype (0, ±1 and dyadic fractions)."""
    stack = np.moveaxis(stack, axis, 0)
    rows = []
    for coefficients in matrix:
        terms = [stack.dtype.type(c) * stack[j] if c not in (1, -1) else (stack[j] if c == 1 else -stack[j])
                 for j, c in enumerate(coefficients) if c != 0]
        rows.append(functools.reduce(np.add, terms))
    return np.moveaxis(np.stack(rows), 0, axis)


def _input(x, pad, out, tile: int):
    """V = Bᵀ d B of every (tile + 2)² patch (the F(tile×tile, 3×3) input transform)."""
    (B, H, W, C, pt, pb, pl, pr, OH, OW, TH, TW), V = wchecks.check_winograd_input_transform(x, pad, out, tile)
    BT, n = (WINOGRAD_BT if tile == 2 else WINOGRAD4_BT), tile + 2
    x_padded = np.zeros((B, tile * TH + 2, tile * TW + 2, C), dtype=x.dtype)
    x_padded[:, pt : pt + H, pl : pl + W] = x
    # d[r, s] (B, TH, TW, C): element (r, s) of every tile's patch.
    d = np.stack([np.stack([x_padded[:, r : r + tile * TH : tile, s : s + tile * TW : tile] for s in range(n)])
                  for r in range(n)])
    V.reshape(n, n, B, TH, TW, C)[...] = _combine(BT, _combine(BT, d, 0), 1)  # Bᵀ d B
    return V


def _output(m, out_shape, bias, relu, out, tile: int):
    """Y = Aᵀ m A per tile (+ bias, ReLU; NaN passes the ReLU as in ``relu_forward``)."""
    (TH, TW), bias, y = wchecks.check_winograd_output_transform(m, out_shape, bias, out, tile)
    B, OH, OW, K = y.shape
    AT, n = (WINOGRAD_AT if tile == 2 else WINOGRAD4_AT), tile + 2
    aman = _combine(AT, _combine(AT, m.reshape(n, n, B, TH, TW, K), 0), 1)  # Aᵀ m A
    tiles = aman.transpose(2, 3, 0, 4, 1, 5)  # (B, TH, tile, TW, tile, K)
    y[...] = tiles.reshape(B, tile * TH, tile * TW, K)[:, :OH, :OW]
    if bias is not None:
        y += bias
    if relu:
        np.copyto(y, np.where(y <= 0, 0, y))
    return y


def _gradient(dout: FloatArray, out, tile: int):
    """Q = A g Aᵀ of every tile g of ∂E/∂Y (zeros beyond its edges)."""
    (TH, TW), Q = wchecks.check_winograd_gradient_transform(dout, out, tile)
    B, OH, OW, K = dout.shape
    AT, n = (WINOGRAD_AT if tile == 2 else WINOGRAD4_AT), tile + 2
    padded = np.zeros((B, tile * TH, tile * TW, K), dtype=dout.dtype)
    padded[:, :OH, :OW] = dout
    g = np.stack([np.stack([padded[:, i::tile, j::tile] for j in range(tile)]) for i in range(tile)])
    Q.reshape(n, n, B, TH, TW, K)[...] = _combine(AT.T, _combine(AT.T, g, 0), 1)  # A g Aᵀ
    return Q


def winograd_input_transform(x: FloatArray, pad: Padding = 1, *, out: FloatArray | None = None) -> FloatArray:
    """V = Bᵀ d B for every 4×4 input patch d of an NHWC batch: the input side of Winograd F(2×2, 3×3).

    ``pad`` is the convolution's padding (int, pair or (top, bottom, left, right), each at most 2).
    Returns V of shape (16, T, C), T = B·TH·TW tiles in (image, tile row, tile column) order, entry
    ``ξ·4 + ν`` the position in the transformed tile.  Patches reaching beyond the input read zeros.
    """
    return _input(x, pad, out, 2)


def winograd_output_transform(m: FloatArray, out_shape: Shape, bias: FloatArray | None = None, relu: bool = False, *,
                              out: FloatArray | None = None) -> FloatArray:
    """Y = Aᵀ m A for every tile: the output side of Winograd F(2×2, 3×3), plus ``bias`` and, with
    ``relu=True``, the ReLU.  ``m`` is (16, T, K) for an output of ``out_shape`` (B, OH, OW, K):
    C-contiguous, or each plane C-contiguous with the planes further apart (Conv2D pads them off the
    multiples of 4 KiB, see ``layers._conv_winograd.plane_stride``)."""
    return _output(m, out_shape, bias, relu, out, 2)


def winograd_gradient_transform(dout: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Q = A g Aᵀ for every 2×2 output tile g of ∂E/∂Y (B, OH, OW, K): the ∂E/∂Y side of the filter
    gradient of Winograd F(2×2, 3×3) (∂E/∂W = Gᵀ [Σ_t V_t ⊙ Q_t] G).  Returns (16, T, K)."""
    return _gradient(dout, out, 2)


def winograd4_input_transform(x: FloatArray, pad: Padding = 1, *, out: FloatArray | None = None) -> FloatArray:
    """V = Bᵀ d B (:data:`WINOGRAD4_BT`) for every 6×6 input patch d of an NHWC batch: the input side of
    Winograd F(4×4, 3×3).  As :func:`winograd_input_transform` with 4×4 output tiles: V is (36, T, C),
    T = B·TH·TW, TH = ⌈OH/4⌉, TW = ⌈OW/4⌉, entry ``ξ·6 + ν``; ``pad`` at most 2 per side."""
    return _input(x, pad, out, 4)


def winograd4_output_transform(m: FloatArray, out_shape: Shape, bias: FloatArray | None = None, relu: bool = False, *,
                               out: FloatArray | None = None) -> FloatArray:
    """Y = Aᵀ m A (:data:`WINOGRAD4_AT`) for every 4×4 tile: the output side of Winograd F(4×4, 3×3),
    plus ``bias`` and, with ``relu=True``, the ReLU.  ``m`` is (36, T, K) for an output of ``out_shape``
    (B, OH, OW, K), its planes C-contiguous and possibly further apart (as in
    :func:`winograd_output_transform`); tiles sticking out of the output are cut."""
    return _output(m, out_shape, bias, relu, out, 4)


def winograd4_gradient_transform(dout: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Q = A g Aᵀ for every 4×4 output tile g of ∂E/∂Y (B, OH, OW, K), zeros beyond its edges: the ∂E/∂Y
    side of the filter gradient of Winograd F(4×4, 3×3).  Returns (36, T, K)."""
    return _gradient(dout, out, 4)


def winograd_kernel_transform(kernel: FloatArray, tile: int = 2, flip: bool = False, *,
                              out: FloatArray | None = None) -> FloatArray:
    """U = G g Gᵀ for every channel pair (c, k) of a 3×3 kernel (3, 3, C, K): the kernel side of
    Winograd F(tile×tile, 3×3) (``tile`` 2: :data:`WINOGRAD_G`, 4: :data:`WINOGRAD4_G`).  Returns U
    ((tile + 2)², C, K), entry ``ξ·n + ν``.  With ``flip``, the kernel of the input gradient instead:
    rotated by 180° with its channels swapped (g[i, j] = kernel[2 − i, 2 − j]ᵀ), U ((tile + 2)², K, C).
    Computed in float64 and rounded once to the kernel's dtype (F(4×4, 3×3)'s G holds thirds and
    fifteenths), summing only the nonzero terms as the data transforms do."""
    tile, U = wchecks.check_winograd_kernel_transform(kernel, tile, flip, out)
    G, n = (WINOGRAD_G if tile == 2 else WINOGRAD4_G), tile + 2
    g = (kernel[::-1, ::-1].transpose(0, 1, 3, 2) if flip else kernel).astype(np.float64)
    U.reshape(n, n, *g.shape[2:])[...] = _combine(G, _combine(G, g, 0), 1)  # G g Gᵀ
    return U


def winograd_filter_gradient(partials: FloatArray, tile: int = 2, *, out: FloatArray | None = None) -> FloatArray:
    """∂E/∂W = Gᵀ P G for every channel pair, with P = Σ_s partials[s] the transformed filter gradient
    (Σ over the tiles of V[ξν]ᵀ Q[ξν]) summed over S parts (e.g. one per chunk of images) in order:
    ``partials`` (S, (tile + 2)², C, K) → (3, 3, C, K).  In float64, rounded once to the dtype."""
    tile, dW = wchecks.check_winograd_filter_gradient(partials, tile, out)
    G, n = (WINOGRAD_G if tile == 2 else WINOGRAD4_G), tile + 2
    P = np.zeros(partials.shape[1:], dtype=np.float64)
    for part in partials:
        P += part
    P = P.reshape(n, n, *partials.shape[2:])
    dW[...] = _combine(G.T, _combine(G.T, P, 0), 1)  # Gᵀ P G
    return dW
