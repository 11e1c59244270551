"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando; MIT licence): 28×28 grey images of 10 kinds of clothing.

Same layout and shapes as MNIST.  Folder names looked for: ``fashion-mnist``, ``fashion_mnist``,
``fashion`` (under ``$LE4NN_DATA`` and the system folders, e.g. Debian's ``dataset-fashion-mnist`` package
in ``/usr/share/datasets/fashion-mnist``); cache folder ``fashion-mnist``.
"""

from __future__ import annotations

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import idx_dataset

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# sha256 of the gz files on the official mirrors, from torchvision's (prototype) dataset definitions; the
# md5 values published in the Fashion-MNIST README are 8d4fb7e6c68d591d4c3dfef9ec88bf0d,
# 25c81989df183df01b3e8a0aad5dffbe, bef4ecab320f06d8554ea6380940ec79, bb300cfdad3c16e7a12a480ee83cd310 (same
# order).  Debian's package recompresses the files: same content, other gz bytes, so local copies are not
# checked against these.
HASHES = {
    "train-images-idx3-ubyte.gz": "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

SPEC = idx_dataset.make_spec(
    "fashion-mnist", "Fashion-MNIST", ("fashion-mnist", "fashion_mnist", "fashion"), MIRRORS, HASHES
)


def load_data(path: PathLike | None = None, download: bool | None = None) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)``: uint8, x (N, 28, 28), y (N,); see
    :func:`le4nn.datasets.mnist.load_data`."""
    return idx_dataset.load(SPEC, path, download)
