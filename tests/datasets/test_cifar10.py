"""CIFAR-10 from the python batches: layout, partial folders, the archive, and refused pickles."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings

import numpy as np
import pytest

from le4nn import datasets
from le4nn.datasets import DatasetError, PartialDatasetWarning, cifar10

ALL = {**{f"data_batch_{i}": 4 for i in range(1, 6)}, "test_batch": 3}


@pytest.fixture
def complete(tmp_path, cifar_folder, monkeypatch):
    """All six batches, with 4 (3 for test) rows taken as 'complete' for the test."""
    monkeypatch.setattr(cifar10, "BATCH_ROWS", 4)
    folder = tmp_path / "cifar-10-batches-py"
    return folder, cifar_folder(folder, {**ALL, "test_batch": 4})


def test_complete_folder_loads_without_warning_in_keras_layout(complete):
    folder, batches = complete
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, y_train), (x_test, y_test) = cifar10.load_data(folder)
    assert x_train.shape == (20, 32, 32, 3) and y_train.shape == (20, 1)
    assert x_test.shape == (4, 32, 32, 3) and y_test.shape == (4, 1)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.flags.c_contiguous
    # training rows in batch order 1..5; pixel (i, j) of channel c is data[c * 1024 + i * 32 + j]
    first, fifth = batches["data_batch_1"], batches["data_batch_5"]
    assert np.array_equal(y_train[:4, 0], first[b"labels"]) and np.array_equal(y_train[16:, 0], fifth[b"labels"])
    data = first[b"data"][2]
    for c, i, j in [(0, 0, 0), (1, 5, 7), (2, 31, 30)]:
        assert x_train[2, i, j, c] == data[c * 1024 + i * 32 + j]


def test_channels_first(complete):
    folder, batches = complete
    (x_train, _), (x_test, _) = cifar10.load_data(folder, channels_first=True)
    assert x_train.shape == (20, 3, 32, 32) and x_test.shape == (4, 3, 32, 32)
    assert np.array_equal(x_train[0].reshape(3072), batches["data_batch_1"][b"data"][0])


def test_partial_folder_loads_what_is_there_and_says_so(tmp_path, cifar_folder):
    folder = tmp_path / "cifar-10-batches-py"
    batches = cifar_folder(folder, {"data_batch_1": 30, "data_batch_4": 7, "test_batch": 5})
    with pytest.warns(PartialDatasetWarning) as record:
        (x_train, y_train), (x_test, y_test) = cifar10.load_data(folder)
    message = str(record[0].message)
    for text in ("data_batch_1 has 30 of 10000 rows", "data_batch_2 missing", "data_batch_5 missing",
                 "loaded 37 training and 5 test images"):
        assert text in message
    assert issubclass(PartialDatasetWarning, UserWarning)
    assert x_train.shape == (37, 32, 32, 3) and y_train.shape == (37, 1) and x_test.shape == (5, 32, 32, 3)
    assert np.array_equal(y_train[30:, 0], batches["data_batch_4"][b"labels"])


def test_only_a_test_batch(tmp_path, cifar_folder):
    cifar_folder(tmp_path, {"test_batch": 2})
    with pytest.warns(PartialDatasetWarning, match="loaded 0 training"):
        (x_train, y_train), (x_test, _) = cifar10.load_data(tmp_path)
    assert x_train.shape == (0, 32, 32, 3) and y_train.shape == (0, 1) and x_test.shape == (2, 32, 32, 3)


def test_real_partial_folder(shared_data):
    folder = shared_data / "cifar-10-partial" / "cifar-10-batches-py"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present")
    with pytest.warns(PartialDatasetWarning, match="data_batch_4 has 1329 of 10000 rows"):
        (x_train, y_train), (x_test, y_test) = cifar10.load_data(folder)
    assert x_train.shape == (5329, 32, 32, 3) and y_train.shape == (5329, 1)
    assert x_test.shape == (1000, 32, 32, 3) and y_test.shape == (1000, 1)
    assert set(np.unique(y_test)) == set(range(10))


def _tar(path, batches: dict[str, dict], prefix="cifar-10-batches-py/"):
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            data = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        readme = tarfile.TarInfo(prefix + "readme.html")
        tar.addfile(readme, io.BytesIO(b""))


def test_archive_is_read_in_place(tmp_path, complete):
    folder, batches = complete
    archive = tmp_path / "cifar-10-python.tar.gz"
    _tar(archive, batches)
    expected = cifar10.load_data(folder)
    for path in (archive, tmp_path):  # the archive itself, or a folder holding it (and no batches)
        if path == tmp_path:
            for name in batches:
                (folder / name).unlink()
            folder.rmdir()
        loaded = cifar10.load_data(path)
        for a, b in zip(sum(loaded, ()), sum(expected, ()), strict=True):
            assert np.array_equal(a, b)
    assert not (tmp_path / "cifar-10-batches-py").exists()  # nothing extracted


def test_damaged_archive(tmp_path, complete):
    _, batches = complete
    archive = tmp_path / "cifar-10-python.tar.gz"
    _tar(archive, batches)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz: not a readable CIFAR-10 archive"):
        cifar10.load_data(archive)
    archive.write_bytes(b"not an archive at all")
    with pytest.raises(DatasetError, match="not a readable"):
        cifar10.load_data(archive)


def test_archive_without_batches(tmp_path):
    _tar(tmp_path / "other.tar.gz", {})
    with pytest.raises(DatasetError, match="no data_batch_N or test_batch"):
        cifar10.load_data(tmp_path / "other.tar.gz")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_batch_that_runs_code_is_refused(tmp_path, cifar_folder):
    marker = tmp_path / "pwned"
    cifar_folder(tmp_path, {"data_batch_1": 2})
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _RunsCode(marker)}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=r"test_batch: refused to unpickle.*system"):
        cifar10.load_data(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([1, 2, 3], "found list"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'data' or no 'labels'"),
        ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, "N×3072"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "N×3072"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "1 labels for 2 images"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "out of range"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, "not a list of integers"),
    ],
)
def test_wrong_batch_contents(tmp_path, batch, message):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=message):
        cifar10.load_data(tmp_path)


def test_truncated_batch(tmp_path, cifar_folder):
    cifar_folder(tmp_path, {"data_batch_1": 5})
    data = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(data[:-100])
    with pytest.raises(DatasetError, match=r"data_batch_1: truncated"):
        cifar10.load_data(tmp_path)


@pytest.mark.parametrize("protocol", [0, 4, 5])
def test_other_pickle_protocols_and_str_keys(tmp_path, protocol):
    batch = {"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), "labels": [3, 4]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    with pytest.warns(PartialDatasetWarning):
        _, (x_test, y_test) = cifar10.load_data(tmp_path)
    assert y_test.ravel().tolist() == [3, 4] and x_test.shape == (2, 32, 32, 3)


def test_class_names():
    assert cifar10.CLASS_NAMES[0] == "airplane" and len(cifar10.CLASS_NAMES) == 10
    assert datasets.class_names("cifar10") == cifar10.CLASS_NAMES


def test_batches_larger_than_the_input_limit_are_refused_unread(tmp_path, cifar_folder, monkeypatch):
    cifar_folder(tmp_path / "cifar-10-batches-py", {"data_batch_1": 20})
    monkeypatch.setenv("LE4NN_MAX_INPUT_BYTES", "1000")
    with pytest.raises(DatasetError, match=r"data_batch_1: a file of \d+ bytes exceeds the limit of 1000"):
        cifar10.load_data(tmp_path / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = (tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes()
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DatasetError, match=r"cifar-10-python\.tar\.gz:cifar-10-batches-py/data_batch_1: a batch"):
        cifar10.load_data(archive)
