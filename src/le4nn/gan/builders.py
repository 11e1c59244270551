"""The GAN's networks: the (conditional) DCGAN generator and discriminator for 28×28×1 images.

See :mod:`le4nn.gan` for the architectures; the widths, the image shape and a small ``"dense"``
variant (for tests) are parameters.
"""

from __future__ import annotations

from le4nn.initializers import RandomNormal
from le4nn.layers import (
    BatchNormalization,
    Concatenate,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Flatten,
    Input,
    LeakyReLU,
    Reshape,
    UpSampling2D,
)
from le4nn.models import Model

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


def _init() -> RandomNormal:
    """The DCGAN paper's initialization: normal(0, 0.02)."""
    return RandomNormal(mean=0.0, stddev=0.02)


def build_generator(latent_dim: int = LATENT_DIM, num_classes: int | None = None, width: int = GENERATOR_WIDTH,
                    image_shape: tuple = IMAGE_SHAPE, architecture: str = "conv", bn_momentum: float = 0.9,
                    name: str | None = None, label_name: str = "label") -> Model:
    """The generator: inputs ``noise`` (latent_dim,) and, if ``num_classes``, a one-hot ``label``
    (num_classes,); output images of ``image_shape`` in [-1, 1] (tanh).  ``label_name="cluster"`` names
    that input ``cluster`` instead: the generator of a self-conditioned DCGAN, conditioned on k-means
    clusters of the training images rather than on their classes (see :func:`~le4nn.gan.sampling.cluster_labels`).

    ``architecture="conv"`` (the DCGAN described in :mod:`le4nn.gan`; needs height and width divisible by 4) or
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
                assert num_classes is not None  # (a label input exists)
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
                label_mode: str = "channels") -> tuple[Model, Model]:
    """``(generator, discriminator)`` of a DCGAN, or of a conditional DCGAN (``conditional=True``)."""
    classes = num_classes if conditional else None
    generator = build_generator(latent_dim, classes, generator_width, image_shape, architecture)
    discriminator = build_discriminator(classes, discriminator_width, image_shape, dropout, architecture,
                                        label_mode)
    return generator, discriminator


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown GAN architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
