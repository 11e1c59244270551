"""The models ``le4nn-train --model`` knows by name, and loading a model from a JSON config file.

- ``mlp``: the handout's 3-layer network (4.2): 784 → 100 sigmoid → 10 softmax, trained with plain SGD.
- ``lecture``: the Keras lecture's CNN: Conv(9, 3×3, same) + ReLU, MaxPool 2, Dense 64 ReLU, Dense 10.
- ``cnn`` (the default): three stages of Conv(3×3, same) + ReLU, MaxPool 2, BatchNorm with 32, 48 and
  96 filters (28 → 14 → 7 → 3 pixels on MNIST), then Dense 128 ReLU, BatchNorm, Dropout 0.3 (inverted),
  Dense softmax.  The batch normalizations sit after the pooling (4× fewer values to normalize than
  after the convolution).  The third stage works on 7×7 maps, so it costs about as much as the second:
  an epoch takes ≈ 1.1× the time of the two-stage Conv(32)-Conv(64) network, and it reaches ≥ 99.6% on
  MNIST with augmentation (``le4nn-train --recipe mnist``, docs/results.md).
- ``cnn-wide``: the same with 32, 64 and 128 filters and Dense 256 (≈ 1.3× the epoch time of ``cnn``), for
  data that the small network underfits (Fashion-MNIST: ``--recipe fashion-mnist``).
- ``resnet``: the residual network for digits (``le4nn.applications.digit_resnet``): a stride-2 stem,
  three stages of two basic blocks with 64, 128 and 256 filters, global average pooling (2.8 M weights;
  ≈ 3.3 minutes per MNIST epoch on two cores).
- ``resnet20``: He et al. 2016's CIFAR ResNet-20 (``le4nn.applications.resnet20``): 16, 32 and 64 filters,
  three stages of three basic blocks (0.27 M weights), for the data set's own image size (32×32×3 on
  CIFAR-10, 28×28×1 on the digit sets).

Each preset also names the optimizer and learning rate it trains best with, used unless the command
line says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from le4nn.applications import digit_resnet, resnet20
from le4nn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from le4nn.models import Model, Sequential, model_from_config


@dataclass(frozen=True)
class Preset:
    description: str
    optimizer: str
    learning_rate: float


PRESETS = {
    "mlp": Preset("the handout's 3-layer network: 784-100(sigmoid)-10(softmax)", "sgd", 0.01),
    "lecture": Preset("the Keras lecture CNN: Conv(9,3x3)-Pool-Dense(64)-Dense(10)", "adam", 0.001),
    "cnn": Preset("[Conv(32|48|96)-Pool-BN]x3-Dense(128)-BN-Dropout-Dense(10)", "adam", 0.001),
    "cnn-wide": Preset("[Conv(32|64|128)-Pool-BN]x3-Dense(256)-BN-Dropout-Dense(10)", "adam", 0.001),
    "resnet": Preset("digit ResNet: stride-2 stem, [2 blocks]x(64|128|256), global average pool", "adam", 0.001),
    "resnet20": Preset("He et al.'s CIFAR ResNet-20: [3 blocks]x(16|32|64), global average pool", "adam", 0.001),
}


def build_preset(name: str, input_shape: tuple, num_classes: int, hidden: int = 100) -> Model:
    """A fresh model of preset ``name`` for images of ``input_shape`` (H, W, C): a Sequential, or a
    functional Model for the residual networks."""
    if name == "resnet":
        return digit_resnet(input_shape=tuple(input_shape), num_classes=num_classes)
    if name == "resnet20":
        return resnet20(input_shape=tuple(input_shape), num_classes=num_classes)
    if name == "mlp":
        layers = [
            Flatten(input_shape=input_shape),
            Dense(hidden, activation="sigmoid"),
            Dense(num_classes, activation="softmax"),
        ]
    elif name == "lecture":
        layers = [
            Conv2D(9, (3, 3), padding="same", activation="relu", input_shape=input_shape),
            MaxPooling2D(pool_size=(2, 2)),
            Flatten(),
            Dense(64, activation="relu"),
            Dense(num_classes, activation="softmax"),
        ]
    elif name in ("cnn", "cnn-wide"):
        widths, units = ((32, 48, 96), 128) if name == "cnn" else ((32, 64, 128), 256)
        layers = []
        for k, filters in enumerate(widths):
            extra: dict[str, Any] = {"input_shape": input_shape} if k == 0 else {}
            layers += [
                Conv2D(filters, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal", **extra),
                MaxPooling2D(pool_size=(2, 2)),
                BatchNormalization(),
            ]
        layers += [
            Flatten(),
            Dense(units, activation="relu", kernel_initializer="he_normal"),
            BatchNormalization(),
            Dropout(0.3, mode="inverted"),
            Dense(num_classes, activation="softmax"),
        ]
    else:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)} or a JSON file")
    return Sequential(layers, name=name)


def physical_memory_bytes() -> int | None:
    """The machine's memory in bytes (None where the system does not say): no model's weights can be larger."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def load_model_config(path: Path):
    """A model from a JSON file holding ``model.get_config()`` (a Sequential or functional config); any
    file that does not describe one is a ValueError (a ``ModelFileError``) naming the file.  The file
    is read and checked as a model file's header is (size, JSON nesting, every layer argument)."""
    from le4nn.models.file_format import MAX_HEADER_BYTES, parse_json

    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_HEADER_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read model config {path}: {exc.strerror}") from None
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"model config {path} is larger than {MAX_HEADER_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"model config {path} is not a text (JSON) file") from None
    config = parse_json(text, path, "the model config")
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ValueError(f"model config {path} does not describe a le4nn model: expected a JSON object "
                         '{"class_name": ..., "config": {...}}, as model.get_config() gives')
    # A config asking for more weights than the machine holds is refused before anything is allocated.
    return model_from_config(config, source=str(path), max_weight_bytes=physical_memory_bytes())
