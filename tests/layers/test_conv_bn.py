"""Conv2D folded with the BatchNormalization that alone reads its output, in inference
(layers/_conv_bn.py): predict equals the two layers run apart in both data formats, with and without
bias, strides 1 and 2, 1×1 and 3×3 kernels (the direct, Winograd and im2col + GEMM paths), in
Sequential and functional models, after training steps moved the statistics and after
set_weights/load; training and the pairs that must not fold are left alone.  In inference a ReLU that
alone reads the normalization's output is fused into the folded convolution too (the triple).

Tolerance: the folded convolution applies the normalization's scale before the sum over taps and
the shift as a bias, so results differ by rounding: float32 within 2e-5 of the output's scale
(max |y|), float64 within 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, Input, ReLU, _conv_bn, _conv_winograd
from le4nn.models import Model, Sequential, load_model
from le4nn.utils import set_random_seed

TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.fixture
def folds(monkeypatch):
    """Counts the folded forwards (each computes the folded weights once)."""
    calls = []
    original = _conv_bn.folded_weights

    def spy(conv, bn):
        calls.append(conv.name)
        return original(conv, bn)

    monkeypatch.setattr(_conv_bn, "folded_weights", spy)
    return calls


def unfolded_predict(model, x, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(_conv_bn, "forward", lambda conv, bn, x, training, relu=None: NotImplemented)
        return model.predict(x, batch_size=len(x))


def assert_close(folded, apart, dtype):
    scale = max(1.0, float(np.max(np.abs(apart))))
    np.testing.assert_allclose(folded, apart, rtol=0, atol=TOLERANCE[dtype] * scale)


def randomize_normalization(model, seed=0):
    """γ, β and the moving statistics away from their initial 1, 0, 0, 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            for name, array in {**layer.params, **layer.state}.items():
                low = 0.2 if name in ("gamma", "moving_variance") else -1.0
                array[...] = rng.uniform(low, 2.0, array.shape)


def conv_bn_model(functional, data_format, channels, kernel, stride, use_bias, dtype):
    shape = (9, 9, channels) if data_format == "channels_last" else (channels, 9, 9)
    axis = -1 if data_format == "channels_last" else 1
    conv = dict(kernel_size=kernel, strides=stride, padding="same", data_format=data_format, use_bias=use_bias,
                dtype=dtype)
    layers = [Conv2D(8, **conv), BatchNormalization(axis=axis, momentum=0.5, dtype=dtype), ReLU(dtype=dtype),
              Conv2D(6, **conv), BatchNormalization(axis=axis, momentum=0.5, dtype=dtype), Flatten(dtype=dtype),
              Dense(3, activation="softmax", dtype=dtype)]
    if not functional:
        return Sequential([Input(shape=shape, dtype=dtype), *layers])
    inputs = Input(shape=shape, dtype=dtype)
    out = inputs
    for layer in layers:
        out = layer(out)
    return Model(inputs=inputs, outputs=out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("channels, kernel, stride", [(3, 3, 1), (8, 3, 1), (8, 3, 2), (32, 1, 1), (8, 1, 2)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_folded_predict_equals_the_two_layers(dtype, data_format, channels, kernel, stride, use_bias, folds,
                                              monkeypatch):
    set_random_seed(3)
    model = conv_bn_model(channels % 2 == 0, data_format, channels, kernel, stride, use_bias, dtype)
    randomize_normalization(model)
    x = np.random.default_rng(1).standard_normal((5, *model.input_shape[1:])).astype(dtype)
    folded = model.predict(x, batch_size=5)
    assert len(folds) == 2  # both Conv2D + BatchNormalization pairs
    assert_close(folded, unfolded_predict(model, x, monkeypatch), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tile", [2, 4])
def test_folded_predict_takes_the_winograd_tile_in_force(dtype, tile, folds, monkeypatch):
    """The folded convolution runs on Conv2D's own Winograd path: F(4×4, 3×3) on these 9×9 maps, or
    F(2×2, 3×3) where ``WINOGRAD_TILE`` asks for it; the same tolerance (the two layers apart run the
    same Winograd path, so only the folding's rounding differs)."""
    tiles = []
    forward = _conv_winograd.forward

    def spy(conv, *args):
        tiles.append(args[-1])
        return forward(conv, *args)

    monkeypatch.setattr(_conv_winograd, "forward", spy)
    monkeypatch.setattr(Conv2D, "WINOGRAD_TILE", tile)
    set_random_seed(5)
    model = conv_bn_model(False, "channels_last", 8, 3, 1, True, dtype)
    randomize_normalization(model)
    x = np.random.default_rng(1).standard_normal((5, 9, 9, 8)).astype(dtype)
    folded = model.predict(x, batch_size=5)
    assert len(folds) == 2 and tiles == [tile] * 2  # the first Conv2D's 8 channels in: Winograd as well
    assert_close(folded, unfolded_predict(model, x, monkeypatch), dtype)


@pytest.mark.parametrize("functional", [False, True])
def test_folding_follows_training_set_weights_and_load(functional, folds, monkeypatch, tmp_path):
    set_random_seed(4)
    model = conv_bn_model(functional, "channels_last", 8, 3, 1, True, "float32")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 9, 9, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 6)]
    before = model.predict(x)
    assert folds
    folds.clear()
    for _ in range(3):  # the batch statistics move the moving mean and variance (momentum 0.5)
        model.train_on_batch(x * 3 + 1, y)
    assert not folds  # training steps run the two layers apart
    after = model.predict(x)
    assert np.max(np.abs(after - before)) > 1e-3 and folds
    assert_close(after, unfolded_predict(model, x, monkeypatch), "float32")
    weights = model.get_weights()
    model.set_weights([w * 1.5 + 0.1 if w.ndim == 1 else w for w in weights])
    assert_close(model.predict(x), unfolded_predict(model, x, monkeypatch), "float32")
    model.set_weights(weights)
    np.testing.assert_array_equal(model.predict(x), after)
    model.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(x), after)


def test_evaluate_folds_and_gives_the_unfolded_loss(folds, monkeypatch):
    set_random_seed(5)
    model = conv_bn_model(True, "channels_first", 8, 3, 2, False, "float64")
    randomize_normalization(model, seed=1)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 8, 9, 9)), np.eye(3)[rng.integers(0, 3, 4)]
    folded = model.evaluate(x, y, verbose=0)
    assert folds
    with monkeypatch.context() as patch:
        patch.setattr(_conv_bn, "forward", lambda conv, bn, x, training, relu=None: NotImplemented)
        apart = model.evaluate(x, y, verbose=0)
    assert abs(folded - apart) < 1e-12


def small_graph(conv_to_dense, bn_outputs, activation=None, bn_axis=-1, bn_trainable=True):
    """Input -> Conv2D -> BN -> Flatten -> Dense, optionally with the conv's output also feeding a
    second Dense (``conv_to_dense``) or returned, and the BN's output returned too (``bn_outputs``)."""
    inputs = Input(shape=(5, 5, 3), dtype="float64")
    conv = Conv2D(4, 3, activation=activation, dtype="float64")(inputs)
    bn_layer = BatchNormalization(axis=bn_axis, dtype="float64")
    bn_layer.trainable = bn_trainable
    bn = bn_layer(conv)
    outputs = [Dense(2, dtype="float64")(Flatten(dtype="float64")(bn))]
    if conv_to_dense == "layer":
        outputs.append(Dense(2, dtype="float64")(Flatten(dtype="float64")(conv)))
    elif conv_to_dense == "output":
        outputs.append(conv)
    if bn_outputs:
        outputs.append(bn)
    model = Model(inputs=inputs, outputs=outputs)
    randomize_normalization(model, seed=2)
    return model


@pytest.mark.parametrize("conv_to_dense, bn_outputs, folded", [
    (None, False, True), (None, True, True), ("layer", False, False), ("output", True, False),
])
def test_only_a_convolution_read_by_the_normalization_alone_folds(conv_to_dense, bn_outputs, folded, folds,
                                                                  monkeypatch):
    model = small_graph(conv_to_dense, bn_outputs)
    x = np.random.default_rng(4).standard_normal((3, 5, 5, 3))
    got = model.predict(x)
    assert bool(folds) == folded
    expected = unfolded_predict(model, x, monkeypatch)
    for a, b in zip(got if isinstance(got, list) else [got], expected if isinstance(expected, list) else [expected],
                    strict=True):
        assert_close(a, b, "float64")


@pytest.mark.parametrize("change", ["activation", "axis", "frozen_bn_training"])
def test_pairs_that_do_not_fold(change, folds):
    model = small_graph(None, False, activation="relu" if change == "activation" else None,
                        bn_axis=2 if change == "axis" else -1, bn_trainable=change != "frozen_bn_training")
    x = np.random.default_rng(5).standard_normal((3, 5, 5, 3))
    if change == "frozen_bn_training":  # BN in inference mode inside a training step: not folded
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(x, np.zeros((3, 2)))
    else:
        model.predict(x)
    assert not folds


def test_folded_weights_are_the_normalization_composed_with_the_convolution():
    conv = Conv2D(3, 1, use_bias=False, dtype="float64")
    bn = BatchNormalization(epsilon=0.5, center=False, dtype="float64")
    bn(conv(Input(shape=(2, 2, 2), dtype="float64")))
    conv.params["kernel"][...] = np.arange(6.0).reshape(1, 1, 2, 3)
    bn.params["gamma"][...] = [2.0, -1.0, 0.5]
    bn.state["moving_mean"][...] = [1.0, 2.0, 3.0]
    bn.state["moving_variance"][...] = [3.5, 0.5, 1.5]
    kernel, bias = _conv_bn.folded_weights(conv, bn)
    scale = np.array([2.0 / 2.0, -1.0 / 1.0, 0.5 / np.sqrt(2.0)])
    np.testing.assert_allclose(kernel, np.arange(6.0).reshape(1, 1, 2, 3) * scale, rtol=1e-15)
    np.testing.assert_allclose(bias, -np.array([1.0, 2.0, 3.0]) * scale, rtol=1e-15)
    assert conv.params["kernel"][0, 0, 1, 2] == 5.0  # the layer's own weights are untouched


@pytest.fixture
def relu_calls(monkeypatch):
    """The ReLU layers whose own forward ran (not fused into a folded convolution)."""
    calls = []
    original = ReLU.forward

    def spy(self, x, training=False):
        calls.append(self.name)
        return original(self, x, training=training)

    monkeypatch.setattr(ReLU, "forward", spy)
    return calls


def conv_bn_relu_graph(also_read, relu_dtype="float32", activation_layer=False):
    """Input -> Conv2D -> BN -> ReLU (or Activation('relu')) -> Flatten -> Dense, with the ReLU's or the
    BN's output (``also_read``: "relu-layer", "relu-output", "bn-layer", "bn-output") also read by a
    second Dense or returned."""
    inputs = Input(shape=(8, 8, 8), dtype="float32")
    normalized = BatchNormalization(dtype="float32")(Conv2D(8, 3, padding="same", dtype="float32")(inputs))
    relu = (Activation("relu", dtype=relu_dtype) if activation_layer else ReLU(dtype=relu_dtype))(normalized)
    outputs = [Dense(2, dtype="float32")(Flatten(dtype="float32")(relu))]
    if also_read is not None:
        tensor = relu if also_read.startswith("relu") else normalized
        outputs.append(Dense(2, dtype="float32")(Flatten(dtype="float32")(tensor)) if also_read.endswith("layer")
                       else tensor)
    model = Model(inputs=inputs, outputs=outputs)
    randomize_normalization(model, seed=6)
    return model


@pytest.mark.parametrize("also_read, relu_dtype, activation_layer, fused", [
    (None, "float32", False, True), (None, "float32", True, True), ("relu-layer", "float32", False, True),
    ("relu-output", "float32", False, True), ("bn-layer", "float32", False, False),
    ("bn-output", "float32", False, False), (None, "float64", False, False),
])
def test_the_relu_fuses_when_it_alone_reads_the_normalization(also_read, relu_dtype, activation_layer, fused, folds,
                                                              relu_calls, monkeypatch):
    model = conv_bn_relu_graph(also_read, relu_dtype, activation_layer)
    x = np.random.default_rng(9).standard_normal((3, 8, 8, 8)).astype("float32")
    got = model.predict(x)
    assert folds  # the pair folds either way
    if not activation_layer:
        assert bool(relu_calls) != fused
    expected = unfolded_predict(model, x, monkeypatch)
    for a, b in zip(got if isinstance(got, list) else [got], expected if isinstance(expected, list) else [expected],
                    strict=True):
        assert a.dtype == b.dtype
        assert_close(a, b, "float32")


def test_training_steps_never_fuse_the_triple(folds, relu_calls):
    model = conv_bn_relu_graph(None)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(10).standard_normal((3, 8, 8, 8)).astype("float32")
    model.train_on_batch(x, np.zeros((3, 2), "float32"))
    assert not folds  # BN + ReLU fuse as a training pair; the convolution runs alone
