"""``model.export(path, format="onnx")``: every layer configuration, the presets and the GAN generators run in
ONNX Runtime as ``predict`` runs them (to 1e-5 relative, :func:`tests.models.onnx.helpers.relative_error`), at
batch 1 and 37, on random inputs and real MNIST / CIFAR-10 images; the metadata, the dynamic batch, and the
errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import le4nn
from le4nn.applications import digit_resnet, resnet20
from le4nn.cli.presets import build_preset
from le4nn.gan import builders
from le4nn.layers import (
    ELU,
    Activation,
    Add,
    Average,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    Layer,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
    UpSampling2D,
)
from le4nn.models import Model, Sequential
from tests.models.onnx.helpers import (
    BATCHES,
    assert_agrees,
    randomize_batchnorm,
    real_images,
    require_onnx,
    session,
)

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)


def _image_input(kind: str, channels_first: bool):
    shape = MNIST if kind == "mnist" else CIFAR
    return Input(shape=(shape[2], *shape[:2]) if channels_first else shape)


def _images(kind: str, n: int, channels_first: bool, real: bool) -> np.ndarray:
    shape = MNIST if kind == "mnist" else CIFAR
    x = real_images(kind, n) if real else np.random.default_rng(n).random((n, *shape), dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if channels_first else x


def _image_model(body, kind="mnist", channels_first=False, head=True) -> Model:
    """Input -> body(x) -> (Flatten -> Dense(7)): a model of one image input."""
    inputs = _image_input(kind, channels_first)
    x = body(inputs)
    if head:
        x = Dense(7)(Flatten()(x))
    return Model(inputs, x)


def _fmt(channels_first: bool) -> str:
    return "channels_first" if channels_first else "channels_last"


# Each configuration: (id, image kind, channels_first, body).  The bodies take and return a symbolic tensor.
CONFIGURATIONS = [
    ("dense-activations", "mnist", False, lambda x: Dense(5, activation="softmax")(Dense(9, activation="elu")(
        Dense(11, activation="leaky_relu")(Dense(13, activation="tanh")(Dense(12, activation="relu", use_bias=False)(
            Dense(16, activation="sigmoid")(Flatten()(x)))))))),
    *[(f"conv-{pad}-{k}-{s}-{'cf' if cf else 'cl'}", kind, cf,
       lambda x, pad=pad, k=k, s=s, cf=cf, bias=bias, act=act: Conv2D(
           4, k, strides=s, padding=pad, data_format=_fmt(cf), use_bias=bias, activation=act)(x))
      for pad, k, s, cf, bias, act, kind in [
          ("valid", 3, 1, False, True, "relu", "mnist"), ("same", 3, 1, False, False, None, "cifar10"),
          ("same", 4, 2, False, True, "sigmoid", "mnist"), ("same", (2, 3), (2, 1), True, True, "relu", "cifar10"),
          ((1, 2, 0, 3), (3, 2), (1, 2), False, True, "tanh", "mnist"), ("same", 5, 3, True, False, None, "mnist"),
          ((2, 1), 3, 2, True, True, "elu", "cifar10")]],
    ("conv-softmax-channels", "cifar10", False, lambda x: Conv2D(5, 3, padding="same", activation="softmax")(x)),
    ("conv-softmax-cf", "cifar10", True, lambda x: Conv2D(5, 3, data_format="channels_first",
                                                          activation="softmax")(x)),
    *[(f"convT-{pad}-{k}-{s}-{op}-{'cf' if cf else 'cl'}", kind, cf,
       lambda x, pad=pad, k=k, s=s, op=op, cf=cf: Conv2DTranspose(
           3, k, strides=s, padding=pad, output_padding=op, data_format=_fmt(cf), activation="relu")(x))
      for pad, k, s, op, cf, kind in [
          ("same", 4, 2, None, False, "mnist"), ("valid", 3, 2, None, False, "cifar10"),
          ("valid", 2, 3, None, True, "mnist"), ("same", 3, 2, 1, True, "cifar10"),
          ("valid", (3, 2), (2, 1), (1, 0), False, "mnist"), ("same", 5, 1, None, False, "mnist")]],
    *[(f"{cls.__name__}-{pad}-{p}-{s}-{'cf' if cf else 'cl'}", kind, cf,
       lambda x, cls=cls, pad=pad, p=p, s=s, cf=cf: cls(p, strides=s, padding=pad, data_format=_fmt(cf))(
           Conv2D(3, 3, padding="same", data_format=_fmt(cf))(x)))
      for cls in (MaxPooling2D, AveragePooling2D)
      for pad, p, s, cf, kind in [
          ("valid", 2, None, False, "mnist"), ("same", 3, 2, False, "mnist"), ("same", (3, 2), (2, 3), True, "cifar10"),
          ((1, 0, 0, 1), 2, 2, False, "cifar10"), ("same", 2, 1, True, "mnist")]],
    ("avgpool-count-include-pad", "mnist", False,
     lambda x: AveragePooling2D(3, strides=2, padding="same", count_include_pad=True)(x)),
    ("avgpool-count-include-pad-cf", "cifar10", True, lambda x: AveragePooling2D(
        (2, 3), padding=(1, 1, 1, 2), count_include_pad=True, data_format="channels_first")(x)),
    ("gap", "cifar10", False, lambda x: GlobalAveragePooling2D()(Conv2D(6, 3, activation="relu")(x))),
    ("gap-keepdims-cf", "cifar10", True, lambda x: GlobalAveragePooling2D(data_format="channels_first",
                                                                         keepdims=True)(x)),
    ("gap-keepdims", "mnist", False, lambda x: GlobalAveragePooling2D(keepdims=True)(Conv2D(4, 3)(x))),
    ("flatten-order", "cifar10", False, lambda x: Flatten()(Conv2D(4, 3, strides=2)(x))),
    ("reshape", "mnist", False, lambda x: Reshape((14, 28, 2))(Conv2D(4, 2, strides=2, padding="same")(x))),
    ("reshape-minus-one", "cifar10", True, lambda x: Reshape((-1, 4))(x)),
    ("activation-layers", "mnist", False, lambda x: Activation("linear")(Softmax()(ELU(0.7)(LeakyReLU(0.1)(Tanh()(
        Sigmoid()(ReLU()(Activation("elu")(Conv2D(4, 3, padding="same")(x)))))))))),
    ("softmax-axis1", "cifar10", False, lambda x: Softmax(axis=1)(Conv2D(3, 3)(x))),
    ("softmax-axis2-cf", "cifar10", True, lambda x: Softmax(axis=2)(x)),
    ("dropout-handout", "mnist", False, lambda x: Dropout(0.25)(Conv2D(4, 3)(Dropout(0.4)(x)))),
    ("dropout-inverted", "mnist", False, lambda x: Dropout(0.5, mode="inverted")(Conv2D(4, 3)(x))),
    ("batchnorm-cl", "mnist", False, lambda x: BatchNormalization()(Conv2D(4, 3)(BatchNormalization()(x)))),
    ("batchnorm-cf", "cifar10", True, lambda x: BatchNormalization(axis=1, epsilon=0.01, center=False)(Conv2D(
        4, 3, data_format="channels_first")(x))),
    ("batchnorm-axis2", "cifar10", False, lambda x: BatchNormalization(axis=2, scale=False)(Conv2D(4, 3)(x))),
    ("batchnorm-dense", "mnist", False, lambda x: BatchNormalization()(Dense(10)(Flatten()(x)))),
    *[(f"upsampling-{mode}-{'cf' if cf else 'cl'}", kind, cf,
       lambda x, mode=mode, cf=cf: UpSampling2D((2, 3), interpolation=mode, data_format=_fmt(cf))(
           Conv2D(2, 3, strides=2, data_format=_fmt(cf))(x)))
      for mode, cf, kind in [("nearest", False, "mnist"), ("bilinear", False, "cifar10"), ("nearest", True, "cifar10"),
                             ("bilinear", True, "mnist")]],
    ("add-concatenate", "mnist", False, lambda x: Concatenate()([
        Add()([Conv2D(4, 3, padding="same")(x), Conv2D(4, 1)(x), Conv2D(4, 3, padding="same", activation="relu")(x)]),
        x, Average()([x, Conv2D(1, 1)(x)])])),
    ("concatenate-axis1-cf", "cifar10", True, lambda x: Concatenate(axis=1)([
        x, Conv2D(2, 3, padding="same", data_format="channels_first")(x)])),
    ("concatenate-rows", "mnist", False, lambda x: Concatenate(axis=1)([x, Conv2D(1, 3, padding="same")(x)])),
]


@pytest.mark.parametrize("kind_real", [False, True], ids=["random", "real"])
@pytest.mark.parametrize("config", CONFIGURATIONS, ids=[c[0] for c in CONFIGURATIONS])
def test_layer_configuration_runs_in_onnx_runtime(config, kind_real, tmp_path):
    """Random inputs at the default opset, real images at the lowest one (17)."""
    onnx, _ = require_onnx()
    name, kind, channels_first, body = config
    le4nn.utils.set_random_seed(len(name))
    model = _image_model(body, kind, channels_first, head=name.startswith("conv-") or name == "flatten-order")
    randomize_batchnorm(model)
    path = model.export(tmp_path / "model.onnx", opset=17 if kind_real else None)
    onnx.checker.check_model(str(path), full_check=True)
    sess = session(path)
    for n in BATCHES:
        assert_agrees(model, sess, [_images(kind, n, channels_first, kind_real)], f"{name} batch {n}")


def test_embedding_and_several_inputs_and_outputs(tmp_path):
    onnx, _ = require_onnx()
    indices, features = Input(shape=(6,), name="tokens"), Input(shape=(5,), name="features")
    embedded = Flatten()(Embedding(20, 4, name="embed")(indices))
    merged = Concatenate()([embedded, Dense(8, activation="relu")(features)])
    first, second = Dense(3, activation="softmax", name="probs")(merged), Dense(2, name="score")(merged)
    model = Model([indices, features], [first, second, Dense(4, name="aux")(features)])
    path = model.export(tmp_path / "model.onnx")
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["tokens", "features"]
    assert [o.name for o in proto.graph.output] == ["probs", "score", "aux"]
    sess = session(path)
    rng = np.random.default_rng(0)
    for n in BATCHES:
        assert_agrees(model, sess, [rng.integers(0, 20, (n, 6)).astype(np.float32),
                                    rng.normal(size=(n, 5)).astype(np.float32)], f"batch {n}")


PRESETS = [("mlp", "mnist"), ("lecture", "mnist"), ("cnn", "mnist"), ("cnn-wide", "mnist"), ("resnet20", "cifar10"),
           ("resnet", "mnist"), ("resnet20-cf", "cifar10")]


@pytest.mark.parametrize("preset, kind", PRESETS, ids=[p for p, _ in PRESETS])
def test_presets_run_in_onnx_runtime(preset, kind, tmp_path):
    onnx, _ = require_onnx()
    le4nn.utils.set_random_seed(3)
    shape = MNIST if kind == "mnist" else CIFAR
    if preset == "resnet20-cf":
        model = resnet20(input_shape=(shape[2], *shape[:2]), num_classes=10, data_format="channels_first")
    elif preset == "resnet":
        model = digit_resnet(input_shape=shape, num_classes=10)
    else:
        model = build_preset(preset, shape, 10)
    randomize_batchnorm(model)
    path = model.export(tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    sess = session(path)
    channels_first = preset.endswith("-cf")
    for n in BATCHES:
        for real in (False, True):
            assert_agrees(model, sess, [_images(kind, n, channels_first, real)], f"{preset} batch {n} real={real}")


GENERATORS = [("conv", None, "label"), ("conv", 10, "label"), ("conv", 10, "cluster"), ("dense", 10, "label"),
              ("dense", None, "label")]


@pytest.mark.parametrize("architecture, classes, label_name", GENERATORS,
                         ids=[f"{a}-{c or 'plain'}-{n}" for a, c, n in GENERATORS])
def test_gan_generators_run_in_onnx_runtime(architecture, classes, label_name, tmp_path):
    require_onnx()
    le4nn.utils.set_random_seed(5)
    model = builders.build_generator(latent_dim=16, num_classes=classes, width=8, architecture=architecture,
                                     label_name=label_name)
    randomize_batchnorm(model)
    sess = session(model.export(tmp_path / "generator.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["noise"] + ([label_name] if classes else [])
    rng = np.random.default_rng(1)
    for n in BATCHES:
        xs = [rng.normal(size=(n, 16)).astype(np.float32)]
        if classes:
            xs.append(np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)])
        assert_agrees(model, sess, xs, f"generator batch {n}")


@pytest.mark.parametrize("label_mode", ["channels", "plane"])
def test_conditional_discriminator_on_real_digits(label_mode, tmp_path):
    """UpSampling2D to 28×28 of a Reshape, concatenated with the NHWC image input (mixed layouts)."""
    require_onnx()
    model = builders.build_discriminator(num_classes=10, width=4, label_mode=label_mode)
    sess = session(model.export(tmp_path / "discriminator.onnx"))
    for n in BATCHES:
        labels = np.eye(10, dtype=np.float32)[np.arange(n) % 10]
        assert_agrees(model, sess, [real_images("mnist", n), labels], f"discriminator batch {n}")


def test_metadata_names_and_dynamic_batch(tmp_path):
    onnx, _ = require_onnx()
    model = build_preset("lecture", MNIST, 3)
    names = ["cat", "dog", "bird"]
    path = model.export(tmp_path / "lecture.onnx", class_names=names)
    proto = onnx.load(str(path))
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["le4nn_version"] == le4nn.__version__
    assert json.loads(metadata["class_names"]) == names
    assert proto.producer_name == "le4nn"
    (graph_input,), (graph_output,) = proto.graph.input, proto.graph.output
    assert graph_input.name == "input" and graph_output.name == model.layers[-1].name
    for value, rest in ((graph_input, [28, 28, 1]), (graph_output, [3])):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == rest
    plain = onnx.load(str(model.export(tmp_path / "plain.onnx")))
    assert "class_names" not in {p.key for p in plain.metadata_props}


def test_default_and_explicit_opset(tmp_path):
    onnx, _ = require_onnx()
    from le4nn.models.onnx.common import MAX_OPSET, MIN_OPSET, default_opset

    model = build_preset("mlp", MNIST, 10, hidden=4)
    default = onnx.load(str(model.export(tmp_path / "a.onnx"))).opset_import[0].version
    assert default == default_opset() >= MIN_OPSET
    assert default <= min(onnx.defs.onnx_opset_version(), MAX_OPSET)
    explicit = onnx.load(str(model.export(tmp_path / "b.onnx", opset=17)))
    assert explicit.opset_import[0].version == 17
    assert explicit.ir_version == 8  # the lowest IR version of opset 17: older runtimes load the file
    assert_agrees(model, session(tmp_path / "b.onnx"), [real_images("mnist", 37)], "opset 17")


def test_activations_stay_finite_on_extreme_inputs(tmp_path):
    """The stable sigmoid and softmax: ONNX Runtime's agree with le4nn's at ±1000, without overflow."""
    require_onnx()
    inputs = Input(shape=(6,))
    names = ["sigmoid", "softmax", "tanh", "elu", "leaky_relu", "relu"]
    model = Model(inputs, [Activation(name, name=name)(inputs) for name in names])
    sess = session(model.export(tmp_path / "model.onnx"))
    x = np.array([[-1000, -90, -1e-7, 0, 88.8, 1000]] * 37, dtype=np.float32)
    assert_agrees(model, sess, [x], "extreme inputs")
    assert_agrees(model, sess, [x[:1] / 1000], "small inputs")


def _swish():
    from le4nn.activations import ActivationFunction

    return ActivationFunction("swish", lambda x: x / (1 + np.exp(-x)), lambda g, x, y: g)


class _Doubling(Layer):
    def forward(self, x, training=False):
        return 2 * x


class _FancyDense(Dense):
    pass


@pytest.mark.parametrize("build, message", [
    (lambda: Sequential([Flatten(input_shape=MNIST), _Doubling(name="doubler")]), "_Doubling layer 'doubler'"),
    (lambda: Sequential([Flatten(input_shape=MNIST), _FancyDense(3, name="fancy")]), "_FancyDense layer 'fancy'"),
    (lambda: Sequential([Dense(3)]), "not built"),
    (lambda: Sequential([Dense(3, activation=_swish(), input_shape=(4,), name="d")]),
     "Dense layer 'd': the activation 'swish' has no ONNX export"),
    (lambda: Sequential([Dense(3, dtype="float64", input_shape=(4,))]), "float32"),
])
def test_layers_without_an_onnx_form_are_refused_by_name(build, message, tmp_path):
    require_onnx()
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match=message):
        build().export(target)
    assert target.read_bytes() == b"previous"  # nothing half-written


def test_bad_arguments(tmp_path):
    require_onnx()
    model = build_preset("mlp", MNIST, 10, hidden=4)
    with pytest.raises(ValueError, match="format must be one of 'onnx'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    for opset in (16, 10_000, "17", 17.0, True):
        with pytest.raises(ValueError, match="opset must be an integer from 17"):
            model.export(tmp_path / "m.onnx", opset=opset)
    with pytest.raises(ValueError, match="class_names has 2 names, the model's output has 10"):
        model.export(tmp_path / "m.onnx", class_names=["a", "b"])
    with pytest.raises(ValueError, match="list of strings"):
        model.export(tmp_path / "m.onnx", class_names="0123456789")
    with pytest.raises(ValueError, match="is a folder"):
        model.export(tmp_path)
    from le4nn.models.onnx import export

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "MAX_PROTO_BYTES", 1000)
        with pytest.raises(ValueError, match="bytes of weights exceed what one ONNX file"):
            model.export(tmp_path / "m.onnx")
    model.layers[1].params["kernel"][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity .*dense"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_names_the_extra(monkeypatch, tmp_path):
    import sys

    from le4nn.models.onnx.common import OnnxNotInstalledError

    monkeypatch.setitem(sys.modules, "onnx", None)  # "import onnx" raises ImportError
    model = build_preset("mlp", MNIST, 10, hidden=4)
    with pytest.raises(OnnxNotInstalledError, match=r'pip install "le4nn\[onnx\]"'):
        model.export(tmp_path / "m.onnx")
    assert issubclass(OnnxNotInstalledError, ImportError)


def test_importing_le4nn_does_not_import_onnx():
    from tests.helpers import run_python

    result = run_python("import sys, le4nn, le4nn.models, le4nn.models.onnx.export\n"
                        "print(sorted(m for m in ('onnx', 'onnxruntime') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_unknown_image_sizes_and_repeated_outputs(tmp_path):
    """Input(shape=(None, None, C)): "same" windows take auto_pad SAME_UPPER (Keras's rule); an output that
    is the input itself, or twice the same tensor, gets its own name."""
    require_onnx()
    image = Input(shape=(None, None, 2), name="image")
    x = Conv2D(3, (3, 4), strides=2, padding="same", activation="relu")(image)
    x = AveragePooling2D(3, strides=2, padding="same")(x)
    x = MaxPooling2D((2, 3), strides=(1, 2), padding="same")(x)
    pooled = AveragePooling2D(3, strides=2, padding="same", count_include_pad=True, name="pooled")(x)
    logits = Dense(4, name="logits")(GlobalAveragePooling2D()(pooled))
    model = Model(image, [logits, logits, image, pooled])
    sess = session(model.export(tmp_path / "model.onnx"))
    assert [o.name for o in sess.get_outputs()] == ["logits", "logits_1", "image_output", "pooled"]
    assert sess.get_inputs()[0].shape[:2] == ["batch", "image_dim1"]
    rng = np.random.default_rng(2)
    for n, size in zip(BATCHES, [(5, 7), (16, 13)], strict=True):
        assert_agrees(model, sess, [rng.random((n, *size, 2), dtype=np.float32)], f"size {size}")
    transposed = Sequential([Conv2DTranspose(2, 3, strides=2, input_shape=(None, 5, 1), name="up")])
    with pytest.raises(ValueError, match="Conv2DTranspose layer 'up': needs known spatial sizes"):
        transposed.export(tmp_path / "t.onnx")
