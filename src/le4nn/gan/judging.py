"""Judging a generator by how a trained classifier sees its images (the quality measure of issue 8)."""

from __future__ import annotations

import numpy as np

from le4nn.gan.sampling import sample, to_uint8
from le4nn.gan.spec import generator_spec
from le4nn.models import Model


def judge(generator: Model, classifier: Model, per_class: int = 1000, samples: int = 10000, seed: int = 0,
          batch_size: int = 500) -> dict:
    """How a classifier (e.g. a le4nn MNIST model with ≥ 99 % test accuracy, input (N, 28, 28, 1) in
    [0, 1], output class probabilities) sees the generator's images — the quality measure of issue 8.

    Conditional generator: ``per_class`` images of each class; returns ``{"conditional": True,
    "per_class": [fraction classified as the class asked for, per class], "accuracy": the mean,
    "confidence": [mean top-class probability per class]}``.  Unconditional: ``samples`` images; returns
    ``{"conditional": False, "shares": [fraction of images per predicted class], "confidence": mean
    top-class probability}`` (mode collapse shows as shares far from uniform); a cluster-conditioned
    generator is judged this way too, each image from a random cluster.  ``seed`` fixes the noise.
    """
    spec = generator_spec(generator)
    rng = np.random.default_rng(seed)

    def classify(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        x = to_uint8(images).astype(np.float32)[..., None] / np.float32(255)
        probs = np.asarray(classifier.predict(x, batch_size=batch_size))
        if probs.ndim != 2:
            raise ValueError(f"the classifier must output class probabilities (N, K), got shape {probs.shape}")
        return probs.argmax(axis=1), probs.max(axis=1), probs.shape[1]

    if spec.conditional and not spec.clustered:
        assert spec.num_classes is not None
        correct, confidence = [], []
        for digit in range(spec.num_classes):
            noise = rng.standard_normal((per_class, spec.latent_dim), dtype=np.float32)
            predicted, top, _ = classify(sample(generator, per_class, digit=digit, noise=noise, batch_size=batch_size,
                                             spec=spec))
            correct.append(float(np.mean(predicted == digit)))
            confidence.append(float(np.mean(top)))
        return {"conditional": True, "per_class": correct, "accuracy": float(np.mean(correct)),
                "confidence": confidence}
    noise = rng.standard_normal((samples, spec.latent_dim), dtype=np.float32)
    clusters = rng.integers(0, spec.num_classes, samples) if spec.clustered else None
    predicted, top, classes = classify(sample(generator, samples, labels=clusters, noise=noise, batch_size=batch_size,
                                              spec=spec))
    shares = np.bincount(predicted, minlength=classes) / samples
    return {"conditional": False, "shares": [float(v) for v in shares], "confidence": float(np.mean(top))}
