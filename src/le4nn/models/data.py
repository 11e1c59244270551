"""Turning what users pass to ``fit``/``evaluate``/``predict`` into lists of arrays and mini-batches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from le4nn._finite import first_non_finite_row


def as_array_list(data, what: str, count: int) -> list[np.ndarray]:
    """One array per model input (or output): a single array, or a list/tuple/dict of them."""
    if isinstance(data, dict):
        raise TypeError(f"{what}: pass a list of arrays in the order of the model's {what}, not a dict")
    # A list/tuple is one array per input when the model has several inputs, or when it holds exactly
    # ``count`` arrays (Keras accepts ``[x]`` for a single input); otherwise it is the data itself.
    is_sequence = isinstance(data, (list, tuple))
    if is_sequence and (count > 1 or (len(data) == count and all(isinstance(a, np.ndarray) for a in data))):
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != count:
        raise ValueError(f"the model has {count} {what}, but {len(arrays)} arrays were given")
    result = []
    for k, a in enumerate(arrays):
        if a is None:
            raise ValueError(f"{what}[{k}] is None")
        try:
            arr = np.asarray(a)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{what}[{k}] is not a regular array: {exc}") from None
        if arr.ndim == 0:
            raise ValueError(f"{what}[{k}] needs a batch dimension, got a scalar")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"{what}[{k}] must be numeric, got dtype {arr.dtype}")
        result.append(arr)
    return result


def common_length(*groups: list[np.ndarray]) -> int:
    """The number of samples, which every array must share."""
    lengths = {len(a) for group in groups for a in group}
    if len(lengths) != 1:
        shapes = ", ".join(str(a.shape) for group in groups for a in group)
        raise ValueError(f"all inputs and targets need the same number of samples, got shapes {shapes}")
    return lengths.pop()


def to_model_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a batch to the model's float dtype (8-bit images arrive as uint8; no scaling is applied)."""
    return x if x.dtype == dtype else x.astype(dtype)


def validation_cut(n: int, fraction: float) -> int:
    """How many of ``n`` samples train under ``validation_split=fraction``: the first ⌊n (1 − fraction)⌋,
    as Keras (the rest validate)."""
    return int(n * (1.0 - fraction))


def split_validation(xs, ys, fraction: float):
    """Keras's ``validation_split``: the last ``fraction`` of the samples, taken before shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    n = common_length(xs, ys)
    cut = validation_cut(n, fraction)
    if cut == 0 or cut == n:
        raise ValueError(f"fit: validation_split={fraction} leaves no training or no validation samples of {n} "
                         f"({cut} would train)")
    return [x[:cut] for x in xs], [y[:cut] for y in ys], [x[cut:] for x in xs], [y[cut:] for y in ys]


def class_weights_to_samples(class_weight: Mapping[int, float], y: np.ndarray) -> np.ndarray:
    """Per-sample weights from ``{class: weight}`` and the targets (class indices or one-hot)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y)).astype(np.intp)
    table = np.ones(int(labels.max(initial=0)) + 1)
    for cls, weight in class_weight.items():
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or cls < 0:
            raise ValueError(f"class_weight: keys must be class indices (integers >= 0), got {cls!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) or not np.isfinite(weight) \
                or weight < 0:
            raise ValueError(f"class_weight: the weight of class {cls} must be a finite number >= 0, got {weight!r}")
        if cls < len(table):  # classes absent from y do not weigh anything
            table[int(cls)] = float(weight)
    return table[labels]


def batch_slices(n: int, batch_size: int):
    """(start, stop) of each mini-batch; the last one may be smaller."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def check_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


# --- the checks of fit / evaluate / predict arguments ---------------------------------------------


def _label(name: str, k: int, group: list) -> str:
    return name if len(group) == 1 else f"{name}[{k}]"


def check_samples(method: str, xs: list[np.ndarray], ys: list[np.ndarray] | None = None,
                  finite: bool = True) -> int:
    """The number of samples of ``x`` (and ``y``), after checking that there is at least one, that
    every array has as many, and (``finite``) that none holds a NaN or an inf; a ValueError naming
    ``method`` and the argument (``x``, ``y``, ``x[1]``, ...) otherwise.

    ``fit``, ``evaluate`` and ``predict`` check finiteness once for the whole data; the one-batch
    calls (``train_on_batch``, ``test_on_batch``, run every step by loops such as the GAN trainer's)
    do not: a NaN there gives a NaN loss, which the caller's divergence check (``TerminateOnNaN``,
    the CLI) reports as such."""
    groups = [("x", xs)] + ([("y", ys)] if ys is not None else [])
    n = len(xs[0])
    if any(len(a) != n for _, group in groups for a in group):
        shapes = ", ".join(f"{_label(name, k, group)} {a.shape}" for name, group in groups for k, a in enumerate(group))
        raise ValueError(f"{method}: all inputs and targets need the same number of samples, got {shapes}")
    if n == 0:
        raise ValueError(f"{method}: x has 0 samples (shape {xs[0].shape}); give at least one")
    for name, group in groups if finite else ():
        for k, a in enumerate(group):
            bad = first_non_finite_row(a)
            if bad is not None:
                raise ValueError(f"{method}: {_label(name, k, group)} holds NaN or inf (sample {bad}); "
                                 f"clean or drop such samples first")
    return n


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_epochs(epochs, initial_epoch) -> tuple[int, int]:
    """``epochs`` a positive int and ``initial_epoch`` an int in [0, epochs) (something to train)."""
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive integer, got {epochs!r}")
    if not _is_int(initial_epoch) or initial_epoch < 0:
        raise ValueError(f"fit: initial_epoch must be a non-negative integer, got {initial_epoch!r}")
    if initial_epoch >= epochs:
        raise ValueError(f"fit: initial_epoch={initial_epoch} leaves no epoch to train (epochs={epochs}); "
                         f"epochs counts from 0, so pass epochs > {initial_epoch}")
    return int(epochs), int(initial_epoch)


def check_validation_split(validation_split) -> float:
    """A number in [0, 1) (0: none); whether it leaves samples on both sides is checked by
    :func:`split_validation`."""
    ok = isinstance(validation_split, (int, float, np.integer, np.floating)) and not isinstance(validation_split, bool)
    if not ok or not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(f"fit: validation_split must be a number in [0, 1), got {validation_split!r}")
    return float(validation_split)


def check_verbose(method: str, verbose) -> int | str:
    """Keras's ``verbose``: 0 (silent), 1 (progress bar), 2 (one line per epoch) or "auto"."""
    if verbose == "auto" or (_is_int(verbose) and verbose in (0, 1, 2)):
        return verbose
    raise ValueError(f"{method}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")


@dataclass(frozen=True)
class FitData:
    """``fit``'s training arrays after the validation split, with their per-sample weights (or None)
    and the validation data ``(x, y)`` or ``(x, y, sample_weight)`` (or None)."""

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    weights: np.ndarray | None
    validation: tuple | None
    n: int


def fit_data(xs, ys, sample_weight, class_weight, validation_split: float, validation_data) -> FitData:
    """``fit``'s data checked and split: Keras's ``validation_split`` (the last samples, before shuffling)
    unless ``validation_data`` is given; ``sample_weight`` times the ``class_weight`` of each target."""
    n = check_samples("fit", xs, ys)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    val = None
    if validation_data is not None:
        if len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
        val = tuple(validation_data)
    elif validation_split:
        xs, ys, val_x, val_y = split_validation(xs, ys, validation_split)
        if weights is not None:
            weights = weights[: len(xs[0])]
        val = (val_x if len(val_x) > 1 else val_x[0], val_y if len(val_y) > 1 else val_y[0])
        n = len(xs[0])
    if class_weight is not None:
        class_samples = class_weights_to_samples(class_weight, ys[0])
        weights = class_samples if weights is None else weights * class_samples
    if weights is not None and len(weights) != n:
        raise ValueError(f"sample_weight has {len(weights)} entries for {n} samples")
    return FitData(xs, ys, weights, val, n)
