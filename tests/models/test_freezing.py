"""Freezing layers (``trainable = False``) inside a combined model, as a GAN trains its generator.

le4nn reads ``trainable`` at every training step (it is not captured at ``compile`` time as in Keras 2):
a model updates the layers that are trainable when it takes a step.  A frozen layer's weights are not
updated and not regularized, and a frozen BatchNormalization runs in inference mode (its moving
statistics do not move either).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from le4nn import layers, optimizers
from le4nn.layers import BatchNormalization, Conv2D, Conv2DTranspose, Dense, Flatten, Input, Reshape
from le4nn.models import Model, Sequential


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()


def tiny_gan():
    generator = Sequential([
        Dense(2 * 2 * 3, activation="relu", input_shape=(5,)),
        Reshape((2, 2, 3)),
        Conv2DTranspose(2, 4, strides=2, padding="same", activation="tanh"),
    ], name="generator")
    discriminator = Sequential([
        Conv2D(3, 3, strides=2, padding="same", activation="relu", kernel_regularizer="l2", input_shape=(4, 4, 2)),
        BatchNormalization(),
        Flatten(),
        Dense(1, activation="sigmoid", kernel_regularizer="l2"),
    ], name="discriminator")
    return generator, discriminator


def snapshot(model):
    return [w.copy() for w in model.get_weights()]  # params and state (moving statistics)


def changed(before, model):
    return [not np.array_equal(b, a) for b, a in zip(before, model.get_weights(), strict=True)]


def test_frozen_discriminator_inside_the_combined_model(rng):
    generator, discriminator = tiny_gan()
    discriminator.compile(optimizer=optimizers.Adam(1e-2), loss="binary_crossentropy")
    # The combined model holds the same layer objects (a model cannot be used as a layer).
    combined = Sequential([*generator.layers, *discriminator.layers], name="combined")
    discriminator.trainable = False  # Keras: freeze, then compile the combined model
    assert discriminator.trainable is False and not any(layer.trainable for layer in discriminator.layers)
    assert generator.trainable is True
    combined.compile(optimizer=optimizers.Adam(1e-2), loss="binary_crossentropy")

    noise = rng.standard_normal((6, 5)).astype(np.float32)
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    for _ in range(2):
        combined.train_on_batch(noise, np.ones((6, 1), np.float32))
    assert not any(changed(d_before, discriminator))  # bit-identical, moving statistics included
    assert all(changed(g_before, generator))  # every generator weight moved
    assert set(combined.optimizer._slots["m"]) == {f"{layer.name}/{name}" for layer in generator.layers
                                                   for name in layer.params}

    # The discriminator's own step: trainable again (trainable is read at each step).
    discriminator.trainable = True
    images = np.concatenate([rng.uniform(-1, 1, (6, 4, 4, 2)), generator.predict(noise)]).astype(np.float32)
    targets = np.concatenate([np.ones((6, 1)), np.zeros((6, 1))]).astype(np.float32)
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    discriminator.train_on_batch(images, targets)
    assert all(changed(d_before, discriminator))  # weights and BatchNormalization's moving statistics
    assert not any(changed(g_before, generator))

    # Frozen again for the next generator step: only the generator moves.
    discriminator.trainable = False
    d_before = snapshot(discriminator)
    combined.train_on_batch(noise, np.ones((6, 1), np.float32))
    assert not any(changed(d_before, discriminator))


def test_frozen_layers_are_not_regularized(rng):
    generator, discriminator = tiny_gan()
    combined = Sequential([*generator.layers, *discriminator.layers])
    combined.compile(optimizer="sgd", loss="binary_crossentropy")
    noise = rng.standard_normal((4, 5)).astype(np.float32)
    targets = np.ones((4, 1), np.float32)
    penalty = sum(layer.regularization_loss() for layer in discriminator.layers)
    assert penalty > 0
    trainable_loss = combined.test_on_batch(noise, targets)
    discriminator.trainable = False
    assert all(layer.regularization_loss() == 0.0 for layer in discriminator.layers)
    frozen_loss = combined.test_on_batch(noise, targets)
    assert frozen_loss == pytest.approx(trainable_loss - penalty, rel=1e-6)


def test_frozen_layer_set_on_the_layer_and_summary(rng):
    generator, discriminator = tiny_gan()
    discriminator.layers[0].trainable = False
    assert discriminator.trainable is False  # not every layer is trainable
    discriminator.compile(optimizer="sgd", loss="binary_crossentropy")
    before = snapshot(discriminator)
    discriminator.train_on_batch(rng.uniform(-1, 1, (4, 4, 4, 2)).astype(np.float32), np.ones((4, 1)))
    moved = changed(before, discriminator)
    assert moved[:2] == [False, False] and all(moved[2:])  # conv kernel and bias frozen, the rest moved
    lines = []
    discriminator.summary(print_fn=lines.append)
    assert "Non-trainable params: " + f"{3 * 3 * 2 * 3 + 3 + 2 * 3:,}" in lines[0]  # conv + BN moving stats


def test_functional_model_trainable_and_model_as_layer_errors(rng):
    inputs = Input(shape=(3,))
    model = Model(inputs, Dense(2, name="d")(Dense(4)(inputs)))
    model.trainable = False
    assert not any(layer.trainable for layer in model.layers if layer.params)
    model.trainable = True
    assert model.trainable is True
    with pytest.raises(TypeError, match="cannot be called on symbolic tensors.*same layer objects"):
        model(Input(shape=(3,)))
    with pytest.raises(TypeError, match="expects a layer, got the model.*add its layers"):
        Sequential([model])
    unbuilt = Model(name="empty")
    unbuilt.trainable = False  # nothing to freeze yet; no error
    assert unbuilt.trainable is True


def test_training_a_fully_frozen_model_warns_once(rng):
    """The Keras 2 recipe that never unfreezes the discriminator would silently not train it here."""
    _, discriminator = tiny_gan()
    discriminator.compile(optimizer="sgd", loss="binary_crossentropy")
    discriminator.trainable = False
    x, y = rng.uniform(-1, 1, (4, 4, 4, 2)).astype(np.float32), np.ones((4, 1), np.float32)
    before = snapshot(discriminator)
    with pytest.warns(UserWarning, match="every layer frozen.*reads trainable at each step"):
        discriminator.train_on_batch(x, y)
    assert not any(changed(before, discriminator))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        discriminator.train_on_batch(x, y)  # only once per model
