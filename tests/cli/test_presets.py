"""le4nn.cli.presets: the residual-network presets, built directly and trained by ``le4nn-train``."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.cli.presets import PRESETS, build_preset
from le4nn.datasets import sample
from le4nn.models import Model, load_model


@pytest.mark.parametrize(("name", "input_shape", "stem_strides"),
                         [("resnet", (28, 28, 1), (2, 2)), ("resnet20", (28, 28, 1), (1, 1)),
                          ("resnet20", (32, 32, 3), (1, 1))])
def test_residual_presets_take_the_data_sets_image_shape(name, input_shape, stem_strides):
    model = build_preset(name, input_shape, 7)
    assert isinstance(model, Model) and model.name == name
    assert model.input_shape == (None, *input_shape) and model.output_shape == (None, 7)
    assert model.get_layer("stem_conv").strides == stem_strides
    assert PRESETS[name].optimizer == "adam"


def test_help_lists_the_residual_presets(cli):
    result = cli("train", "--help")
    assert result.returncode == 0, result.stderr
    assert "resnet, resnet20" in " ".join(result.stdout.split())


@pytest.mark.parametrize("preset", ["resnet", "resnet20"])
def test_le4nn_train_runs_a_residual_preset_on_the_sample(cli, tmp_path, preset):
    result = cli("train", "--model", preset, "--dataset", "sample", "--epochs", "1", "--subset", "200",
                 "--batch-size", "50", "--output", "run")
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    model = load_model(tmp_path / "run" / "model.npz")
    assert model.name == preset and model.get_layer("stage3_block1_add") is not None
    (_, _), (x_test, _) = sample.load_data()
    probabilities = model.predict(x_test[:5, :, :, None].astype(np.float32) / 255)
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
