"""Automatic layer names: "dense", "dense_1", "dense_2", ... as Keras."""

from __future__ import annotations

import re

_name_counts: dict[str, int] = {}


def to_snake_case(name: str) -> str:
    """``"MaxPooling2D"`` -> ``"max_pooling2d"`` (Keras's rule, so auto names match Keras's)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(prefix: str) -> str:
    """The first call gives ``prefix``, the next ones ``prefix_1``, ``prefix_2``, ..."""
    count = _name_counts.get(prefix, 0)
    _name_counts[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names() -> None:
    """Restart the automatic layer names (as ``keras.backend.clear_session`` does)."""
    _name_counts.clear()
