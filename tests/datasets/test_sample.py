"""The MNIST sample bundled in the package, and ``tools/make_sample.py`` reproducing it byte for byte."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from le4nn.datasets import DatasetError, idx_dataset, locate, mnist, sample

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_sample.py"


def test_shapes_and_classes():
    (x_train, y_train), (x_test, y_test) = sample.load_data()
    assert x_train.shape == (6000, 28, 28) and y_train.shape == (6000,)
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [600] * 10 and np.bincount(y_test).tolist() == [100] * 10
    assert len(set(map(bytes, x_train))) == 6000  # no image twice


def test_stored_hashes_are_checked():
    hashes = sample.read_hashes(sample.SAMPLE_DIR)
    assert sorted(hashes) == sorted(sample.FILES)
    for name, digest in hashes.items():
        assert locate.file_sha256(sample.SAMPLE_DIR / name) == digest
    sample.verify()


def test_size_and_licence_note():
    size = sum((sample.SAMPLE_DIR / name).stat().st_size for name in sample.FILES)
    assert size < 2_000_000
    readme = (sample.SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    for text in ("CC BY-SA 3.0", "Yann LeCun", "Corinna Cortes", "Christopher J.C. Burges", "make_sample.py"):
        assert text in readme


def test_a_tampered_copy_is_detected(tmp_path):
    copy = tmp_path / "sample"
    shutil.copytree(sample.SAMPLE_DIR, copy)
    data = bytearray((copy / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[30] ^= 1
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz does not match its sha256.*damaged"):
        sample.load_data(copy)


def test_missing_hash_file_is_detected(tmp_path):
    copy = tmp_path / "sample"
    shutil.copytree(sample.SAMPLE_DIR, copy)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(DatasetError, match="cannot read SHA256SUMS"):
        sample.load_data(copy)


def test_damaged_package_message(monkeypatch, tmp_path):
    copy = tmp_path / "sample"
    shutil.copytree(sample.SAMPLE_DIR, copy)
    (copy / "train-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setattr(sample, "SAMPLE_DIR", copy)
    with pytest.raises(DatasetError, match="the le4nn package is damaged"):
        sample.load_data()


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_sample", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_sample_reproduces_the_committed_bytes(shared_mnist, tmp_path, capsys):
    tool = _load_tool()
    assert tool.main(["--source", str(shared_mnist), "--output", str(tmp_path)]) == 0
    for path in sorted(sample.SAMPLE_DIR.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), (
            f"{path.name} differs from the regenerated one (a different zlib version gives other gz bytes: "
            "see README.md beside the sample)")
    assert tool.main(["--source", str(shared_mnist), "--output", str(sample.SAMPLE_DIR), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_sample_images_are_official_images(shared_mnist):
    tool = _load_tool()
    (x_train, y_train), (x_test, y_test) = idx_dataset.load_folder(shared_mnist)
    (s_train, s_ytrain), (s_test, s_ytest) = sample.load_data()
    train = tool.choose(y_train, sample.TRAIN_PER_CLASS, "train")
    test = tool.choose(y_test, sample.TEST_PER_CLASS, "test")
    assert np.array_equal(s_train, x_train[train]) and np.array_equal(s_ytrain, y_train[train])
    assert np.array_equal(s_test, x_test[test]) and np.array_equal(s_ytest, y_test[test])


def test_make_sample_refuses_unofficial_files(tmp_path, mnist_like):
    mnist_like(tmp_path / "fake")
    with pytest.raises(SystemExit, match="not the official file"):
        _load_tool().build(tmp_path / "fake")
    assert mnist.HASHES  # the published hashes the tool checks against
