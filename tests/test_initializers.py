"""Initializers: shapes, dtypes, statistics, fans, reproducibility, get/serialize."""

from __future__ import annotations

import math

import numpy as np
import pytest

from le4nn import initializers, utils
from le4nn.initializers import compute_fans

ALL_NAMES = [
    "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal", "handout_normal",
    "glorot_normal", "glorot_uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform",
]  # fmt: skip
RANDOM_NAMES = [n for n in ALL_NAMES if n not in ("zeros", "ones", "constant")]


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (3, 3, 2, 4), 6])
def test_shape_and_dtype(name, dtype, shape):
    w = initializers.get(name)(shape, dtype=dtype)
    assert w.shape == ((shape,) if isinstance(shape, int) else shape)
    assert w.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(w))


def test_default_dtype_is_float32():
    assert initializers.get("he_normal")((4, 4)).dtype == np.float32


def test_constants():
    assert np.all(initializers.Zeros()((2, 3)) == 0)
    assert np.all(initializers.Ones()((2, 3)) == 1)
    assert np.all(initializers.Constant(0.25)((2, 3), dtype="float64") == 0.25)


def test_fans():
    assert compute_fans((784, 100)) == (784, 100)
    assert compute_fans((3, 5, 2, 8)) == (3 * 5 * 2, 3 * 5 * 8)
    assert compute_fans((10,)) == (10, 10)
    assert compute_fans(()) == (1, 1)


N = 400_000  # draws for the statistics below: standard error of the std ≈ std / 900


def _stats(w):
    w = w.astype(np.float64)
    return w.mean(), w.std()


@pytest.mark.parametrize(
    "name, shape, expected_std",
    [
        ("handout_normal", (800, 500), math.sqrt(1 / 800)),
        ("glorot_normal", (800, 500), math.sqrt(2 / 1300)),
        ("he_normal", (800, 500), math.sqrt(2 / 800)),
        ("lecun_normal", (800, 500), math.sqrt(1 / 800)),
        # conv kernel (kh, kw, in, out): fan_in = 3·3·16 = 144, fan_out = 3·3·32 = 288 (+ enough draws)
        ("handout_normal", (3, 3, 16, 32 * 87), math.sqrt(1 / 144)),
        ("he_normal", (3, 3, 16, 32 * 87), math.sqrt(2 / 144)),
        ("glorot_normal", (3, 3, 64, 32 * 22), math.sqrt(2 / (9 * 64 + 9 * 32 * 22))),
    ],
)
def test_normal_statistics(name, shape, expected_std):
    w = initializers.get(name)(shape, dtype="float64")
    assert w.size >= N
    mean, std = _stats(w)
    assert abs(mean) < 5 * expected_std / math.sqrt(w.size)
    assert std == pytest.approx(expected_std, rel=0.01)


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_keras_normals_are_truncated_at_two_std(name):
    init = initializers.get(name)
    w = init((800, 500), dtype="float64")
    var = init._variance((800, 500))
    bound = 2 * math.sqrt(var) / 0.87962566103423978
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound


def test_handout_normal_is_not_truncated():
    w = initializers.HandoutNormal(seed=3)((1000, 400), dtype="float64")
    assert np.abs(w).max() > 3.5 * math.sqrt(1 / 1000)


@pytest.mark.parametrize(
    "name, shape, limit",
    [
        ("glorot_uniform", (800, 500), math.sqrt(6 / 1300)),
        ("he_uniform", (800, 500), math.sqrt(6 / 800)),
        ("lecun_uniform", (800, 500), math.sqrt(3 / 800)),
        ("he_uniform", (5, 3, 8, 1000), math.sqrt(6 / (5 * 3 * 8))),
        ("random_uniform", (800, 500), 0.05),
    ],
)
def test_uniform_statistics(name, shape, limit):
    w = initializers.get(name)(shape, dtype="float64")
    assert w.min() >= -limit and w.max() <= limit
    assert w.min() < -0.99 * limit and w.max() > 0.99 * limit
    mean, std = _stats(w)
    assert abs(mean) < 5 * limit / math.sqrt(3 * w.size)
    assert std == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_random_normal_and_uniform_parameters():
    w = initializers.RandomNormal(mean=1.5, stddev=0.2, seed=0)((N,), dtype="float64")
    assert w.mean() == pytest.approx(1.5, abs=0.002) and w.std() == pytest.approx(0.2, rel=0.01)
    u = initializers.RandomUniform(minval=2.0, maxval=3.0, seed=0)((N,))
    assert u.min() >= 2.0 and u.max() <= 3.0 and u.mean() == pytest.approx(2.5, abs=0.003)
    t = initializers.TruncatedNormal(mean=0.0, stddev=0.1, seed=0)((N,))
    assert np.abs(t).max() <= 0.2 + 1e-7


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_seeded_instances_repeat_and_seeds_differ(name):
    cls = type(initializers.get(name))
    a = cls(seed=7)
    np.testing.assert_array_equal(a((6, 5)), a((6, 5)))
    np.testing.assert_array_equal(a((6, 5)), cls(seed=7)((6, 5)))
    assert not np.array_equal(a((6, 5)), cls(seed=8)((6, 5)))


def test_float32_and_float64_draws_agree_up_to_rounding():
    init = initializers.HeNormal(seed=1)
    np.testing.assert_array_equal(init((4, 4), "float32"), init((4, 4), "float64").astype(np.float32))


def test_unseeded_draws_follow_the_global_seed():
    init = initializers.GlorotUniform()
    utils.set_random_seed(42)
    first = init((10, 10)), initializers.get("handout_normal")((3, 3, 1, 4))
    second_call = init((10, 10))
    assert not np.array_equal(first[0], second_call)  # unseeded: a new draw each call
    utils.set_random_seed(42)
    again = init((10, 10)), initializers.get("handout_normal")((3, 3, 1, 4))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.parametrize(
    "init",
    [
        initializers.Zeros(),
        initializers.Constant(3.5),
        initializers.RandomNormal(mean=1.0, stddev=2.0, seed=3),
        initializers.RandomUniform(-1.0, 2.0),
        initializers.HandoutNormal(seed=5),
        initializers.GlorotUniform(seed=1),
        initializers.HeNormal(),
        initializers.VarianceScaling(scale=0.5, mode="fan_out", distribution="uniform", seed=2),
    ],
)
def test_serialize_round_trip(init):
    config = initializers.serialize(init)
    assert set(config) == {"class_name", "config"}
    import json

    restored = initializers.get(json.loads(json.dumps(config)))
    assert type(restored) is type(init)
    assert restored.get_config() == init.get_config()
    if init.get_config().get("seed") is not None or not isinstance(init, initializers.RandomInitializer):
        np.testing.assert_array_equal(restored((3, 4)), init((3, 4)))


def test_get_accepts_instances_aliases_class_names_and_callables():
    init = initializers.HeUniform(seed=1)
    assert initializers.get(init) is init
    assert initializers.get(None) is None
    assert type(initializers.get("xavier_normal")) is initializers.GlorotNormal
    assert type(initializers.get("xavier_uniform")) is initializers.GlorotUniform
    assert type(initializers.get("GlorotUniform")) is initializers.GlorotUniform
    assert type(initializers.get("He_Normal")) is initializers.HeNormal

    def custom(shape, dtype="float32"):
        return np.full(shape, 2.0, dtype)

    assert initializers.get(custom) is custom


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'.*glorot_uniform.*he_normal"):
        initializers.get("glorot")
    with pytest.raises(ValueError):
        initializers.get(3.0)


def test_bad_arguments():
    with pytest.raises(TypeError, match="dtype"):
        initializers.HeNormal()((2, 2), dtype="int32")
    with pytest.raises(ValueError, match="stddev"):
        initializers.RandomNormal(stddev=-1.0)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(TypeError, match="seed"):
        initializers.HeNormal(seed=1.5)
