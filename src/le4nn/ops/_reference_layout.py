"""The NumPy twins of the image layout transposes, re-exported by :mod:`le4nn.ops.reference` (which
is at its size limit).  A channels_first Conv2D runs the channels_last paths between them
(docs/design.md §2): NCHW is the handout's layout (B × ch × dx × dy), NHWC Keras's default.
"""

from __future__ import annotations

import numpy as np

from le4nn._typing import FloatArray
from le4nn.ops import _checks as checks


def nchw_to_nhwc(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """An NCHW batch (B, C, H, W) in the NHWC layout (B, H, W, C): ``x.transpose(0, 2, 3, 1)`` as a
    C-contiguous array.  Every value is moved, never computed, so NaN, inf and -0 come through bit for
    bit.  x must be C-contiguous; ``out`` (B, H, W, C) may not overlap it."""
    out = checks.check_layout_transpose(x, out, "nchw_to_nhwc", (0, 2, 3, 1))
    np.copyto(out, x.transpose(0, 2, 3, 1))
    return out


def nhwc_to_nchw(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """An NHWC batch (B, H, W, C) in the NCHW layout (B, C, H, W): ``x.transpose(0, 3, 1, 2)`` as a
    C-contiguous array, the inverse of :func:`nchw_to_nhwc` (the same rules)."""
    out = checks.check_layout_transpose(x, out, "nhwc_to_nchw", (0, 3, 1, 2))
    np.copyto(out, x.transpose(0, 3, 1, 2))
    return out
