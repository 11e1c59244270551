"""``le4nn.gan``: DCGAN / conditional DCGAN builders, the combined model's freezing, the trainer's outputs."""

from __future__ import annotations

import csv
import struct
import zlib

import numpy as np
import pytest

from le4nn import gan
from le4nn.datasets import sample
from le4nn.layers import Dense, Flatten
from le4nn.models import Sequential, load_model
from le4nn.plot import image_grid, save_png
from le4nn.utils import set_random_seed

ARCHITECTURES = ["dense", "conv"]


def tiny_gan(conditional: bool, architecture: str):
    """A generator/discriminator pair small enough to train a few steps in milliseconds."""
    return gan.build_dcgan(conditional=conditional, latent_dim=8, generator_width=8, discriminator_width=4,
                           architecture=architecture)


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = sample.load_data()
    return x[:64], y[:64]


def _params(model) -> dict[str, np.ndarray]:
    """Copies of the trainable parameters (not BatchNormalization's moving statistics)."""
    return {f"{layer.name}/{name}": value.copy() for layer in model.layers for name, value in layer.params.items()}


def _moved(before: dict, model) -> dict[str, bool]:
    after = _params(model)
    return {key: not np.array_equal(before[key], after[key]) for key in before}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("conditional", [False, True], ids=["dcgan", "cdcgan"])
def test_each_step_moves_only_its_own_network(digits, conditional, architecture):
    set_random_seed(0)
    generator, discriminator = tiny_gan(conditional, architecture)
    trainer = gan.GANTrainer(generator, discriminator)
    x, y = digits
    real, labels = gan.scale_images(x[:16]), (y[:16] if conditional else None)
    for _ in range(2):  # the second time with Adam's moments in place
        g_before, d_before = _params(generator), _params(discriminator)
        logs = trainer.discriminator_step(real, labels)
        assert all(_moved(d_before, discriminator).values()), "every discriminator weight moves in its step"
        assert not any(_moved(g_before, generator).values()), "the generator does not move in D's step"
        assert set(logs) == {"d_loss", "d_acc_real", "d_acc_fake"} and np.isfinite(logs["d_loss"])
        assert 0 <= logs["d_acc_real"] <= 1 and 0 <= logs["d_acc_fake"] <= 1

        g_before, d_before = _params(generator), _params(discriminator)
        g_loss = trainer.generator_step(16)
        assert not any(_moved(d_before, discriminator).values()), "the discriminator is frozen in G's step"
        assert all(_moved(g_before, generator).values()), "every generator weight moves in its step"
        assert np.isfinite(g_loss)
        assert all(layer.trainable for layer in discriminator.layers)  # unfrozen again afterwards
    # The combined model holds the very same layer objects (one copy of the weights) ...
    combined_ids = {id(layer) for layer in trainer.combined.layers}
    assert {id(layer) for layer in generator.layers} <= combined_ids
    assert {id(layer) for layer in discriminator.layers if type(layer).__name__ != "InputLayer"} <= combined_ids
    # ... and computes D(G(z)) (inference mode; the label goes to both networks).
    noise = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    one_hot = np.eye(10, dtype=np.float32)[[0, 3, 5, 7, 9]]
    g_inputs = [noise, one_hot] if conditional else noise
    images = generator.predict(g_inputs)
    expected = discriminator.predict([images, one_hot] if conditional else images)
    np.testing.assert_allclose(trainer.combined.predict(g_inputs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_conditional_generator_output_shape_range_and_spec(architecture, tmp_path):
    set_random_seed(0)
    generator = gan.build_generator(latent_dim=16, num_classes=10, width=8, architecture=architecture)
    spec = gan.generator_spec(generator)
    assert (spec.latent_dim, spec.num_classes, spec.image_shape) == (16, 10, (28, 28, 1))
    images = gan.sample(generator, 12, labels=np.arange(12) % 10, seed=3)
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    pixels = gan.generate(generator, 12, digit=7, seed=3)
    assert pixels.shape == (12, 28, 28) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, gan.generate(generator, 12, digit=7, seed=3))  # the seed fixes them
    # A saved generator says by itself how to drive it, and draws the same images.
    generator.save(tmp_path / "generator.npz")
    loaded = load_model(tmp_path / "generator.npz", compile=False)
    assert gan.generator_spec(loaded) == spec
    np.testing.assert_array_equal(gan.generate(loaded, 12, digit=7, seed=3), pixels)


def test_unconditional_generator_spec_and_label_errors():
    generator = gan.build_generator(latent_dim=8, width=8, architecture="dense")
    spec = gan.generator_spec(generator)
    assert (spec.latent_dim, spec.num_classes, spec.conditional) == (8, None, False)
    assert gan.generate(generator, 3, seed=0).shape == (3, 28, 28)
    with pytest.raises(ValueError, match="not conditional"):
        gan.generate(generator, 3, digit=1)
    conditional = gan.build_generator(latent_dim=8, num_classes=10, width=8, architecture="dense")
    with pytest.raises(ValueError, match="conditional"):
        gan.generate(conditional, 3)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        gan.generate(conditional, 3, digit=10)
    for n in (-1, 0, 2.5, "3"):  # -1 was NumPy's "negative dimensions are not allowed"
        with pytest.raises(ValueError, match=rf"the number of images n must be a positive integer, got {n!r}"):
            gan.generate(generator, n)
    discriminator = gan.build_discriminator(width=4, architecture="dense")
    with pytest.raises(ValueError, match="not a generator"):
        gan.generator_spec(discriminator)
    with pytest.raises(ValueError, match="both be conditional"):
        gan.combined_model(conditional, discriminator)


def test_cluster_labels_group_the_images_without_labels(digits):
    x, y = digits
    clusters = gan.cluster_labels(x, 5, seed=0)
    assert clusters.shape == (64,) and set(clusters.tolist()) == set(range(5))
    np.testing.assert_array_equal(clusters, gan.cluster_labels(gan.scale_images(x), 5, seed=0))  # either scale
    two = np.concatenate([np.zeros((10, 28, 28), np.uint8), np.full((10, 28, 28), 255, np.uint8)])
    assert gan.cluster_labels(two, 2).tolist() in ([0] * 10 + [1] * 10, [1] * 10 + [0] * 10)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_cluster_conditioned_gan_trains_draws_random_clusters_and_is_judged_unconditionally(digits, architecture):
    set_random_seed(0)
    x, _ = digits
    clusters = gan.cluster_labels(x, 3, seed=0)
    generator = gan.build_generator(latent_dim=8, num_classes=3, width=8, architecture=architecture,
                                    label_name="cluster")
    discriminator = gan.build_discriminator(num_classes=3, width=4, architecture=architecture, label_mode="plane")
    spec = gan.generator_spec(generator)
    assert spec.clustered and spec.conditional and spec.num_classes == 3 and generator.name == "scdcgan_generator"
    history = gan.GANTrainer(generator, discriminator).fit(x, clusters, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history["g_loss"][0])
    images = gan.generate(generator, 6, seed=1)  # no labels: random clusters
    assert images.shape == (6, 28, 28)
    np.testing.assert_array_equal(images, gan.generate(generator, 6, seed=1))
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((6, 8), dtype=np.float32)
    np.testing.assert_array_equal(images, gan.generate(generator, 6, noise=noise, labels=rng.integers(0, 3, 6)))
    with pytest.raises(ValueError, match="k-means clusters, not on digits"):
        gan.generate(generator, 2, digit=1)
    classifier = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    report = gan.judge(generator, classifier, samples=50)
    assert report["conditional"] is False and len(report["shares"]) == 10
    assert sum(report["shares"]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="label_name"):
        gan.build_generator(num_classes=3, label_name="digit")


def test_fit_writes_grids_generator_csv_and_calls_the_epoch_hook(digits, tmp_path):
    set_random_seed(0)
    generator, discriminator = tiny_gan(True, "dense")
    trainer = gan.GANTrainer(generator, discriminator)
    seen = []
    x, y = digits
    history = trainer.fit(x, y, epochs=2, batch_size=16, output_dir=tmp_path, verbose=0,
                          callbacks=[lambda epoch, logs: seen.append((epoch, dict(logs)))])
    assert [epoch for epoch, _ in seen] == [0, 1]
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "seconds"} <= set(seen[0][1])
    assert len(history["d_loss"]) == 2 and len(trainer.batch_losses["g_loss"]) == 2 * 4
    for name in ("samples_epoch_001.png", "samples_epoch_002.png", "samples.png", "generator.npz", "gan_losses.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    with open(tmp_path / "gan_losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert float(rows[1]["g_loss"]) == pytest.approx(history["g_loss"][1])
    # The grid: 10 rows (one per digit) of 10 images of 28×28 pixels, enlarged 2×, 2-pixel gaps.
    grid = _read_png(tmp_path / "samples.png")
    assert grid.shape == (10 * 58 + 2, 10 * 58 + 2)
    np.testing.assert_array_equal(grid, trainer.sample_grid())
    # The saved generator is the one of the last epoch, with the averaged weights.
    saved = load_model(tmp_path / "generator.npz", compile=False)
    with trainer.averaged_weights():
        averaged = generator.get_weights()
    for a, b in zip(saved.get_weights(), averaged, strict=True):
        np.testing.assert_array_equal(a, b)
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    assert (tmp_path / "gan_losses.png").stat().st_size > 1000


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_generator_weight_average_follows_the_steps_and_is_only_swapped_in(digits, architecture):
    set_random_seed(0)
    generator, discriminator = tiny_gan(False, architecture)
    decay = 0.8
    trainer = gan.GANTrainer(generator, discriminator, ema_decay=decay)
    real = gan.scale_images(digits[0][:16])
    trainer.discriminator_step(real)
    trainer.generator_step(16)
    expected = _params(generator)  # the average starts at the weights after the first step
    for _ in range(3):
        trainer.discriminator_step(real)
        trainer.generator_step(16)
        expected = {k: decay * v + (1 - decay) * p for (k, v), p in zip(expected.items(), _params(generator).values(),
                                                                        strict=True)}
    training = generator.get_weights()
    with trainer.averaged_weights(calibration_samples=256) as averaged:
        assert averaged is generator
        for key, value in _params(generator).items():
            np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-7, err_msg=key)
        # BatchNormalization's statistics are those of the averaged weights on fresh noise: its input's
        # batch mean, i.e. the moving mean after a pass with momentum 0.
        norm = next(layer for layer in generator.layers if type(layer).__name__ == "BatchNormalization")
        noise, _ = trainer._noise_and_labels(256, np.random.default_rng(0))
        pre_norm = generator.layers[generator.layers.index(norm) - 1]
        outputs = {}
        original = pre_norm.forward
        pre_norm.forward = lambda x, training=False: outputs.setdefault("x", original(x, training))
        try:
            generator(noise, training=False)
        finally:
            del pre_norm.forward
        np.testing.assert_allclose(norm.state["moving_mean"], outputs["x"].mean(axis=0), rtol=1e-4, atol=1e-6)
    # Afterwards the training weights and statistics are back, bit for bit.
    for a, b in zip(generator.get_weights(), training, strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_averaging_the_training_weights_are_saved(digits, tmp_path):
    set_random_seed(0)
    generator, discriminator = tiny_gan(False, "dense")
    trainer = gan.GANTrainer(generator, discriminator, ema_decay=None)
    trainer.fit(digits[0], epochs=1, batch_size=16, output_dir=tmp_path, verbose=0)
    saved = load_model(tmp_path / "generator.npz", compile=False)
    for a, b in zip(saved.get_weights(), generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ema_decay"):
        gan.GANTrainer(*tiny_gan(False, "dense"), ema_decay=1.0)


def test_fit_needs_labels_for_a_conditional_gan(digits):
    trainer = gan.GANTrainer(*tiny_gan(True, "dense"))
    with pytest.raises(ValueError, match="labels"):
        trainer.fit(digits[0], epochs=1, verbose=0)


def _read_png(path) -> np.ndarray:
    """Decode an 8-bit grey PNG without filters (what save_png writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        tag = data[position + 4 : position + 8]
        chunks[tag] = chunks.get(tag, b"") + data[position + 8 : position + 8 + length]
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)
    assert not raw[:, 0].any()
    return raw[:, 1:]


def test_image_grid_and_png_round_trip(tmp_path):
    images = np.linspace(-1, 1, 5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4, 1)
    grid = image_grid(images, columns=2, padding=1, value_range=(-1, 1))
    assert grid.shape == (3 * 4 + 1, 2 * 5 + 1) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[1:4, 1:5], gan.to_uint8(images)[0])
    assert grid[0].max() == 0 and grid[-4:, -5:].max() == 0  # padding and the empty sixth cell
    save_png(grid, tmp_path / "grid.png")
    np.testing.assert_array_equal(_read_png(tmp_path / "grid.png"), grid)
    assert image_grid(np.zeros((4, 2, 2), np.uint8), scale=3).shape == (2 * 8 + 2, 2 * 8 + 2)


def _classifier():

    set_random_seed(3)
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


@pytest.mark.parametrize("conditional", [True, False])
def test_judge_reports_what_the_classifier_says_of_the_generated_images(conditional):
    set_random_seed(0)
    generator, _ = tiny_gan(conditional, "conv")
    classifier = _classifier()
    report = gan.judge(generator, classifier, per_class=20, samples=50, seed=5)
    assert report["conditional"] is conditional
    rng = np.random.default_rng(5)  # the same noise, drawn in the same order as judge draws it
    if conditional:
        expected = []
        for digit in range(10):
            noise = rng.standard_normal((20, 8), dtype=np.float32)
            images = gan.generate(generator, 20, digit=digit, noise=noise).astype(np.float32)[..., None] / 255
            expected.append(np.mean(np.argmax(classifier.predict(images), axis=1) == digit))
        np.testing.assert_allclose(report["per_class"], expected)
        assert report["accuracy"] == pytest.approx(np.mean(expected))
        assert len(report["confidence"]) == 10 and all(0.1 <= c <= 1 for c in report["confidence"])
    else:
        noise = rng.standard_normal((50, 8), dtype=np.float32)
        images = gan.generate(generator, 50, noise=noise).astype(np.float32)[..., None] / 255
        probs = classifier.predict(images)
        np.testing.assert_allclose(report["shares"], np.bincount(probs.argmax(1), minlength=10) / 50)
        assert report["confidence"] == pytest.approx(float(probs.max(1).mean()), rel=1e-6)


def test_judge_command_prints_the_table(tmp_path, capsys):
    from le4nn.cli.gan import judge_main

    set_random_seed(0)
    generator, _ = tiny_gan(True, "conv")
    generator.save(tmp_path / "g.npz")
    _classifier().save(tmp_path / "c.npz")
    assert judge_main(["judge", str(tmp_path / "g.npz"), str(tmp_path / "c.npz"), "--per-class", "10"]) == 0
    out = capsys.readouterr().out
    assert "| digit asked for |" in out and out.count("\n| ") >= 11
    assert judge_main(["judge", str(tmp_path / "missing.npz"), str(tmp_path / "c.npz")]) == 2
