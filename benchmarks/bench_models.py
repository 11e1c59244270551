"""The data and the model twins of ``bench_train.py``: each model built in le4nn and in PyTorch.

The data are read directly (MNIST's IDX files, CIFAR-10's python batches), so that the benchmark does
not depend on ``le4nn.datasets`` and the PyTorch child never imports le4nn (whose import makes thread
settings).  Models:

- ``mlp``, ``lecture``, ``cnn-b``: the MNIST models of issue 6 (see ``bench_train.py``);
- ``resnet20``: He et al. 2016's CIFAR ResNet-20 (``le4nn.applications.resnet20``) on 32×32×3;
- ``resnet``: the digit ResNet (``le4nn.applications.digit_resnet``) on MNIST's 28×28×1;
- ``resnet20-cf``: ``resnet20`` with ``data_format="channels_first"`` on NCHW images (its PyTorch twin is
  ``resnet20``'s, NCHW being PyTorch's own layout).

The PyTorch twin of a ResNet computes the same function as the le4nn one: le4nn's ``padding="same"``
follows Keras, which for a stride-2 3×3 convolution of an even-sized input pads only the bottom row and
the right column, so the twin pads (0, 1, 0, 1) explicitly before those convolutions (PyTorch's
``padding=1`` would pad both sides and shift every window by one pixel); BatchNorm's momentum is
1 − Keras's; the builders use momentum 0.9 and epsilon 1e-5 (``le4nn.applications.resnet.BN_MOMENTUM``
and ``BN_EPSILON``, PyTorch's defaults), so the twin's are 0.1 and 1e-5.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Spec(NamedTuple):
    dataset: str  # "mnist" or "cifar10"
    batch: int  # training batch
    steps: int  # timed training steps per run
    epoch_images: int  # images of one epoch of the full data set (s/epoch = step time × epoch_images / batch)
    infer_images: int  # test images predicted per inference pass
    infer_batch: int


SPECS = {
    "mlp": Spec("mnist", 100, 600, 60000, 10000, 1000),
    "lecture": Spec("mnist", 100, 150, 60000, 10000, 1000),
    "cnn-b": Spec("mnist", 100, 60, 60000, 10000, 1000),
    "resnet20": Spec("cifar10", 128, 12, 50000, 1000, 128),
    "resnet": Spec("mnist", 128, 12, 60000, 1000, 128),
    "resnet20-cf": Spec("cifar10", 128, 12, 50000, 1000, 128),
}


def channels_first(model: str) -> bool:
    """Whether le4nn runs ``model`` on NCHW images (``data_format="channels_first"``)."""
    return model.endswith("-cf")


def twin_name(model: str) -> str:
    """The PyTorch twin's model (the same network: PyTorch is NCHW either way)."""
    return model.removesuffix("-cf")
MODELS = tuple(SPECS)

# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def _read_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _data_root() -> Path:
    env = os.environ.get("LE4NN_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _mnist_dir() -> Path:
    base = _data_root()
    return base / "mnist" if (base / "mnist").is_dir() else base


def _random(rng, train: int, test: int, shape: tuple[int, ...]):
    return (rng.integers(0, 256, (train, *shape), dtype="uint8"), rng.integers(0, 10, train, dtype="uint8"),
            rng.integers(0, 256, (test, *shape), dtype="uint8"), rng.integers(0, 10, test, dtype="uint8"))


def load_mnist(seed: int = 0):
    """(x_train, y_train, x_test, y_test, note): uint8 images (N, 28, 28), int64 labels; the training
    set in a fixed shuffled order.  Random data of the same shapes if MNIST is not found."""
    import numpy as np

    base = _mnist_dir()
    files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    paths = []
    for name in files:
        for candidate in (base / f"{name}.gz", base / name):
            if candidate.exists():
                paths.append(candidate)
                break
    rng = np.random.default_rng(seed)
    if len(paths) == 4:
        xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
        note = f"MNIST from {base}"
    else:
        xtr, ytr, xte, yte = _random(rng, 60000, 10000, (28, 28))
        note = f"RANDOM data (MNIST not found in {base}; set LE4NN_DATA)"
    order = rng.permutation(len(xtr))
    return xtr[order], ytr[order].astype(np.int64), xte, yte.astype(np.int64), note


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds the NumPy arrays and dicts of a CIFAR-10 python batch and refuses every other global."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR-10 batch: refusing the global {module}.{name}")
        if module == "_codecs":
            import codecs

            return codecs.encode
        import numpy as np

        if name == "_reconstruct":  # numpy._core with NumPy 2, numpy.core with NumPy 1
            return getattr(np, "_core", getattr(np, "core", None)).multiarray._reconstruct
        return {"ndarray": np.ndarray, "dtype": np.dtype}[name]


def _cifar_dir() -> Path | None:
    base = _data_root()
    for candidate in (base / "cifar-10-batches-py", base / "cifar-10-partial" / "cifar-10-batches-py", base):
        if (candidate / "test_batch").is_file() or (candidate / "data_batch_1").is_file():
            return candidate
    return None


def load_cifar10(seed: int = 0):
    """(x_train, y_train, x_test, y_test, note): uint8 images (N, 32, 32, 3), int64 labels, from the
    python batches that exist (a partial copy is fine); random data of CIFAR-10's shapes if none."""
    import numpy as np

    folder = _cifar_dir()
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "test": []}
    if folder is not None:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            if (folder / name).is_file():
                batch = _ArrayUnpickler(io.BytesIO((folder / name).read_bytes()), encoding="bytes").load()
                x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                parts["test" if name == "test_batch" else "train"].append((x, np.asarray(batch[b"labels"])))
    if parts["train"] and parts["test"]:
        xtr, ytr = (np.concatenate(a) for a in zip(*parts["train"], strict=True))
        xte, yte = parts["test"][0]
        note = f"CIFAR-10 from {folder} ({len(xtr)} training, {len(xte)} test images)"
    else:
        xtr, ytr, xte, yte = _random(rng, 50000, 10000, (32, 32, 3))
        note = f"RANDOM data of CIFAR-10's shapes (no CIFAR-10 python batches under {_data_root()})"
    order = rng.permutation(len(xtr))
    return xtr[order], ytr[order].astype(np.int64), np.ascontiguousarray(xte), yte.astype(np.int64), note


def load_data(model: str, channels_first: bool):
    """(x_train, y_train, x_test, y_test, note) for ``model``: float32 images in [0, 1], NHWC or NCHW."""
    import numpy as np

    if SPECS[model].dataset == "cifar10":
        xtr, ytr, xte, yte, note = load_cifar10()
    else:
        xtr, ytr, xte, yte, note = load_mnist()
        xtr, xte = xtr[..., None], xte[..., None]

    def prepare(x):
        x = x.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if channels_first else x

    return prepare(xtr), ytr, prepare(xte), yte, note


# --------------------------------------------------------------------------------------------------
# le4nn
# --------------------------------------------------------------------------------------------------


def build_le4nn(name: str):
    from le4nn import optimizers
    from le4nn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from le4nn.models import Sequential

    if name in ("resnet20", "resnet", "resnet20-cf"):
        from le4nn.applications import digit_resnet, resnet20

        if name == "resnet":
            model = digit_resnet()
        else:
            model = resnet20(input_shape=(3, 32, 32) if channels_first(name) else (32, 32, 3),
                             data_format="channels_first" if channels_first(name) else "channels_last")
        model.compile(optimizer=optimizers.SGD(learning_rate=0.01, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
        return model
    if name == "mlp":
        layers = [Flatten(input_shape=(28, 28, 1)), Dense(100, activation="sigmoid"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01)
    elif name == "lecture":
        layers = [Conv2D(9, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
                  MaxPooling2D((2, 2)), Flatten(), Dense(64, activation="relu"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01)
    elif name == "cnn-b":
        layers = [Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal",
                         input_shape=(28, 28, 1)),
                  MaxPooling2D((2, 2)),
                  Conv2D(64, (3, 3), padding="same", activation="relu", kernel_initializer="he_normal"),
                  MaxPooling2D((2, 2)), Flatten(),
                  Dense(128, activation="relu", kernel_initializer="he_normal"),
                  Dense(10, activation="softmax")]
        optimizer = optimizers.SGD(learning_rate=0.01, momentum=0.9)
    else:
        raise ValueError(name)
    model = Sequential(layers, name=name)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


# --------------------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------------------

#: The builders' BatchNormalization (momentum 0.9, epsilon 1e-5) in PyTorch's terms: momentum 1 − 0.9.
TORCH_BN = {"momentum": 0.1, "eps": 1e-5}
def torch_resnets() -> dict[str, tuple]:
    """The twins of the le4nn.applications builders: input channels, stem width, stage widths, blocks per
    stage, stem stride (read from the builders, so the twins follow them; imported only when needed,
    so that ``--src`` may name a tree without them)."""
    from le4nn.applications import resnet as builders

    return {"resnet20": (3, 16, (16, 32, 64), 3, 1),
            "resnet": (1, builders.DIGIT_WIDTHS[0], tuple(builders.DIGIT_WIDTHS), builders.DIGIT_BLOCKS,
                       builders.DIGIT_STEM_STRIDES)}


def _keras_same_split(size: int, stride: int, window: int = 3) -> tuple[int, int]:
    """Keras's "same" padding of one axis: the total k - 1 (stride 1) or what ceil(n / s) outputs need,
    split floor/ceil with the extra row or column at the bottom/right (PyTorch's padding= is symmetric)."""
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def torch_resnet(in_channels: int, stem: int, widths: tuple[int, ...], blocks: int, stem_stride: int = 1,
                 classes: int = 10):
    """He et al. 2016's CIFAR ResNet with option-B (1×1 conv + BN) projections, Keras "same" padding."""
    import torch.nn.functional as F
    from torch import nn

    class SameConv3x3(nn.Conv2d):
        """A 3×3 convolution with Keras's "same" padding: padding=1 at stride 1, else an explicit F.pad."""

        def __init__(self, cin, cout, stride):
            super().__init__(cin, cout, 3, stride=stride, padding=1 if stride == 1 else 0, bias=False)

        def forward(self, x):
            if self.stride[0] != 1:
                (top, bottom), (left, right) = (_keras_same_split(n, self.stride[0]) for n in x.shape[-2:])
                x = F.pad(x, (left, right, top, bottom))
            return super().forward(x)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = SameConv3x3(cin, cout, stride), nn.BatchNorm2d(cout, **TORCH_BN)
            self.conv2, self.bn2 = SameConv3x3(cout, cout, 1), nn.BatchNorm2d(cout, **TORCH_BN)
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout, **TORCH_BN))

        def forward(self, x):
            y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))

    layers = [SameConv3x3(in_channels, stem, stem_stride), nn.BatchNorm2d(stem, **TORCH_BN), nn.ReLU()]
    cin = stem
    for s, width in enumerate(widths):
        for b in range(blocks):
            layers.append(Block(cin, width, 2 if s > 0 and b == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def build_torch(name: str):
    import torch
    from torch import nn

    name = twin_name(name)
    if name in ("resnet20", "resnet"):
        model = torch_resnet(*torch_resnets()[name])
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    elif name == "lecture":
        model = nn.Sequential(nn.Conv2d(1, 9, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(9 * 14 * 14, 64), nn.ReLU(), nn.Linear(64, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    elif name == "cnn-b":
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        raise ValueError(name)
    return model, optimizer


# --------------------------------------------------------------------------------------------------
# The twins compute the same function
# --------------------------------------------------------------------------------------------------


def _torch_named_layers(name: str, model) -> dict[str, object]:
    """The twin's convolutions, BatchNorms and Dense under the le4nn builder's layer names."""
    named = {"stem_conv": model[0], "stem_bn": model[1], "predictions": model[-1]}
    blocks = [m for m in model if hasattr(m, "conv1")]
    per_stage = torch_resnets()[name][3]
    for k, block in enumerate(blocks):
        prefix = f"stage{k // per_stage + 1}_block{k % per_stage + 1}"
        named.update({f"{prefix}_conv1": block.conv1, f"{prefix}_bn1": block.bn1,
                      f"{prefix}_conv2": block.conv2, f"{prefix}_bn2": block.bn2})
        if block.shortcut is not None:
            named.update({f"{prefix}_shortcut_conv": block.shortcut[0], f"{prefix}_shortcut_bn": block.shortcut[1]})
    return named


def check_twin(name: str, images: int = 8) -> tuple[float, float]:
    """Copy the le4nn ResNet's weights into its PyTorch twin and return the largest absolute difference of
    their softmax outputs on random images, in inference mode (moving statistics) and in training mode
    (batch statistics).  Kernels (kh, kw, C, K) become (K, C, kh, kw), Dense (in, out) becomes (out, in)."""
    import numpy as np
    import torch

    le, (tw, _) = build_le4nn(name), build_torch(name)
    rng = np.random.default_rng(1)
    torch_layers = _torch_named_layers(name, tw)
    with torch.no_grad():
        for layer in le.layers:
            if layer.name not in torch_layers:
                continue
            weights, target = layer.get_weights(), torch_layers[layer.name]
            if type(layer).__name__ == "Conv2D":
                target.weight.copy_(torch.from_numpy(weights[0].transpose(3, 2, 0, 1).copy()))
            elif layer.name == "predictions":
                target.weight.copy_(torch.from_numpy(weights[0].T.copy()))
                target.bias.copy_(torch.from_numpy(weights[1]))
            else:  # BatchNormalization: gamma, beta, moving mean and variance (made non-trivial here)
                stats = [rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype) for w in weights[2:]]
                stats[1] = 1 + np.abs(stats[1])
                layer.set_weights(weights[:2] + stats)
                for param, value in zip((target.weight, target.bias, target.running_mean, target.running_var),
                                        weights[:2] + stats, strict=True):
                    param.copy_(torch.from_numpy(value))
    shape = (images, 32, 32, 3) if SPECS[name].dataset == "cifar10" else (images, 28, 28, 1)
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    diffs = []
    for training in (False, True):
        tw.train(training)
        with torch.no_grad():
            expected = torch.softmax(tw(xt), dim=1).numpy()
        diffs.append(float(np.max(np.abs(np.asarray(le(x, training=training)) - expected))))
    return diffs[0], diffs[1]


if __name__ == "__main__":
    for twin in torch_resnets():
        inference, training = check_twin(twin)
        print(f"{twin}: max |le4nn - PyTorch| of the softmax outputs, same weights: inference {inference:.2e}, "
              f"training mode {training:.2e}")
