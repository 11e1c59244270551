"""The checks of the Winograd ops (see :mod:`le4nn.ops._checks`, which re-exports them): the data
transforms of F(2×2, 3×3) and F(4×4, 3×3) (``tile`` 2 or 4: the ops ``winograd_*`` and ``winograd4_*``)
and the kernel side shared by both (``winograd_kernel_transform``, ``winograd_filter_gradient``)."""

from __future__ import annotations

import numpy as np

from le4nn._typing import FloatArray
from le4nn.ops._arguments import (
    FLOAT_DTYPES,
    WinogradGeometry,
    check_bias,
    check_float_array,
    check_shape4,
    prepare_out,
    winograd_geometry,
)


def _winograd_op(name: str, tile: int) -> str:
    return f"winograd{'' if tile == 2 else tile}_{name}"


def check_winograd_input_transform(x, pad, out, tile: int = 2) -> tuple[WinogradGeometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.winograd_input_transform`: ``(geometry, V)``, V ((tile+2)², B·TH·TW, C)."""
    op = _winograd_op("input_transform", tile)
    x = check_float_array(x, op, "x", ndim=4)
    w = winograd_geometry(x.shape, pad, op, tile)
    return w, prepare_out(out, ((tile + 2) ** 2, w.B * w.TH * w.TW, w.C), x.dtype, op)


def check_winograd_output_transform(m, out_shape, bias, out, tile: int = 2):
    """:func:`~le4nn.ops.reference.winograd_output_transform`: ``((TH, TW), bias, y)``, y (B, OH, OW, K)."""
    op = _winograd_op("output_transform", tile)
    m = _check_planes(m, op)
    B, OH, OW, K = check_shape4(out_shape, op, "out_shape")
    TH, TW = -(-OH // tile), -(-OW // tile)
    if m.shape != ((tile + 2) ** 2, B * TH * TW, K):
        raise ValueError(f"{op}: m has shape {m.shape}, expected {((tile + 2) ** 2, B * TH * TW, K)} "
                         f"for out_shape {out_shape}")
    bias = check_bias(bias, K, m.dtype, op)
    return (TH, TW), bias, prepare_out(out, (B, OH, OW, K), m.dtype, op)


def _check_planes(m, op: str) -> np.ndarray:
    """``m`` (n², T, K): C-contiguous, or each plane C-contiguous with the planes further apart (a
    padded plane stride, so that the planes do not start at multiples of 4 KiB)."""
    if isinstance(m, np.ndarray) and m.ndim == 3 and not m.flags.c_contiguous and m.dtype in FLOAT_DTYPES:
        _, T, K = m.shape
        size = m.itemsize
        if (m.strides[2] == size or K <= 1) and (m.strides[1] == K * size or T <= 1) \
                and m.strides[0] >= T * K * size and m.strides[0] % size == 0:
            return m
    return check_float_array(m, op, "m", ndim=3)


def check_winograd_gradient_transform(dout: FloatArray, out, tile: int = 2) -> tuple[tuple[int, int], np.ndarray]:
    """:func:`~le4nn.ops.reference.winograd_gradient_transform`: ``((TH, TW), Q)``, Q ((tile+2)², B·TH·TW, K)."""
    op = _winograd_op("gradient_transform", tile)
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, OH, OW, K = dout.shape
    TH, TW = -(-OH // tile), -(-OW // tile)
    return (TH, TW), prepare_out(out, ((tile + 2) ** 2, B * TH * TW, K), dout.dtype, op)




def _check_tile(tile, op: str) -> int:
    if isinstance(tile, bool) or tile not in (2, 4):
        raise ValueError(f"{op}: tile must be 2 or 4 (F(2×2, 3×3) or F(4×4, 3×3)), got {tile!r}")
    return int(tile)


def check_winograd_kernel_transform(kernel, tile, flip, out) -> tuple[int, np.ndarray]:
    """:func:`~le4nn.ops.reference.winograd_kernel_transform`: ``(tile, U)``, U ((tile+2)², C, K), or
    ((tile+2)², K, C) with ``flip``."""
    op = "winograd_kernel_transform"
    tile = _check_tile(tile, op)
    kernel = check_float_array(kernel, op, "kernel", ndim=4)
    if kernel.shape[:2] != (3, 3):
        raise ValueError(f"{op}: kernel must be (3, 3, C, K), got shape {kernel.shape}")
    channels = kernel.shape[:1:-1] if flip else kernel.shape[2:]
    return tile, prepare_out(out, ((tile + 2) ** 2, *channels), kernel.dtype, op)


def check_winograd_filter_gradient(partials, tile, out) -> tuple[int, np.ndarray]:
    """:func:`~le4nn.ops.reference.winograd_filter_gradient`: ``(tile, dW)``, dW (3, 3, C, K)."""
    op = "winograd_filter_gradient"
    tile = _check_tile(tile, op)
    partials = check_float_array(partials, op, "partials", ndim=4)
    if partials.shape[1] != (tile + 2) ** 2:
        raise ValueError(f"{op}: partials must be (S, {(tile + 2) ** 2}, C, K) for tile {tile}, "
                         f"got shape {partials.shape}")
    return tile, prepare_out(out, (3, 3, *partials.shape[2:]), partials.dtype, op)
