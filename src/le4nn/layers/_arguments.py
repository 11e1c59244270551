"""Checking layer constructor arguments, so that a bad one fails at once with an error naming the layer
and the argument, and resolving initializer/regularizer/activation identifiers."""

from __future__ import annotations

from typing import Any

from le4nn import activations, initializers, regularizers
from le4nn._numbers import is_integer


def positive_int(layer, argument: str, value) -> int:
    if not is_integer(value) or value <= 0:
        raise ValueError(f"{layer.describe()}: {argument} must be a positive integer, got {value!r}")
    return int(value)


def int_pair(layer, argument: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (vertical, horizontal), each >= ``minimum``."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(
        is_integer(v) and int(v) >= minimum for v in pair
    ):
        raise ValueError(
            f"{layer.describe()}: {argument} must be an int or a pair of ints >= {minimum}, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def check_data_format(layer, value) -> str:
    value = "channels_last" if value is None else value
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer.describe()}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return value


def get_activation(layer, value, argument: str = "activation", **params: Any) -> activations.ActivationFunction:
    try:
        return activations.get(value, **params)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{layer.describe()}: invalid {argument}: {exc}") from None


def get_initializer(layer, argument: str, value):
    """``initializers.get(value)`` with an error that names the layer and the argument."""
    try:
        init = initializers.get(value)
    except (ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if exc.args else exc
        raise ValueError(f"{layer.describe()}: invalid {argument} {value!r}: {message}") from None
    if init is None:
        raise ValueError(f"{layer.describe()}: {argument} must not be None")
    return init


def get_regularizer(layer, argument: str, value):
    """``regularizers.get(value)`` (None means no regularizer) with an error naming the layer and argument."""
    if value is None:
        return None
    try:
        return regularizers.get(value)
    except (ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if exc.args else exc
        raise ValueError(f"{layer.describe()}: invalid {argument} {value!r}: {message}") from None


def serialize_initializer(init):
    return initializers.serialize(init)


def serialize_regularizer(reg):
    return None if reg is None else regularizers.serialize(reg)
