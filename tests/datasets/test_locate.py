"""The search order (path=, LE4NN_DATA, the cache, system folders, download), the offline error, and the
download logic (mirror fallback, re-download of a damaged cached file) without the internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from le4nn import datasets
from le4nn.datasets import DatasetNotFoundError, fashion_mnist, idx_dataset, kmnist, locate, mnist


def _first_label(result) -> int:
    return int(result[0][1][0])


@pytest.fixture
def places(tmp_path, offline, mnist_like, monkeypatch):
    """A different small MNIST in each place of the search order; returns {place: folder}."""
    folders = {
        "path": tmp_path / "explicit",
        "data": tmp_path / "data-root" / "mnist",
        "cache": offline / "mnist",
        "system": tmp_path / "system" / "mnist",
    }
    for n, folder in enumerate(folders.values()):
        mnist_like(folder, n_train=10 + n, seed=n)
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path / "data-root"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [tmp_path / "system"])
    return folders


def test_search_order(places):
    assert datasets.find("mnist", places["path"]) == places["path"]
    assert len(mnist.load_data(places["path"])[0][0]) == 10
    order = ["data", "cache", "system"]
    for i, place in enumerate(order):
        assert datasets.find("mnist") == places[place]
        assert len(mnist.load_data()[0][0]) == 11 + i
        for name in os.listdir(places[place]):
            (places[place] / name).unlink()
    with pytest.raises(DatasetNotFoundError):
        datasets.find("mnist")


def test_explicit_path_that_fails_does_not_fall_back(places, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not found at .*nowhere: does not exist") as info:
        mnist.load_data(tmp_path / "nowhere")
    assert [label for label, _, _ in info.value.places] == ["path="]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="missing train-images-idx3-ubyte"):
        mnist.load_data(empty)


def test_explicit_path_may_be_a_root_holding_the_dataset_folder(places, tmp_path):
    assert datasets.find("mnist", tmp_path / "data-root") == places["data"]


def test_incomplete_folders_are_skipped_with_the_reason(places):
    (places["data"] / "t10k-labels-idx1-ubyte.gz").unlink()
    assert datasets.find("mnist") == places["cache"]
    for place in ("cache", "system"):
        for name in os.listdir(places[place]):
            (places[place] / name).unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.find("mnist")
    assert "missing t10k-labels-idx1-ubyte(.gz)" in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("names", ["official", "dotted"])
def test_uncompressed_and_renamed_files(tmp_path, mnist_like, gz, names):
    expected = mnist_like(tmp_path / "m", gz=gz, names=names)
    loaded = mnist.load_data(tmp_path / "m")
    for a, b in zip(sum(loaded, ()), sum(expected, ()), strict=True):
        assert np.array_equal(a, b)


def test_several_data_roots(tmp_path, mnist_like, monkeypatch):
    mnist_like(tmp_path / "b" / "kmnist")
    monkeypatch.setenv("LE4NN_DATA", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert datasets.find("kmnist") == tmp_path / "b" / "kmnist"


def test_not_found_lists_every_place_and_how_to_supply(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path / "root"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [tmp_path / "sys1", tmp_path / "sys2"])
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data()
    error = info.value
    message = str(error)
    assert isinstance(error, datasets.DatasetError) and isinstance(error, ValueError)
    assert error.dataset == "fashion-mnist"
    expected_places = [
        ("$LE4NN_DATA", tmp_path / "root" / "fashion-mnist"),
        ("$LE4NN_DATA", tmp_path / "root" / "fashion_mnist"),
        ("$LE4NN_DATA", tmp_path / "root" / "fashion"),
        ("cache", offline / "fashion-mnist"),
        ("system", tmp_path / "sys1" / "fashion-mnist"),
        ("system", tmp_path / "sys2" / "fashion"),
        ("download", None),
    ]
    listed = [(label, where) for label, where, _ in error.places]
    for place in expected_places:
        assert place in listed
        if place[1] is not None:
            assert str(place[1]) in message
    assert "download: disabled (LE4NN_OFFLINE=1)" in message
    for hint in ("path=FOLDER", "LE4NN_DATA=ROOT", str(offline / "fashion-mnist"), "unset LE4NN_OFFLINE",
                 "train-images-idx3-ubyte.gz"):
        assert hint in message


def test_not_found_without_le4nn_data_and_with_download_false(offline, monkeypatch):
    monkeypatch.delenv("LE4NN_OFFLINE")
    with pytest.raises(DatasetNotFoundError) as info:
        kmnist.load_data(download=False)
    message = str(info.value)
    assert "$LE4NN_DATA: not set" in message and "download: disabled (download=False)" in message


@pytest.mark.parametrize(("value", "allowed"), [("", True), ("0", True), ("false", True), ("1", False),
                                                ("yes", False), ("true", False)])
def test_offline_switch(monkeypatch, value, allowed):
    monkeypatch.setenv("LE4NN_OFFLINE", value)
    assert locate.downloads_allowed() is allowed
    assert locate.downloads_allowed(True) is allowed  # the environment always wins
    assert locate.downloads_allowed(False) is False


def test_default_cache_root(monkeypatch, tmp_path):
    monkeypatch.delenv("LE4NN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locate.cache_root() == tmp_path / ".le4nn" / "datasets"
    assert locate.cache_dir(mnist.SPEC) == tmp_path / ".le4nn" / "datasets" / "mnist"


def test_system_folder_with_debian_layout(tmp_path, mnist_like, monkeypatch):
    """Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/*.gz."""
    mnist_like(tmp_path / "usr-share-datasets" / "fashion-mnist")
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [tmp_path / "usr-share-datasets"])
    assert datasets.find("fashion_mnist") == tmp_path / "usr-share-datasets" / "fashion-mnist"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("cifar10/data_batch_1", "cifar10"),
        ("cifar-10-batches-py/data_batch_1", "cifar-10-batches-py"),
        ("cifar10/cifar-10-batches-py/data_batch_1", "cifar10/cifar-10-batches-py"),
        ("cifar-10-partial/cifar-10-batches-py/data_batch_1", "cifar-10-partial/cifar-10-batches-py"),
        ("cifar-10-python.tar.gz", "cifar-10-python.tar.gz"),
        ("cifar10/cifar-10-python.tar.gz", "cifar10/cifar-10-python.tar.gz"),
    ],
)
def test_cifar_layouts_under_le4nn_data(tmp_path, monkeypatch, layout, expected):
    (tmp_path / layout).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / layout).write_bytes(b"")
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path))
    assert datasets.find("cifar10") == tmp_path / expected


def test_shared_data_root_serves_mnist_and_cifar(shared_data, monkeypatch):
    monkeypatch.setenv("LE4NN_DATA", str(shared_data))
    assert datasets.find("mnist") == shared_data / "mnist"
    assert datasets.find("cifar10") == shared_data / "cifar-10-partial" / "cifar-10-batches-py"


def test_names():
    assert datasets.NAMES == ("mnist", "fashion-mnist", "kmnist", "cifar10", "sample")
    assert datasets.canonical_name("fashion_mnist") == "fashion-mnist"
    assert datasets.canonical_name("Fashion-MNIST") == "fashion-mnist"
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*mnist, fashion-mnist, kmnist, cifar10, sample"):
        datasets.load("imagenet")
    assert datasets.find("sample") == datasets.sample.SAMPLE_DIR


def test_load_by_name(tmp_path, mnist_like):
    expected = mnist_like(tmp_path / "f")
    assert np.array_equal(datasets.load("fashion_mnist", tmp_path / "f")[1][1], expected[1][1])
    assert np.array_equal(datasets.load("kmnist", path=tmp_path / "f")[0][0], expected[0][0])
    assert datasets.load("sample")[0][0].shape == (6000, 28, 28)


# --- downloads, with a fake retriever or a local HTTP server ---------------------------------------------

def _spec_for(folder, mirrors):
    """A test dataset whose 'official' files are the ones in ``folder``."""
    hashes = {name: "sha256:" + locate.file_sha256(folder / name) for name in os.listdir(folder)}
    return idx_dataset.make_spec("testset", "Test set", ("testset",), tuple(mirrors), hashes)


def test_download_tries_the_mirrors_in_order(tmp_path, offline, mnist_like, monkeypatch):
    source = tmp_path / "published"
    expected = mnist_like(source)
    spec = _spec_for(source, ["https://first.invalid/", "https://second.invalid/"])
    calls = []

    def fake_retrieve(url, known_hash, fname, folder):
        calls.append(url)
        if url.startswith("https://first"):
            raise ConnectionError("mirror down")
        (folder / fname).write_bytes((source / fname).read_bytes())
        return folder / fname

    monkeypatch.setattr(locate, "_retrieve", fake_retrieve)
    monkeypatch.setenv("LE4NN_OFFLINE", "0")
    loaded = idx_dataset.load(spec)
    assert np.array_equal(loaded[0][0], expected[0][0])
    assert calls[:2] == ["https://first.invalid/train-images-idx3-ubyte.gz",
                         "https://second.invalid/train-images-idx3-ubyte.gz"]
    assert len(calls) == 8
    assert locate.find(spec) == offline / "testset"


def test_failed_download_is_reported_per_mirror(tmp_path, mnist_like, monkeypatch):
    source = tmp_path / "published"
    mnist_like(source)
    spec = _spec_for(source, ["https://first.invalid/", "https://second.invalid/"])

    def fake_retrieve(url, known_hash, fname, folder):
        raise ConnectionError(f"cannot reach {url}")

    monkeypatch.setattr(locate, "_retrieve", fake_retrieve)
    monkeypatch.setenv("LE4NN_OFFLINE", "")
    with pytest.raises(DatasetNotFoundError, match=r"download: failed: could not download .*first.*second"):
        locate.find(spec)


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """Serve tmp_path/www on 127.0.0.1 (proxies bypassed); yields the base URL."""
    root = tmp_path / "www"
    root.mkdir()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.local_http
def test_pooch_download_hash_check_and_redownload(tmp_path, offline, mnist_like, monkeypatch, http_server,
                                                  real_downloads):
    """The real download path (pooch) against a local server: a missing mirror, a mirror serving a wrong
    file (hash mismatch), then the right one; a damaged cached file is downloaded again."""
    root, base = http_server
    expected = mnist_like(root / "good")
    mnist_like(root / "bad", seed=99)
    spec = _spec_for(root / "good", [f"{base}/missing/", f"{base}/bad/", f"{base}/good/"])
    monkeypatch.setenv("LE4NN_OFFLINE", "0")

    loaded = idx_dataset.load(spec)
    assert np.array_equal(loaded[0][0], expected[0][0])
    cached = offline / "testset" / "train-images-idx3-ubyte.gz"
    assert cached.read_bytes() == (root / "good" / cached.name).read_bytes()

    cached.write_bytes(b"damaged")
    assert locate.find(spec) == offline / "testset"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == locate.file_sha256(root / "good" / cached.name)
