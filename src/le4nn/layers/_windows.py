"""Sliding-window geometry shared by Conv2D and the pooling layers: padding modes, output sizes, and
the channels_last <-> NCHW conversion of the layers whose ops are NCHW only (docs/design.md §2 "Tensor conventions")."""

from __future__ import annotations

import numpy as np

from le4nn._numbers import is_integer
from le4nn.layers.shapes import format_shape


def normalize_padding(layer, padding):
    """``"valid"``, ``"same"``, or explicit (top, bottom, left, right) from an int p, a pair (ph, pw), a
    pair of pairs ((top, bottom), (left, right)) or four ints."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode in ("valid", "same"):
            return mode
    else:
        values = padding
        if isinstance(values, (list, tuple)) and len(values) == 2 and all(
            isinstance(v, (list, tuple)) for v in values
        ):
            values = (*values[0], *values[1])
        if isinstance(values, (list, tuple)) and len(values) == 2:
            values = (values[0], values[0], values[1], values[1])
        elif not isinstance(values, (list, tuple)):
            values = (values,) * 4
        if len(values) == 4 and all(
            is_integer(v) and int(v) >= 0 for v in values
        ):
            return tuple(int(v) for v in values)
    raise ValueError(
        f"{layer.describe()}: padding must be 'valid', 'same', an int >= 0, a pair (vertical, horizontal) "
        f"or (top, bottom, left, right), got {padding!r}"
    )


def padding_config(padding):
    """The JSON form of a normalized padding."""
    return padding if isinstance(padding, str) else list(padding)


def _same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same': output ceil(size/s); the total padding is split with the extra on the
    bottom/right (for stride 1: k − 1 split as floor/ceil)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _axis_padding(padding, axis: int, size: int, k: int, s: int) -> tuple[int, int]:
    """(before, after) padding along one axis (0: vertical, 1: horizontal)."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return _same_padding(size, k, s)
    return padding[2 * axis], padding[2 * axis + 1]


def resolve_padding(padding, height: int, width: int, kernel, strides) -> tuple[int, int, int, int]:
    """The (top, bottom, left, right) padding for an input of ``height`` × ``width``."""
    return (
        *_axis_padding(padding, 0, height, kernel[0], strides[0]),
        *_axis_padding(padding, 1, width, kernel[1], strides[1]),
    )


def output_spatial(layer, padding, height, width, kernel, strides, what: str = "kernel") -> tuple:
    """(OH, OW) = floor((n + pads − k) / s) + 1 per axis (docs/design.md §2); None where the size is unknown.

    Raises a ValueError naming the layer when the window does not fit into the (padded) input.
    """
    sizes: list[int | None] = []
    for axis, n in enumerate((height, width)):
        if n is None:
            sizes.append(None)
            continue
        k, s = kernel[axis], strides[axis]
        before, after = _axis_padding(padding, axis, n, k, s)
        if n + before + after < k:
            raise ValueError(
                f"{layer.describe()}: the {what} {tuple(kernel)} does not fit into inputs of spatial size "
                f"{(height, width)} with padding {padding!r}"
            )
        sizes.append((n + before + after - k) // s + 1)
    return tuple(sizes)


def image_shape(layer, input_shape, data_format) -> tuple:
    """(channels, height, width) of a 4-D input shape, after checking its rank."""
    layout = "(batch, height, width, channels)" if data_format == "channels_last" else (
        "(batch, channels, height, width)"
    )
    shape = layer._require_rank(input_shape, 4, layout, f"data_format is {data_format!r}")
    if data_format == "channels_last":
        return shape[3], shape[1], shape[2]
    return shape[1], shape[2], shape[3]


def image_output_shape(batch, channels, height, width, data_format) -> tuple:
    if data_format == "channels_last":
        return (batch, height, width, channels)
    return (batch, channels, height, width)


def to_nchw(x: np.ndarray, data_format: str) -> np.ndarray:
    """A C-contiguous NCHW view or copy of ``x`` for the ops."""
    if data_format == "channels_first":
        return x
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def from_nchw(y: np.ndarray, data_format: str) -> np.ndarray:
    """Back from NCHW to the layer's data format (C-contiguous)."""
    if data_format == "channels_first":
        return y
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


def require_channels(layer, channels, input_shape) -> int:
    if channels is None:
        raise ValueError(
            f"{layer.describe()}: the number of input channels must be known, got input shape "
            f"{format_shape(input_shape)}"
        )
    return channels
