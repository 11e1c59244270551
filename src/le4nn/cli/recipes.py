"""Training recipes for ``le4nn-train --recipe NAME``, learning-rate schedule specs, and the corrupted
MNIST test set.

A recipe fixes everything a run needs — data set, model preset, augmentation, optimizer, learning rate
and its schedule, label smoothing, epochs, batch size, validation split — so that
``le4nn-train --recipe mnist`` reproduces a result of ``docs/results.md``.  Any option given on the
command line overrides the recipe's (``--recipe mnist --epochs 1 --subset 500`` is a quick smoke run).

Schedule specs (``--schedule``), in epochs, starting from the optimizer's learning rate lr:

- ``constant``: lr throughout;
- ``cosine`` or ``cosine:ALPHA``: half a cosine from lr down to ALPHA·lr (default 0) over the run;
- ``step:EVERY`` or ``step:EVERY:FACTOR``: multiply by FACTOR (default 0.1) every EVERY epochs;
- ``exp:RATE``: multiply by RATE every epoch, continuously.

``--warmup E`` puts a linear warm-up from 0 over the first E epochs in front of any of them; schedules
are applied per mini-batch (fractional epochs).

The corrupted MNIST test set (:func:`corrupt_digits`): every test image goes through a fixed random
affine transform (rotation ±15°, zoom 0.85–1.15, shear ±10°, shift ≤ 3 px, kept inside the frame),
stroke thickening or thinning (strength in [−0.7, 1]) and additive Gaussian noise (σ ≤ 0.15, then
clipped), drawn from a generator seeded with :data:`CORRUPTION_SEED`, so the set is the same
everywhere.  ``python -m le4nn.cli.recipes corrupted MODEL.npz`` evaluates a saved model on it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from le4nn import augment as augment_module
from le4nn import schedules
from le4nn._files import atomic_write
from le4nn.cli.common import ArgumentParser, run
from le4nn.cli.common import seed as seed_option

#: The seed of the corrupted MNIST test set.
CORRUPTION_SEED = 20240607


@dataclass(frozen=True)
class Recipe:
    description: str
    dataset: str
    model: str
    augment: str
    optimizer: str
    learning_rate: float
    epochs: int
    schedule: str = "constant"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    weight_decay: float | None = None
    batch_size: int = 100
    validation_split: float = 0.0
    corrupted_test: bool = False


RECIPES = {
    "mnist": Recipe(
        "MNIST: the default cnn preset, 'digits' augmentation, Adam with warm-up + cosine decay, "
        "label smoothing 0.1; also evaluated on the corrupted test set",
        dataset="mnist", model="cnn", augment="digits", optimizer="adam", learning_rate=2e-3, epochs=16,
        schedule="cosine", warmup=0.5, label_smoothing=0.1, corrupted_test=True,
    ),
    "fashion-mnist": Recipe(
        "Fashion-MNIST: the cnn-wide preset, 'fashion' augmentation (shifts, flips), Adam with "
        "warm-up + cosine decay, label smoothing 0.1",
        dataset="fashion-mnist", model="cnn-wide", augment="fashion", optimizer="adam", learning_rate=2e-3,
        epochs=24, schedule="cosine", warmup=0.5, label_smoothing=0.1,
    ),
    "cifar10": Recipe(
        "CIFAR-10 (whatever part is available): the cnn preset, 'cifar' augmentation (pad-4 crops, "
        "flips), Adam with warm-up + cosine decay",
        dataset="cifar10", model="cnn", augment="cifar", optimizer="adam", learning_rate=2e-3, epochs=30,
        schedule="cosine", warmup=1.0, label_smoothing=0.0,
    ),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


# ---------------------------------------------------------------------------------------------------
# Schedules from the command line
# ---------------------------------------------------------------------------------------------------


def parse_schedule(spec: str, learning_rate: float, epochs: int, warmup: float = 0.0) -> schedules.Schedule:
    """The schedule of a ``--schedule`` spec (see the module docstring), in epochs, for a run of
    ``epochs`` epochs starting from ``learning_rate``, with ``warmup`` epochs of linear warm-up."""
    parts = (spec or "constant").strip().lower().split(":")
    kind, args = parts[0], parts[1:]

    def numbers(count_min, count_max):
        if not count_min <= len(args) <= count_max:
            raise ValueError(f"schedule {spec!r}: '{kind}' takes {count_min}–{count_max} numbers after ':'")
        try:
            values = [float(a) for a in args]
        except ValueError:
            raise ValueError(f"schedule {spec!r}: expected numbers after '{kind}:'") from None
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"schedule {spec!r}: the numbers after '{kind}:' must be finite and >= 0")
        return values

    decay_epochs = max(epochs - warmup, 1e-9)
    if kind == "constant":
        numbers(0, 0)
        schedule = schedules.Constant(learning_rate)
    elif kind == "cosine":
        (alpha,) = numbers(0, 1) or [0.0]
        schedule = schedules.CosineDecay(learning_rate, decay_steps=decay_epochs, alpha=alpha)
    elif kind == "step":
        values = numbers(1, 2)
        if values[0] <= 0:
            raise ValueError(f"schedule {spec!r}: the step length EVERY must be > 0 epochs")
        schedule = schedules.StepDecay(learning_rate, step_size=values[0],
                                       factor=values[1] if len(values) > 1 else 0.1)
    elif kind in ("exp", "exponential"):
        (rate,) = numbers(1, 1)
        schedule = schedules.ExponentialDecay(learning_rate, decay_steps=1, decay_rate=rate)
    else:
        raise ValueError(f"unknown schedule {spec!r}; use constant, cosine[:ALPHA], step:EVERY[:FACTOR] or exp:RATE")
    if not (math.isfinite(warmup) and warmup >= 0):
        raise ValueError(f"--warmup must be >= 0 epochs, got {warmup}")
    return schedules.Warmup(schedule, warmup) if warmup > 0 else schedule


# ---------------------------------------------------------------------------------------------------
# The corrupted MNIST test set
# ---------------------------------------------------------------------------------------------------


def corruption_pipeline() -> augment_module.Compose:
    """The fixed corruption applied to every image of the corrupted test set."""
    A = augment_module
    return A.Compose([
        A.RandomAffine(rotation=15, scale=0.15, shear=10, translate=3),
        A.StrokeWidth(strength=(-0.7, 1.0)),
        A.GaussianNoise(sigma=(0.0, 0.15)),
    ])


def corrupt_digits(x: np.ndarray, seed: int = CORRUPTION_SEED, batch_size: int = 1000) -> np.ndarray:
    """The corrupted version of a float digit batch (N, H, W, C) in [0, 1] (deterministic for a seed;
    processed in chunks of ``batch_size`` to bound memory)."""
    rng = np.random.default_rng(seed)
    pipeline = corruption_pipeline()
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        out[start:start + batch_size] = pipeline(x[start:start + batch_size], rng=rng)
    return out


def evaluate_corrupted(model, x_test: np.ndarray, y_test: np.ndarray, seed: int = CORRUPTION_SEED):
    """(accuracy, corrupted images, predictions) of ``model`` on the corrupted test set."""
    corrupted = corrupt_digits(x_test, seed)
    predictions = np.argmax(model.predict(corrupted, batch_size=1000), axis=1)
    accuracy = float(np.mean(predictions == np.asarray(y_test).reshape(-1)))
    return accuracy, corrupted, predictions


def main(argv=None) -> int:
    """``python -m le4nn.cli.recipes corrupted MODEL.npz``: accuracy of a saved model on the clean and
    the corrupted MNIST test set (and, with ``--save DIR``, a grid of corrupted images and the set)."""
    from le4nn import datasets
    from le4nn.cli.common import to_model_input
    from le4nn.models import load_model

    parser = ArgumentParser(prog="python -m le4nn.cli.recipes",
                                     description="Evaluate a saved model on the corrupted MNIST test set.")
    sub = parser.add_subparsers(dest="command", required=True)
    corrupted = sub.add_parser("corrupted", help="clean and corrupted MNIST test accuracy of a model")
    corrupted.add_argument("model", help="a model saved by le4nn-train (model.npz)")
    corrupted.add_argument("--dataset", default="mnist", help="mnist (default) or sample")
    corrupted.add_argument("--seed", type=seed_option, default=CORRUPTION_SEED, help="corruption seed (default fixed)")
    corrupted.add_argument("--save", metavar="DIR", help="write corrupted.png and corrupted-test.npz there")
    args = parser.parse_args(argv)

    _, (x_test, y_test) = datasets.load(args.dataset)
    x_test, y_test = to_model_input(x_test), np.asarray(y_test).reshape(-1)
    model = load_model(args.model)
    clean = float(np.mean(np.argmax(model.predict(x_test, batch_size=1000), axis=1) == y_test))
    accuracy, images, _ = evaluate_corrupted(model, x_test, y_test, args.seed)
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / "corrupted-test.npz", "wb") as f:
            np.savez_compressed(f, x=(images[..., 0] * 255).round().astype(np.uint8), y=y_test)
        save_corrupted_grid(model, x_test, images, y_test, out / "corrupted.png")
    print(f"test accuracy {clean:.4f}, corrupted test accuracy {accuracy:.4f} ({len(y_test)} images, "
          f"seed {args.seed})")
    return 0


def save_corrupted_grid(model, clean, corrupted, labels, path, count: int = 10) -> None:
    """The first ``count`` test digits (top row) over their corrupted versions (bottom row), each titled
    "label →prediction" (red when wrong)."""
    from le4nn import plot

    images = np.concatenate([clean[:count], corrupted[:count]])
    predictions = np.argmax(model.predict(images, batch_size=2 * count), axis=1)
    plot.plot_images(images, np.concatenate([labels[:count], labels[:count]]), predictions, columns=count,
                     path=path, title="test images (top) and their corrupted versions (bottom): label →prediction")


if __name__ == "__main__":
    sys.exit(run(main, "python -m le4nn.cli.recipes"))
