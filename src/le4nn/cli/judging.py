"""The sets a digit classifier is judged on (issue 19), none of them ever used in training, and
``python -m le4nn.cli.recipes judge MODEL.npz``:

- ``mnist``: the MNIST test set (or the bundled sample's, ``--dataset sample``);
- ``corrupted``: every test image through a fixed random affine transform (rotation ±15°, zoom
  0.85–1.15, shear ±10°, shift ≤ 3 px, kept inside the frame), stroke thickening or thinning (strength
  in [−0.7, 1]) and additive Gaussian noise (σ ≤ 0.15, then clipped), drawn from a generator seeded
  with :data:`CORRUPTION_SEED` (the set of ``docs/results.md``'s first table, kept unchanged);
- ``corrupted-hard`` (version :data:`HARD_VERSION`): the test images through stronger, fixed
  corruptions (:func:`hard_corruption_pipeline`: rotation ±20°, zoom 0.6–1.15, width ±35%, slant ±25°,
  shift ≤ 4 px; stroke width in [−0.5, 1] plus a second thickening for 30%; blur for 40%; faded ink
  (60–100%) on grey paper (≤ 20%) for half; noise σ ≤ 0.12; speckle ≤ 3% for half), seeded with
  :data:`HARD_SEED`;
- ``fonts``: the digits 0–9 in 21 of matplotlib's fonts, 4 stroke widths, 3 slants, 2 widths
  (:func:`le4nn.datasets.digit_sets.font_digits`, 5040 images);
- ``sklearn``: scikit-learn's ``load_digits`` (1797 8×8 digits) resized the MNIST way; skipped with a
  note when scikit-learn (``pip install "le4nn[eval]"``) is absent.

Test-time augmentation (``tta=True``, ``--tta``): the softmax outputs averaged over the image and its
four one-pixel shifts (up, down, left, right, black filled in).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from le4nn import augment as augment_module
from le4nn.datasets import DatasetError, digit_sets

#: The seed of the corrupted MNIST test set.
CORRUPTION_SEED = 20240607
#: The seed and version of the corrupted-hard set (a change of its pipeline is a new version).
HARD_SEED = 20261204
HARD_VERSION = 1
#: The judging sets, in the order of the table.
SET_NAMES = ("mnist", "corrupted", "corrupted-hard", "fonts", "sklearn")


def corruption_pipeline() -> augment_module.Compose:
    """The fixed corruption applied to every image of the corrupted test set."""
    A = augment_module
    return A.Compose([
        A.RandomAffine(rotation=15, scale=0.15, shear=10, translate=3),
        A.StrokeWidth(strength=(-0.7, 1.0)),
        A.GaussianNoise(sigma=(0.0, 0.15)),
    ])


def hard_corruption_pipeline() -> augment_module.Compose:
    """The fixed corruption of the corrupted-hard set, version :data:`HARD_VERSION`."""
    A = augment_module
    return A.Compose([
        A.RandomAffine(rotation=20, scale=(0.6, 1.15), shear=25, translate=4, aspect=0.35),
        A.StrokeWidth(strength=(-0.5, 1.0)),
        A.StrokeWidth(strength=(0.0, 1.0), p=0.3),
        A.Blur(strength=(0.0, 1.0), p=0.4),
        A.Contrast(ink=(0.6, 1.0), background=(0.0, 0.2), p=0.5),
        A.GaussianNoise(sigma=(0.0, 0.12)),
        A.SaltAndPepper(amount=(0.0, 0.03), p=0.5),
    ])


def _corrupt(pipeline, x: np.ndarray, seed: int, batch_size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        out[start:start + batch_size] = pipeline(x[start:start + batch_size], rng=rng)
    return out


def corrupt_digits(x: np.ndarray, seed: int = CORRUPTION_SEED, batch_size: int = 1000) -> np.ndarray:
    """The corrupted version of a float digit batch (N, H, W, C) in [0, 1] (deterministic for a seed;
    processed in chunks of ``batch_size`` to bound memory)."""
    return _corrupt(corruption_pipeline(), x, seed, batch_size)


def corrupt_digits_hard(x: np.ndarray, seed: int = HARD_SEED, batch_size: int = 1000) -> np.ndarray:
    """The corrupted-hard version of a float digit batch (N, H, W, C) in [0, 1] (deterministic for a seed)."""
    return _corrupt(hard_corruption_pipeline(), x, seed, batch_size)


def shifted(x: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """The batch (N, H, W, C) moved by dr rows and dc columns, zeros shifted in."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    out[:, max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = x[:, max(-dr, 0):h - max(dr, 0),
                                                                       max(-dc, 0):w - max(dc, 0)]
    return out


TTA_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def predict_classes(model, x: np.ndarray, tta: bool = False, batch_size: int = 1000) -> np.ndarray:
    """The predicted classes of ``model`` for ``x``; with ``tta`` from the mean softmax output over the
    image and its four one-pixel shifts."""
    if not tta:
        return np.argmax(model.predict(x, batch_size=batch_size), axis=1)
    total = sum(model.predict(shifted(x, dr, dc), batch_size=batch_size) for dr, dc in TTA_SHIFTS)
    return np.argmax(total, axis=1)


def accuracy(model, x: np.ndarray, y: np.ndarray, tta: bool = False) -> float:
    return float(np.mean(predict_classes(model, x, tta) == np.asarray(y).reshape(-1)))


def evaluate_corrupted(model, x_test: np.ndarray, y_test: np.ndarray, seed: int = CORRUPTION_SEED):
    """(accuracy, corrupted images, predictions) of ``model`` on the corrupted test set."""
    corrupted = corrupt_digits(x_test, seed)
    predictions = predict_classes(model, corrupted)
    return float(np.mean(predictions == np.asarray(y_test).reshape(-1))), corrupted, predictions


def judging_sets(x_test: np.ndarray, y_test: np.ndarray, names=SET_NAMES):
    """``(sets, notes)``: {name: (x, y)} of the judging sets built from the given test set, and
    {name: why it is missing} for those that cannot be built here (scikit-learn or matplotlib absent)."""
    sets, notes = {}, {}
    builders: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
        "mnist": lambda: (x_test, y_test),
        "corrupted": lambda: (corrupt_digits(x_test), y_test),
        "corrupted-hard": lambda: (corrupt_digits_hard(x_test), y_test),
        "fonts": digit_sets.font_digits,
        "sklearn": digit_sets.sklearn_digits,
    }
    for name in names:
        try:
            sets[name] = builders[name]()
        except DatasetError as exc:
            notes[name] = f"skipped: {exc}"
    return sets, notes


def judge(model, x_test: np.ndarray, y_test: np.ndarray, tta: bool = False, names=SET_NAMES):
    """``(accuracies, counts, notes)``: {set name: accuracy}, {set name: images} and {set name: why it
    was skipped} of ``model`` on the judging sets (:data:`SET_NAMES`)."""
    sets, notes = judging_sets(x_test, np.asarray(y_test).reshape(-1), names)
    accuracies = {name: accuracy(model, x, y, tta) for name, (x, y) in sets.items()}
    return accuracies, {name: len(y) for name, (_, y) in sets.items()}, notes


def format_table(accuracies: dict, counts: dict, notes: dict, tta: bool = False) -> str:
    """The judge's table: one row per set (name, images, accuracy, errors), skipped sets with their note."""
    header = f"{'set':<16} {'images':>7} {'accuracy':>9} {'errors':>7}"
    lines = [header + ("   (test-time augmentation)" if tta else "")]
    for name in SET_NAMES:
        if name in accuracies:
            errors = round((1 - accuracies[name]) * counts[name])
            lines.append(f"{name:<16} {counts[name]:>7} {100 * accuracies[name]:>8.2f}% {errors:>7}")
        elif name in notes:
            lines.append(f"{name:<16} {notes[name]}")
    return "\n".join(lines)
