"""MNIST, Fashion-MNIST and KMNIST: the real files when present, and checks of the four-file layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from le4nn import datasets
from le4nn.datasets import DatasetError, fashion_mnist, kmnist, locate, mnist, save_idx
from le4nn.utils import to_categorical

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # ../shared/data/README.md
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_real_mnist(shared_mnist):
    (x_train, y_train), (x_test, y_test) = mnist.load_data(shared_mnist)
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS
    assert x_train.max() == 255 and x_train.min() == 0


def test_real_mnist_files_match_the_official_sha256(shared_mnist):
    listed = {}
    for line in (shared_mnist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        listed[name] = "sha256:" + digest
    assert listed == mnist.HASHES
    for name, known in mnist.HASHES.items():
        assert locate.file_matches(shared_mnist / name, known), name
    assert datasets.verify("mnist", shared_mnist) == dict.fromkeys(mnist.HASHES, True)


def test_verify_reports_unofficial_files(tmp_path, mnist_like):
    mnist_like(tmp_path)
    assert datasets.verify("kmnist", tmp_path) == dict.fromkeys(kmnist.HASHES, False)
    assert datasets.verify("sample") == dict.fromkeys(datasets.sample.FILES, True)


def test_real_mnist_through_le4nn_data(shared_mnist, monkeypatch):
    monkeypatch.setenv("LE4NN_DATA", str(shared_mnist.parent))
    assert datasets.find("mnist") == shared_mnist
    assert datasets.load("mnist")[1][0].shape == (10000, 28, 28)


@pytest.fixture
def debian_fashion():
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    return DEBIAN_FASHION


def test_fashion_mnist_from_the_debian_package(debian_fashion, monkeypatch):
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [debian_fashion.parent])
    assert datasets.find("fashion-mnist") == debian_fashion
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert len(fashion_mnist.CLASS_NAMES) == 10 and fashion_mnist.CLASS_NAMES[9] == "Ankle boot"


def test_kmnist_layout(tmp_path, mnist_like):
    expected = mnist_like(tmp_path / "kmnist", n_train=12, n_test=6)
    (x_train, y_train), (x_test, y_test) = kmnist.load_data(tmp_path)  # a root holding kmnist/
    assert np.array_equal(x_train, expected[0][0]) and np.array_equal(y_test, expected[1][1])
    assert datasets.class_names("kmnist")[0] == "o"


def _replace(folder: Path, stem: str, array):
    (folder / f"{stem}.gz").unlink()
    save_idx(folder / f"{stem}.gz", array)


@pytest.mark.parametrize(
    ("stem", "array", "message"),
    [
        ("train-labels-idx1-ubyte", np.zeros(19, np.uint8), "19 labels for the 20 images"),
        ("t10k-labels-idx1-ubyte", np.full(10, 10, np.uint8), "label 10 out of range"),
        ("train-images-idx3-ubyte", np.zeros((20, 32, 32), np.uint8), "N×28×28, found uint8 20×32×32"),
        ("t10k-images-idx3-ubyte", np.zeros((10, 28, 28), np.float32), "expected uint8"),
        ("train-labels-idx1-ubyte", np.zeros((20, 1), np.uint8), "expected uint8 of shape N,"),
    ],
)
def test_inconsistent_files(tmp_path, mnist_like, stem, array, message):
    mnist_like(tmp_path)
    _replace(tmp_path, stem, array)
    with pytest.raises(DatasetError, match=message) as info:
        mnist.load_data(tmp_path)
    assert stem in str(info.value)


def test_a_damaged_file_is_named(tmp_path, mnist_like):
    mnist_like(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: truncated"):
        mnist.load_data(tmp_path)


def test_to_categorical_on_loaded_labels(tmp_path, mnist_like):
    (_, y_train), _ = mnist_like(tmp_path)
    one_hot = to_categorical(mnist.load_data(tmp_path)[0][1], 10)
    assert one_hot.shape == (20, 10) and np.array_equal(one_hot.argmax(1), y_train)
