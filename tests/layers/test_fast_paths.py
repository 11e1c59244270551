"""The layers' fast paths give the same results as the plain ones: Conv2D's direct convolution and
its chunked im2col + GEMM against channels_first, the fused bias + ReLU epilogues, the model's
skipped input gradients of first layers, and the scratch arrays layers reuse inside a model step
(which must never leak into results a caller keeps)."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers, losses, optimizers
from le4nn.layers import Conv2D, Dense, Flatten, MaxPooling2D, _conv_winograd
from le4nn.layers._conv_nhwc import GemmCache
from le4nn.layers._conv_winograd import WinogradCache
from le4nn.models import Sequential


def channels_first_twin(layer: Conv2D, input_shape) -> Conv2D:
    twin = Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                  activation=layer.activation.name, use_bias=layer.use_bias, data_format="channels_first",
                  dtype=layer.dtype.name)
    B, H, W, C = input_shape
    twin.build((None, C, H, W))
    twin.set_weights(layer.get_weights())
    return twin


def nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels, filters, kernel, strides, padding, activation", [
    (1, 32, (3, 3), (1, 1), "same", "relu"),      # direct, ReLU fused
    (1, 9, (3, 3), (1, 1), "same", "relu"),
    (3, 17, (3, 3), (2, 1), "valid", "linear"),  # direct (27 taps), no activation
    (2, 5, (2, 3), (1, 2), (1, 0), "sigmoid"),   # direct, another activation
    (8, 12, (3, 3), (1, 1), "same", "relu"),      # im2col + GEMM
    (6, 4, (5, 2), (2, 2), "same", "tanh"),
])
@pytest.mark.parametrize("chunk_bytes", [None, 1])  # default chunks, or one image per chunk
def test_conv2d_fast_paths_equal_channels_first(rng, dtype, channels, filters, kernel, strides, padding,
                                                activation, chunk_bytes, monkeypatch):
    if chunk_bytes is not None:
        monkeypatch.setattr(Conv2D, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(Conv2D, "CHANNELS_FIRST_VIA_NHWC", False)  # the twin: the handout's path
    shape = (5, 9, 8, channels)
    x = rng.standard_normal(shape).astype(dtype)
    layer = Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation, dtype=dtype)
    layer.build((None, *shape[1:]))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    twin = channels_first_twin(layer, shape)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)

    y = layer.forward(x, training=True)
    y_ref = nhwc(twin.forward(nchw(x), training=True))
    np.testing.assert_allclose(y, y_ref, **tol)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    dx_ref = nhwc(twin.backward(nchw(dout)))
    np.testing.assert_allclose(dx, dx_ref, **tol)
    for name in layer.grads:
        np.testing.assert_allclose(layer.grads[name], twin.grads[name], **tol)


def channels_first_layer(rng, dtype, channels, filters, kernel, strides, padding, activation, use_bias):
    layer = Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation, use_bias=use_bias,
                   data_format="channels_first", dtype=dtype)
    layer.build((None, channels, 9, 10))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels, filters, kernel, strides, padding, activation, use_bias", [
    (8, 12, (3, 3), (1, 1), "same", "relu", False),     # Winograd F(4×4, 3×3) (the ResNets' 3×3 stride 1)
    (8, 5, (3, 3), (1, 1), "same", "sigmoid", True),    # Winograd, another activation
    (8, 6, (3, 3), (1, 1), (2, 0, 1, 0), "relu", True),  # Winograd, one-sided padding (11 × 9 outputs)
    (3, 16, (3, 3), (1, 1), "same", "relu", True),      # direct (27 taps: a stem)
    (1, 4, (2, 3), (1, 2), (1, 0), "tanh", True),       # direct, odd geometry
    (16, 7, (3, 3), (2, 2), "same", "relu", False),     # im2col + GEMM: 3×3 stride 2, one-sided pad
    (16, 9, (1, 1), (2, 2), "valid", "linear", False),  # 1×1 stride 2 (a projection)
    (6, 4, (1, 1), (1, 1), "valid", "relu", True),      # 1×1 stride 1
])
@pytest.mark.parametrize("winograd_tile", [4, 2])
def test_channels_first_on_the_channels_last_paths_equals_the_handout_path(
        rng, monkeypatch, dtype, channels, filters, kernel, strides, padding, activation, use_bias, winograd_tile):
    """channels_first layers transpose to the channels_last paths: the same outputs, input and weight
    gradients as eq. 59–62 computed on the NCHW arrays (Winograd with either tile)."""
    monkeypatch.setattr(Conv2D, "WINOGRAD_TILE", winograd_tile)
    args = (dtype, channels, filters, kernel, strides, padding, activation, use_bias)
    fast = channels_first_layer(rng, *args)
    plain = channels_first_layer(rng, *args)
    plain.set_weights(fast.get_weights())
    x = rng.standard_normal((4, channels, 9, 10)).astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=3e-4, atol=3e-4)
    y = fast.forward(x, training=True)
    monkeypatch.setattr(Conv2D, "CHANNELS_FIRST_VIA_NHWC", False)
    y_ref = plain.forward(x, training=True)
    assert y.shape == y_ref.shape and y.flags.c_contiguous
    np.testing.assert_allclose(y, y_ref, **tol)
    dout = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(fast.backward(dout), plain.backward(dout), **tol)
    for name in fast.grads:
        np.testing.assert_allclose(fast.grads[name], plain.grads[name], **tol)


def test_channels_first_models_train_alike_on_both_paths(rng, monkeypatch):
    """Inside a model (scratch buffers, skipped input gradient of the first layer): a few SGD steps
    of a channels_first CNN end with the same weights on the transposed and the handout path."""
    from le4nn.utils import set_random_seed

    def model():
        set_random_seed(3)
        m = Sequential([
            Conv2D(8, 3, padding="same", activation="relu", data_format="channels_first", input_shape=(3, 8, 8),
                   dtype="float64"),
            Conv2D(8, 3, strides=2, padding="same", activation="relu", data_format="channels_first",
                   dtype="float64"),
            Conv2D(6, 1, strides=2, data_format="channels_first", dtype="float64"),
            Flatten(dtype="float64"),
            Dense(4, activation="softmax", dtype="float64"),
        ])
        m.compile(optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        return m

    x = rng.standard_normal((6, 3, 8, 8))
    y = rng.integers(0, 4, 6)
    weights = []
    for via_nhwc in (True, False):
        monkeypatch.setattr(Conv2D, "CHANNELS_FIRST_VIA_NHWC", via_nhwc)
        m = model()
        for _ in range(3):
            m.train_on_batch(x, y)
        weights.append(m.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_pointwise_conv_is_a_gemm_on_the_input(rng, monkeypatch, dtype, chunk_bytes):
    """1×1 stride-1 layers multiply the input itself (no im2col, no col2im): the definition
    y = x W + b, ∂E/∂x = ∂E/∂z Wᵀ, ∂E/∂W = xᵀ ∂E/∂z, one chunk or one image per chunk."""
    if chunk_bytes is not None:
        monkeypatch.setattr(Conv2D, "CHUNK_BYTES", chunk_bytes)
    layer = Conv2D(7, 1, activation="relu", dtype=dtype)
    layer.build((None, 5, 6, 40))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((3, 5, 6, 40)).astype(dtype)
    kernel, bias = layer.params["kernel"].reshape(40, 7), layer.params["bias"]
    z = x.reshape(-1, 40) @ kernel + bias
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.forward(x, training=True).reshape(-1, 7), np.maximum(z, 0), **tol)
    dout = rng.standard_normal((3, 5, 6, 7)).astype(dtype)
    dz = dout.reshape(-1, 7) * (z > 0)
    np.testing.assert_allclose(layer.backward(dout).reshape(-1, 40), dz @ kernel.T, **tol)
    np.testing.assert_allclose(layer.grads["kernel"].reshape(40, 7), x.reshape(-1, 40).T @ dz, **tol)
    np.testing.assert_allclose(layer.grads["bias"], dz.sum(axis=0), **tol)


def test_direct_and_gemm_paths_agree(rng, monkeypatch):
    x = rng.standard_normal((4, 10, 10, 1)).astype(np.float64)
    direct = Conv2D(32, (3, 3), padding="same", activation="relu", dtype="float64")
    gemm = Conv2D(32, (3, 3), padding="same", activation="relu", dtype="float64")
    direct.build((None, 10, 10, 1))
    gemm.build((None, 10, 10, 1))
    gemm.set_weights(direct.get_weights())
    y1 = direct.forward(x, training=True)
    monkeypatch.setattr(Conv2D, "DIRECT_MAX_TAPS", 0)
    y2 = gemm.forward(x, training=True)
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y1.shape)
    np.testing.assert_allclose(gemm.backward(dout), direct.backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gemm.grads["kernel"], direct.grads["kernel"], rtol=1e-12)
    np.testing.assert_allclose(gemm.grads["bias"], direct.grads["bias"], rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "linear", "softmax", "tanh"])
def test_dense_epilogues_match_the_definition(rng, activation):
    x = rng.standard_normal((6, 5))
    layer = Dense(4, activation=activation, dtype="float64")
    layer.build((None, 5))
    layer.set_weights([rng.standard_normal((5, 4)), rng.standard_normal(4)])
    z = x @ layer.params["kernel"] + layer.params["bias"]
    expected = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)), "linear": z,
                "softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), "tanh": np.tanh(z)}[activation]
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12)
    if activation != "softmax":
        dout = rng.standard_normal(expected.shape)
        dz = {"relu": dout * (z > 0), "sigmoid": dout * expected * (1 - expected), "linear": dout,
              "tanh": dout * (1 - expected**2)}[activation]
        np.testing.assert_allclose(layer.backward(dout), dz @ layer.params["kernel"].T, rtol=1e-10)
        np.testing.assert_allclose(layer.grads["kernel"], x.T @ dz, rtol=1e-10)
        np.testing.assert_allclose(layer.grads["bias"], dz.sum(axis=0), rtol=1e-10)


def test_outputs_of_direct_calls_are_fresh_arrays(rng):
    """Outside a model step every call returns a new array (no scratch reuse)."""
    for layer, shape in [(Conv2D(4, 3, padding="same", activation="relu"), (2, 6, 6, 1)),
                         (Conv2D(4, 3, activation="relu"), (2, 6, 6, 5)),
                         (MaxPooling2D(), (2, 6, 6, 3)), (Dense(3, activation="relu"), (2, 7))]:
        x1 = rng.standard_normal(shape).astype(np.float32)
        x2 = rng.standard_normal(shape).astype(np.float32)
        y1 = layer(x1)
        keep = y1.copy()
        y2 = layer(x2)
        assert not np.shares_memory(y1, y2)
        np.testing.assert_array_equal(y1, keep)
        g1 = layer.backward(np.ones_like(y2))
        g2 = layer.backward(np.ones_like(y2))
        assert not np.shares_memory(g1, g2)


def small_cnn(seed=0, channels=1):
    from le4nn.utils import set_random_seed

    set_random_seed(seed)
    model = Sequential([
        Conv2D(8, (3, 3), padding="same", activation="relu", input_shape=(12, 12, channels)),
        MaxPooling2D((2, 2)),
        Conv2D(16, (3, 3), padding="same", activation="relu"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(20, activation="relu"),
        Dense(5, activation="softmax"),
    ])
    model.compile(optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model


def manual_step_gradients(model, x, y):
    """Forward and a full backward (every input gradient) through the layers one by one."""
    out = x
    for layer in model.layers:
        out = layer.forward(out, training=True)
    loss = losses.SparseCategoricalCrossentropy()
    _, probs = loss.softmax_fused(y, model.layers[-1].logits)
    grad = model.layers[-1].backward_from_logits(loss.softmax_fused_gradient(y, probs))
    for layer in reversed(model.layers[:-1]):
        grad = layer.backward(grad)
    return {f"{layer.name}/{k}": v.copy() for layer in model.layers for k, v in layer.grads.items()}, grad


def test_model_step_skips_only_unneeded_input_gradients(rng, monkeypatch):
    x = rng.standard_normal((6, 12, 12, 1)).astype(np.float64)
    y = rng.integers(0, 5, 6)
    model = small_cnn()
    for layer in model.layers:
        layer.dtype = np.dtype(np.float64)
        for d in (layer.params, layer.grads):
            for k in d:
                d[k] = d[k].astype(np.float64)
    expected, grad_x = manual_step_gradients(model, x, y)
    assert grad_x.shape == x.shape  # the full backward computes it ...

    calls = []
    first = model.layers[0]
    original = type(first)._pre_activation_backward

    def spy(self, grad_z, need_input_grad, bias_done):
        calls.append((self.name, need_input_grad))
        return original(self, grad_z, need_input_grad, bias_done)

    monkeypatch.setattr(type(first), "_pre_activation_backward", spy)
    model.graph.set_scratch(True)
    try:
        outputs = model.graph.forward([x], training=True)
        _, grads, fused = model._losses_and_grads(outputs, [y], None, with_grads=True)
        model.graph.backward(grads, fused)  # ... the model does not
    finally:
        model.graph.set_scratch(False)
    # The first convolution either gets need_input_grad=False or is fused with its pooling
    # (Conv2D._backward_through); never is its input gradient computed.
    assert (first.name, True) not in calls
    assert (model.layers[2].name, True) in calls
    for layer in model.layers:
        for k, v in layer.grads.items():
            np.testing.assert_allclose(v, expected[f"{layer.name}/{k}"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
@pytest.mark.parametrize("pool", [(2, None), (3, 2)])
def test_first_conv_and_pool_fusion_matches_the_plain_backward(rng, activation, pool):
    """Conv2D (direct) + MaxPooling2D as first layers: the fused backward (from the pooled gradient)
    gives the gradients of the layer-by-layer one."""
    from le4nn.utils import set_random_seed

    def build():
        set_random_seed(3)
        model = Sequential([
            Conv2D(12, (3, 3), padding="same", activation=activation, input_shape=(10, 10, 1),
                   dtype="float64"),
            MaxPooling2D(pool[0], strides=pool[1], dtype="float64"),
            Flatten(dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ])
        model.compile(optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
        return model

    x = rng.standard_normal((5, 10, 10, 1))
    y = rng.integers(0, 3, 5)
    fused, plain = build(), build()
    plain.layers[0]._backward_through = lambda consumer, grad, need: NotImplemented
    plain.layers[0]._forward_through = lambda consumer, x, training: NotImplemented
    fused.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    for a, b in zip(fused.layers, plain.layers, strict=True):
        for name in a.grads:
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused.predict(x, batch_size=2), plain.predict(x, batch_size=2), rtol=1e-12)
    np.testing.assert_allclose(fused.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0), rtol=1e-12)


def test_frozen_layers_still_pass_gradients_upstream(rng):
    model = small_cnn()
    x = rng.standard_normal((4, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 5, 4)
    model.layers[2].trainable = False  # the second conv: the first one still needs its gradient
    before = model.layers[0].params["kernel"].copy()
    frozen = model.layers[2].params["kernel"].copy()
    model.train_on_batch(x, y)
    assert not np.array_equal(model.layers[0].params["kernel"], before)
    np.testing.assert_array_equal(model.layers[2].params["kernel"], frozen)


def test_training_is_the_same_with_and_without_scratch_reuse(rng):
    """Steps inside fit reuse the layers' arrays; the trajectory equals fresh-array steps."""
    x = rng.standard_normal((40, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 5, 40)
    a, b = small_cnn(1), small_cnn(1)
    a.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    b.graph.set_scratch = lambda on: None  # never reuse
    b.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    p1 = a.predict(x, batch_size=7)
    p2 = a.predict(x, batch_size=40)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)
    assert not np.shares_memory(p1, p2)


def test_predict_batches_do_not_overwrite_each_other(rng):
    model = small_cnn(2)
    x = rng.standard_normal((23, 12, 12, 1)).astype(np.float32)
    whole = np.concatenate([model(x[i : i + 1]) for i in range(23)])
    np.testing.assert_allclose(model.predict(x, batch_size=5), whole, rtol=1e-5, atol=1e-6)
    assert layers.Layer._scratch is False and all(not layer._scratch for layer in model.layers)


def test_a_softmax_output_that_feeds_another_layer_stays_a_softmax(rng):
    """The model lets a fused softmax output return logits only when no layer reads that output."""
    from le4nn.layers import Input
    from le4nn.models import Model

    inputs = Input(shape=(4,))
    probs = Dense(3, activation="softmax", name="probs")(inputs)
    value = Dense(1, name="value")(probs)
    model = Model(inputs=inputs, outputs=[probs, value])
    model.compile(optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"])
    assert model.graph.output_is_leaf == [False, True]
    x = rng.standard_normal((8, 4)).astype(np.float32)
    labels, targets = rng.integers(0, 3, 8), rng.standard_normal((8, 1)).astype(np.float32)
    seen = {}
    original = model.layers[-1].forward

    def spy(x, training=False):
        seen["input"] = x.copy()
        return original(x, training)

    model.layers[-1].forward = spy
    model.train_on_batch(x, [labels, targets])
    np.testing.assert_allclose(seen["input"].sum(axis=1), 1.0, rtol=1e-5)  # probabilities, not logits


@pytest.mark.parametrize("channels, kernel, strides, data_format", [
    (5, 3, 1, "channels_last"),     # im2col + GEMM
    (16, 3, 1, "channels_last"),    # Winograd
    (40, 1, 1, "channels_last"),    # pointwise: a GEMM on the input
    (16, 3, 2, "channels_first"),   # transposed to the channels_last im2col + GEMM
    (16, 3, 1, "channels_first"),   # transposed to Winograd
])
def test_conv2d_results_do_not_depend_on_the_thread_count(rng, monkeypatch, channels, kernel, strides,
                                                          data_format):
    """Chunks are shared out among threads (le4nn._threads.run_chunks) with fixed boundaries and
    per-chunk partial sums: bitwise the same results for 1, 2 and 3 threads."""
    import le4nn
    from le4nn import _threads

    monkeypatch.setattr(_threads, "_adaptive", False)
    monkeypatch.setattr(Conv2D, "CHUNK_BYTES", 20_000)
    monkeypatch.setattr(Conv2D, "WINOGRAD_CHUNK_BYTES", 20_000)
    monkeypatch.setattr(_conv_winograd, "MIN_TILES_PER_CHUNK", 1)  # several Winograd chunks, too
    x = rng.standard_normal((9, 10, 10, channels)).astype(np.float32)
    side = 10 // strides
    dout = rng.standard_normal((9, side, side, 12)).astype(np.float32)
    if data_format == "channels_first":
        x, dout = nchw(x), nchw(dout)
    saved = le4nn.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            le4nn.set_num_threads(n)
            layer = Conv2D(12, kernel, strides=strides, padding="same", activation="relu",
                           data_format=data_format, kernel_initializer="glorot_uniform")
            layer.build((None, *x.shape[1:]))
            layer.set_weights([np.linspace(-1, 1, w.size, dtype=np.float32).reshape(w.shape)
                               for w in layer.get_weights()])
            y = layer.forward(x, training=True)
            dx = layer.backward(dout)
            results.append([a.tobytes() for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    finally:
        le4nn.set_num_threads(saved)
    assert results[0] == results[1] == results[2]


def test_run_chunks_runs_every_chunk_once_and_propagates_errors(monkeypatch):
    import threading

    import le4nn
    from le4nn import _threads

    monkeypatch.setattr(_threads, "_adaptive", False)
    saved = le4nn.get_num_threads()
    le4nn.set_num_threads(2)
    try:
        seen, names = [], set()

        def task(i):
            assert _threads.num_threads_now() == 1  # kernels inside a chunk run single-threaded
            seen.append(i)
            names.add(threading.current_thread().name)

        workers = _threads.run_chunks(task, 50)
        assert sorted(seen) == list(range(50)) and workers == 2

        def failing(i):
            if i == 7:
                raise KeyError("chunk 7")

        with pytest.raises(KeyError, match="chunk 7"):
            _threads.run_chunks(failing, 20)
        assert _threads.num_threads_now() == 2  # back to normal afterwards
    finally:
        le4nn.set_num_threads(saved)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_conv_and_pool_fusion_inside_the_network_matches_the_plain_backward(rng, activation):
    """Conv2D + MaxPooling2D pairs whose input gradient is needed (not first layers), Winograd and
    im2col convolutions: the fused backward gives the plain one's gradients."""
    from le4nn.utils import set_random_seed

    def build():
        set_random_seed(4)
        model = Sequential([
            Conv2D(8, (3, 3), padding="same", activation="relu", input_shape=(12, 12, 1), dtype="float64"),
            Conv2D(10, (3, 3), padding="same", activation=activation, dtype="float64"),  # Winograd
            MaxPooling2D((2, 2), dtype="float64"),
            Conv2D(6, (2, 2), activation=activation, dtype="float64"),  # im2col + GEMM
            MaxPooling2D((2, 2), dtype="float64"),
            Flatten(dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ])
        model.compile(optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
        return model

    x = rng.standard_normal((5, 12, 12, 1))
    y = rng.integers(0, 3, 5)
    fused, plain = build(), build()
    for layer in plain.layers:
        layer._backward_through = lambda consumer, grad, need: NotImplemented
        layer._forward_through = lambda consumer, x, training: NotImplemented
    fused.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    assert isinstance(fused.layers[1]._cache, WinogradCache) and isinstance(fused.layers[3]._cache, GemmCache)
    for a, b in zip(fused.layers, plain.layers, strict=True):
        for name in a.grads:
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation, use_bias", [("sigmoid", True), ("sigmoid", False), ("relu", True),
                                                  ("linear", True), ("tanh", True)])
def test_dense_on_sparse_inputs_takes_the_sparse_products_with_the_same_results(rng, monkeypatch, dtype,
                                                                                activation, use_bias):
    """Mostly-zero inputs (image pixels) go through ops.sparse_matmul (with the bias and a ReLU or
    sigmoid as its epilogue) and sparse_matmul_tn; outputs and gradients equal the BLAS path's, and
    dense inputs keep the BLAS path."""
    from le4nn import ops

    calls = []
    for name in ("sparse_matmul", "sparse_matmul_tn"):
        original = getattr(ops, name)
        monkeypatch.setattr(ops, name, lambda *a, _f=original, _n=name, **k: (calls.append(_n), _f(*a, **k))[1])
    x = (rng.random((13, 200)) * (rng.random((13, 200)) < 0.15)).astype(dtype)
    grad_y = rng.standard_normal((13, 30)).astype(dtype)
    sparse_layer = Dense(30, activation=activation, use_bias=use_bias, dtype=dtype)
    sparse_layer.build((None, 200))
    y = sparse_layer(x).copy()
    grad_x = sparse_layer.backward(grad_y).copy()
    grads = {k: v.copy() for k, v in sparse_layer.grads.items()}
    assert calls == (["sparse_matmul", "sparse_matmul_tn"] if ops.get_backend() == "native" else [])

    plain = Dense(30, activation=activation, use_bias=use_bias, dtype=dtype)
    plain.build((None, 200))
    plain.set_weights(sparse_layer.get_weights())
    plain._SPARSE_DENSITY = -1.0  # never sparse
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(plain(x), y, rtol=tol, atol=tol)
    np.testing.assert_allclose(plain.backward(grad_y), grad_x, rtol=tol, atol=tol)
    for key, value in plain.grads.items():
        np.testing.assert_allclose(value, grads[key], rtol=tol, atol=tol)

    calls.clear()
    dense_x = rng.standard_normal((13, 200)).astype(dtype)
    layer = Dense(30, dtype=dtype)
    layer(dense_x)
    layer.backward(grad_y)
    assert calls == []


def test_dense_remeasures_the_input_density(rng):
    import le4nn

    with le4nn.backend("native"):
        if le4nn.get_backend() != "native":
            pytest.skip("the compiled kernels are not built; only they have a sparse product")
        check_density_remeasured(rng)


def check_density_remeasured(rng):
    layer = Dense(4)
    layer.build((None, 100))
    sparse_x = (rng.random((8, 100)) < 0.1).astype(np.float32)
    dense_x = rng.standard_normal((8, 100)).astype(np.float32)
    layer(sparse_x)
    assert layer._sparse_density <= layer._SPARSE_DENSITY
    for _ in range(layer._DENSITY_EVERY):
        layer(dense_x)
    assert layer._sparse_density == 1.0 and not layer._sparse_input
