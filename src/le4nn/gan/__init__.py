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

from le4nn.gan.builders import (
    ARCHITECTURES,
    DISCRIMINATOR_WIDTH,
    GENERATOR_WIDTH,
    IMAGE_SHAPE,
    LABEL_MODES,
    LABEL_NAMES,
    LATENT_DIM,
    NUM_CLASSES,
    build_dcgan,
    build_discriminator,
    build_generator,
)
from le4nn.gan.flops import epoch_flops
from le4nn.gan.judging import judge
from le4nn.gan.sampling import cluster_labels, generate, sample, scale_images, to_uint8
from le4nn.gan.spec import GeneratorSpec, combined_model, generator_spec
from le4nn.gan.trainer import EMA_DECAY, GANTrainer

__all__ = [
    "ARCHITECTURES", "DISCRIMINATOR_WIDTH", "EMA_DECAY", "GENERATOR_WIDTH", "IMAGE_SHAPE", "LABEL_MODES",
    "LABEL_NAMES", "LATENT_DIM", "NUM_CLASSES", "GANTrainer", "GeneratorSpec", "build_dcgan",
    "build_discriminator", "build_generator", "cluster_labels", "combined_model", "epoch_flops", "generate",
    "generator_spec", "judge", "sample", "scale_images", "to_uint8",
]
