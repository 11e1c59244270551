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
until the next request for the same ``tag`` on that thread.

Lifetime: the thread holds its arrays weakly; every layer that used one keeps it alive (in the dict it
passes as ``keep_in``, its ``_buffers``).  So the arrays go when the last model using them goes, as a
layer's own buffers do, and one array grows to the largest request while those layers live.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

_local = threading.local()


def scratch(tag: str, shape: tuple[int, ...], dtype, keep_in: dict) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` (contents undefined), valid until this thread
    asks for ``tag`` again: a view of the thread's buffer ``tag``, which ``keep_in`` (the caller's
    buffer dict) then holds under the key ``"shared:" + tag``."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    words = (count * dtype.itemsize + 7) // 8  # in float64 words: aligned for either float dtype
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    ref = buffers.get(tag)
    buffer = ref() if ref is not None else None
    if buffer is None or buffer.size < words:
        keep_in.pop("shared:" + tag, None)  # let this caller's old one go before the new one is allocated
        buffer = np.empty(max(words, 1), np.float64)
        buffers[tag] = weakref.ref(buffer)
    keep_in["shared:" + tag] = buffer
    return buffer[:words].view(np.uint8)[: count * dtype.itemsize].view(dtype).reshape(shape)
