"""``le4nn.datasets.digit_sets``: the MNIST normalisation (20×20 box keeping the aspect ratio, centre of
mass at the centre of 28×28), the font digits and scikit-learn's digits built with it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from le4nn.datasets import DatasetError, digit_sets

CENTRE = (digit_sets.FRAME - 1) / 2


def ink_box(image: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """(height, width) of the box around the pixels above ``threshold``."""
    rows, cols = np.nonzero(image > threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    return (image.sum(axis=1) @ np.arange(image.shape[0]) / total,
            image.sum(axis=0) @ np.arange(image.shape[1]) / total)


def assert_mnist_normalized(images: np.ndarray) -> None:
    """Every image (N, 28, 28[, 1]) float32 in [0, 1], its ink within a 20×20 box that it fills along its
    longer side, its centre of mass within half a pixel (plus the rounding of the box) of the centre."""
    assert images.dtype == np.float32 and images.shape[1:3] == (28, 28)
    assert 0 <= images.min() and images.max() <= 1
    for image in images.reshape(len(images), 28, 28):
        height, width = ink_box(image)
        assert height <= 20 and width <= 20 and max(height, width) >= 18
        row, col = centre_of_mass(image)
        assert abs(row - CENTRE) <= 0.5 + 1e-4 and abs(col - CENTRE) <= 0.5 + 1e-4


def test_a_rectangle_is_fitted_into_the_box_and_centred_by_hand():
    # A 10×5 bar of ink in a 40×30 image: 20×10 pixels of ink after the fit (a constant stays constant
    # under the normalised filter), centre of mass (9.5, 4.5) of the block moved to 13.5:
    # top = floor(13.5 − 9.5 + 0.5) = 4, left = floor(13.5 − 4.5 + 0.5) = 9.
    image = np.zeros((40, 30))
    image[7:17, 3:8] = 1.0
    out = digit_sets.mnist_normalize(image)
    expected = np.zeros((28, 28), np.float32)
    expected[4:24, 9:19] = 1.0
    np.testing.assert_allclose(out, expected, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 60), w=st.integers(1, 60), top=st.integers(0, 10), left=st.integers(0, 10),
       seed=st.integers(0, 2**32 - 1))
def test_any_blob_is_normalized_the_mnist_way(h, w, top, left, seed):
    rng = np.random.default_rng(seed)
    image = np.zeros((h + top + 3, w + left + 2))
    image[top:top + h, left:left + w] = rng.uniform(0.3, 1.0, (h, w))
    out = digit_sets.mnist_normalize(image)
    assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    height, width = ink_box(out)
    assert max(height, width) == 20
    assert abs(height / width - h / w) <= max(h / w, 1) * 0.6 or min(height, width) <= 2
    row, col = centre_of_mass(out)
    assert abs(row - CENTRE) <= 0.5 + 1e-4 and abs(col - CENTRE) <= 0.5 + 1e-4


@given(source=st.integers(1, 200), target=st.integers(1, 60))
def test_resize_matrix_rows_are_averages(source, target):
    matrix = digit_sets._resize_matrix(source, target)
    assert matrix.shape == (target, source) and matrix.min() >= 0
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


@pytest.mark.parametrize("image, message", [
    (np.zeros((10, 10)), "no ink"),
    (np.ones((2, 3, 4)), "2-D"),
    (np.full((5, 5), np.nan), "finite"),
])
def test_hostile_images_are_one_clear_error(image, message):
    with pytest.raises(ValueError, match=message):
        digit_sets.mnist_normalize(image)


needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="the font digits need matplotlib's fonts (the plot extra)")


@needs_matplotlib
def test_every_listed_font_ships_with_matplotlib():
    folder = digit_sets.font_folder()
    assert all((folder / name).is_file() for name in digit_sets.FONT_FILES)


@needs_matplotlib
def test_font_digits_are_deterministic_labelled_and_normalized():
    fonts = ("DejaVuSerif-Italic.ttf", "cmtt10.ttf")
    build = digit_sets._font_digits.__wrapped__  # not the cache: two real renderings
    x, y = build(str(digit_sets.font_folder()), fonts, digit_sets.STROKES, digit_sets.SLANTS, digit_sets.WIDTHS)
    again, _ = build(str(digit_sets.font_folder()), fonts, digit_sets.STROKES, digit_sets.SLANTS, digit_sets.WIDTHS)
    np.testing.assert_array_equal(x, again)
    variants = len(digit_sets.STROKES) * len(digit_sets.SLANTS) * len(digit_sets.WIDTHS)
    assert x.shape == (2 * variants * 10, 28, 28, 1)
    np.testing.assert_array_equal(y, np.tile(np.arange(10), 2 * variants))
    assert_mnist_normalized(x)
    # stroke variants differ in ink: thinned < regular < thick < very thick, digit by digit
    ink = x[: variants * 10].reshape(len(digit_sets.STROKES), -1).sum(axis=1)
    assert np.all(np.diff(ink) > 0)


@needs_matplotlib
def test_the_whole_font_set_has_every_font_and_variant():
    x, y = digit_sets.font_digits()
    count = len(digit_sets.FONT_FILES) * len(digit_sets.STROKES) * len(digit_sets.SLANTS) * len(digit_sets.WIDTHS)
    assert x.shape == (count * 10, 28, 28, 1) and np.bincount(y).tolist() == [count] * 10
    assert not x.flags.writeable
    assert len(np.unique(x.reshape(len(x), -1), axis=0)) == len(x)  # no two renderings alike


def test_font_digits_without_matplotlib_is_a_dataset_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(digit_sets.importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(DatasetError, match="matplotlib"):
        digit_sets.font_digits()


@pytest.mark.skipif(not digit_sets.sklearn_available(), reason='scikit-learn is not installed (the "eval" extra)')
def test_sklearn_digits_are_resized_the_mnist_way():
    from sklearn.datasets import load_digits

    x, y = digit_sets.sklearn_digits()
    assert x.shape == (1797, 28, 28, 1)
    np.testing.assert_array_equal(y, load_digits().target)
    assert_mnist_normalized(x)


def test_sklearn_digits_without_scikit_learn_name_the_extra(monkeypatch):
    monkeypatch.setattr(digit_sets, "sklearn_available", lambda: False)
    digit_sets.sklearn_digits.cache_clear()
    with pytest.raises(DatasetError, match=r"le4nn\[eval\]"):
        digit_sets.sklearn_digits()
