"""The argument checks that :mod:`le4nn.ops._checks` builds each op's check from.

Arrays (dtype, rank, contiguity), ``out=`` buffers, window and pooling geometry, labels, biases and
max-pooling winners: each function checks one kind of argument and fails with a
``ValueError``/``TypeError`` that names the op and the argument, instead of a traceback from deep
inside NumPy or a compiled kernel.  The twins of an op never call these directly; they call the op's
check in :mod:`le4nn.ops._checks`, so both backends fail identically.
"""

from __future__ import annotations

import collections
import operator
from typing import NamedTuple

import numpy as np

from le4nn._numbers import all_whole_numbers
from le4nn._typing import Shape

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = FLOAT_DTYPES  # native-order float dtypes are singletons: arrays' dtypes are these objects


class Geometry(NamedTuple):
    """Shape arithmetic of a sliding-window op over an NCHW input.

    Output size per axis: floor((H + pad_top + pad_bottom − kh) / sh) + 1 (docs/design.md §2 "Tensor conventions").
    """

    B: int
    C: int
    H: int
    W: int
    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int
    OH: int
    OW: int


def _as_int(value, op: str, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}") from None


def as_pair(value, op: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints as an (vertical, horizontal) pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair (vertical, horizontal), got {value!r}")
        return _as_int(value[0], op, name), _as_int(value[1], op, name)
    v = _as_int(value, op, name)
    return v, v


def as_padding(value, op: str) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right): an int, a pair (vertical, horizontal) or four ints."""
    if isinstance(value, (tuple, list)) and len(value) == 4:
        top, bottom, left, right = (_as_int(v, op, "pad") for v in value)
        pads = (top, bottom, left, right)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        ph, pw = as_pair(value, op, "pad")
        pads = (ph, ph, pw, pw)
    elif isinstance(value, (tuple, list)):
        raise ValueError(
            f"{op}: pad must be an int, a pair (vertical, horizontal) or four ints "
            f"(top, bottom, left, right), got {value!r}"
        )
    else:
        p = _as_int(value, op, "pad")
        pads = (p, p, p, p)
    if min(pads) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {value!r}")
    return pads


def check_float_array(a, op: str, name: str, ndim: int | None = None) -> np.ndarray:
    """A C-contiguous float32/float64 ndarray of the given rank, or a clear error."""
    if (type(a) is np.ndarray and (a.dtype is _F32 or a.dtype is _F64) and (ndim is None or a.ndim == ndim)
            and a.flags.c_contiguous):
        return a  # the common case, in one test (the kernels' wrappers call this for every operand)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{op}: {name} must be C-contiguous (pass np.ascontiguousarray({name})), got strides {a.strides}"
        )
    return a


def check_same_dtype(op: str, **arrays: np.ndarray) -> None:
    first, *rest = arrays.values()
    if all(a.dtype is first.dtype for a in rest):
        return
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise TypeError(f"{op}: arrays must share one dtype ({listed})")


def check_same_shape(op: str, **arrays: np.ndarray) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{op}: shapes must match ({listed})")


def prepare_out(out, shape, dtype, op: str, name: str = "out") -> np.ndarray:
    """Allocate the result, or check a caller's preallocated ``out`` (shape, dtype, contiguity)."""
    if (type(out) is np.ndarray and out.shape == shape and out.dtype is dtype and out.flags.c_contiguous
            and out.flags.writeable):
        return out  # a layer's own buffer, as on the last call
    shape = tuple(int(s) for s in shape)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: {name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{op}: {name} has shape {out.shape}, expected {shape}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"{op}: {name} has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{op}: {name} must be a writeable C-contiguous array")
    return out


def check_shape4(shape, op: str, name: str) -> tuple[int, int, int, int]:
    try:
        dims = tuple(_as_int(s, op, name) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: {name} must be a shape tuple (B, C, H, W), got {shape!r}") from None
    if len(dims) != 4 or min(dims) < 1:
        raise ValueError(f"{op}: {name} must be a shape (B, C, H, W) of positive sizes, got {shape!r}")
    return dims


def window_geometry(x_shape: Shape, kh: int, kw: int, stride, pad, op: str) -> Geometry:
    """Check the window parameters against an NCHW shape and compute the output size."""
    B, C, H, W = check_shape4(x_shape, op, "x shape")
    kh = _as_int(kh, op, "kh")
    kw = _as_int(kw, op, "kw")
    if kh < 1 or kw < 1:
        raise ValueError(f"{op}: kernel size must be >= 1, got ({kh}, {kw})")
    sh, sw = as_pair(stride, op, "stride")
    if sh < 1 or sw < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride!r}")
    pt, pb, pl, pr = as_padding(pad, op)
    if kh > H + pt + pb or kw > W + pl + pr:
        raise ValueError(
            f"{op}: kernel ({kh}, {kw}) is larger than the padded input "
            f"({H + pt + pb}, {W + pl + pr}) (input {H}x{W}, padding {(pt, pb, pl, pr)})"
        )
    OH = (H + pt + pb - kh) // sh + 1
    OW = (W + pl + pr - kw) // sw + 1
    return Geometry(B, C, H, W, kh, kw, sh, sw, pt, pb, pl, pr, OH, OW)


def pool_geometry(x_shape: Shape, kh: int, kw: int, stride, pad, op: str) -> Geometry:
    """Window geometry of a pooling op: ``stride`` defaults to the pool size, and every window must
    hold at least one real input element (padding smaller than the pool on each side)."""
    g = window_geometry(x_shape, kh, kw, (kh, kw) if stride is None else stride, pad, op)
    if max(g.pt, g.pb) >= g.kh or max(g.pl, g.pr) >= g.kw:
        raise ValueError(
            f"{op}: padding {(g.pt, g.pb, g.pl, g.pr)} must be smaller than the pool size "
            f"({g.kh}, {g.kw}) on each side"
        )
    return g


def check_labels(labels, probs_shape, dtype, op: str, check_range: bool = True):
    """Class labels as integers (B,) or one-hot / soft targets (B, K).

    Returns ``(labels, is_index)``: an ``intp`` array of class indices, or a float array of ``dtype``.
    ``check_range=False`` leaves the range of class indices to the caller (the native kernels check it
    in their own pass over the labels, with the same message).
    """
    B, K = probs_shape
    if K == 0:
        raise ValueError(f"{op}: need at least one class, got an array of shape {(B, K)}")
    t = np.asarray(labels)
    if t.ndim == 1:
        if t.shape[0] != B:
            raise ValueError(f"{op}: labels has {t.shape[0]} entries for a batch of {B}")
        if t.dtype.kind == "f":
            if not all_whole_numbers(t):
                raise ValueError(f"{op}: 1-D labels must be integer class indices")
        elif t.dtype.kind not in "iub":
            raise TypeError(f"{op}: labels must be integers or one-hot floats, got {t.dtype}")
        idx = t.astype(np.intp, copy=False)
        if check_range and B and (idx.min() < 0 or idx.max() >= K):
            bad = idx[(idx < 0) | (idx >= K)][0]
            raise ValueError(f"{op}: label {bad} is out of range for {K} classes")
        return np.ascontiguousarray(idx), True
    if t.ndim == 2:
        if t.shape != (B, K):
            raise ValueError(f"{op}: one-hot labels have shape {t.shape}, expected {(B, K)}")
        if t.dtype.kind not in "fiub":
            raise TypeError(f"{op}: labels must be numeric, got {t.dtype}")
        return np.ascontiguousarray(t, dtype=dtype), False
    raise ValueError(f"{op}: labels must be 1-D class indices or 2-D one-hot, got shape {t.shape}")


def check_cols_shape(cols: np.ndarray, g: Geometry, op: str) -> None:
    """The column matrix of :func:`im2col` for geometry ``g``: (C·kh·kw, B·OH·OW)."""
    expected = (g.C * g.kh * g.kw, g.B * g.OH * g.OW)
    if cols.shape != expected:
        raise ValueError(
            f"{op}: cols has shape {cols.shape}, expected {expected} for x shape {(g.B, g.C, g.H, g.W)}"
        )


def check_cols_nhwc_shape(cols: np.ndarray, g: Geometry, op: str) -> None:
    """The row matrix of :func:`im2col_nhwc` for geometry ``g``: (B·OH·OW, kh·kw·C)."""
    expected = (g.B * g.OH * g.OW, g.kh * g.kw * g.C)
    if cols.shape != expected:
        raise ValueError(
            f"{op}: cols has shape {cols.shape}, expected {expected} for x shape {(g.B, g.H, g.W, g.C)}"
        )


#: The activations a product's epilogue can apply (``sparse_matmul``).
EPILOGUE_ACTIVATIONS = ("linear", "relu", "sigmoid")


def check_epilogue_activation(activation, op: str) -> str:
    """``None`` or one of :data:`EPILOGUE_ACTIVATIONS`; returns the name (``"linear"`` for None)."""
    if activation is None:
        return "linear"
    if not isinstance(activation, str) or activation not in EPILOGUE_ACTIVATIONS:
        raise ValueError(
            f"{op}: activation must be None or one of {', '.join(map(repr, EPILOGUE_ACTIVATIONS))}, "
            f"got {activation!r}"
        )
    return activation


def check_bias(bias, size: int, dtype, op: str, required: bool = False):
    """A 1-D C-contiguous bias of ``size`` entries in ``dtype`` (None allowed unless ``required``)."""
    if bias is None:
        if required:
            raise TypeError(f"{op}: bias must be a NumPy array, got None")
        return None
    bias = check_float_array(bias, op, "bias", ndim=1)
    if bias.shape[0] != size:
        raise ValueError(f"{op}: bias has {bias.shape[0]} entries, expected {size}")
    if bias.dtype != np.dtype(dtype):
        raise TypeError(f"{op}: bias has dtype {bias.dtype}, expected {np.dtype(dtype)}")
    return bias


def check_class_axis(x: np.ndarray, op: str) -> None:
    """Softmax needs at least one axis, and a non-empty last (class) axis."""
    if x.ndim < 1:
        raise ValueError(f"{op}: x must have at least one axis")
    if x.shape[-1] == 0:
        raise ValueError(f"{op}: the last axis of x (the classes) is empty, got shape {x.shape}")


def nchw_shape(x_shape: Shape) -> tuple:
    """(B, C, H, W) of an NHWC shape, for the shared geometry checks (other lengths unchanged)."""
    dims = tuple(x_shape)
    return (dims[0], dims[3], dims[1], dims[2]) if len(dims) == 4 else dims


def check_argmax(argmax, dout: np.ndarray, x_shape: Shape, op: str,
                 channels_last: bool = False) -> tuple[int, int, int, int]:
    """The int32 winner indices of max pooling, shaped like ``dout``; returns the checked x_shape,
    (B, C, H, W), or (B, H, W, C) with ``channels_last``."""
    dims = check_shape4(x_shape, op, "x_shape")
    producer = "maxpool2d_nhwc_forward" if channels_last else "maxpool2d_forward"
    if not isinstance(argmax, np.ndarray) or argmax.dtype != np.int32:
        raise TypeError(f"{op}: argmax must be the int32 array returned by {producer}")
    if not argmax.flags.c_contiguous:
        raise ValueError(f"{op}: argmax must be C-contiguous")
    check_same_shape(op, dout=dout, argmax=argmax)
    channel_axis = 3 if channels_last else 1
    if (dout.shape[0], dout.shape[channel_axis]) != (dims[0], dims[channel_axis]):
        raise ValueError(f"{op}: dout has shape {dout.shape}, which does not match x_shape {dims}")
    return dims


def check_argmax_range(argmax: np.ndarray, plane_h: int, plane_w: int, op: str, plane: str = "input plane") -> None:
    """Every winner index lies in its plane_h × plane_w plane (the kernels check this themselves)."""
    if argmax.size and (argmax.min() < 0 or argmax.max() >= plane_h * plane_w):
        raise ValueError(f"{op}: argmax holds indices outside the {plane_h}x{plane_w} {plane}")


#: A 3×3 stride-1 convolution of an NHWC input (B, H, W, C) with padding (pt, pb, pl, pr): OH × OW
#: outputs in TH × TW tiles of 2×2 or 4×4 (the last row/column of tiles may stick out).
WinogradGeometry = collections.namedtuple("WinogradGeometry", "B H W C pt pb pl pr OH OW TH TW")


def winograd_geometry(x_shape: Shape, pad, op: str, tile: int = 2) -> WinogradGeometry:
    """Check an NHWC input shape and a padding of at most 2 per side for Winograd F(tile×tile, 3×3)."""
    B, C, H, W = check_shape4(nchw_shape(x_shape), op, "x shape")
    pt, pb, pl, pr = as_padding(pad, op)
    if max(pt, pb, pl, pr) > 2:
        raise ValueError(f"{op}: padding {(pt, pb, pl, pr)} must be at most 2 on each side")
    OH, OW = H + pt + pb - 2, W + pl + pr - 2
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: the 3x3 kernel is larger than the padded input ({H + pt + pb}, {W + pl + pr})")
    return WinogradGeometry(B, H, W, C, pt, pb, pl, pr, OH, OW, -(-OH // tile), -(-OW // tile))


def check_layout_transpose(x, out, op: str, axes: tuple[int, int, int, int]) -> np.ndarray:
    """The image layout transposes (``nchw_to_nhwc``: axes (0, 2, 3, 1), ``nhwc_to_nchw``: (0, 3, 1, 2)):
    x a 4-D C-contiguous float array; returns ``out`` of shape x.shape permuted by ``axes``, which may
    not overlap x (a transpose cannot run in place)."""
    x = check_float_array(x, op, "x", ndim=4)
    out = prepare_out(out, tuple(x.shape[a] for a in axes), x.dtype, op)
    if np.may_share_memory(x, out) and x.size:  # both contiguous: the bounds overlap iff the memory does
        raise ValueError(f"{op}: out must not overlap x (a transpose cannot run in place)")
    return out
