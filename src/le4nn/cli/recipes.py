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

The judging sets (the corrupted and corrupted-hard MNIST test sets, font digits, scikit-learn's digits)
live in :mod:`le4nn.cli.judging`: ``python -m le4nn.cli.recipes corrupted MODEL.npz`` evaluates a saved
model on the corrupted MNIST test set, ``python -m le4nn.cli.recipes judge MODEL.npz [--tta]`` on all
of them in one table.  Recipes with ``judge=True`` (``contest``) report them all at the end of training,
in results.json; no recipe looks at any test set during training.  A recipe with ``members`` > 1
(``contest``) trains that many models one after another and saves them as one ensemble
(:mod:`le4nn.cli.ensemble`); with ``tta`` it also judges with test-time augmentation.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from le4nn import schedules
from le4nn._files import atomic_write, write_text
from le4nn._typing import PathLike
from le4nn.cli import judging
from le4nn.cli.common import ArgumentParser, CLIError, run
from le4nn.cli.common import seed as seed_option
from le4nn.cli.judging import CORRUPTION_SEED as CORRUPTION_SEED  # re-exported: the corrupted set's home was here
from le4nn.cli.judging import corrupt_digits as corrupt_digits
from le4nn.cli.judging import corruption_pipeline as corruption_pipeline
from le4nn.cli.judging import evaluate_corrupted as evaluate_corrupted


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
    judge: bool = False
    weight_ema: float = 0.0
    members: int = 1
    tta: bool = False


RECIPES = {
    "mnist": Recipe(
        "MNIST: the default cnn preset, 'digits' augmentation, Adam with warm-up + cosine decay over 20 "
        "epochs, label smoothing 0.1 and an exponential moving average of the weights (decay 0.999); also "
        "evaluated on the corrupted test set",
        dataset="mnist", model="cnn", augment="digits", optimizer="adam", learning_rate=2e-3, epochs=20,
        schedule="cosine", warmup=0.5, label_smoothing=0.1, corrupted_test=True, weight_ema=0.999,
    ),
    "contest": Recipe(
        "digits robust to handwriting unlike MNIST's: an ensemble of 3 cnn-wide models (seeds seed, seed+1, "
        "seed+2; 12 epochs each, 36 in all, about 15-18 min on 2 cores) whose softmax outputs are averaged, "
        "each trained with the 'contest' augmentation (size, aspect, slant, stroke width, blur, contrast, "
        "noise), Adam with warm-up + cosine decay, label smoothing 0.1 and an exponential moving average of "
        "its weights (decay 0.999); judged on MNIST test, corrupted, corrupted-hard, font and scikit-learn "
        "digits, plain and with test-time augmentation",
        dataset="mnist", model="cnn-wide", augment="contest", optimizer="adam", learning_rate=2e-3, epochs=12,
        schedule="cosine", warmup=0.5, label_smoothing=0.1, corrupted_test=True, judge=True, weight_ema=0.999,
        members=3, tta=True,
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
        schedule: schedules.Schedule = schedules.Constant(learning_rate)
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


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m le4nn.cli.recipes",
                            description="Evaluate a saved digit model on the judging sets (never used in training).")
    sub = parser.add_subparsers(dest="command", required=True)
    corrupted = sub.add_parser("corrupted", help="clean and corrupted MNIST test accuracy of a model")
    corrupted.add_argument("model", help="a model saved by le4nn-train (model.npz)")
    corrupted.add_argument("--dataset", default="mnist", choices=("mnist", "sample"), help="mnist (default) or sample")
    corrupted.add_argument("--seed", type=seed_option, default=CORRUPTION_SEED, help="corruption seed (default fixed)")
    corrupted.add_argument("--save", metavar="DIR", help="write corrupted.png and corrupted-test.npz there")
    judge = sub.add_parser("judge", help="one table of accuracies on all judging sets")
    judge.add_argument("model", help="a model saved by le4nn-train (model.npz) for 28×28×1 digits")
    judge.add_argument("--dataset", default="mnist", choices=("mnist", "sample"),
                       help="the test set the MNIST rows are built from: mnist (default) or sample")
    judge.add_argument("--tta", action="store_true",
                       help="test-time augmentation: average the outputs over the image and its 1-pixel shifts")
    judge.add_argument("--sets", type=_set_names, default=judging.SET_NAMES, metavar="A,B",
                       help=f"a comma-separated choice of {', '.join(judging.SET_NAMES)} (default all)")
    judge.add_argument("--json", metavar="FILE", help="also write the accuracies to this JSON file")
    return parser


def _set_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in judging.SET_NAMES]
    if unknown or not names:
        raise ValueError(f"expected a comma-separated choice of {', '.join(judging.SET_NAMES)}, got {text!r}")
    return names


def _load_digit_model(path: str, x_test: np.ndarray):
    """The saved model at ``path``, checked to take the test digits and give 10 class probabilities."""
    from le4nn.models import load_model

    model = load_model(path)
    try:
        shape = np.shape(model.predict(x_test[:1], batch_size=1))
    except (ValueError, TypeError, IndexError) as exc:
        raise CLIError(f"{path} does not take 28×28×1 digit images: {exc}") from None
    if shape != (1, 10):
        raise CLIError(f"{path} gives outputs of shape {shape[1:]}, not the 10 digit classes")
    return model


def main(argv=None) -> int:
    """``python -m le4nn.cli.recipes corrupted MODEL.npz``: accuracy of a saved model on the clean and
    the corrupted MNIST test set (and, with ``--save DIR``, a grid of corrupted images and the set);
    ``python -m le4nn.cli.recipes judge MODEL.npz [--tta]``: its accuracy on every judging set."""
    from le4nn import datasets
    from le4nn.cli.common import to_model_input

    args = _parser().parse_args(argv)
    _, (x_test, y_test) = datasets.load(args.dataset)
    x_test, y_test = to_model_input(x_test), np.asarray(y_test).reshape(-1)
    model = _load_digit_model(args.model, x_test)
    if args.command == "judge":
        accuracies, counts, notes = judging.judge(model, x_test, y_test, tta=args.tta, names=args.sets)
        print(judging.format_table(accuracies, counts, notes, args.tta))
        if args.json:
            write_text(Path(args.json), json.dumps({"accuracy": accuracies, "images": counts, "skipped": notes,
                                                    "tta": args.tta}, indent=2) + "\n")
        return 0
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


def save_corrupted_grid(model, clean, corrupted, labels, path: PathLike, count: int = 10) -> None:
    """The first ``count`` test digits (top row) over their corrupted versions (bottom row), each titled
    "label →prediction" (red when wrong)."""
    from le4nn import plot

    images = np.concatenate([clean[:count], corrupted[:count]])
    predictions = np.argmax(model.predict(images, batch_size=2 * count), axis=1)
    plot.plot_images(images, np.concatenate([labels[:count], labels[:count]]), predictions, columns=count,
                     path=path, title="test images (top) and their corrupted versions (bottom): label →prediction")


if __name__ == "__main__":
    sys.exit(run(main, "python -m le4nn.cli.recipes"))
