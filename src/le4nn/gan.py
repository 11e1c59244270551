"""Generative adversarial networks: a DCGAN and a conditional DCGAN for 28×28×1 images (MNIST).

    from le4nn import gan
    from le4nn.datasets import mnist

    (x, y), _ = mnist.load_data()
    generator, discriminator = gan.build_dcgan(conditional=True)          # the cDCGAN
    trainer = gan.GANTrainer(generator, discriminator)                    # Adam 2e-4 / 2e-4, beta_1 0.5
    trainer.fit(x, y, epochs=10, batch_size=64, output_dir="gan-run")     # uint8 images are scaled to [-1, 1]
    sevens = gan.generate(generator, 16, digit=7, seed=0)                 # uint8 (16, 28, 28)

A self-conditioned DCGAN (no labels: the networks are conditioned on k-means clusters of the images,
:func:`cluster_labels`) is the cDCGAN trained on cluster indices, with a generator whose second input is
named ``cluster`` (``le4nn-train --model dcgan --clusters 30``):

    clusters = gan.cluster_labels(x, 30)
    generator = gan.build_generator(num_classes=30, label_name="cluster")
    discriminator = gan.build_discriminator(num_classes=30, label_mode="plane")
    gan.GANTrainer(generator, discriminator).fit(x, clusters, epochs=10, batch_size=64)
    images = gan.generate(generator, 16, seed=0)                          # random clusters

The models (``build_generator``/``build_discriminator``; widths are parameters):

- generator: noise z (``latent_dim``, standard normal) ⊕ one-hot label (conditional) → Dense(7·7·w) → BN →
  LeakyReLU(0.2) → Reshape(7, 7, w) → Conv2DTranspose(w/2, 4, stride 2, same) → BN → LeakyReLU(0.2) →
  Conv2DTranspose(1, 4, stride 2, same, tanh): images in [-1, 1].  Its inputs are named ``noise`` and
  ``label``, so a saved generator (``model.save``, one ``.npz``) says by its own config how to drive it
  (:func:`generator_spec`): the noise size, and for a conditional one the number of classes.
- discriminator: image (⊕ the one-hot label broadcast to 10 constant 28×28 channels, or as one learned map
  per class: ``label_mode``) → Conv2D(w, 4, stride 2, same) → LeakyReLU(0.2) →
  Dropout(0.3) → Conv2D(2w, 4, stride 2, same) → LeakyReLU(0.2) → Dropout(0.3) → Flatten → Dense(1): a
  logit, trained with binary cross-entropy from logits.

Training (:class:`GANTrainer`, the DCGAN recipe): per batch one discriminator step on the real batch
(targets 0.9: one-sided label smoothing) together with a generated batch (targets 0), then one generator
step through the combined model generator → discriminator with targets "real" (1), during which the
discriminator is frozen (``trainable = False``: its weights do not move, only the gradient flows through
it); it is trainable again for its own step.  The combined model shares the layer objects of both models
(:func:`combined_model`), so there is one copy of every weight.

Cost with the default widths (128, 64), batch 64, 2 threads: ≈ 157 ms per step for the cDCGAN (≈ 2.5 min per
MNIST epoch of 937 steps, 12.8 TFLOP: :func:`epoch_flops`) and ≈ 138 ms for the DCGAN (≈ 2.2 min);
the self-conditioned DCGAN with 30 clusters ≈ 148 ms (≈ 2.3 min).
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from le4nn import metrics as metrics_module
from le4nn.callbacks import Callback, CallbackList, CSVLogger, History, ProgressBar
from le4nn.initializers import RandomNormal
from le4nn.layers import (
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    LeakyReLU,
    Reshape,
)
from le4nn.losses import BinaryCrossentropy
from le4nn.models import Model
from le4nn.models.graph import Graph, Node
from le4nn.optimizers import Adam
from le4nn.utils import get_rng, to_categorical

LATENT_DIM = 100
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: Default widths: the generator's channels at 7×7 (half of them at 14×14) and the discriminator's
#: first convolution's filters (twice as many in the second).
GENERATOR_WIDTH = 128
DISCRIMINATOR_WIDTH = 64
ARCHITECTURES = ("conv", "dense")
#: Names of a conditional generator's second input: class labels, or k-means clusters (self-conditioned).
LABEL_NAMES = ("label", "cluster")
#: A decay for the generator's weight average (:class:`GANTrainer` ``ema_decay``, off by default): about
#: 1000 steps, one MNIST epoch.
EMA_DECAY = 0.999


def _init():
    """The DCGAN paper's initialization: normal(0, 0.02)."""
    return RandomNormal(mean=0.0, stddev=0.02)


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def build_generator(latent_dim: int = LATENT_DIM, num_classes: int | None = None, width: int = GENERATOR_WIDTH,
                    image_shape: tuple = IMAGE_SHAPE, architecture: str = "conv", bn_momentum: float = 0.9,
                    name: str | None = None, label_name: str = "label") -> Model:
    """The generator: inputs ``noise`` (latent_dim,) and, if ``num_classes``, a one-hot ``label``
    (num_classes,); output images of ``image_shape`` in [-1, 1] (tanh).  ``label_name="cluster"`` names
    that input ``cluster`` instead: the generator of a self-conditioned DCGAN, conditioned on k-means
    clusters of the training images rather than on their classes (see :func:`cluster_labels`).

    ``architecture="conv"`` (the DCGAN of the module docstring; needs height and width divisible by 4) or
    ``"dense"`` (Dense(width) → BN → LeakyReLU → Dense(H·W·C, tanh) → Reshape: tiny and fast, for tests)."""
    height, width_px, channels = (int(s) for s in image_shape)
    _check_architecture(architecture)
    noise = Input(shape=(int(latent_dim),), name="noise")
    inputs = [noise]
    x = noise
    if label_name not in LABEL_NAMES:
        raise ValueError(f"build_generator: label_name must be one of {', '.join(LABEL_NAMES)}, got {label_name!r}")
    if num_classes:
        label = Input(shape=(int(num_classes),), name=label_name)
        inputs.append(label)
        x = Concatenate()([noise, label])
    if architecture == "conv":
        from le4nn.layers import Conv2DTranspose

        if height % 4 or width_px % 4:
            raise ValueError(f"build_generator: the conv architecture needs sizes divisible by 4, got {image_shape}")
        if width < 2:
            raise ValueError(f"build_generator: width must be >= 2, got {width}")
        h, w = height // 4, width_px // 4
        x = Dense(h * w * width, use_bias=False, kernel_initializer=_init())(x)
        x = BatchNormalization(momentum=bn_momentum)(x)
        x = LeakyReLU(0.2)(x)
        x = Reshape((h, w, width))(x)
        x = Conv2DTranspose(width // 2, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_init())(x)
        x = BatchNormalization(momentum=bn_momentum)(x)
        x = LeakyReLU(0.2)(x)
        out = Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                              kernel_initializer=_init())(x)
    else:
        x = Dense(width, use_bias=False, kernel_initializer=_init())(x)
        x = BatchNormalization(momentum=bn_momentum)(x)
        x = LeakyReLU(0.2)(x)
        x = Dense(height * width_px * channels, activation="tanh", kernel_initializer=_init())(x)
        out = Reshape((height, width_px, channels))(x)
    kind = "dcgan" if not num_classes else ("cdcgan" if label_name == "label" else "scdcgan")
    return Model(inputs=inputs if len(inputs) > 1 else noise, outputs=out, name=name or f"{kind}_generator")


LABEL_MODES = ("channels", "plane")


def build_discriminator(num_classes: int | None = None, width: int = DISCRIMINATOR_WIDTH,
                        image_shape: tuple = IMAGE_SHAPE, dropout: float = 0.3, architecture: str = "conv",
                        label_mode: str = "channels", name: str | None = None) -> Model:
    """The discriminator: inputs ``image`` and, if ``num_classes``, a one-hot ``label``; output one logit
    (Dense(1) without activation: train it with ``BinaryCrossentropy(from_logits=True)``).

    The label enters as extra image channels, concatenated with the image: ``label_mode="channels"``
    (default) broadcasts the one-hot vector to K constant planes (Reshape(1, 1, K) → UpSampling2D(H, W)),
    so the first convolution gets a class-dependent bias from the first step (and costs about the same:
    the second convolution dominates); ``"plane"`` learns one map per class (one-hot → Dense(H·W) →
    Reshape(H, W, 1), what an Embedding → Dense → Reshape gives).  Dropout is the inverted (Keras) kind.
    ``architecture="dense"``: Flatten (⊕ label) → Dense(4·width) → LeakyReLU → Dropout → Dense(1)."""
    height, width_px, channels = (int(s) for s in image_shape)
    _check_architecture(architecture)
    if label_mode not in LABEL_MODES:
        raise ValueError(f"unknown label_mode {label_mode!r}; choose one of {', '.join(LABEL_MODES)}")
    image = Input(shape=(height, width_px, channels), name="image")
    inputs = [image]
    label = None
    if num_classes:
        label = Input(shape=(int(num_classes),), name="label")
        inputs.append(label)
    if architecture == "conv":
        x = image
        if label is not None:
            if label_mode == "channels":
                from le4nn.layers import UpSampling2D

                planes = Reshape((1, 1, int(num_classes)))(label)
                planes = UpSampling2D(size=(height, width_px))(planes)
            else:
                planes = Dense(height * width_px, kernel_initializer=_init())(label)
                planes = Reshape((height, width_px, 1))(planes)
            x = Concatenate()([image, planes])
        for filters in (width, 2 * width):
            x = Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=_init())(x)
            x = LeakyReLU(0.2)(x)
            x = Dropout(dropout, mode="inverted")(x)
        x = Flatten()(x)
    else:
        x = Flatten()(image)
        if label is not None:
            x = Concatenate()([x, label])
        x = Dense(4 * width, kernel_initializer=_init())(x)
        x = LeakyReLU(0.2)(x)
        x = Dropout(dropout, mode="inverted")(x)
    out = Dense(1, kernel_initializer=_init())(x)
    default = ("cdcgan" if num_classes else "dcgan") + "_discriminator"
    return Model(inputs=inputs if len(inputs) > 1 else image, outputs=out, name=name or default)


def build_dcgan(conditional: bool = False, latent_dim: int = LATENT_DIM, num_classes: int = NUM_CLASSES,
                generator_width: int = GENERATOR_WIDTH, discriminator_width: int = DISCRIMINATOR_WIDTH,
                image_shape: tuple = IMAGE_SHAPE, dropout: float = 0.3, architecture: str = "conv",
                label_mode: str = "channels"):
    """``(generator, discriminator)`` of a DCGAN, or of a conditional DCGAN (``conditional=True``)."""
    classes = num_classes if conditional else None
    generator = build_generator(latent_dim, classes, generator_width, image_shape, architecture)
    discriminator = build_discriminator(classes, discriminator_width, image_shape, dropout, architecture,
                                        label_mode)
    return generator, discriminator


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown GAN architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


# --------------------------------------------------------------------------------------------------
# What a generator takes, and the combined model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorSpec:
    """How to drive a generator: ``latent_dim``, ``num_classes`` (None: unconditional), the output
    ``image_shape`` (H, W, C), and the positions of the noise and label inputs."""

    latent_dim: int
    num_classes: int | None
    image_shape: tuple
    noise_index: int = 0
    label_index: int | None = None
    clustered: bool = False  # conditioned on k-means clusters (input "cluster"), not on classes

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def inputs(self, noise: np.ndarray, one_hot: np.ndarray | None):
        """The model's input list (or single input) for this noise and these one-hot labels."""
        if not self.conditional:
            return noise
        xs = [None, None]
        xs[self.noise_index], xs[self.label_index] = noise, one_hot
        return xs


def _model_inputs(model) -> list[tuple[str, tuple]]:
    """(name, shape with batch axis) of each model input, in the model's input order."""
    graph = model.graph
    result = []
    for slot in graph.input_slots:
        reader = next((node.layer for node in graph.nodes if slot in node.inputs), None)
        if reader is None or reader._multi_input:
            raise ValueError(f"model {model.name!r}: cannot tell what its input {slot} is")
        name = reader.name if isinstance(reader, InputLayer) else f"input_{slot}"
        result.append((name, tuple(reader.input_shape)))
    return result


def generator_spec(model) -> GeneratorSpec:
    """What ``model`` (a generator built here, or any model from 1 noise vector [+ 1 one-hot label
    vector] to images) takes and gives; ``ValueError`` if it is not such a model.

    Inputs named ``noise``/``label`` are recognized by name; otherwise the first is the noise."""
    inputs = _model_inputs(model)
    outputs = model.graph.output_nodes
    if len(outputs) != 1 or outputs[0] is None:
        raise ValueError(f"model {model.name!r} is not a generator: it has {len(outputs)} outputs")
    out_shape = outputs[0].layer.output_shape
    if len(out_shape) != 4:
        raise ValueError(f"model {model.name!r} is not a generator: its output has shape {out_shape}, not images "
                         "(batch, height, width, channels)")
    if len(inputs) not in (1, 2) or any(len(shape) != 2 for _, shape in inputs):
        described = ", ".join(f"{name} {shape}" for name, shape in inputs)
        raise ValueError(f"model {model.name!r} is not a generator: it takes {described}, not a noise vector "
                         "(and a one-hot label)")
    names = [name for name, _ in inputs]
    noise_index = names.index("noise") if "noise" in names else 0
    label_index = None if len(inputs) == 1 else 1 - noise_index
    return GeneratorSpec(
        latent_dim=int(inputs[noise_index][1][1]),
        num_classes=None if label_index is None else int(inputs[label_index][1][1]),
        image_shape=tuple(int(s) for s in out_shape[1:]),
        noise_index=noise_index,
        label_index=label_index,
        clustered=label_index is not None and names[label_index] == "cluster",
    )


def combined_model(generator, discriminator, name: str = "gan") -> Model:
    """The model generator → discriminator that trains the generator: its inputs are the generator's
    (noise [, label]), its output the discriminator's logit.  It holds the same layer objects as both
    models (one copy of the weights), joined graph to graph: the discriminator's image input reads the
    generator's output and its label input the generator's label input (a layer object cannot be called
    twice symbolically, so the graphs are joined directly).  Freeze the discriminator
    (``discriminator.trainable = False``) while training this model."""
    spec = generator_spec(generator)
    g, d = generator.graph, discriminator.graph
    d_inputs = _model_inputs(discriminator)
    images = [k for k, (_, shape) in enumerate(d_inputs) if len(shape) == 4]
    labels = [k for k, (_, shape) in enumerate(d_inputs) if len(shape) == 2]
    if len(images) != 1 or len(images) + len(labels) != len(d_inputs):
        raise ValueError(f"discriminator {discriminator.name!r} must take one image (and a one-hot label), "
                         f"got inputs {d_inputs}")
    if tuple(d_inputs[images[0]][1][1:]) != spec.image_shape:
        raise ValueError(f"the discriminator takes images of shape {d_inputs[images[0]][1][1:]}, the generator "
                         f"makes {spec.image_shape}")
    if len(labels) != (1 if spec.conditional else 0):
        raise ValueError("the generator and the discriminator must both be conditional or both not")
    if labels and d_inputs[labels[0]][1][1] != spec.num_classes:
        raise ValueError(f"the discriminator takes {d_inputs[labels[0]][1][1]} classes, the generator "
                         f"{spec.num_classes}")
    if len(d.output_slots) != 1:
        raise ValueError(f"discriminator {discriminator.name!r} must have one output (a logit)")
    shared = {id(layer) for layer in g.layers} & {id(layer) for layer in d.layers}
    if shared:
        raise ValueError("the generator and the discriminator share layers")
    # The discriminator's input slots now read the generator's output / the generator's label input.
    mapping = {d.input_slots[images[0]]: g.output_slots[0]}
    if labels:
        mapping[d.input_slots[labels[0]]] = g.input_slots[spec.label_index]
    used = [*g.input_slots, *(n.output for n in g.nodes), *(s for n in g.nodes for s in n.inputs)]
    offset = max(used) + 1
    nodes = list(g.nodes)
    for node in d.nodes:
        if isinstance(node.layer, InputLayer) and node.inputs[0] in d.input_slots:
            mapping[node.output] = mapping[node.inputs[0]]  # the input check is skipped: shapes were checked
            continue
        nodes.append(Node(node.layer, tuple(mapping.get(s, s + offset) for s in node.inputs), node.output + offset))
    out = d.output_slots[0]
    model = Model(name=name)
    model._graph = Graph(nodes, list(g.input_slots), [mapping.get(out, out + offset)])
    return model


# --------------------------------------------------------------------------------------------------
# Data and sampling
# --------------------------------------------------------------------------------------------------


def scale_images(x) -> np.ndarray:
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


def cluster_labels(x, k: int, seed: int | None = 0) -> np.ndarray:
    """The k-means cluster (0..k-1) of every image of ``x`` (uint8, or floats in [-1, 1] as
    :func:`scale_images` gives), clustered on the pixels scaled to [0, 1] (:func:`le4nn.clustering.kmeans`).

    These replace class labels in a self-conditioned DCGAN (Liu et al. 2020, "Diverse image generation via
    self-conditioned GANs", who cluster the discriminator's features; pixels suffice for MNIST): the
    networks are conditioned on the cluster, which gives the generator discrete modes to choose from, as a
    conditional GAN has, without any labels.  Generating picks random clusters."""
    from le4nn.clustering import kmeans

    images = scale_images(x)
    flat = ((images.reshape(len(images), -1) + np.float32(1)) * np.float32(0.5)).astype(np.float32)
    return kmeans(flat, k, seed=seed).labels


def to_uint8(images) -> np.ndarray:
    """Generator outputs in [-1, 1] → uint8 images (N, H, W) (one channel) or (N, H, W, C)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return np.clip(np.rint((x + 1) * 127.5), 0, 255).astype(np.uint8)


def _labels_one_hot(labels, num_classes: int, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        one_hot = labels.astype(np.float32)
    else:
        one_hot = to_categorical(labels.reshape(-1), num_classes)
    if len(one_hot) != n:
        raise ValueError(f"{len(one_hot)} labels for {n} images")
    return one_hot


def generate(generator, n: int, digit=None, labels=None, seed=None, noise=None, batch_size: int = 500):
    """``n`` images from ``generator`` as uint8 (N, H, W) (inference mode: BatchNormalization uses its
    moving statistics).  Conditional generators need ``digit`` (one class for all) or ``labels`` (one
    per image); ``seed`` makes the noise reproducible (default: le4nn's global generator)."""
    spec = generator_spec(generator)
    return to_uint8(sample(generator, n, digit=digit, labels=labels, seed=seed, noise=noise, batch_size=batch_size,
                           spec=spec))


def sample(generator, n: int, digit=None, labels=None, seed=None, noise=None, batch_size: int = 500, spec=None):
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
        if digit is None and labels is None:
            raise ValueError(f"this generator is conditional ({spec.num_classes} classes): give digit= or labels=")
        if digit is not None and labels is not None:
            raise ValueError("give digit= or labels=, not both")
        if digit is not None:
            labels = np.full(n, _check_class(digit, spec.num_classes))
        labels = np.asarray(labels)
        if labels.ndim == 1 and labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
            raise ValueError(f"labels must be in 0..{spec.num_classes - 1}")
        one_hot = _labels_one_hot(labels, spec.num_classes, n)
    elif digit is not None or labels is not None:
        raise ValueError("this generator is not conditional: it takes no digit or labels")
    return generator.predict(spec.inputs(noise, one_hot), batch_size=batch_size)


def judge(generator, classifier, per_class: int = 1000, samples: int = 10000, seed: int = 0,
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

    def classify(images: np.ndarray):
        x = to_uint8(images).astype(np.float32)[..., None] / np.float32(255)
        probs = np.asarray(classifier.predict(x, batch_size=batch_size))
        if probs.ndim != 2:
            raise ValueError(f"the classifier must output class probabilities (N, K), got shape {probs.shape}")
        return probs.argmax(axis=1), probs.max(axis=1), probs.shape[1]

    if spec.conditional and not spec.clustered:
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


def _check_class(digit, num_classes: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit < num_classes:
        raise ValueError(f"digit must be an integer in 0..{num_classes - 1}, got {digit!r}")
    return int(digit)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


class _DiscriminatorAccuracy(metrics_module.Metric):
    """The discriminator's accuracy on the real (target > 0.5) or on the generated samples of a batch:
    logit > 0 means "real"."""

    def __init__(self, real: bool):
        self.real = real
        super().__init__("real_accuracy" if real else "fake_accuracy")

    def batch_values(self, y_true, y_pred):
        is_real = y_true.reshape(-1) > 0.5
        chosen = is_real if self.real else ~is_real
        return ((y_pred.reshape(-1)[chosen] > 0) == self.real).astype(np.float64)


class _EpochFunction(Callback):
    """A plain function ``f(epoch, logs)`` as a per-epoch callback."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def on_epoch_end(self, epoch, logs=None):
        self.function(epoch, logs)


class GANTrainer:
    """Alternating discriminator / generator steps (see the module docstring).

    ``g_learning_rate``/``d_learning_rate``/``beta_1``: the two Adam optimizers (or pass ``g_optimizer``/
    ``d_optimizer``); ``real_label``: the discriminator's target for real images (0.9: one-sided label
    smoothing; 1 for none).  The discriminator is compiled here; the generator is trained through
    :attr:`combined` (generator → frozen discriminator).

    ``ema_decay``: the generator's weights are also averaged over the steps, θ̄ ← d·θ̄ + (1 − d)·θ after
    every generator step (an exponential moving average, as in Karras et al. 2018 and Yazıcı et al.
    2019: the training weights keep oscillating in the two-player game, their average draws cleaner
    images).  The sample grids and the saved ``generator.npz`` use the averaged weights (with its
    BatchNormalization statistics measured anew on them, :meth:`averaged_weights`); the training
    weights go on learning unchanged.  ``None`` or 0 (the default) turns it off: on the MNIST DCGAN with
    decay 0.999 the judge (:func:`judge`) rated the averaged generator no better than the trained one
    (mean top-class confidence within 0.01 of it over the first 4 epochs).
    """

    #: files :meth:`fit` writes into ``output_dir``
    GENERATOR_FILE = "generator.npz"
    SAMPLES_FILE = "samples.png"
    EPOCH_SAMPLES = "samples_epoch_{epoch:03d}.png"
    LOSSES_CSV = "gan_losses.csv"
    LOSSES_PLOT = "gan_losses.png"

    def __init__(self, generator, discriminator, g_learning_rate: float = 2e-4, d_learning_rate: float = 2e-4,
                 beta_1: float = 0.5, real_label: float = 0.9, g_optimizer=None, d_optimizer=None,
                 ema_decay: float | None = None):
        if not 0.5 < real_label <= 1:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label}")
        if ema_decay is not None and not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 or None: no averaging), got {ema_decay}")
        self.ema_decay = float(ema_decay) if ema_decay else None
        self._average: list[tuple[np.ndarray, np.ndarray]] | None = None  # (training weight, its average)
        self.generator = generator
        self.discriminator = discriminator
        self.spec = generator_spec(generator)
        self.real_label = float(real_label)
        self.combined = combined_model(generator, discriminator)
        loss = BinaryCrossentropy(from_logits=True)
        discriminator.compile(optimizer=d_optimizer or Adam(d_learning_rate, beta_1=beta_1), loss=loss,
                              metrics=[_DiscriminatorAccuracy(True), _DiscriminatorAccuracy(False)])
        self.combined.compile(optimizer=g_optimizer or Adam(g_learning_rate, beta_1=beta_1), loss=loss)
        self.stop_training = False
        self.interrupted = False
        self.history: dict[str, list[float]] = {}
        self.batch_losses: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
        self.epochs_done = 0
        self.output_dir: Path | None = None
        self._fixed = None

    # --- one step ---------------------------------------------------------------------------------

    def _noise_and_labels(self, n: int, rng=None):
        rng = get_rng() if rng is None else rng
        noise = rng.standard_normal((n, self.spec.latent_dim), dtype=np.float32)
        one_hot = None
        if self.spec.conditional:
            one_hot = to_categorical(rng.integers(0, self.spec.num_classes, n), self.spec.num_classes)
        return noise, one_hot

    def train_step(self, real_images, real_labels=None) -> dict[str, float]:
        """One discriminator step (:meth:`discriminator_step`) and one generator step
        (:meth:`generator_step`) on a batch of the same size.  Returns ``d_loss``, ``g_loss``,
        ``d_acc_real``, ``d_acc_fake``."""
        logs = self.discriminator_step(real_images, real_labels)
        logs["g_loss"] = self.generator_step(len(real_images))
        return logs

    def discriminator_step(self, real_images, real_labels=None) -> dict:
        """The discriminator (trainable) learns on the real batch (targets ``real_label``) and as many
        generated images (targets 0) in one batch; the generator runs in training mode (batch statistics,
        as in its own step) but its weights do not change.

        ``real_images``: float32 (B, H, W, C) in [-1, 1]; ``real_labels`` (conditional GANs): one-hot
        (B, K) or class indices (B,).  Returns ``d_loss``, ``d_acc_real``, ``d_acc_fake``."""
        real = np.asarray(real_images, dtype=np.float32)
        batch = len(real)
        spec = self.spec
        real_one_hot = None
        if spec.conditional:
            if real_labels is None:
                raise ValueError("a conditional GAN needs the labels of the real images")
            real_one_hot = _labels_one_hot(real_labels, spec.num_classes, batch)
        noise, fake_one_hot = self._noise_and_labels(batch)
        fake = self.generator(spec.inputs(noise, fake_one_hot), training=True)
        images = np.concatenate([real, fake])
        targets = np.concatenate([np.full((batch, 1), self.real_label, np.float32),
                                  np.zeros((batch, 1), np.float32)])
        one_hot = None if real_one_hot is None else np.concatenate([real_one_hot, fake_one_hot])
        self.discriminator.trainable = True
        logs = self.discriminator.train_on_batch(self._d_inputs(images, one_hot), targets, return_dict=True)
        return {"d_loss": float(logs["loss"]), "d_acc_real": float(logs["real_accuracy"]),
                "d_acc_fake": float(logs["fake_accuracy"])}

    def generator_step(self, batch_size: int) -> float:
        """The generator learns through :attr:`combined` on ``batch_size`` fresh noise vectors (and random
        labels) with targets 1 ("real"), the discriminator frozen; returns the loss."""
        noise, one_hot = self._noise_and_labels(batch_size)
        self.discriminator.trainable = False
        try:
            loss = self.combined.train_on_batch(self.spec.inputs(noise, one_hot),
                                                np.ones((batch_size, 1), np.float32))
        finally:
            self.discriminator.trainable = True
        self._update_average()
        return float(loss)

    # --- the averaged generator -------------------------------------------------------------------

    def _update_average(self) -> None:
        """θ̄ ← θ̄ + (1 − d)(θ − θ̄) for every trainable generator weight (started at θ on the first step)."""
        if self.ema_decay is None:
            return
        if self._average is None:
            self._average = [(value, value.copy()) for layer in self.generator.layers
                             for value in layer.params.values()]
            return
        rate = np.float32(1.0 - self.ema_decay)
        for value, average in self._average:
            average += rate * (value - average)

    @contextmanager
    def averaged_weights(self, calibration_samples: int = 2048):
        """Within the block the generator holds its averaged weights (nothing changes without averaging or
        before the first step).  Its BatchNormalization moving statistics are measured anew on them: one
        training-mode pass over ``calibration_samples`` fresh noise vectors (their exact batch mean and
        variance, not the statistics the training weights left behind).  Everything is restored after."""
        if self._average is None:
            yield self.generator
            return
        saved = [value.copy() for value, _ in self._average]
        norms = [layer for layer in self.generator.layers if isinstance(layer, BatchNormalization)]
        saved_state = [{k: v.copy() for k, v in layer.state.items()} for layer in norms]
        saved_momentum = [layer.momentum for layer in norms]
        try:
            for value, average in self._average:
                value[...] = average
            if norms:
                noise, one_hot = self._noise_and_labels(calibration_samples, np.random.default_rng(0))
                for layer in norms:
                    layer.momentum = 0.0  # the moving statistics become this pass's exact statistics
                self.generator(self.spec.inputs(noise, one_hot), training=True)
            yield self.generator  # (the momenta are restored below, as everything else)
        finally:
            for (value, _), copy in zip(self._average, saved, strict=True):
                value[...] = copy
            for layer, state, momentum in zip(norms, saved_state, saved_momentum, strict=True):
                layer.momentum = momentum
                for key, copy in state.items():
                    layer.state[key][...] = copy

    def _d_inputs(self, images, one_hot):
        """The discriminator's inputs in its order (image and label told apart by rank)."""
        if not self.spec.conditional:
            return images
        ranks = [len(shape) for _, shape in _model_inputs(self.discriminator)]
        return [images, one_hot] if ranks[0] == 4 else [one_hot, images]

    # --- samples ----------------------------------------------------------------------------------

    def fixed_inputs(self, seed: int = 0, columns: int = 10):
        """The fixed noise (and labels) of the sample grids: for a conditional generator one row per class
        (0, 1, ...) with the same ``columns`` noise vectors in every row; otherwise ``columns``² images."""
        if self._fixed is None or self._fixed[0] != (seed, columns):
            rng = np.random.default_rng(seed)  # its own generator: the grids do not disturb training
            spec = self.spec
            if spec.conditional:
                noise = np.tile(rng.standard_normal((columns, spec.latent_dim), dtype=np.float32),
                                (spec.num_classes, 1))
                labels = np.repeat(np.arange(spec.num_classes), columns)
                inputs = spec.inputs(noise, to_categorical(labels, spec.num_classes))
            else:
                inputs = rng.standard_normal((columns * columns, spec.latent_dim), dtype=np.float32)
            self._fixed = ((seed, columns), inputs)
        return self._fixed[1]

    def sample_grid(self, path=None, seed: int = 0, columns: int = 10, scale: int = 2) -> np.ndarray:
        """The generator's images for the fixed inputs (:meth:`fixed_inputs`) tiled into one uint8 picture
        (written as a PNG to ``path`` if given; no matplotlib needed)."""
        from le4nn.plot import image_grid, save_png

        with self.averaged_weights():
            images = self.generator.predict(self.fixed_inputs(seed, columns), batch_size=500)
        grid = image_grid(images, columns=columns, padding=2, scale=scale, value_range=(-1, 1))
        if path is not None:
            save_png(grid, path)
        return grid

    # --- fit --------------------------------------------------------------------------------------

    def fit(self, x, y=None, epochs: int = 1, batch_size: int = 128, output_dir=None, callbacks=None,
            verbose=1, sample_seed: int = 0, initial_epoch: int = 0) -> dict[str, list[float]]:
        """Train for ``epochs`` epochs (each: the shuffled data in ``len(x) // batch_size`` full batches).

        ``x``: uint8 images (scaled to [-1, 1] here) or floats already in [-1, 1]; ``y``: class labels
        (conditional GANs).  ``callbacks``: :class:`le4nn.callbacks.Callback` objects (their
        ``self.model`` is this trainer; ``on_epoch_end`` gets the epoch's logs) or functions
        ``f(epoch, logs)`` called after each epoch.  ``verbose``: 1 a tqdm bar per epoch with both losses
        and D's accuracies (one line per epoch when not on a terminal), 0 silent.

        With ``output_dir``, after every epoch: ``samples_epoch_NNN.png`` and ``samples.png`` (the grid of
        the fixed noise; for a conditional GAN row k shows class k), ``generator.npz`` (``model.save``,
        atomic) and a row of ``gan_losses.csv``; at the end ``gan_losses.png`` (when matplotlib is there).

        Ctrl-C stops after the current batch (the partial epoch is not saved, the last saved generator
        stays); a second Ctrl-C aborts at once.  Returns the per-epoch history (d_loss, g_loss,
        d_acc_real, d_acc_fake, seconds).
        """
        from le4nn.models.model import TrainingAborted, _GracefulInterrupt

        images = scale_images(x)
        if images.shape[1:] != self.spec.image_shape:
            raise ValueError(f"the generator makes images of shape {self.spec.image_shape}, the data are "
                             f"{images.shape[1:]}")
        labels = None
        if self.spec.conditional:
            if y is None:
                raise ValueError("a conditional GAN needs the labels y of the training images")
            labels = _labels_one_hot(y, self.spec.num_classes, len(images))
        n = len(images)
        if n == 0:
            raise ValueError("no training images")
        batch_size = min(int(batch_size), n)
        steps = n // batch_size
        output = None
        if output_dir is not None:
            output = self.output_dir = Path(output_dir)
            output.mkdir(parents=True, exist_ok=True)
        user_callbacks = [c if isinstance(c, Callback) else _EpochFunction(c) for c in (callbacks or [])]
        history = History()
        internal = [history]
        if output is not None:
            internal.append(CSVLogger(output / self.LOSSES_CSV, append=initial_epoch > 0))
        callback_list = CallbackList(
            [*internal, *user_callbacks, ProgressBar(verbose)], model=self,
            params={"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size},
        )
        self.stop_training = False
        self.interrupted = False
        epoch = initial_epoch
        with _GracefulInterrupt() as interrupt:
            try:
                callback_list.on_train_begin()
                for epoch in range(initial_epoch, epochs):
                    callback_list.on_epoch_begin(epoch)
                    start = time.perf_counter()
                    order = get_rng().permutation(n)
                    sums = dict.fromkeys(("d_loss", "g_loss", "d_acc_real", "d_acc_fake"), 0.0)
                    for step in range(steps):
                        callback_list.on_train_batch_begin(step)
                        index = np.sort(order[step * batch_size : (step + 1) * batch_size])
                        logs = self.train_step(images[index], None if labels is None else labels[index])
                        for key, value in logs.items():
                            sums[key] += value
                        self.batch_losses["d_loss"].append(logs["d_loss"])
                        self.batch_losses["g_loss"].append(logs["g_loss"])
                        callback_list.on_train_batch_end(step, {k: v / (step + 1) for k, v in sums.items()})
                        if interrupt.requested:
                            raise KeyboardInterrupt
                        if self.stop_training:
                            break
                    epoch_logs = {k: v / max(steps, 1) for k, v in sums.items()}
                    epoch_logs["seconds"] = time.perf_counter() - start
                    self.epochs_done = epoch + 1
                    if output is not None:
                        self._save_epoch(output, epoch, sample_seed)
                    callback_list.on_epoch_end(epoch, epoch_logs)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if self.stop_training:
                        break
            except TrainingAborted:
                raise
            except KeyboardInterrupt:
                self.interrupted = True
                saved = (f"; the generator of epoch {self.epochs_done} is in {output / self.GENERATOR_FILE}"
                         if output is not None and self.epochs_done > initial_epoch else "")
                print(f"\nTraining interrupted during epoch {epoch + 1}{saved}.", file=sys.stderr)
            callback_list.on_train_end({"interrupted": self.interrupted})
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        if output is not None:
            self.save_loss_plot(output / self.LOSSES_PLOT)
        return self.history

    def _save_epoch(self, output: Path, epoch: int, sample_seed: int) -> None:
        grid = self.sample_grid(output / self.EPOCH_SAMPLES.format(epoch=epoch + 1), seed=sample_seed)
        from le4nn.plot import save_png

        save_png(grid, output / self.SAMPLES_FILE)
        self.generator._epochs_done = epoch + 1
        with self.averaged_weights():
            self.generator.save(output / self.GENERATOR_FILE)

    def save_loss_plot(self, path) -> Path | None:
        """The loss plot (:func:`le4nn.plot.plot_gan_history`); None when matplotlib is missing or there is
        no completed epoch."""
        if not self.history.get("d_loss"):
            return None
        try:
            from le4nn import plot

            plot.plot_gan_history(self.history, self.batch_losses, path=path,
                                  title=f"{self.spec.conditional and 'conditional ' or ''}DCGAN training")
        except ImportError:
            return None
        return Path(path)


def epoch_flops(generator, discriminator, n: int = 60000) -> float:
    """A rough count of the floating-point operations of one epoch of ``n`` images (multiply-adds × 2 of
    the Dense and convolution layers; forward ×3 for forward + backward), for choosing widths."""
    def forward_flops(model) -> float:
        total = 0.0
        for layer in model.layers:
            kernel = layer.params.get("kernel") if hasattr(layer, "params") else None
            if kernel is None:
                continue
            out = layer.output_shape
            if kernel.ndim == 2:
                total += 2 * kernel.size
            elif type(layer).__name__ == "Conv2DTranspose":
                total += 2 * kernel.size * math.prod(layer.input_shape[1:3])
            else:
                total += 2 * kernel.size * math.prod(out[1:3])
        return total

    g, d = forward_flops(generator), forward_flops(discriminator)
    # per real image: D fwd+bwd on 2 images, G fwd (fakes), G fwd+bwd and D fwd+bwd in the combined step
    return n * (3 * d * 2 + g + 3 * g + 3 * d)
