"""Fixtures for the dataset tests: every test runs offline, with an empty temporary cache, no
``LE4NN_DATA``, no system folders, and any download attempt (or network connection) fails the test."""

from __future__ import annotations

import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from le4nn.datasets import idx_dataset, locate
from le4nn.datasets.idx import save_idx

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_RETRIEVE = locate._retrieve
try:
    import pooch

    REAL_POOCH_RETRIEVE = pooch.retrieve
except ImportError:  # pragma: no cover
    pooch = None


def pytest_configure(config):
    config.addinivalue_line("markers", "local_http: the test serves files from 127.0.0.1 (other sockets stay blocked)")


@pytest.fixture(autouse=True)
def offline(request, monkeypatch, tmp_path_factory):
    """Isolate from the machine's data and from the network; returns the temporary cache root."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LE4NN_OFFLINE", "1")
    monkeypatch.setenv("LE4NN_CACHE", str(cache))
    monkeypatch.delenv("LE4NN_DATA", raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [])

    def no_download(*args, **kwargs):
        pytest.fail(f"a dataset test tried to download: {args} {kwargs}")

    monkeypatch.setattr(locate, "_retrieve", no_download)
    if pooch is not None:
        monkeypatch.setattr(pooch, "retrieve", no_download)

    if "local_http" not in request.keywords:
        def no_connect(self, address, *args):
            pytest.fail(f"a dataset test opened a network connection to {address}")

        monkeypatch.setattr(socket.socket, "connect", no_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", no_connect)
    return cache


@pytest.fixture
def real_downloads(monkeypatch):
    """Undo the download guard (for tests that serve files from 127.0.0.1 only; mark them local_http)."""
    if pooch is None:
        pytest.skip("pooch is not installed")
    monkeypatch.setattr(locate, "_retrieve", REAL_RETRIEVE)
    monkeypatch.setattr(pooch, "retrieve", REAL_POOCH_RETRIEVE)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared test data ({SHARED_DATA}) is not present")
    return SHARED_DATA


@pytest.fixture
def shared_mnist(shared_data) -> Path:
    folder = shared_data / "mnist"
    if idx_dataset.files_in(folder)[1]:
        pytest.skip(f"the official MNIST files are not in {folder}")
    return folder


def write_mnist_like(folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0, gz: bool = True,
                     names: str = "official") -> tuple:
    """Write four small random idx files in MNIST's layout; returns ((x_train, y_train), (x_test, y_test))."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(idx_dataset.STEMS, arrays, strict=True):
        name = stem.replace("-idx", ".idx") if names == "dotted" else stem
        save_idx(folder / (name + ".gz" if gz else name), array)
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


@pytest.fixture
def mnist_like():
    return write_mnist_like


def cifar_batch(rows: int, seed: int = 0, label: str = "synthetic") -> dict:
    """A batch in the official format: bytes keys, data N×3072 uint8 (R, G, B planes), labels a list."""
    rng = np.random.default_rng(seed)
    return {b"batch_label": label.encode(), b"labels": rng.integers(0, 10, rows).tolist(),
            b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8)}


def write_cifar_folder(folder: Path, rows: dict[str, int], protocol: int = 2) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for seed, (name, count) in enumerate(rows.items()):
        batches[name] = cifar_batch(count, seed, name)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=protocol))
    return batches


@pytest.fixture
def cifar_folder():
    return write_cifar_folder


# --- Python 2 pickles, written opcode by opcode as Python 2's cPickle writes a NumPy 1 array -------------

def _int2(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])  # BININT1
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)  # BININT2
    return b"J" + struct.pack("<i", value)  # BININT


def _str2(data: bytes) -> bytes:
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING: a py2 str
    return b"T" + struct.pack("<I", len(data)) + data  # BINSTRING


def py2_pickle_protocol2(array: np.ndarray, module: str = "numpy.core.multiarray") -> bytes:
    """``cPickle.dumps(array, 2)`` under Python 2 with NumPy 1 (uint8 arrays)."""
    assert array.dtype == np.uint8
    return b"".join([
        b"\x80\x02",
        b"c" + module.encode() + b"\n_reconstruct\nq\x01",
        b"cnumpy\nndarray\nq\x02", _int2(0), b"\x85", _str2(b"b"), b"\x87Rq\x03",
        b"(", _int2(1), b"(", *[_int2(d) for d in array.shape], b"tq\x04",
        b"cnumpy\ndtype\nq\x05", _str2(b"u1"), _int2(0), _int2(1), b"\x87Rq\x06",
        b"(", _int2(3), _str2(b"|"), b"NNN", b"J\xff\xff\xff\xffJ\xff\xff\xff\xff", _int2(0), b"tb",
        b"\x89", _str2(array.tobytes()), b"tb.",
    ])


def _str0(data: bytes) -> bytes:
    return b"S" + repr(data)[1:].encode("ascii") + b"\n"  # STRING with Python 2's repr of a str


def py2_pickle_protocol0(array: np.ndarray, module: str = "numpy.core.multiarray") -> bytes:
    """``pickle.dump(array, f)`` under Python 2 (default protocol 0, text opcodes)."""
    assert array.dtype == np.uint8
    return b"".join([
        b"c" + module.encode() + b"\n_reconstruct\np0\n",
        b"(cnumpy\nndarray\np1\n(I0\ntp2\n", _str0(b"b"), b"p3\ntp4\nRp5\n",
        b"(I1\n(", *[b"I%d\n" % d for d in array.shape], b"tp6\n",
        b"cnumpy\ndtype\np7\n(", _str0(b"u1"), b"p8\nI0\nI1\ntp9\nRp10\n",
        b"(I3\n", _str0(b"|"), b"p11\nNNNI-1\nI-1\nI0\ntp12\nb",
        b"I00\n", _str0(array.tobytes()), b"p13\ntp14\nb.",
    ])


@pytest.fixture
def py2_pickle():
    return {0: py2_pickle_protocol0, 2: py2_pickle_protocol2}


# --- hand-made NumPy array pickles: the parts NumPy writes, with any dtype or array state ------------

class Reduced:
    """An object that pickles as the given ``__reduce__`` tuple (callable, args[, state])."""

    def __init__(self, *reduce_value):
        self.reduce_value = reduce_value

    def __reduce__(self):
        return self.reduce_value


def reconstruct_function():
    """NumPy's own ``_reconstruct`` (pickled under its NumPy 1 or NumPy 2 name)."""
    try:
        from numpy._core.multiarray import _reconstruct as numpy_reconstruct
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import _reconstruct as numpy_reconstruct
    return numpy_reconstruct


def array_pickle(raw: bytes, shape: tuple, dtype_name="u1", dtype_state=(3, "|", None, None, None, -1, -1, 0),
                 protocol: int = 2, is_fortran=False, array_state=None) -> bytes:
    """A pickle of ``_reconstruct(ndarray, (0,), b"b")`` BUILT with (1, shape, dtype, is_fortran, raw)."""
    dtype = Reduced(np.dtype, (dtype_name, False, True), dtype_state)
    state = array_state if array_state is not None else (1, shape, dtype, is_fortran, raw)
    return pickle.dumps(Reduced(reconstruct_function(), (np.ndarray, (0,), b"b"), state), protocol=protocol)


@pytest.fixture
def make_array_pickle():
    return array_pickle
