"""MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): 60000 training and 10000 test digits, 28×28 uint8.

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` with x of shape (N, 28, 28) and y of
shape (N,), both uint8, like ``keras.datasets.mnist.load_data()``.  Where the files are looked for:
:mod:`le4nn.datasets.locate` (folder name ``mnist``).
"""

from __future__ import annotations

from le4nn.datasets import idx_dataset

CLASS_NAMES = [str(digit) for digit in range(10)]

# sha256 of the official gz files, as in ../shared/data/mnist/SHA256SUMS (computed from the byte-identical
# originals; torchvision's dataset definitions list the same values).
HASHES = {
    "train-images-idx3-ubyte.gz": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

SPEC = idx_dataset.make_spec("mnist", "MNIST", ("mnist", "MNIST"), MIRRORS, HASHES)


def load_data(path=None, download: bool | None = None):
    """``(x_train, y_train), (x_test, y_test)``: uint8, x (N, 28, 28), y (N,).

    ``path``: a folder with the four idx files (or a folder holding ``mnist/``); ``download=False`` (or
    ``LE4NN_OFFLINE=1``) never downloads.  Raises ``DatasetNotFoundError`` or ``DatasetError``.
    """
    return idx_dataset.load(SPEC, path, download)
