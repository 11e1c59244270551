"""Scratch arrays shared by all the layers one thread runs, for values that live only inside one
layer call.

A channels_first Conv2D runs the channels_last paths between layout transposes (docs/design.md §2):
its NHWC output before the transpose back, and in backward the NHWC ∂E/∂z and ∂E/∂x, are dead as
soon as the call returns.  Kept per layer (``Layer._buffer``) they added three activation-sized arrays
to every convolution (ResNet-20, batch 128: about 280 MB); shared, the model needs two, as large as
the largest layer's.

Why per thread, not per model: a step holds the locks of its own layers only (``_threads.StepGuard``),
so two models that share no layer may run steps at the same time on two threads; each thread gets
its own arrays.  On one thread, layer calls never nest, so an array handed out here stays untouched
until the next request for the same ``tag`` on that thread.  The arrays live as long as the thread
(the largest size asked for, per tag).
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def scratch(tag: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` (contents undefined), valid until this thread
    asks for ``tag`` again: a view of the thread's buffer ``tag``, which grows to the largest request."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    words = (count * dtype.itemsize + 7) // 8  # in float64 words: aligned for either float dtype
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buffer = buffers.get(tag)
    if buffer is None or buffer.size < words:
        buffers[tag] = None  # let the old one go before the new one is allocated
        buffer = buffers[tag] = np.empty(max(words, 1), np.float64)
    return buffer[:words].view(np.uint8)[: count * dtype.itemsize].view(dtype).reshape(shape)
