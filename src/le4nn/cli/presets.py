"""The models ``le4nn-train --model`` knows by name, and loading a model from a JSON config file.

- ``mlp``: the handout's 3-layer network (4.2): 784 → 100 sigmoid → 10 softmax, trained with plain SGD.
- ``lecture``: the Keras lecture's CNN: Conv(9, 3×3, same) + ReLU, MaxPool 2, Dense 64 ReLU, Dense 10.
- ``cnn`` (the default): Conv(32, 3×3) + ReLU, MaxPool 2, Conv(64, 3×3) + ReLU, MaxPool 2, Dense 128
  ReLU, Dropout, Dense 10 softmax.

Each preset also names the optimizer and learning rate it trains best with, used unless the command
line says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from le4nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from le4nn.models import Sequential, model_from_config


@dataclass(frozen=True)
class Preset:
    description: str
    optimizer: str
    learning_rate: float


PRESETS = {
    "mlp": Preset("the handout's 3-layer network: 784-100(sigmoid)-10(softmax)", "sgd", 0.01),
    "lecture": Preset("the Keras lecture CNN: Conv(9,3x3)-Pool-Dense(64)-Dense(10)", "adam", 0.001),
    "cnn": Preset("Conv(32)-Pool-Conv(64)-Pool-Dense(128)-Dropout-Dense(10)", "adam", 0.001),
}


def build_preset(name: str, input_shape: tuple, num_classes: int, hidden: int = 100) -> Sequential:
    """A fresh model of preset ``name`` for images of ``input_shape`` (H, W, C)."""
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
    elif name == "cnn":
        layers = [
            Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal",
                   input_shape=input_shape),
            MaxPooling2D(pool_size=(2, 2)),
            Conv2D(64, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal"),
            MaxPooling2D(pool_size=(2, 2)),
            Flatten(),
            Dense(128, activation="relu", kernel_initializer="he_normal"),
            Dropout(0.3, mode="inverted"),
            Dense(num_classes, activation="softmax"),
        ]
    else:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)} or a JSON file")
    return Sequential(layers, name=name)


def load_model_config(path: Path):
    """A model from a JSON file holding ``model.get_config()`` (a Sequential or functional config)."""
    try:
        config = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read model config {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"model config {path} is not valid JSON: {exc}") from None
    try:
        return model_from_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"model config {path} does not describe a le4nn model: {exc}") from None
