"""Bad arguments and bad inputs fail at once, with an error that names the layer and the argument."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()


# --- inputs --------------------------------------------------------------------------------------------

def test_wrong_rank_input(rng):
    with pytest.raises(ValueError, match=r"Dense layer 'dense'.*2-D input.*\(None, 28, 28, 1\).*Flatten"):
        layers.Dense(10)(rng.standard_normal((2, 28, 28, 1)))
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d'.*4-D input.*\(batch, height, width, chan"):
        layers.Conv2D(4, 3)(rng.standard_normal((2, 784)))
    with pytest.raises(ValueError, match=r"MaxPooling2D layer 'max_pooling2d'.*4-D"):
        layers.MaxPooling2D()(rng.standard_normal((2, 28, 28)))
    with pytest.raises(ValueError, match=r"BatchNormalization layer.*axis 3.*\(None, 5\)"):
        layers.BatchNormalization(axis=3)(rng.standard_normal((2, 5)))
    with pytest.raises(ValueError, match="batch dimension"):
        layers.ReLU()(np.float32(1.0))


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, bool])
def test_non_float_input(dtype):
    x = np.ones((2, 4), dtype=dtype)
    with pytest.raises(TypeError, match=r"Dense layer 'dense': inputs must be a float array.*got dtype"):
        layers.Dense(3)(x)
    with pytest.raises(TypeError, match=r"Conv2D layer 'conv2d': inputs must be a float array"):
        layers.Conv2D(3, 1)(np.ones((1, 2, 2, 1), dtype=dtype))


def test_input_too_small_for_the_kernel(rng):
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d'.*kernel \(5, 5\) does not fit.*\(3, 3\)"):
        layers.Conv2D(1, 5)(rng.standard_normal((1, 3, 3, 1)))
    with pytest.raises(ValueError, match=r"MaxPooling2D layer.*pool_size \(4, 4\) does not fit"):
        layers.MaxPooling2D(4)(rng.standard_normal((1, 3, 3, 1)))


def test_unknown_channels_or_features():
    with pytest.raises(ValueError, match="input features must be known"):
        layers.Dense(3).build((None, None))
    with pytest.raises(ValueError, match="input channels must be known"):
        layers.Conv2D(3, 1).build((None, 4, 4, None))


def test_backward_errors(rng):
    dense = layers.Dense(3)
    with pytest.raises(RuntimeError, match=r"Dense layer 'dense': backward called before forward"):
        dense.backward(np.ones((2, 3)))
    dense(rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match=r"dense.*grad_out has shape \(2, 4\).*\(2, 3\)"):
        dense.backward(np.ones((2, 4)))


# --- constructor arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", None, True])
def test_dropout_rate(rate):
    with pytest.raises(ValueError, match=r"Dropout layer 'dropout': rate must be .*0 <= rate < 1"):
        layers.Dropout(rate)


def test_dropout_mode_and_seed():
    with pytest.raises(ValueError, match="mode must be one of 'handout', 'inverted'"):
        layers.Dropout(0.5, mode="train")
    with pytest.raises(ValueError, match="seed must be an int"):
        layers.Dropout(0.5, seed=1.5)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"Dense layer 'dense': invalid activation.*'softplus'.*sigmoid"):
        layers.Dense(3, activation="softplus")
    with pytest.raises(ValueError, match=r"Activation layer 'activation': invalid activation.*'swish'"):
        layers.Activation("swish")
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d': invalid activation"):
        layers.Conv2D(3, 3, activation="gelu")


def test_unknown_initializer_or_regularizer():
    with pytest.raises(ValueError, match=r"'dense': invalid kernel_initializer 'xavier_gauss'.*he_normal"):
        layers.Dense(3, kernel_initializer="xavier_gauss")
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d': invalid bias_initializer 'nope'"):
        layers.Conv2D(3, 3, bias_initializer="nope")
    with pytest.raises(ValueError, match=r"Dense layer 'dense_1': invalid kernel_regularizer 'l3'"):
        layers.Dense(3, kernel_regularizer="l3")
    with pytest.raises(ValueError, match=r"BatchNormalization layer .*invalid gamma_initializer"):
        layers.BatchNormalization(gamma_initializer="unit")


@pytest.mark.parametrize("units", [0, -3, 2.5, "10", True])
def test_units(units):
    with pytest.raises(ValueError, match=r"Dense layer 'dense': units must be a positive integer"):
        layers.Dense(units)


def test_conv_and_pool_arguments():
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d': filters must be a positive integer"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        layers.Conv2D(2, (3, 0))
    with pytest.raises(ValueError, match="strides must be an int or a pair"):
        layers.Conv2D(2, 3, strides=(1, 2, 3))
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="padding must be"):
        layers.Conv2D(2, 3, padding=-1)
    with pytest.raises(ValueError, match="data_format must be 'channels_last' or 'channels_first'"):
        layers.Conv2D(2, 3, data_format="NHWC")
    with pytest.raises(ValueError, match=r"MaxPooling2D layer.*padding 2 must be smaller than pool_size"):
        layers.MaxPooling2D(2, padding=2)
    with pytest.raises(ValueError, match="pool_size must be an int or a pair"):
        layers.AveragePooling2D(0)


def test_other_arguments():
    with pytest.raises(ValueError, match=r"Dense layer 'dense': dtype must be 'float32' or 'float64'"):
        layers.Dense(3, dtype="int32")
    with pytest.raises(TypeError, match="Dense: unexpected keyword argument.*kernel_init"):
        layers.Dense(3, kernel_init="zeros")
    with pytest.raises(ValueError, match="target_shape must be positive ints"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"Reshape layer.*cannot reshape.*\(None, 5\)"):
        layers.Reshape((2, 2)).build((None, 5))
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\]"):
        layers.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match=r"epsilon must be a number in \(0, inf\)"):
        layers.BatchNormalization(epsilon=0)
    with pytest.raises(ValueError, match="negative_slope must be a finite number"):
        layers.LeakyReLU(negative_slope="steep")
    with pytest.raises(ValueError, match=r"Softmax layer.*axis 0 is not a feature axis"):
        layers.Softmax(axis=0)(np.ones((2, 3)))


def test_merge_inputs(rng):
    with pytest.raises(ValueError, match=r"Concatenate layer.*agree on every axis but -1"):
        layers.Concatenate()([rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 2, 4))])
    with pytest.raises(ValueError, match=r"Add layer.*same shape"):
        layers.Add()([rng.standard_normal((2, 3)), rng.standard_normal((2, 4))])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()([rng.standard_normal((2, 3))])
    with pytest.raises(TypeError, match="takes a list of inputs"):
        layers.Add()(rng.standard_normal((2, 3)))
