"""``load_contest``: every writer of ``le4MNIST_X.dump`` (docs/design.md §5), and pickles that must be refused."""

from __future__ import annotations

import gzip
import os
import pickle
import re

import numpy as np
import pytest

from le4nn.datasets import DatasetError, load_contest, save_idx


@pytest.fixture
def images():
    array = np.random.default_rng(5).integers(0, 256, (7, 784), dtype=np.uint8)
    array[0, :8] = [0, 10, 13, 39, 34, 92, 255, 7]  # bytes that need escaping in a protocol-0 py2 str
    return array


def _globals(data: bytes) -> set[str]:
    """The GLOBAL opcodes' arguments (protocols 0-2), found by scanning for ``c<module>\n<name>\n``."""
    return {f"{module} {name}" for module, name in re.findall(rb"c([\w.]+)\n(\w+)\n", data)
            for module, name in [(module.decode(), name.decode())]}


def _write(tmp_path, data: bytes, name="le4MNIST_X.dump"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("protocol", [0, 2])
@pytest.mark.parametrize("shape", [(7, 784), (7, 28, 28)])
def test_python2_numpy1_pickles(tmp_path, py2_pickle, images, protocol, shape):
    """The real course files: Python 2, NumPy 1 names, the pixels as a py2 str."""
    data = py2_pickle[protocol](images.reshape(shape))
    assert "numpy.core.multiarray _reconstruct" in _globals(data)
    assert "_codecs encode" not in _globals(data)
    loaded = load_contest(_write(tmp_path, data))
    assert loaded.dtype == np.uint8 and loaded.shape == (7, 28, 28)
    assert np.array_equal(loaded.reshape(7, 784), images)


def test_python3_protocol2_with_numpy1_names(tmp_path, images):
    """``ndarray.dump`` under Python 3 and NumPy 1: protocol 2, the bytes through _codecs.encode."""
    data = pickle.dumps(images, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert {"numpy.core.multiarray _reconstruct", "_codecs encode"} <= _globals(data)
    assert np.array_equal(load_contest(_write(tmp_path, data)).reshape(7, 784), images)


def test_numpy2_names_and_ndarray_dump(tmp_path, images):
    path = tmp_path / "dumped.dump"
    images.reshape(7, 28, 28).dump(path)  # NumPy's own writer: pickle protocol 2
    data = path.read_bytes()
    if np.__version__ >= "2":
        assert "numpy._core.multiarray _reconstruct" in _globals(data)
    assert np.array_equal(load_contest(path).reshape(7, 784), images)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_newer_protocols(tmp_path, images, protocol):
    """pickle.dump(x, f, pickle.HIGHEST_PROTOCOL) and friends (protocol 5 uses numpy's _frombuffer)."""
    loaded = load_contest(_write(tmp_path, pickle.dumps(images, protocol=protocol)))
    assert np.array_equal(loaded.reshape(7, 784), images)


def test_integer_and_float_arrays_of_pixel_values_are_converted(tmp_path, images):
    as_int = load_contest(_write(tmp_path, pickle.dumps(images.astype(np.int64), protocol=2), "int.dump"))
    as_float = load_contest(_write(tmp_path, pickle.dumps(images.astype(np.float32), protocol=2), "float.dump"))
    assert as_int.dtype == as_float.dtype == np.uint8
    assert np.array_equal(as_int.reshape(7, 784), images) and np.array_equal(as_float.reshape(7, 784), images)


def test_gzipped_dump_npy_and_idx_files_are_accepted(tmp_path, images):
    gz = _write(tmp_path, gzip.compress(pickle.dumps(images, protocol=2)), "x.dump.gz")
    np.save(tmp_path / "x.npy", images)
    save_idx(tmp_path / "x-idx3-ubyte", images.reshape(7, 28, 28))
    for path in (gz, tmp_path / "x.npy", tmp_path / "x-idx3-ubyte"):
        assert np.array_equal(load_contest(path).reshape(7, 784), images)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, pickle.dumps(_RunsCode(marker), protocol=protocol), "evil.dump")
    with pytest.raises(DatasetError, match=r"evil\.dump: refused to unpickle.*system"):
        load_contest(path)
    assert not marker.exists()


def test_hand_written_os_system_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.", "evil.dump")
    with pytest.raises(DatasetError, match=r"evil\.dump.*os\.system"):
        load_contest(path)
    assert not marker.exists()


def test_code_hidden_inside_an_array_pickle_is_refused(tmp_path, py2_pickle, images):
    """The dtype argument replaced by a call to builtins.eval: refused although the rest is a real array."""
    data = py2_pickle[0](images).replace(b"(S'u1'\n", b"(c__builtin__\neval\n(S'__import__(\"os\")'\ntR")
    with pytest.raises(DatasetError, match="refused to unpickle.*eval"):
        load_contest(_write(tmp_path, data))


def test_codecs_encode_is_only_allowed_for_latin1(tmp_path):
    data = pickle.dumps(np.zeros((1, 784), np.uint8), protocol=2)
    data = data.replace(b"X\x06\x00\x00\x00latin1", b"X\x06\x00\x00\x00rot_13")
    assert b"rot_13" in data
    with pytest.raises(DatasetError, match="latin-1"):
        load_contest(_write(tmp_path, data))


def test_truncated_pickle(tmp_path, py2_pickle, images):
    data = py2_pickle[2](images)
    with pytest.raises(DatasetError, match=r"cut\.dump: truncated"):
        load_contest(_write(tmp_path, data[: len(data) // 2], "cut.dump"))


@pytest.mark.parametrize("content", [b"this is not a pickle\n", b"\x80\x02\xff\xff", b"\x89PNG\r\n\x1a\n" + bytes(30)])
def test_non_pickle_files(tmp_path, content):
    with pytest.raises(DatasetError, match=r"junk\.dump: "):
        load_contest(_write(tmp_path, content, "junk.dump"))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"images": 1}, "found dict"),
        (np.zeros((5, 100), np.uint8), "N×784 or N×28×28, found 5×100"),
        (np.zeros((0, 784), np.uint8), "no images"),
        (np.full((2, 784), 256, np.int32), "0–255"),
        (np.full((2, 784), -1, np.int16), "0–255"),
        (np.full((2, 784), 0.5), "not multiples of 1/255"),
        (np.full((2, 784), 1.5), "fractional"),
        (np.zeros((2, 784), np.complex64), "dtype complex64"),
    ],
)
def test_wrong_contents(tmp_path, obj, message):
    with pytest.raises(DatasetError, match=message):
        load_contest(_write(tmp_path, pickle.dumps(obj, protocol=2)))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="empty"):
        load_contest(_write(tmp_path, b""))
    with pytest.raises(DatasetError, match="cannot read"):
        load_contest(tmp_path / "missing.dump")
