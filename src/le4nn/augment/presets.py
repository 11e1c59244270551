"""Named pipelines (:data:`PRESETS`, ``le4nn-train --augment NAME``) and :func:`fit_hook`, what
``Model.fit(augment=...)`` calls per mini-batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from le4nn.augment.base import PRESETS, Compose, Transform, get
from le4nn.augment.base import preset as preset  # re-exported: presets are built by name there
from le4nn.augment.erasing import RandomErasing
from le4nn.augment.geometry import ElasticDistortion, HorizontalFlip, RandomAffine, RandomCrop
from le4nn.augment.intensity import GaussianNoise, MultiplicativeNoise, SaltAndPepper, StrokeWidth
from le4nn.augment.scanner import Blur, Contrast


def _digits() -> Compose:
    return Compose([
        RandomAffine(rotation=10, scale=0.1, shear=8, translate=3, p=0.9),
        StrokeWidth(strength=(-0.6, 1.0), p=0.4),
        GaussianNoise(sigma=(0.0, 0.12), p=0.3),
    ])


def _digits_strong() -> Compose:
    return Compose([
        RandomAffine(rotation=15, scale=0.15, shear=12, translate=4, p=0.95),
        ElasticDistortion(alpha=(0, 34), sigma=4, p=0.3),
        StrokeWidth(strength=(-0.8, 1.0), p=0.5),
        GaussianNoise(sigma=(0.0, 0.2), p=0.3),
        MultiplicativeNoise(sigma=(0.0, 0.3), p=0.2),
        SaltAndPepper(amount=(0.0, 0.05), p=0.2),
        RandomErasing(scale=(0.02, 0.12), p=0.2),
    ])


def _contest() -> Compose:
    # Handwriting unlike MNIST's: smaller, condensed or wide, slanted digits (shear), thin and very thick
    # strokes (a second dilation), blur, faded ink on grey paper, sensor noise and speckle.  About half
    # of the images stay close to MNIST's own (each step has its probability).
    return Compose([
        RandomAffine(rotation=15, scale=(0.75, 1.1), shear=20, translate=3, aspect=0.25, p=0.95),
        ElasticDistortion(alpha=(0, 30), sigma=4, p=0.25),
        StrokeWidth(strength=(-0.8, 1.0), p=0.5),
        StrokeWidth(strength=(0.5, 1.0), p=0.15),
        Blur(strength=(0.0, 1.0), p=0.2),
        Contrast(ink=(0.6, 1.0), background=(0.0, 0.15), p=0.2),
        GaussianNoise(sigma=(0.0, 0.15), p=0.3),
        SaltAndPepper(amount=(0.0, 0.03), p=0.15),
    ])


def _fashion() -> Compose:
    return Compose([RandomCrop(padding=2), HorizontalFlip(p=0.5)])


def _cifar() -> Compose:
    return Compose([RandomCrop(padding=4), HorizontalFlip(p=0.5)])


#: Named pipelines: ``get(name)`` / ``preset(name)`` builds a fresh one.
PRESETS.update({
    "none": lambda: Compose([]),
    "digits": _digits,
    "digits-strong": _digits_strong,
    "contest": _contest,
    "fashion": _fashion,
    "cifar": _cifar,
})

PRESET_HELP = {
    "none": "no augmentation",
    "digits": "affine (±10°, zoom ±10%, shear ±8°, shift ≤3 px inside the frame), stroke width, light noise",
    "digits-strong": "digits + larger ranges, elastic distortion, multiplicative and salt-and-pepper noise, "
                     "random erasing",
    "contest": "affine (±15°, zoom 0.75–1.1, slant ±20°, width ±25%, shift ≤3 px), elastic, thin/thick "
               "strokes, blur, contrast, noise, speckle (le4nn-train --recipe contest)",
    "fashion": "shift ≤2 px (pad and crop), horizontal flip",
    "cifar": "pad 4 and crop (shift ≤4 px), horizontal flip",
}


def fit_hook(augment: Transform | str | Callable[..., Any] | None) -> Callable[[list[Any], list[Any]], Any] | None:
    """What ``Model.fit(augment=...)`` calls per mini-batch: ``hook(xs, ys) -> (xs, ys)`` on the lists
    of input and target arrays.  The single input is augmented with le4nn's global generator; targets
    pass through untouched unless the pipeline changes labels (MixUp)."""
    transform = get(augment)
    if transform is None:
        return None

    def hook(xs: list[Any], ys: list[Any]) -> tuple[list[Any], list[Any]]:
        if len(xs) != 1:
            raise ValueError(f"augment= works on models with one input, this one has {len(xs)}")
        if transform.changes_labels:
            if len(ys) != 1:
                raise ValueError("augment= with MixUp works on models with one output")
            x, y = transform(xs[0], ys[0])
            return [x], [y]
        return [transform(xs[0])], ys

    return hook
