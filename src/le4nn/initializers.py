"""Weight initializers: ``initializer(shape, dtype="float32") -> np.ndarray``.

The default for Dense and Conv2D kernels is the course handout's (4.2.2): a normal distribution with mean
0 and variance 1/N, N = fan-in (:class:`HandoutNormal`).  The Keras initializers are here too, with Keras 3
semantics and defaults:

=====================  ==========================================  =================================
class                  distribution                                Keras name
=====================  ==========================================  =================================
HandoutNormal          normal, std √(1/fan_in) (not truncated)     (le4nn's default, handout 4.2.2)
GlorotNormal           truncated normal, std √(2/(fan_in+fan_out))  glorot_normal / xavier_normal
GlorotUniform          uniform ±√(6/(fan_in+fan_out))               glorot_uniform / xavier_uniform
HeNormal               truncated normal, std √(2/fan_in)            he_normal
HeUniform              uniform ±√(6/fan_in)                         he_uniform
LeCunNormal            truncated normal, std √(1/fan_in)            lecun_normal
LeCunUniform           uniform ±√(3/fan_in)                         lecun_uniform
RandomNormal           normal(mean, stddev)                        random_normal / normal
RandomUniform          uniform(minval, maxval)                     random_uniform / uniform
TruncatedNormal        normal(mean, stddev) cut at ±2 stddev         truncated_normal
Zeros, Ones, Constant  constants                                   zeros, ones, constant
=====================  ==========================================  =================================

As in Keras, the "normal" variance-scaling initializers (Glorot, He, LeCun) draw from a normal distribution
truncated at two standard deviations, with the standard deviation divided by 0.8796256610342398 (the
standard deviation of a standard normal truncated to [−2, 2]) so that the *drawn* values have exactly the
variance stated above.  ``HandoutNormal`` and ``RandomNormal`` are plain, untruncated normals.

Fans (docs/architecture.md): a 2-D kernel (in, out) has fan_in = in, fan_out = out; a conv kernel
(kh, kw, in, out) has fan_in = kh·kw·in, fan_out = kh·kw·out; a 1-D shape has both = shape[0].

Randomness: an initializer built with an integer ``seed`` returns the same values at every call (Keras 3
behaviour); an unseeded one draws from ``le4nn.utils.get_rng()``, so ``le4nn.utils.set_random_seed``
makes a whole model's initialization reproducible.  Values are drawn in float64 and then cast, so a
float32 and a float64 draw from the same seed agree up to rounding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from le4nn import utils
from le4nn._numbers import is_integer, is_real
from le4nn._registry import Configurable, Registry
from le4nn._typing import Config, DTypeLike

# Standard deviation of a standard normal truncated to [-2, 2] (Keras's constant).
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out): 2-D (in, out); conv (kh, kw, in, out) → (kh·kw·in, kh·kw·out); 1-D (n, n)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _as_shape(shape: Any) -> tuple[int, ...]:  # (an int or a sequence of ints, checked)
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"initializer: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"initializer: shape must not have negative dimensions, got {dims}")
    return dims


def _float_dtype(dtype: DTypeLike, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{name}: dtype must be a float type, got {dt}")
    return dt


def _check_seed(seed: Any, name: str) -> int | None:
    if seed is not None and (not is_integer(seed)):
        raise TypeError(f"{name}: seed must be an integer or None, got {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"{name}: seed must be >= 0, got {seed}")
    return None if seed is None else int(seed)


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype="float32")``, ``get_config()``, ``from_config(config)``."""

    def __call__(self, shape: int | Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: int | Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        return np.zeros(_as_shape(shape), dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape: int | Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        return np.ones(_as_shape(shape), dtype=dtype)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        if not (is_real(value) or isinstance(value, bool)):  # any numbers.Real
            raise TypeError(f"Constant: value must be a real number, got {value!r}")
        self.value = float(value)

    def __call__(self, shape: int | Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        return np.full(_as_shape(shape), self.value, dtype=dtype)

    def get_config(self) -> Config:
        return {"value": self.value}


class RandomInitializer(Initializer):
    """An initializer that draws random numbers: seeded (same values every call) or from the global rng."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = _check_seed(seed, type(self).__name__)

    def _rng(self) -> np.random.Generator:
        return utils.get_rng() if self.seed is None else np.random.default_rng(self.seed)

    def __call__(self, shape: int | Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        dt = _float_dtype(dtype, type(self).__name__)
        shape = _as_shape(shape)
        return self._draw(self._rng(), shape).astype(dt, copy=False)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> Config:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float) -> np.ndarray:
    """Normal(mean, stddev) with every value beyond 2 stddev redrawn (Keras/TensorFlow's truncated normal)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return mean + stddev * z


class RandomNormal(RandomInitializer):
    """Normal distribution N(mean, stddev²) (Keras defaults mean 0, stddev 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        if stddev < 0:
            raise ValueError(f"RandomNormal: stddev must be >= 0, got {stddev}")
        self.mean, self.stddev = float(mean), float(stddev)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self) -> Config:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal N(mean, stddev²) with values beyond two standard deviations redrawn (as Keras)."""

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return _truncated_normal(rng, shape, self.mean, self.stddev)


class RandomUniform(RandomInitializer):
    """Uniform distribution on [minval, maxval) (Keras defaults ±0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval ({maxval}) must be >= minval ({minval})")
        self.minval, self.maxval = float(minval), float(maxval)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self) -> Config:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(RandomInitializer):
    """Keras's VarianceScaling: variance ``scale / n`` with n = fan_in, fan_out or their mean ("fan_avg").

    ``distribution``: "truncated_normal" (std √(scale/n) / 0.8796, cut at 2 std, so the drawn values
    have variance scale/n), "untruncated_normal" (std √(scale/n)) or "uniform" (±√(3·scale/n)).
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        super().__init__(seed)
        name = type(self).__name__
        if not scale > 0:
            raise ValueError(f"{name}: scale must be > 0, got {scale}")
        if mode not in self.MODES:
            raise ValueError(f"{name}: mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"{name}: distribution must be one of {', '.join(self.DISTRIBUTIONS)}, got {distribution!r}"
            )
        self.scale, self.mode = float(scale), mode
        self.distribution = "truncated_normal" if distribution == "normal" else distribution

    def _variance(self, shape: tuple[int, ...]) -> float:
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / max(1.0, n)

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        variance = self._variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STD)

    def get_config(self) -> Config:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed parameters; its config is only the seed."""

    _preset: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._preset, seed=seed)

    def get_config(self) -> Config:
        return {"seed": self.seed}


class HandoutNormal(_Preset):
    """The course handout's default (4.2.2): normal with mean 0 and variance 1/N, N = fan-in (untruncated).

    This is le4nn's default kernel initializer for Dense and Conv2D (Keras's default is glorot_uniform).
    """

    _preset = (1.0, "fan_in", "untruncated_normal")


class GlorotNormal(_Preset):
    """Glorot/Xavier normal: variance 2/(fan_in + fan_out), truncated at 2 std as in Keras."""

    _preset = (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_Preset):
    """Glorot/Xavier uniform: U(−l, l) with l = √(6/(fan_in + fan_out))."""

    _preset = (1.0, "fan_avg", "uniform")


class HeNormal(_Preset):
    """He normal: variance 2/fan_in, truncated at 2 std as in Keras."""

    _preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """He uniform: U(−l, l) with l = √(6/fan_in)."""

    _preset = (2.0, "fan_in", "uniform")


class LeCunNormal(_Preset):
    """LeCun normal: variance 1/fan_in, truncated at 2 std as in Keras."""

    _preset = (1.0, "fan_in", "truncated_normal")


class LeCunUniform(_Preset):
    """LeCun uniform: U(−l, l) with l = √(3/fan_in)."""

    _preset = (1.0, "fan_in", "uniform")


# Aliases (Keras names)
XavierNormal = GlorotNormal
XavierUniform = GlorotUniform

_NAMES: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "normal": RandomNormal,  # Keras's short names (e.g. Embedding's default "uniform")
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "handout_normal": HandoutNormal,
    "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LeCunNormal,
    "lecun_uniform": LeCunUniform,
}
_REGISTRY = Registry("initializer", "initializers", Initializer, _NAMES)


def serialize(initializer: Initializer) -> Config:
    """``{"class_name": ..., "config": {...}}`` of an initializer (JSON-friendly)."""
    return _REGISTRY.serialize(initializer)


def deserialize(config: dict) -> Initializer:
    """The initializer that :func:`serialize` described (the inverse of :func:`serialize`)."""
    return _REGISTRY.deserialize(config)


def get(identifier: Any) -> Initializer | Callable[..., np.ndarray] | None:
    """An initializer from a name ("he_normal"), a class name, an instance, a config dict or a callable.

    ``None`` returns ``None``.  Unknown names raise a ValueError listing the valid ones.
    """
    if identifier is None:
        return None
    return _REGISTRY.get(identifier, accepts=callable)
