"""Images in and out of a GAN: scaling to [-1, 1], k-means cluster labels, and sampling a generator."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from le4nn._typing import ArrayLike, FloatArray
from le4nn.clustering import kmeans
from le4nn.gan.spec import GeneratorSpec, generator_spec
from le4nn.models import Model
from le4nn.utils import get_rng, to_categorical


def scale_images(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) → float32 in [-1, 1] with a channel axis; float images are
    taken as already in [-1, 1] (only a channel axis is added)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(127.5) - np.float32(1)
    if x.dtype.kind != "f":
        raise TypeError(f"images must be uint8 (0-255) or float in [-1, 1], got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)


def cluster_labels(x: np.ndarray, k: int, seed: int | None = 0) -> np.ndarray:
    """The k-means cluster (0..k-1) of every image of ``x`` (uint8, or floats in [-1, 1] as
    :func:`scale_images` gives), clustered on the pixels scaled to [0, 1] (:func:`le4nn.clustering.kmeans`).

    These replace class labels in a self-conditioned DCGAN (Liu et al. 2020, "Diverse image generation via
    self-conditioned GANs", who cluster the discriminator's features; pixels suffice for MNIST): the
    networks are conditioned on the cluster, which gives the generator discrete modes to choose from, as a
    conditional GAN has, without any labels.  Generating picks random clusters."""
    images = scale_images(x)
    flat = ((images.reshape(len(images), -1) + np.float32(1)) * np.float32(0.5)).astype(np.float32)
    return kmeans(flat, k, seed=seed).labels


def to_uint8(images: FloatArray) -> np.ndarray:
    """Generator outputs in [-1, 1] → uint8 images (N, H, W) (one channel) or (N, H, W, C)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)


def labels_one_hot(labels: ArrayLike, num_classes: int, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        one_hot = labels.astype(np.float32)
    else:
        one_hot = to_categorical(labels.reshape(-1), num_classes)
    if len(one_hot) != n:
        raise ValueError(f"{len(one_hot)} labels for {n} images")
    return one_hot


def generate(generator: Model, n: int, digit: int | None = None, labels: np.ndarray | None = None,
             seed: int | None = None, noise: np.ndarray | None = None, batch_size: int = 500) -> np.ndarray:
    """``n`` images from ``generator`` as uint8 (N, H, W) (inference mode: BatchNormalization uses its
    moving statistics).  Conditional generators need ``digit`` (one class for all) or ``labels`` (one
    per image); ``seed`` makes the noise reproducible (default: le4nn's global generator)."""
    spec = generator_spec(generator)
    return to_uint8(sample(generator, n, digit=digit, labels=labels, seed=seed, noise=noise, batch_size=batch_size,
                           spec=spec))


def sample(generator: Model, n: int, digit: int | None = None, labels: np.ndarray | None = None,
           seed: int | None = None, noise: np.ndarray | None = None, batch_size: int = 500,
           spec: GeneratorSpec | None = None) -> np.ndarray:
    """Like :func:`generate` but returns the raw float outputs (N, H, W, C) in [-1, 1].  A cluster-conditioned
    generator takes cluster indices as ``labels``; without them every image gets a random cluster."""
    spec = spec or generator_spec(generator)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of images n must be a positive integer, got {n!r}")
    rng = get_rng() if seed is None else np.random.default_rng(seed)
    if noise is None:
        noise = rng.standard_normal((n, spec.latent_dim), dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if noise.shape != (n, spec.latent_dim):
        raise ValueError(f"noise must have shape {(n, spec.latent_dim)}, got {noise.shape}")
    one_hot = None
    if spec.clustered:
        if digit is not None:
            raise ValueError(f"this generator is conditioned on {spec.num_classes} k-means clusters, not on digits: "
                             "give labels= (cluster indices) or nothing (random clusters)")
        if labels is None:
            labels = rng.integers(0, spec.num_classes, n)
    if spec.conditional:
        assert spec.num_classes is not None
        if digit is None and labels is None:
            raise ValueError(f"this generator is conditional ({spec.num_classes} classes): give digit= or labels=")
        if digit is not None and labels is not None:
            raise ValueError("give digit= or labels=, not both")
        if digit is not None:
            labels = np.full(n, _check_class(digit, spec.num_classes))
        labels = np.asarray(labels)
        if labels.ndim == 1 and labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
            raise ValueError(f"labels must be in 0..{spec.num_classes - 1}")
        one_hot = labels_one_hot(labels, spec.num_classes, n)
    elif digit is not None or labels is not None:
        raise ValueError("this generator is not conditional: it takes no digit or labels")
    return cast(np.ndarray, generator.predict(spec.inputs(noise, one_hot), batch_size=batch_size))  # (one output)


def _check_class(digit: Any, num_classes: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit < num_classes:
        raise ValueError(f"digit must be an integer in 0..{num_classes - 1}, got {digit!r}")
    return int(digit)
