"""``le4nn.augment``: every transform keeps shape, dtype and range, is deterministic for a seed, is the
identity at zero strength, leaves labels alone, and plugs into ``Model.fit``."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import augment as A
from le4nn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from le4nn.models import Sequential
from le4nn.utils import set_random_seed


def _digits(n=16, size=28, seed=0, dtype=np.float32):
    """Blurry strokes in the middle of a black frame, like MNIST digits."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), dtype=dtype)
    for i in range(n):
        r, c = rng.integers(8, size - 12, 2)
        x[i, r:r + 8, c + 3:c + 5, 0] = 1.0
        x[i, r + 3:r + 5, c:c + 8, 0] = rng.uniform(0.5, 1.0)
    return x


# One configuration of every transform at a typical strength, and one at zero strength.
TYPICAL = {
    "affine": lambda: A.RandomAffine(rotation=15, scale=0.15, shear=10, translate=3),
    "elastic": lambda: A.ElasticDistortion(alpha=34, sigma=4),
    "crop": lambda: A.RandomCrop(padding=3),
    "crop-reflect": lambda: A.RandomCrop(padding=3, mode="reflect"),
    "flip": lambda: A.HorizontalFlip(p=0.5),
    "gaussian": lambda: A.GaussianNoise(sigma=(0.0, 0.2)),
    "multiplicative": lambda: A.MultiplicativeNoise(sigma=0.3),
    "salt-pepper": lambda: A.SaltAndPepper(amount=0.1),
    "stroke": lambda: A.StrokeWidth(strength=(-1, 1)),
    "stroke-cross": lambda: A.StrokeWidth(strength=(0, 1), footprint="cross"),
    "erasing": lambda: A.RandomErasing(p=1.0),
    "erasing-random": lambda: A.RandomErasing(value="random", p=1.0),
    "cutout": lambda: A.Cutout(size=8),
    "clip": lambda: A.Clip(),
    "affine-aspect": lambda: A.RandomAffine(rotation=10, scale=(0.7, 1.1), shear=20, translate=3, aspect=0.3),
    "blur": lambda: A.Blur(strength=(0.0, 1.0), passes=2),
    "contrast": lambda: A.Contrast(ink=(0.5, 1.0), background=(0.0, 0.2)),
    "compose": lambda: A.preset("digits-strong"),
    "contest": lambda: A.preset("contest"),
}

ZERO = {
    "affine": lambda: A.RandomAffine(rotation=0, scale=0, shear=0, translate=0),
    "elastic": lambda: A.ElasticDistortion(alpha=0),
    "crop": lambda: A.RandomCrop(padding=0),
    "flip": lambda: A.HorizontalFlip(p=0),
    "gaussian": lambda: A.GaussianNoise(sigma=0),
    "multiplicative": lambda: A.MultiplicativeNoise(sigma=0),
    "salt-pepper": lambda: A.SaltAndPepper(amount=0),
    "stroke": lambda: A.StrokeWidth(strength=0),
    "erasing": lambda: A.RandomErasing(scale=(0, 0), p=1.0),
    "cutout": lambda: A.Cutout(size=0),
    "clip": lambda: A.Clip(),
    "affine-aspect": lambda: A.RandomAffine(aspect=0),
    "blur": lambda: A.Blur(strength=0),
    "contrast": lambda: A.Contrast(ink=1, background=0),
    "mixup": lambda: A.MixUp(alpha=0, num_classes=10),
    "compose": lambda: A.Compose([A.RandomAffine(), A.GaussianNoise(0), A.StrokeWidth(0)]),
    "none": lambda: A.preset("none"),
}


@pytest.mark.parametrize("name", sorted(TYPICAL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_range_and_input_untouched(name, dtype):
    x = _digits(dtype=dtype)
    before = x.copy()
    out = TYPICAL[name]()(x, rng=0)
    assert out.shape == x.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_deterministic_for_a_seed_and_random_across_seeds(name):
    x = _digits()
    t = TYPICAL[name]()
    np.testing.assert_array_equal(t(x, rng=7), t(x, rng=7))
    np.testing.assert_array_equal(t(x, rng=np.random.default_rng(3)), t(x, rng=np.random.default_rng(3)))
    if name != "clip":
        assert not np.array_equal(t(x, rng=7), t(x, rng=8))


def test_unseeded_calls_draw_from_the_global_generator():
    x = _digits()
    t = A.preset("digits")
    set_random_seed(5)
    first = t(x)
    set_random_seed(5)
    np.testing.assert_array_equal(t(x), first)


@pytest.mark.parametrize("name", sorted(ZERO))
def test_identity_at_zero_strength(name):
    x = _digits()
    t = ZERO[name]()
    if t.changes_labels:
        out, y = t(x, np.eye(10, dtype=np.float32)[np.arange(16) % 10], rng=0)
    else:
        out = t(x, rng=0)
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_labels_pass_through_untouched(name):
    x = _digits()
    y = np.arange(16) % 10
    out, labels = TYPICAL[name]()(x, y, rng=0)
    assert labels is y and out.shape == x.shape


def test_grayscale_batches_without_channel_axis_work():
    x = _digits()[..., 0]
    out = A.preset("digits")(x, rng=0)
    assert out.shape == x.shape


def test_rejects_integer_images_and_wrong_ranks():
    with pytest.raises(TypeError, match="float images"):
        A.GaussianNoise()(np.zeros((2, 28, 28, 1), np.uint8))
    with pytest.raises(ValueError, match="batch of images"):
        A.GaussianNoise()(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match="probability"):
        A.GaussianNoise(p=1.5)
    with pytest.raises(ValueError, match="rotation"):
        A.RandomAffine(rotation=-5)


# --- geometry ----------------------------------------------------------------------------------------


def test_integer_translation_is_an_exact_shift():
    x = _digits()
    out = A.RandomAffine(translate=(2, 2))(x, rng=0)  # both axes by +2 (every digit has room)
    np.testing.assert_array_equal(out[:, 2:, 2:], x[:, :-2, :-2])


def test_quarter_turn_matches_rot90():
    x = _digits()
    out = A.RandomAffine(rotation=(90, 90))(x, rng=0)
    matches = [np.allclose(out, np.rot90(x, k, axes=(1, 2)), atol=1e-5) for k in (1, -1)]
    assert any(matches)


def test_bilinear_sampling_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = _digits(4, dtype=np.float64)
    rng = np.random.default_rng(0)
    rows = rng.uniform(-2, 30, (4, 28, 28))
    cols = rng.uniform(-2, 30, (4, 28, 28))
    out = A.bilinear_sample(x, rows, cols)
    for i in range(4):
        padded = np.pad(x[i, :, :, 0], 1)  # scipy's "constant" reads the border value: pad with zeros
        ref = ndimage.map_coordinates(padded, [rows[i] + 1, cols[i] + 1], order=1, mode="constant", cval=0)
        np.testing.assert_allclose(out[i, :, :, 0], ref, atol=1e-12)


def test_affine_keeps_the_digit_inside_the_frame():
    x = _digits(64)
    ink = x.sum(axis=(1, 2, 3))
    # Rotation and shear keep areas, so an image keeps its ink unless the digit is cut off by the frame.
    strong = dict(rotation=30, shear=15, translate=12)
    inside = A.RandomAffine(**strong)(x, rng=0).sum(axis=(1, 2, 3))
    outside = A.RandomAffine(**strong, keep_inside=False)(x, rng=0).sum(axis=(1, 2, 3))
    assert np.all(np.abs(inside / ink - 1) < 0.05)
    assert np.mean(outside / ink < 0.8) > 0.2
    # A 3× zoom multiplies the ink by 9 when the (8-pixel) digits are moved so that they still fit.
    zoomed = A.RandomAffine(scale=(3.0, 3.0))(x, rng=0).sum(axis=(1, 2, 3))
    assert np.all(np.abs(zoomed / ink / 9 - 1) < 0.05)


def test_aspect_narrows_the_ink_and_leaves_the_stream_of_other_affines_alone():
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 9:19, 6:22] = 1.0                                  # 10 rows × 16 columns of ink, centred
    out = A.RandomAffine(aspect=(0.5, 0.5))(x, rng=0)
    cols = np.flatnonzero(out[0, 14, :, 0] > 0.5)
    rows = np.flatnonzero(out[0, :, 14, 0] > 0.5)
    assert len(cols) == 8 and len(rows) == 10
    plain = dict(rotation=15, scale=0.15, shear=10, translate=3)
    np.testing.assert_array_equal(A.RandomAffine(**plain)(_digits(), rng=3),
                                  A.RandomAffine(**plain, aspect=0)(_digits(), rng=3))


def _correlate_3x3_zero_padded(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Σ_ij kernel[i, j] · image[h + i − 1, w + j − 1] per image, zeros outside (scipy.ndimage's
    ``correlate(..., mode="constant")``, written out so that the test needs only NumPy)."""
    _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return sum(kernel[i, j] * padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3))


def test_blur_at_full_strength_is_the_binomial_filter():
    x = _digits(dtype=np.float64)
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    expected = _correlate_3x3_zero_padded(x[..., 0], kernel)
    np.testing.assert_allclose(A.Blur(strength=1)(x, rng=0)[..., 0], expected, atol=1e-12)
    twice = _correlate_3x3_zero_padded(expected, kernel)
    np.testing.assert_allclose(A.Blur(strength=1, passes=2)(x, rng=0)[..., 0], twice, atol=1e-12)
    half = A.Blur(strength=0.5)(x, rng=0)
    np.testing.assert_allclose(half[..., 0], 0.5 * (x[..., 0] + expected), atol=1e-12)


def test_contrast_maps_black_and_white_to_background_and_ink():
    x = _digits(dtype=np.float64)
    out = A.Contrast(ink=0.7, background=0.1)(x, rng=0)
    np.testing.assert_allclose(out, 0.1 + 0.6 * x, atol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: A.Blur(strength=1.5), "strength"),
    (lambda: A.Blur(passes=0), "passes"),
    (lambda: A.Contrast(ink=(0.9, 0.2)), "ink"),
    (lambda: A.Contrast(background=-0.1), "background"),
    (lambda: A.RandomAffine(aspect=1.0), "aspect"),
    (lambda: A.RandomAffine(aspect=(0, 1)), "aspect"),
])
def test_new_transform_arguments_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_random_crop_is_a_shift_within_the_padding():
    x = np.random.default_rng(0).random((8, 10, 10, 3)).astype(np.float32)
    out = A.RandomCrop(padding=2)(x, rng=0)
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(8):
        assert any(np.array_equal(out[i], padded[i, r:r + 10, c:c + 10]) for r in range(5) for c in range(5))


def test_horizontal_flip_mirrors():
    x = _digits()
    np.testing.assert_array_equal(A.HorizontalFlip(p=1)(x, rng=0), x[:, :, ::-1])


def test_elastic_distortion_moves_pixels_smoothly():
    x = _digits()
    out = A.ElasticDistortion(alpha=8, sigma=4)(x, rng=0)
    assert not np.allclose(out, x)
    # A small, smooth displacement keeps most of the ink.
    assert abs(out.sum() - x.sum()) < 0.1 * x.sum()


# --- intensity ---------------------------------------------------------------------------------------


def test_gaussian_noise_statistics():
    x = np.full((50, 28, 28, 1), 0.5, np.float32)
    out = A.GaussianNoise(sigma=0.05)(x, rng=0)
    assert abs((out - x).std() - 0.05) < 0.002 and abs((out - x).mean()) < 0.002


def test_multiplicative_noise_has_mean_one():
    x = np.full((50, 28, 28, 1), 0.5, np.float32)
    ratio = A.MultiplicativeNoise(sigma=0.1)(x, rng=0) / x
    assert abs(ratio.mean() - 1) < 0.003 and abs(ratio.std() - 0.1) < 0.003


def test_noise_is_clipped_unless_asked_not_to():
    x = _digits()
    assert A.GaussianNoise(sigma=1.0)(x, rng=0).max() <= 1
    assert A.GaussianNoise(sigma=1.0, clip=False)(x, rng=0).max() > 1


def test_salt_and_pepper_fraction():
    x = np.full((20, 28, 28, 1), 0.5, np.float32)
    out = A.SaltAndPepper(amount=0.1, salt=0.25)(x, rng=0)
    changed = out != 0.5
    assert abs(changed.mean() - 0.1) < 0.01
    assert set(np.unique(out[changed])) <= {0.0, 1.0}
    assert abs((out == 1).sum() / changed.sum() - 0.25) < 0.05


def test_stroke_width_is_dilation_and_erosion_at_full_strength():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = _digits()
    thick = A.StrokeWidth(strength=(1, 1))(x, rng=0)
    thin = A.StrokeWidth(strength=(-1, -1))(x, rng=0)
    np.testing.assert_allclose(thick, ndimage.grey_dilation(x, size=(1, 3, 3, 1), mode="nearest"), atol=1e-6)
    np.testing.assert_allclose(thin, ndimage.grey_erosion(x, size=(1, 3, 3, 1), mode="nearest"), atol=1e-6)
    half = A.StrokeWidth(strength=(0.5, 0.5))(x, rng=0)
    assert x.sum() < half.sum() < thick.sum()


def test_random_erasing_and_cutout_areas():
    x = np.ones((40, 28, 28, 1), np.float32)
    erased = A.RandomErasing(scale=(0.1, 0.1), ratio=(1, 1), p=1.0)(x, rng=0)
    area = (erased == 0).sum(axis=(1, 2, 3)) / (28 * 28)
    assert np.all(np.abs(area - 0.1) < 0.03)
    cut = A.Cutout(size=6)(x, rng=0)
    zeros = (cut == 0).sum(axis=(1, 2, 3))
    assert zeros.max() == 36 and zeros.min() >= 9  # a 6×6 square, partly outside when near the border


# --- probability, Compose, MixUp, presets ---------------------------------------------------------------


def test_per_image_probability():
    x = _digits(400)
    out = A.GaussianNoise(sigma=0.1, p=0.3)(x, rng=0)
    changed = np.any(out != x, axis=(1, 2, 3))
    assert 0.22 < changed.mean() < 0.38
    assert np.array_equal(A.GaussianNoise(sigma=0.1, p=0)(x, rng=0), x)


def test_compose_applies_in_order_with_one_generator():
    x = _digits()
    first, second = A.RandomAffine(rotation=20), A.GaussianNoise(0.1)
    rng = np.random.default_rng(0)
    expected = second(first(x, rng=rng), rng=rng)
    np.testing.assert_array_equal(A.Compose([first, second])(x, rng=0), expected)
    half = A.Compose([first, second], p=0.5)(_digits(200), rng=0)
    assert 0.35 < np.any(half != _digits(200), axis=(1, 2, 3)).mean() < 0.65
    assert "RandomAffine" in repr(A.Compose([first, "cifar"]))


def test_mixup_mixes_images_and_labels():
    x = _digits(32)
    y = np.arange(32) % 10
    out, soft = A.MixUp(alpha=0.4, num_classes=10)(x, y, rng=0)
    assert soft.shape == (32, 10) and soft.dtype == np.float32
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="labels"):
        A.MixUp()(x)
    with pytest.raises(ValueError, match="num_classes"):
        A.MixUp()(x, y)
    assert A.Compose([A.RandomCrop(2), A.MixUp(num_classes=10)]).changes_labels


@pytest.mark.parametrize("name", sorted(A.PRESETS))
def test_presets(name):
    shape = (8, 32, 32, 3) if name in ("cifar", "fashion", "none") else (8, 28, 28, 1)
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    out = A.get(name)(x, rng=0)
    assert out.shape == shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_get():
    t = A.GaussianNoise()
    assert A.get(t) is t and A.get(None) is None
    assert isinstance(A.get("digits"), A.Compose)
    assert isinstance(A.get(lambda b: b * 0.5), A.Lambda)
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        A.get("nope")
    with pytest.raises(TypeError):
        A.get(3)


# --- fit -------------------------------------------------------------------------------------------------


def _small_cnn():
    model = Sequential([
        Conv2D(8, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)), Flatten(), Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_augments_every_training_batch_and_not_the_validation_data():
    x, y = _digits(60), np.arange(60) % 10
    seen = []

    def record(batch):
        seen.append(batch.copy())
        return batch * 0  # the model only ever trains on black images

    set_random_seed(0)
    model = _small_cnn()
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.2, verbose=0, augment=record)
    assert len(seen) == 2 * 3 and sum(len(b) for b in seen) == 2 * 48  # 48 training images, 3 batches
    assert "val_loss" in history.history
    # Trained on black images only, the first layer's kernel got no gradient from the inputs.
    set_random_seed(0)
    untouched = _small_cnn()
    np.testing.assert_array_equal(model.layers[0].params["kernel"], untouched.layers[0].params["kernel"])


def test_fit_with_a_preset_learns_and_is_reproducible():
    from le4nn.datasets import sample

    (x, y), (x_test, y_test) = sample.load_data()
    x, x_test = x[:1500, :, :, None] / np.float32(255), x_test[:500, :, :, None] / np.float32(255)
    y, y_test = y[:1500], y_test[:500]

    def train():
        set_random_seed(1)
        model = _small_cnn()
        model.fit(x, y, batch_size=50, epochs=5, verbose=0, augment="digits")
        return model

    first, second = train(), train()
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.evaluate(x_test, y_test, verbose=0)[1] > 0.75  # 0.83 when written


def test_fit_with_mixup_takes_integer_labels():
    x, y = _digits(40), np.arange(40) % 10
    model = _small_cnn()
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, augment=A.MixUp(alpha=0.2, num_classes=10))
    assert np.isfinite(history.history["loss"][0])


def test_plot_augmented_shows_originals_over_augmented_rows(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    from le4nn import plot

    x = _digits(6)
    fig = plot.plot_augmented(x, "digits", repeats=2, labels=np.arange(6), path=tmp_path / "aug.png")
    assert (tmp_path / "aug.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 3 * 6
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), x[0, :, :, 0])
    again = plot.plot_augmented(x, "digits", repeats=2)  # seeded by default: the same figure
    np.testing.assert_array_equal(fig.axes[7].images[0].get_array(), again.axes[7].images[0].get_array())
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[6].get_ylabel() == "augmented 1"


def test_timed_wrapper_measures_without_changing_the_result():
    x = _digits()
    timed = A.Timed("digits")
    np.testing.assert_array_equal(timed(x, rng=3), A.preset("digits")(x, rng=3))
    timed(x, rng=4)
    assert timed.calls == 2 and timed.seconds > 0 and not timed.changes_labels
    assert A.Timed(A.MixUp(num_classes=10)).changes_labels
