"""le4nn → ONNX → le4nn: a model exported with ``model.export`` and read back with ``load_onnx`` predicts
what the original predicts, bit for bit, with the same weights bit for bit (issue 17), for every layer
configuration of the export tests, the presets and the GAN generators; and ``le4nn-predict`` classifies
with the exported file as with the ``.npz`` model."""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn.applications import digit_resnet, resnet20
from le4nn.cli.presets import build_preset
from le4nn.gan import builders
from le4nn.models import load_onnx
from tests.models.onnx.helpers import randomize_batchnorm, require_onnx
from tests.models.onnx.test_export import CONFIGURATIONS, MNIST, _image_model, _images


def weight_bytes(model) -> list[bytes]:
    """Every weight and state array of the model, as bytes, sorted (the import names and orders layers its
    own way; a kernel is transposed back to le4nn's layout, so equal bytes mean equal weights)."""
    return sorted(w.tobytes() for layer in model.layers for w in layer.weights if w.size)


def identity_normalization_weights(model) -> list[bytes]:
    """The γ = 1 and β = 0 that an imported BatchNormalization holds where the original had
    ``scale=False`` / ``center=False`` (ONNX's BatchNormalization always has both)."""
    extra = []
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            shape, dtype = layer.state["moving_mean"].shape, layer.dtype
            extra += [np.ones(shape, dtype).tobytes()] * (not layer.scale)
            extra += [np.zeros(shape, dtype).tobytes()] * (not layer.center)
    return extra


def assert_round_trip(model, xs: list[np.ndarray], tmp_path) -> None:
    back = load_onnx(model.export(tmp_path / "model.onnx"))
    assert weight_bytes(back) == sorted(weight_bytes(model) + identity_normalization_weights(model))
    assert [type(layer).__name__ for layer in back.layers if type(layer).__name__ == "Dropout"] == \
        [type(layer).__name__ for layer in model.layers if type(layer).__name__ == "Dropout"]
    arg = xs if len(xs) > 1 else xs[0]
    for got, want in zip(*(m.predict(arg, verbose=0) if len(xs) > 1 else [m.predict(arg, verbose=0)]
                           for m in (back, model)), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name, kind, channels_first, body", CONFIGURATIONS, ids=[c[0] for c in CONFIGURATIONS])
def test_every_layer_configuration_comes_back(name, kind, channels_first, body, tmp_path):
    require_onnx()
    le4nn.utils.set_random_seed(11)
    model = _image_model(body, kind, channels_first)
    randomize_batchnorm(model)
    assert_round_trip(model, [_images(kind, 5, channels_first, False)], tmp_path)


@pytest.mark.parametrize("preset", ["mlp", "lecture", "cnn", "cnn-wide", "resnet", "resnet20", "resnet20-cf"])
def test_presets_come_back(preset, tmp_path):
    require_onnx()
    le4nn.utils.set_random_seed(4)
    if preset == "resnet20-cf":
        model, shape = resnet20(input_shape=(3, 32, 32), num_classes=10, data_format="channels_first"), (3, 32, 32)
    elif preset == "resnet20":
        model, shape = resnet20(input_shape=(32, 32, 3), num_classes=10), (32, 32, 3)
    elif preset == "resnet":
        model, shape = digit_resnet(input_shape=MNIST, num_classes=10), MNIST
    else:
        model, shape = build_preset(preset, MNIST, 10), MNIST
    randomize_batchnorm(model)
    assert_round_trip(model, [np.random.default_rng(2).random((4, *shape), dtype=np.float32)], tmp_path)


@pytest.mark.parametrize("architecture, classes", [("conv", None), ("conv", 10), ("dense", 10)])
def test_gan_generators_come_back(architecture, classes, tmp_path):
    require_onnx()
    le4nn.utils.set_random_seed(6)
    model = builders.build_generator(latent_dim=16, num_classes=classes, width=8, architecture=architecture)
    randomize_batchnorm(model)
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(6, 16)).astype(np.float32)]
    if classes:
        xs.append(np.eye(classes, dtype=np.float32)[rng.integers(0, classes, 6)])
    assert_round_trip(model, xs, tmp_path)


def test_class_names_come_back_and_go_out_again(tmp_path):
    require_onnx()
    import onnx

    model = build_preset("mlp", MNIST, 3, hidden=4)
    back = load_onnx(model.export(tmp_path / "a.onnx", class_names=["cat", "dog", "ünïcode"]))
    assert back.class_names == ["cat", "dog", "ünïcode"]
    again = onnx.load(str(back.export(tmp_path / "b.onnx")))
    assert {p.key: p.value for p in again.metadata_props}["class_names"] == '["cat", "dog", "\\u00fcn\\u00efcode"]'
    assert not hasattr(load_onnx(model.export(tmp_path / "c.onnx")), "class_names")


@pytest.mark.parametrize("text", ['not json', '{"a": 1}', '["a", 2]'])
def test_broken_class_names_metadata_is_one_clear_error(text, tmp_path):
    require_onnx()
    import onnx

    from le4nn.models import ModelFileError

    proto = onnx.load(str(build_preset("mlp", MNIST, 3, hidden=4).export(tmp_path / "a.onnx", class_names=["x"] * 3)))
    next(p for p in proto.metadata_props if p.key == "class_names").value = text
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelFileError, match=r"bad\.onnx.*'class_names' metadata is not a JSON list of strings"):
        load_onnx(tmp_path / "bad.onnx")


def test_embedding_and_several_inputs_and_outputs_come_back(tmp_path):
    """The export casts an Embedding's float indices to int64 before its Gather; the import takes that
    Cast back as le4nn's Embedding (which reads whole-number floats)."""
    require_onnx()
    from le4nn.layers import Concatenate, Dense, Embedding, Flatten, Input
    from le4nn.models import Model

    le4nn.utils.set_random_seed(9)
    indices, features = Input(shape=(6,), name="tokens"), Input(shape=(5,), name="features")
    merged = Concatenate()([Flatten()(Embedding(20, 4)(indices)), Dense(8, activation="relu")(features)])
    model = Model([indices, features], [Dense(3, activation="softmax")(merged), Dense(4)(features)])
    rng = np.random.default_rng(0)
    assert_round_trip(model, [rng.integers(0, 20, (7, 6)).astype(np.float32),
                              rng.normal(size=(7, 5)).astype(np.float32)], tmp_path)
