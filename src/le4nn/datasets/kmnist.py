"""Kuzushiji-MNIST (Clanuwat et al. 2018, ROIS-DS CODH; CC BY-SA 4.0): 28×28 cursive Japanese characters.

Same layout and shapes as MNIST.  Folder names looked for: ``kmnist``, ``KMNIST``; cache folder ``kmnist``.
"""

from __future__ import annotations

from le4nn._typing import PathLike, TrainTest
from le4nn.datasets import idx_dataset

CLASS_NAMES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]

# sha256 of the official gz files, from torchvision's (prototype) dataset definitions; torchvision's
# KMNIST class lists the md5 values bdb82020997e1d708af4cf47b453dcf7, e144d726b3acfaa3e44228e80efcd344,
# 5c965bf0a639b31b8f53240b1b52f4d7, 7320c461ea6c1c855c0b718fb2a4b134 (same order).
HASHES = {
    "train-images-idx3-ubyte.gz": "sha256:51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
    "train-labels-idx1-ubyte.gz": "sha256:e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
    "t10k-images-idx3-ubyte.gz": "sha256:edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
    "t10k-labels-idx1-ubyte.gz": "sha256:20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
}
MIRRORS = (
    "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
)

SPEC = idx_dataset.make_spec("kmnist", "Kuzushiji-MNIST", ("kmnist", "KMNIST"), MIRRORS, HASHES)


def load_data(path: PathLike | None = None, download: bool | None = None) -> TrainTest:
    """``(x_train, y_train), (x_test, y_test)``: uint8, x (N, 28, 28), y (N,); see
    :func:`le4nn.datasets.mnist.load_data`."""
    return idx_dataset.load(SPEC, path, download)
