"""Online data augmentation: random transforms of each mini-batch, vectorized over the batch.

Every transform takes a float batch of images ``(N, H, W, C)`` (channels_last, as ``le4nn-train`` feeds
its models; ``(N, H, W)`` works too) with values in [0, 1], and returns a new batch of the same shape
and dtype; the input is never modified.  Nothing loops over the images in Python: each transform draws
its random parameters for the whole batch at once and applies them with array operations (the
geometric ones build one sampling grid per image and interpolate bilinearly in a single gather).

>>> from le4nn import augment
>>> pipeline = augment.Compose([
...     augment.RandomAffine(rotation=12, scale=0.1, shear=8, translate=3),
...     augment.StrokeWidth(strength=(-0.5, 1.0), p=0.5),
...     augment.GaussianNoise(sigma=(0, 0.1), p=0.3),
... ])
>>> x_aug = pipeline(x_batch, rng=0)                    # seeded: the same batch every time
>>> model.fit(x_train, y_train, augment=pipeline)       # or augment="digits" (a preset)

Randomness: ``rng`` may be a :class:`numpy.random.Generator`, an int seed, or None for le4nn's global
generator (:func:`le4nn.utils.get_rng`, seeded by ``set_random_seed``), so that a seeded training run
sees the same augmented batches every time.

Probability: every transform takes ``p``, the probability that it is applied to each image (drawn per
image); the others pass through unchanged.  :class:`Compose` chains transforms (and has its own ``p``).

Transforms and their "zero strength" (where each is the identity):

=========================  ===================================================================  ======================
transform                  what it does                                                         identity at
=========================  ===================================================================  ======================
``RandomAffine``           rotation, scaling, aspect, shear, translation (bilinear); keeps the  all ranges 0
                           digit inside the frame by bounding the move with its bounding box
``ElasticDistortion``      Simard et al. (2003): a random displacement field smoothed by a      ``alpha=0``
                           Gaussian of width ``sigma``, scaled by ``alpha`` pixels
``RandomCrop``             pad by ``padding`` pixels and crop at a random offset (a random     ``padding=0``
                           shift of up to ± ``padding`` pixels)
``HorizontalFlip``         mirror left–right (for CIFAR-like photos, not for digits)           ``p=0``
``GaussianNoise``          x + σ·N(0, 1), then clip                                             ``sigma=0``
``MultiplicativeNoise``    x · (1 + σ·N(0, 1)) (mean 1, as in the course report), then clip    ``sigma=0``
``SaltAndPepper``          a fraction ``amount`` of pixels set to 0 or 1                        ``amount=0``
``StrokeWidth``            thicken (grey dilation) or thin (grey erosion) strokes, blended     ``strength=0``
                           with the original by a random strength in [−1, 1]
``RandomErasing``          a random rectangle set to ``value`` (random erasing / cutout)       ``scale=0``
``Cutout``                 a square of side ``size`` at a random centre set to ``value``        ``size=0``
``Clip``                   clip to the valid range                                              (values in range)
``Blur``                   3×3 binomial blur (``passes`` times) blended by a random strength    ``strength=0``
``Contrast``               faded ink and grey paper: b + (c − b)·x                              ``ink=1, background=0``
``MixUp``                  convex combination of image pairs *and of their labels*              ``alpha=0``
=========================  ===================================================================  ======================

Labels: only :class:`MixUp` changes them; called as ``t(x, y)`` every other transform returns ``y``
itself untouched.  ``Model.fit(..., augment=...)`` passes the labels through any pipeline that
contains a MixUp (integer labels become soft one-hot targets of ``num_classes`` classes, which the
cross-entropy losses accept), and only the images otherwise.

Presets (:data:`PRESETS`, ``get("digits")``, ``le4nn-train --augment digits``): ``"digits"``,
``"digits-strong"``, ``"contest"``, ``"fashion"``, ``"cifar"`` and ``"none"``; see :func:`preset`.
"""

from __future__ import annotations

from le4nn.augment.base import Compose, Lambda, Timed, Transform, get
from le4nn.augment.base import as_rng as as_rng  # public, though not in __all__
from le4nn.augment.erasing import Cutout, RandomErasing
from le4nn.augment.geometry import (
    ElasticDistortion,
    HorizontalFlip,
    RandomAffine,
    RandomCrop,
    bilinear_sample,
)
from le4nn.augment.intensity import Clip, GaussianNoise, MultiplicativeNoise, SaltAndPepper, StrokeWidth
from le4nn.augment.mixup import MixUp
from le4nn.augment.presets import PRESET_HELP as PRESET_HELP  # public, though not in __all__
from le4nn.augment.presets import PRESETS, fit_hook, preset
from le4nn.augment.scanner import Blur, Contrast

__all__ = [
    "Transform", "Compose", "Lambda", "Timed", "RandomAffine", "ElasticDistortion", "RandomCrop", "HorizontalFlip",
    "GaussianNoise", "MultiplicativeNoise", "SaltAndPepper", "StrokeWidth", "RandomErasing", "Cutout",
    "Clip", "MixUp", "Blur", "Contrast", "PRESETS", "preset", "get", "fit_hook", "bilinear_sample",
]
