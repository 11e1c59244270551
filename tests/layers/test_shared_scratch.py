"""The per-thread scratch arrays of layers/_shared_scratch.py, and the channels_first Conv2D that uses
them for its NHWC output and gradients (instead of three activation-sized buffers per layer)."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from le4nn.layers import Conv2D, _shared_scratch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scratch_has_the_shape_and_dtype_asked_for(dtype):
    a = _shared_scratch.scratch("test/a", (2, 3, 5), dtype, {})
    assert a.shape == (2, 3, 5) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % np.dtype(dtype).itemsize == 0


def test_one_tag_reuses_its_memory_and_grows_to_the_largest_request():
    first, second = {}, {}  # two layers' buffer dicts
    small = _shared_scratch.scratch("test/grow", (10,), np.float32, first)
    again = _shared_scratch.scratch("test/grow", (2, 5), np.float32, second)
    assert np.shares_memory(small, again)
    large = _shared_scratch.scratch("test/grow", (1000,), np.float64, first)
    assert large.shape == (1000,) and not np.shares_memory(large, small)
    assert np.shares_memory(large, _shared_scratch.scratch("test/grow", (7,), np.float32, second))
    assert first["shared:test/grow"] is second["shared:test/grow"]


def test_the_arrays_go_with_the_last_holder():
    """The thread holds its arrays weakly: once no layer keeps one, it is freed (as a layer's own
    buffers are with the layer), and the next request allocates afresh."""
    holder = {}
    _shared_scratch.scratch("test/lifetime", (1000,), np.float32, holder)
    ref = weakref.ref(holder["shared:test/lifetime"])
    del holder
    gc.collect()
    assert ref() is None
    again = {}
    assert _shared_scratch.scratch("test/lifetime", (10,), np.float32, again).shape == (10,)
    assert again["shared:test/lifetime"].size >= 5


def test_tags_and_threads_never_share_memory():
    holder = {}
    here = _shared_scratch.scratch("test/one", (100,), np.float32, holder)
    assert not np.shares_memory(here, _shared_scratch.scratch("test/two", (100,), np.float32, holder))
    there = []
    worker = threading.Thread(
        target=lambda: there.append(_shared_scratch.scratch("test/one", (100,), np.float32, {})))
    worker.start()
    worker.join()
    assert not np.shares_memory(here, there[0])


def test_empty_shapes_are_allowed():
    assert _shared_scratch.scratch("test/empty", (0, 4), np.float32, {}).shape == (0, 4)


@pytest.mark.parametrize("kernel, strides", [(3, 1), (1, 2), (3, 2)])  # Winograd, 1×1 shortcut, im2col
def test_channels_first_conv_keeps_only_its_nhwc_input(rng, kernel, strides):
    """Inside a model step (``_scratch``) the layer keeps x in NHWC for backward and its NCHW results;
    the NHWC output, ∂E/∂z and ∂E/∂x are the thread's shared arrays, and its results match a
    direct call (fresh arrays everywhere)."""
    conv = Conv2D(8, kernel, strides=strides, padding="same", data_format="channels_first")
    x = rng.standard_normal((4, 16, 9, 9)).astype(np.float32)
    direct = conv.forward(x, training=True).copy()
    grad = rng.standard_normal(direct.shape).astype(np.float32)
    direct_grad_x = conv.backward(grad).copy()
    direct_grad_w = conv.grads["kernel"].copy()
    conv._scratch = True
    try:
        np.testing.assert_array_equal(conv.forward(x, training=True), direct)
        np.testing.assert_array_equal(conv._backward_step(grad, from_logits=False, need_input_grad=True),
                                      direct_grad_x)
    finally:
        conv._scratch = False
    np.testing.assert_array_equal(conv.grads["kernel"], direct_grad_w)
    nhwc_shapes = {(4, 9, 9, 16), direct.transpose(0, 2, 3, 1).shape}  # x and z in NHWC
    held = {tag for tag, buffer in conv._buffers.items() if buffer is not None and buffer.shape in nhwc_shapes}
    assert held == {"x_nhwc"}
