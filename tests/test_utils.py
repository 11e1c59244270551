"""``le4nn.utils``: the global random generator and its state, and ``to_categorical``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from le4nn import utils
from le4nn.layers import Dense, Dropout


def test_set_random_seed_restarts_the_global_stream():
    utils.set_random_seed(42)
    first = utils.get_rng().random(5)
    utils.set_random_seed(42)
    assert np.array_equal(utils.get_rng().random(5), first)
    utils.set_random_seed(43)
    assert not np.array_equal(utils.get_rng().random(5), first)


def test_initializers_and_dropout_draw_from_the_seeded_generator():
    def draw():
        utils.set_random_seed(7)
        dense = Dense(4)
        dense.build((None, 3))
        mask = Dropout(0.5)(np.ones((2, 6), np.float32), training=True)
        return dense.get_weights()[0], mask

    (kernel_a, mask_a), (kernel_b, mask_b) = draw(), draw()
    assert np.array_equal(kernel_a, kernel_b) and np.array_equal(mask_a, mask_b)


def test_rng_state_round_trips_through_json():
    utils.set_random_seed(1)
    utils.get_rng().random(3)
    state = json.loads(json.dumps(utils.get_rng_state()))
    expected = utils.get_rng().random(4)
    utils.get_rng().random(10)
    utils.set_rng_state(state)
    assert np.array_equal(utils.get_rng().random(4), expected)


def test_to_categorical():
    encoded = utils.to_categorical([2, 0, 1])
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert utils.to_categorical(np.array([[1], [3]]), num_classes=5).shape == (2, 5)
    assert utils.to_categorical(np.array([[0, 1], [1, 0]])).shape == (2, 2, 2)
    assert utils.to_categorical(np.array([1.0, 2.0]), 3, dtype="float64").dtype == np.float64
    assert utils.to_categorical(np.array([], int), 10).shape == (0, 10)
    labels = np.random.default_rng(0).integers(0, 10, 100).astype(np.uint8)
    assert np.array_equal(np.argmax(utils.to_categorical(labels, 10), axis=1), labels)


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "message"),
    [
        ([0, 3], {"num_classes": 3}, ValueError, "label 3 does not fit num_classes=3"),
        ([-1, 0], {}, ValueError, "must be >= 0"),
        ([0.5], {}, ValueError, "whole numbers"),
        (["a"], {}, TypeError, "must be integers"),
    ],
)
def test_to_categorical_errors(labels, kwargs, error, message):
    with pytest.raises(error, match=message):
        utils.to_categorical(np.array(labels), **kwargs)


@pytest.mark.parametrize("seed", [-1, "0", 1.5, True, None])
def test_set_random_seed_refuses_what_is_not_a_seed(seed):
    with pytest.raises(ValueError, match=r"set_random_seed: seed must be an integer >= 0, got"):
        utils.set_random_seed(seed)
