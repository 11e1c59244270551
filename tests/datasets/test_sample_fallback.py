"""Offline-first ``mnist.load_data()``: the bundled sample, with a warning saying why and how to get the full
set, when the full MNIST is neither found nor downloaded; strict where the caller asked for strictness."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from le4nn import datasets
from le4nn.datasets import DatasetNotFoundError, SampleDataWarning, locate, mnist, sample


def _assert_is_the_sample(data):
    (x_train, y_train), (x_test, y_test) = data
    (sx, sy), (sxt, syt) = sample.load_data()
    assert x_train.shape == (6000, 28, 28) and x_test.shape == (1000, 28, 28)
    for got, expected in zip((x_train, y_train, x_test, y_test), (sx, sy, sxt, syt), strict=True):
        assert np.array_equal(got, expected)


def test_offline_without_files_gives_the_sample_and_says_how_to_get_mnist(offline):
    with pytest.warns(SampleDataWarning) as record:
        data = mnist.load_data()
    _assert_is_the_sample(data)
    message = str(record[0].message)
    assert "the MNIST sample bundled with le4nn" in message
    assert "downloads are off (LE4NN_OFFLINE=1)" in message
    assert "LE4NN_DATA=ROOT" in message and str(offline / "mnist") in message
    assert "unset LE4NN_OFFLINE" in message
    assert record[0].filename == __file__  # the warning points at the caller's line


def test_a_failed_download_gives_the_sample_and_names_the_failure(monkeypatch):
    def unreachable(url, known_hash, fname, folder):
        raise ConnectionError(f"cannot reach {url}")

    monkeypatch.setattr(locate, "_retrieve", unreachable)
    monkeypatch.setenv("LE4NN_OFFLINE", "")
    with pytest.warns(SampleDataWarning, match=r"the download failed \(could not download .*ConnectionError"):
        data = mnist.load_data()
    _assert_is_the_sample(data)


def test_download_false_gives_the_sample_too(monkeypatch):
    monkeypatch.setenv("LE4NN_OFFLINE", "")
    with pytest.warns(SampleDataWarning, match="download them once with"):
        _assert_is_the_sample(mnist.load_data(download=False))


def test_strict_callers_get_the_error_not_the_sample(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="MNIST not found"):
        mnist.load_data(fallback=False)
    with pytest.raises(DatasetNotFoundError, match="MNIST not found"):
        datasets.load("mnist")  # by name (the command lines): exactly the data set asked for
    with pytest.raises(DatasetNotFoundError, match="not found at"):
        mnist.load_data(tmp_path / "nowhere")  # files named explicitly are never replaced
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleDataWarning)
        with pytest.raises(SampleDataWarning):
            mnist.load_data()


def test_the_full_set_found_locally_is_used_without_a_warning(tmp_path, monkeypatch, mnist_like):
    expected = mnist_like(tmp_path / "root" / "mnist", n_train=12, n_test=5)
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path / "root"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, _), (x_test, y_test) = mnist.load_data()
    assert np.array_equal(x_train, expected[0][0]) and np.array_equal(y_test, expected[1][1])
    data, source, note = mnist.load_full_or_sample()
    assert note is None and str(tmp_path / "root" / "mnist") in source


def test_le4nn_train_follows_the_same_rule():
    from le4nn.cli.train import load_training_data

    (x_train, _), _, source = load_training_data("auto")
    assert len(x_train) == 6000
    _, _, note = mnist.load_full_or_sample(download=False)
    assert source == f"{mnist.SAMPLE_TITLE} ({note})"
    assert "download them once with" in note
