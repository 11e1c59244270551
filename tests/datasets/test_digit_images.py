"""Pictures of one handwritten digit made MNIST-style (le4nn.datasets.digit_images): the area resize, the
polarity, the 20×20 box, the centre of mass, and pictures with no digit."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import datasets
from le4nn.datasets.digit_images import INK_LEVEL, area_resize, prepare_digit
from le4nn.datasets.errors import DatasetError


def test_area_resize_averages_the_areas_it_covers(rng):
    image = rng.random((12, 18))
    np.testing.assert_allclose(area_resize(image, 4, 6), image.reshape(4, 3, 6, 3).mean(axis=(1, 3)), rtol=1e-12)
    np.testing.assert_allclose(area_resize(np.full((7, 5), 0.3), 3, 4), 0.3, rtol=1e-12)  # fractional cells
    assert area_resize(image, 5, 7).mean() == pytest.approx(image.mean(), rel=1e-12)  # mass kept
    np.testing.assert_array_equal(area_resize(image[:2, :2], 4, 4), np.kron(image[:2, :2], np.ones((2, 2))))


def _photo(digit: np.ndarray, rng, scale=9, size=(400, 330), ink=0.8, paper=0.92) -> np.ndarray:
    """A photo of the digit: dark ink on light, noisy paper, enlarged and off centre."""
    picture = np.full(size, paper)
    big = np.kron(digit, np.ones((scale, scale)))
    top, left = rng.integers(0, size[0] - big.shape[0]), rng.integers(0, size[1] - big.shape[1])
    picture[top : top + big.shape[0], left : left + big.shape[1]] -= ink * big
    return np.clip(picture + rng.normal(0, 0.02, size), 0, 1)


@pytest.mark.parametrize("index", range(4))
def test_a_photo_becomes_an_mnist_digit(rng, index):
    (_, _), (x_test, _) = datasets.load("sample")
    digit = x_test[index] / 255
    prepared = prepare_digit(_photo(digit, rng))
    assert prepared.shape == (28, 28) and prepared.dtype == np.float32
    assert prepared.min() >= 0 and prepared.max() == pytest.approx(1, abs=0.2)
    rows, cols = np.nonzero(prepared >= INK_LEVEL)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21  # the 20×20 box (a grey edge may touch one more pixel)
    mass = prepared.sum()
    centre = [(np.indices((28, 28))[k] * prepared).sum() / mass for k in (0, 1)]
    assert all(abs(c - 13.5) <= 1 for c in centre)  # centre of mass at the centre, to whole pixels
    assert prepared[[0, -1]].max() < 0.05 and prepared[:, [0, -1]].max() < 0.05  # white on black


def test_light_ink_on_dark_paper_is_not_inverted(rng):
    (_, _), (x_test, _) = datasets.load("sample")
    digit = x_test[7] / 255
    dark_on_light = prepare_digit(_photo(digit, np.random.default_rng(1)))
    light_on_dark = prepare_digit(1 - _photo(digit, np.random.default_rng(1)))
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=1e-5)


@pytest.mark.parametrize("picture", [np.zeros((50, 40)), np.full((30, 30), 0.7), np.ones((1, 1)),
                                     np.full((64, 64), 0.5) + 0.01 * np.eye(64)])
def test_a_picture_with_no_digit_is_refused(picture):
    with pytest.raises(DatasetError, match=r"photo\.png: no digit found"):
        prepare_digit(picture, source="photo.png")


def test_other_fields_and_extreme_shapes(rng):
    line = np.zeros((3, 500))
    line[1, 10:490] = 1  # a dash, 160× wider than tall
    dash = prepare_digit(line)
    assert dash.shape == (28, 28) and dash.max() > 0 and (dash > 0).any(axis=1).sum() <= 2
    field = prepare_digit(_photo(rng.random((28, 28)) > 0.8, rng), (32, 40))
    assert field.shape == (32, 40)
    with pytest.raises(DatasetError, match="one grey image"):
        prepare_digit(np.zeros((4, 4, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_one_clear_error(bad):
    picture = np.zeros((40, 40))
    picture[10:30, 18:22] = 1
    picture[3, 3] = bad
    with pytest.raises(DatasetError, match=r"scan\.png: the picture holds NaN or infinite pixels"):
        prepare_digit(picture, source="scan.png")
