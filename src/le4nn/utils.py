"""Small helpers users reach for: seeding and label encoding."""

from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed le4nn's global random generator (initializers, Dropout, shuffling, augmentation).

    Two runs with the same seed, backend and thread count give bitwise identical results.
    """
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be an integer >= 0, got {seed!r}")
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """The global generator that every unseeded random choice in le4nn draws from."""
    return _rng


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer class labels: shape (..., num_classes), like ``keras.utils.to_categorical``."""
    labels = np.asarray(y)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ValueError("to_categorical: labels must be whole numbers")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.intp)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} does not fit num_classes={num_classes}")
    encoded = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(encoded, labels[..., None], 1, axis=-1)
    return encoded


def get_rng_state() -> dict:
    """The global generator's state (JSON-serializable), saved with models so that resumed training
    continues the same random stream."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _rng.bit_generator.state = state
