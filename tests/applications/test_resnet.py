"""le4nn.applications.resnet: the architecture (counted by hand), its gradients (central differences),
training, saving, the two data formats, and the argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import gradcheck, losses, optimizers
from le4nn.applications import ResNet, digit_resnet, resnet20
from le4nn.applications.resnet import BN_EPSILON, BN_MOMENTUM
from le4nn.layers import Add, BatchNormalization, Conv2D, Dense
from le4nn.models import Model, load_model
from le4nn.utils import set_random_seed, to_categorical

F64 = "float64"


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out  # no bias


def _bn(c: int) -> tuple[int, int]:
    return 2 * c, 2 * c  # (trainable γ, β; moving mean and variance)


def _hand_count(widths, blocks, c_in, classes, stem):
    """(trainable, non-trainable) parameters of ResNet(widths, blocks) counted layer by layer."""
    convs, bn_channels = _conv(3, c_in, stem), [stem]
    previous = stem
    for stage, width in enumerate(widths):
        for block in range(blocks):
            convs += _conv(3, previous, width) + _conv(3, width, width)
            bn_channels += [width, width]
            if (stage > 0 and block == 0) or previous != width:
                convs += _conv(1, previous, width)
                bn_channels.append(width)
            previous = width
    trainable = convs + sum(_bn(c)[0] for c in bn_channels) + previous * classes + classes
    return trainable, sum(_bn(c)[1] for c in bn_channels)


def _trainable_count(model) -> int:
    return sum(p.size for layer in model.layers if layer.trainable for p in layer.params.values())


def _layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def test_resnet20_has_20_weighted_layers_and_the_hand_counted_parameters():
    model = resnet20()
    trainable, frozen = _hand_count((16, 32, 64), 3, 3, 10, 16)
    assert (trainable, frozen) == (272_474, 1_568)  # the paper's "0.27 M" (+2,752 for the projections)
    assert _trainable_count(model) == trainable
    assert model.count_params() == trainable + frozen
    convs = _layers_of(model, Conv2D)
    projections = [c for c in convs if c.name.endswith("_shortcut_conv")]
    assert len(convs) - len(projections) == 19 and len(_layers_of(model, Dense)) == 1
    assert [c.name for c in projections] == ["stage2_block1_shortcut_conv", "stage3_block1_shortcut_conv"]
    assert all(c.kernel_size == (1, 1) and c.strides == (2, 2) for c in projections)
    assert len(_layers_of(model, Add)) == 9 and len(_layers_of(model, BatchNormalization)) == 21
    assert all(not c.use_bias and c.padding == "same" for c in convs)
    assert all(bn.momentum == BN_MOMENTUM and bn.epsilon == BN_EPSILON for bn in _layers_of(model, BatchNormalization))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_presets_build_in_float32_with_the_expected_shapes(data_format):
    first = data_format == "channels_last"
    cifar = (32, 32, 3) if first else (3, 32, 32)
    digits = (28, 28, 1) if first else (1, 28, 28)
    for model, shape, last_map, counts in [
        (resnet20(cifar, 10, data_format), cifar, (8, 8, 64), _hand_count((16, 32, 64), 3, 3, 10, 16)),
        (digit_resnet(digits, 10, data_format), digits, (4, 4, 256), _hand_count((64, 128, 256), 2, 1, 10, 64)),
    ]:
        assert model.dtype == np.float32
        assert model.input_shape == (None, *shape) and model.output_shape == (None, 10)
        expected = last_map if first else (last_map[2], *last_map[:2])
        assert model.get_layer("stage3_block1_out").output_shape == (None, *expected)
        assert model.count_params() == sum(counts)
        x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
        probabilities = model.predict(x, batch_size=2)
        assert probabilities.dtype == np.float32 and probabilities.shape == (2, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_digit_preset_downsamples_in_its_stem():
    model = digit_resnet()
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("stem_relu").output_shape == (None, 14, 14, 64)
    assert model.get_layer("stage2_block1_out").output_shape == (None, 7, 7, 128)


def test_summary_names_every_block_and_its_connections():
    lines = []
    resnet20(name="r20").summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "r20"' in text
    for name in ("stem_conv (Conv2D)", "stage1_block3_bn2 (BatchNormalization)", "stage2_block1_shortcut_bn",
                 "stage3_block3_out (ReLU)", "avg_pool (GlobalAveragePooling2D)", "predictions (Dense)"):
        assert name in text
    add_line = next(line for line in text.splitlines() if line.lstrip().startswith("stage2_block1_add"))
    assert "stage2_block1_bn2, stage2_block1_shortcut_bn" in add_line
    identity_line = next(line for line in text.splitlines() if line.lstrip().startswith("stage1_block1_add"))
    assert "stage1_block1_bn2, stem_relu" in identity_line
    assert "Trainable params: 272,474" in text


def _tiny(data_format="channels_last", dtype=F64, stem_strides=1):
    """One stage of one identity block, one of one projection block (stride 2 on an even size: the
    Keras bottom/right padding)."""
    shape = (6, 6, 2) if data_format == "channels_last" else (2, 6, 6)
    return ResNet((2, 3), 1, shape, 3, data_format=data_format, dtype=dtype, stem_strides=stem_strides)


def _training_loss(model, x, y) -> float:
    """The loss a training step minimizes (BatchNormalization on batch statistics), forward only."""
    return losses.CategoricalCrossentropy()(y, model(x, training=True))


@pytest.mark.parametrize(("data_format", "stem_strides"),
                         [("channels_last", 1), ("channels_first", 1), ("channels_last", 2)])
def test_tiny_resnet_gradients_match_central_differences(data_format, stem_strides):
    set_random_seed(3)
    model = _tiny(data_format, stem_strides=stem_strides)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, *model.input_shape[1:]))
    y = to_categorical(rng.integers(0, 3, 5), 3)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy")
    model.train_on_batch(x, y)  # lr = 0: fills every layer's grads, changes no weight
    errors = {}
    for layer in model.layers:
        for name, param in layer.params.items():
            if layer.trainable and name in layer.grads:
                numeric = gradcheck.numerical_gradient(lambda: _training_loss(model, x, y), param)
                errors[f"{layer.name}/{name}"] = gradcheck.relative_error(layer.grads[name], numeric)
    # 6 convolutions (stem, 2 + 2 in the blocks, a projection), 6 BatchNormalizations (γ, β), the Dense.
    assert len(errors) == 6 + 6 * 2 + 2
    assert max(errors.values()) < 1e-6, errors


def test_training_steps_reduce_the_loss_on_a_small_problem():
    set_random_seed(5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 8, 8, 1)).astype(np.float32)
    labels = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    model = ResNet((4, 8), 1, (8, 8, 1), 2)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    history = [float(model.train_on_batch(x, labels)) for _ in range(15)]
    assert np.all(np.isfinite(history))
    assert np.mean(history[-3:]) < 0.8 * np.mean(history[:3]), history


def test_saved_and_loaded_model_predicts_identically(tmp_path):
    set_random_seed(7)
    model = resnet20(input_shape=(8, 8, 3), num_classes=4)
    x = np.random.default_rng(8).random((6, 8, 8, 3), dtype=np.float32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, np.arange(6) % 4)  # moving averages and weights away from their initial values
    model.save(tmp_path / "resnet.npz")
    loaded = load_model(tmp_path / "resnet.npz")
    assert isinstance(loaded, Model) and loaded.name == "resnet20"
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, batch_size=6), model.predict(x, batch_size=6))


@pytest.mark.parametrize("training", [False, True])
def test_channels_first_and_last_agree_with_the_same_weights(training):
    set_random_seed(9)
    last = ResNet((3, 5, 6), 2, (9, 10, 2), 4, stem_width=4, stem_strides=1)
    first = ResNet((3, 5, 6), 2, (2, 9, 10), 4, stem_width=4, data_format="channels_first")
    first.set_weights(last.get_weights())  # kernels are laid out alike in both formats
    x = np.random.default_rng(10).standard_normal((3, 9, 10, 2)).astype(np.float32)
    np.testing.assert_allclose(first(x.transpose(0, 3, 1, 2), training=training), last(x, training=training),
                               rtol=1e-5, atol=1e-6)


def test_blocks_per_stage_may_differ_between_stages():
    model = ResNet((4, 8), (1, 3), (8, 8, 1), 2)
    names = {layer.name for layer in model.layers}
    assert "stage1_block1_out" in names and "stage1_block2_out" not in names
    assert "stage2_block3_out" in names and "stage2_block4_out" not in names


GOOD = {"stage_widths": (4, 8), "blocks_per_stage": 1, "input_shape": (8, 8, 1), "num_classes": 3}


@pytest.mark.parametrize(("bad", "match"), [
    ({"stage_widths": ()}, "stage_widths must be a non-empty sequence"),
    ({"stage_widths": 16}, "stage_widths must be a non-empty sequence"),
    ({"stage_widths": (4, 0)}, r"stage_widths\[1\] must be an int >= 1"),
    ({"stage_widths": (4, 2.5)}, r"stage_widths\[1\] must be an int >= 1"),
    ({"stage_widths": (True, 4)}, r"stage_widths\[0\] must be an int >= 1"),
    ({"blocks_per_stage": 0}, "blocks_per_stage must be an int >= 1"),
    ({"blocks_per_stage": (1, 2, 3)}, "blocks_per_stage must have 2 entries"),
    ({"blocks_per_stage": "2"}, "blocks_per_stage must be a non-empty sequence"),
    ({"input_shape": (8, 8)}, "input_shape must be \\(height, width, channels\\)"),
    ({"input_shape": (8, -8, 1)}, r"input_shape\[1\] must be an int >= 1"),
    ({"input_shape": (1, 8, 1)}, "spatial size 1x8 is too small .* at least 2x2"),
    ({"input_shape": (4, 4, 1), "stem_strides": 4}, "spatial size 4x4 is too small .* at least 8x8"),
    ({"num_classes": 1}, "num_classes must be an int >= 2"),
    ({"num_classes": None}, "num_classes must be an int >= 2"),
    ({"stem_width": 0}, "stem_width must be an int >= 1"),
    ({"stem_strides": 0}, "stem_strides must be an int >= 1"),
    ({"data_format": "NHWC"}, "data_format must be 'channels_last' or 'channels_first'"),
    ({"name": ""}, "name must be a non-empty string"),
])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        ResNet(**{**GOOD, **bad})


def test_channels_first_input_shape_is_read_as_channels_height_width():
    with pytest.raises(ValueError, match=r"input_shape must be \(channels, height, width\)"):
        resnet20(input_shape=(32, 32), data_format="channels_first")
    with pytest.raises(ValueError, match="spatial size 3x32 is too small"):
        resnet20(input_shape=(32, 3, 32), data_format="channels_first")
