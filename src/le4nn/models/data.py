"""Turning what users pass to ``fit``/``evaluate``/``predict`` into lists of arrays and mini-batches."""

from __future__ import annotations

import numpy as np


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
        arr = np.asarray(a)
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


def split_validation(xs, ys, fraction: float):
    """Keras's ``validation_split``: the last ``fraction`` of the samples, taken before shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    n = common_length(xs, ys)
    cut = int(n * (1.0 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation samples of {n}")
    return [x[:cut] for x in xs], [y[:cut] for y in ys], [x[cut:] for x in xs], [y[cut:] for y in ys]


def class_weights_to_samples(class_weight: dict, y: np.ndarray) -> np.ndarray:
    """Per-sample weights from ``{class: weight}`` and the targets (class indices or one-hot)."""
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y)).astype(np.intp)
    table = np.ones(int(max(labels.max(initial=0), max(class_weight, default=0))) + 1)
    for cls, weight in class_weight.items():
        table[int(cls)] = float(weight)
    return table[labels]


def batch_slices(n: int, batch_size: int):
    """(start, stop) of each mini-batch; the last one may be smaller."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def check_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)
